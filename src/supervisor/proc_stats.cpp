#include "supervisor/proc_stats.h"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace oc::supervisor::internal {

namespace {
std::optional<std::string> ReadProcFile(pid_t pid, const char* name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + name);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.empty()) return std::nullopt;
  return text;
}
}  // namespace

std::optional<int64_t> ReadRssBytes(pid_t pid) {
  auto text = ReadProcFile(pid, "statm");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  int64_t size_pages = 0, resident_pages = 0;
  if (!(in >> size_pages >> resident_pages)) return std::nullopt;
  return resident_pages * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

std::optional<uint64_t> ReadCpuTicks(pid_t pid) {
  auto text = ReadProcFile(pid, "stat");
  if (!text) return std::nullopt;
  // comm (field 2) may contain spaces and parentheses: fields are counted after the last ')'.
  size_t close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(text->substr(close + 1));
  std::string field;
  uint64_t utime = 0, stime = 0;
  // After ')': state(3) ppid(4) ... utime is field 14, stime field 15.
  for (int index = 3; index <= 15; ++index) {
    if (!(in >> field)) return std::nullopt;
    uint64_t* target = index == 14 ? &utime : index == 15 ? &stime : nullptr;
    if (target &&
        std::from_chars(field.data(), field.data() + field.size(), *target).ec != std::errc()) {
      return std::nullopt;
    }
  }
  return utime + stime;
}

std::optional<double> CpuSampler::Sample(pid_t pid, Clock::time_point now) {
  auto ticks = ReadCpuTicks(pid);
  if (!ticks) return std::nullopt;
  double seconds = std::chrono::duration<double>(now - last_time_).count();
  if (seconds <= 0) return std::nullopt;
  uint64_t delta = *ticks >= last_ticks_ ? *ticks - last_ticks_ : 0;
  last_time_ = now;
  last_ticks_ = *ticks;
  return 100.0 * static_cast<double>(delta) / static_cast<double>(::sysconf(_SC_CLK_TCK)) / seconds;
}

}  // namespace oc::supervisor::internal
