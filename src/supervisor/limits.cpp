#include "supervisor/limits.h"

#include "supervisor/sandbox.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace oc::supervisor::internal {

namespace {
namespace fs = std::filesystem;

std::optional<std::string> ReadSmallFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Kernel interface files need one write() whose result tells whether the kernel accepted it.
bool WriteKernelFile(const fs::path& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = ::write(fd, value.data(), value.size());
  ::close(fd);
  return n == static_cast<ssize_t>(value.size());
}

bool HasWord(const std::string& text, std::string_view word) {
  std::istringstream in(text);
  std::string w;
  while (in >> w) {
    if (w == word) return true;
  }
  return false;
}

// The directory of this process's cgroup v2 node: the cgroup2 mount from /proc/self/mountinfo
// joined with the "0::<path>" entry of /proc/self/cgroup.
std::optional<fs::path> OwnCgroupDir() {
  auto cgroups = ReadSmallFile("/proc/self/cgroup");
  auto mounts = ReadSmallFile("/proc/self/mountinfo");
  if (!cgroups || !mounts) return std::nullopt;
  std::optional<std::string> own;
  std::istringstream cg(*cgroups);
  for (std::string line; std::getline(cg, line);) {
    if (line.rfind("0::", 0) == 0) own = line.substr(3);
  }
  if (!own || own->empty() || (*own)[0] != '/') return std::nullopt;
  std::istringstream mi(*mounts);
  for (std::string line; std::getline(mi, line);) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string id, parent, devno, root, mount_point;
    if (!(fields >> id >> parent >> devno >> root >> mount_point)) continue;
    // A mount of a sub-tree (cgroup namespaces): our path is relative to its root.
    std::string rel = *own;
    if (root != "/") {
      if (rel.rfind(root, 0) != 0) continue;
      rel = rel.substr(root.size());
    }
    return fs::path(mount_point) / fs::path(rel).relative_path();
  }
  return std::nullopt;
}

// Makes `controller` available to children of `base`; true if it is.
bool EnableController(const fs::path& base, std::string_view controller) {
  auto available = ReadSmallFile(base / "cgroup.controllers");
  if (!available || !HasWord(*available, controller)) return false;
  auto enabled = ReadSmallFile(base / "cgroup.subtree_control");
  if (enabled && HasWord(*enabled, controller)) return true;
  // Fails with EBUSY when `base` has processes of its own and is not the root ("no internal
  // processes"): the usual case for a kernel inside a systemd service without delegation.
  return WriteKernelFile(base / "cgroup.subtree_control", "+" + std::string(controller));
}

std::string CgroupName(std::string_view app_id) {
  std::string name = "openclawos-";
  for (char c : app_id) {
    bool plain =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    name.push_back(plain ? c : '_');
  }
  return name;
}

// Tries the cgroup for memory and/or cpu; fills plan.cgroup_dir/fd and the enforcement entries it
// achieved. Leaves nothing behind when it applies nothing.
void TryCgroup(std::string_view app_id, const ResourceLimits& limits, LimitPlan& plan) {
  auto base = OwnCgroupDir();
  if (!base) return;
  bool memory = limits.max_memory_bytes && EnableController(*base, "memory");
  bool cpu = limits.cpu_shares && EnableController(*base, "cpu");
  if (!memory && !cpu) return;
  fs::path dir = *base / CgroupName(app_id);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return;
  // A cgroup left by an earlier kernel may carry old limits: reset what we do not set now.
  if (memory)
    memory = WriteKernelFile(dir / "memory.max", std::to_string(*limits.max_memory_bytes));
  else
    WriteKernelFile(dir / "memory.max", "max");
  if (cpu)
    cpu =
        WriteKernelFile(dir / "cpu.weight", std::to_string(CpuSharesToWeight(*limits.cpu_shares)));
  else
    WriteKernelFile(dir / "cpu.weight", "100");
  int fd = (memory || cpu) ? ::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC) : -1;
  if (fd < 0) {
    RemoveCgroup(dir);
    return;
  }
  plan.cgroup_dir = dir;
  plan.cgroup_procs_fd = fd;
  if (memory) plan.enforcement["memory"] = "cgroup";
  if (cpu) plan.enforcement["cpu"] = "cgroup";
}

uint64_t ClampToHardLimit(int resource, int64_t wanted) {
  uint64_t value = static_cast<uint64_t>(std::max<int64_t>(wanted, 0));
  struct rlimit current {};
  if (::getrlimit(resource, &current) == 0 && current.rlim_max != RLIM_INFINITY) {
    value = std::min<uint64_t>(value, current.rlim_max);
  }
  return value;
}
}  // namespace

LimitPlan::LimitPlan(LimitPlan&& other) noexcept
    : nofile(other.nofile),
      address_space(other.address_space),
      nice(other.nice),
      cgroup_dir(std::move(other.cgroup_dir)),
      cgroup_procs_fd(std::exchange(other.cgroup_procs_fd, -1)),
      enforcement(std::move(other.enforcement)) {}

LimitPlan& LimitPlan::operator=(LimitPlan&& other) noexcept {
  if (this != &other) {
    if (cgroup_procs_fd >= 0) ::close(cgroup_procs_fd);
    nofile = other.nofile;
    address_space = other.address_space;
    nice = other.nice;
    cgroup_dir = std::move(other.cgroup_dir);
    cgroup_procs_fd = std::exchange(other.cgroup_procs_fd, -1);
    enforcement = std::move(other.enforcement);
  }
  return *this;
}

LimitPlan::~LimitPlan() {
  if (cgroup_procs_fd >= 0) ::close(cgroup_procs_fd);
}

json::object NoEnforcement() {
  json::object none{{"memory", "none"}, {"fds", "none"}, {"cpu", "none"}};
  for (const auto& [key, value] : NoSandboxEnforcement()) none[key] = value;
  return none;
}

int64_t CpuSharesToWeight(int64_t shares) {
  // The usual cgroup v1 shares [2, 262144] -> v2 weight [1, 10000] mapping (as container runtimes).
  int64_t s = std::clamp<int64_t>(shares, 2, 262144);
  return 1 + ((s - 2) * 9999) / 262142;
}

int CpuSharesToNice(int64_t shares) {
  // One nice step changes the CFS weight by ~1.25x; 1024 shares is nice 0.
  double s = static_cast<double>(std::max<int64_t>(shares, 1));
  double steps = std::log(1024.0 / s) / std::log(1.25);
  return std::clamp(static_cast<int>(std::lround(steps)), 0, 19);
}

LimitPlan PlanLimits(std::string_view app_id, const ResourceLimits& limits) {
  LimitPlan plan;
  plan.enforcement = NoEnforcement();
  if (limits.max_memory_bytes || limits.cpu_shares) TryCgroup(app_id, limits, plan);
  if (limits.max_memory_bytes && plan.enforcement.at("memory").as_string() != "cgroup") {
    plan.address_space = ClampToHardLimit(RLIMIT_AS, *limits.max_memory_bytes);
    plan.enforcement["memory"] = "rlimit_as";
  }
  if (limits.cpu_shares && plan.enforcement.at("cpu").as_string() != "cgroup") {
    // Relative to the kernel's own niceness: raising it needs no privilege, lowering would.
    errno = 0;
    int own = ::getpriority(PRIO_PROCESS, 0);
    if (errno != 0) own = 0;
    plan.nice = std::min(own + CpuSharesToNice(*limits.cpu_shares), 19);
    plan.enforcement["cpu"] = "nice";
  }
  if (limits.max_fds) {
    plan.nofile = ClampToHardLimit(RLIMIT_NOFILE, *limits.max_fds);
    plan.enforcement["fds"] = "rlimit";
  }
  return plan;
}

void RemoveCgroup(const std::filesystem::path& dir) {
  if (dir.empty()) return;
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    spdlog::debug("supervisor: cannot remove cgroup {} yet: {}", dir.string(),
                  std::strerror(errno));
  }
}

}  // namespace oc::supervisor::internal
