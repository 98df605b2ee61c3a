// Internal to the supervisor: resource usage of a process from /proc (SPEC §5.6).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>

namespace oc::supervisor::internal {

// Resident set size in bytes (/proc/<pid>/statm); nullopt when the process is gone.
std::optional<int64_t> ReadRssBytes(pid_t pid);
// utime + stime in clock ticks (/proc/<pid>/stat); nullopt when the process is gone.
std::optional<uint64_t> ReadCpuTicks(pid_t pid);

// CPU% between two reads: remembers the previous (time, ticks) pair. Reset() at spawn so that the
// first sample covers the time since the process started.
class CpuSampler {
 public:
  using Clock = std::chrono::steady_clock;
  void Reset(Clock::time_point start) {
    last_time_ = start;
    last_ticks_ = 0;
  }
  // 100 = one core fully busy. nullopt when no time has passed or /proc is unreadable.
  std::optional<double> Sample(pid_t pid, Clock::time_point now);

 private:
  Clock::time_point last_time_{};
  uint64_t last_ticks_ = 0;
};

}  // namespace oc::supervisor::internal
