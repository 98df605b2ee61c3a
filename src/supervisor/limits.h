// Internal to the supervisor: decides how an app's resources.limits are enforced (SPEC §5.5) and
// prepares it before fork. Reports only what is really applied.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "supervisor/supervisor.h"

namespace oc::supervisor::internal {

// Everything the child applies to itself between fork and exec. Move-only: owns cgroup_procs_fd.
struct LimitPlan {
  std::optional<uint64_t> nofile;         // RLIMIT_NOFILE, soft = hard
  std::optional<uint64_t> address_space;  // RLIMIT_AS, soft = hard
  std::optional<int> nice;                // setpriority(PRIO_PROCESS, 0, nice)
  std::filesystem::path cgroup_dir;       // empty: the child stays in the kernel's cgroup
  int cgroup_procs_fd = -1;               // <cgroup_dir>/cgroup.procs; the child writes "0"
  json::object enforcement;               // NoEnforcement() with memory/fds/cpu filled in

  LimitPlan() = default;
  LimitPlan(LimitPlan&& other) noexcept;
  LimitPlan& operator=(LimitPlan&& other) noexcept;
  ~LimitPlan();
};

// {"memory":"none","fds":"none","cpu":"none"} + NoSandboxEnforcement() (sandbox.h): every key of
// AppStatus::enforcement.
json::object NoEnforcement();

// Per resource: maxMemory -> cgroup v2 memory.max in <own cgroup>/openclawos-<app> when the memory
// controller can be enabled there, else RLIMIT_AS; cpuShares -> cpu.weight there, else the kernel's
// niceness + CpuSharesToNice (an app never gets priority over the kernel); maxFds -> RLIMIT_NOFILE.
// Rlimits above the kernel's own hard limit are clamped to it (lowering needs no privilege). Never
// fails.
LimitPlan PlanLimits(std::string_view app_id, const ResourceLimits& limits);

// Removes a cgroup made by PlanLimits. Best effort: fails (quietly) while processes remain in it.
void RemoveCgroup(const std::filesystem::path& dir);

// Conversions, exposed for tests. shares: 1024 = normal weight.
int64_t CpuSharesToWeight(int64_t shares);  // cgroup v2 cpu.weight, 1..10000
int CpuSharesToNice(int64_t shares);        // nice increment 0..19 (1024 and above -> 0)

}  // namespace oc::supervisor::internal
