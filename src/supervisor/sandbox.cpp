#include "supervisor/sandbox.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace oc::supervisor {

namespace fs = std::filesystem;

namespace internal {
namespace {

// Landlock UAPI, defined here because the system headers may predate the ABI the kernel has.
constexpr uint64_t kFsExecute = 1ULL << 0;
constexpr uint64_t kFsWriteFile = 1ULL << 1;
constexpr uint64_t kFsReadFile = 1ULL << 2;
constexpr uint64_t kFsReadDir = 1ULL << 3;
constexpr uint64_t kFsRemoveDir = 1ULL << 4;
constexpr uint64_t kFsRemoveFile = 1ULL << 5;
constexpr uint64_t kFsMakeChar = 1ULL << 6;
constexpr uint64_t kFsMakeDir = 1ULL << 7;
constexpr uint64_t kFsMakeReg = 1ULL << 8;
constexpr uint64_t kFsMakeSock = 1ULL << 9;
constexpr uint64_t kFsMakeFifo = 1ULL << 10;
constexpr uint64_t kFsMakeBlock = 1ULL << 11;
constexpr uint64_t kFsMakeSym = 1ULL << 12;
constexpr uint64_t kFsRefer = 1ULL << 13;     // ABI 2
constexpr uint64_t kFsTruncate = 1ULL << 14;  // ABI 3
constexpr uint64_t kFsIoctlDev = 1ULL << 15;  // ABI 5
constexpr uint64_t kNetBindTcp = 1ULL << 0;   // ABI 4
constexpr uint64_t kNetConnectTcp = 1ULL << 1;
constexpr uint64_t kScopeAbstractUnix = 1ULL << 0;  // ABI 6
constexpr uint64_t kScopeSignal = 1ULL << 1;
constexpr unsigned kCreateRulesetVersion = 1U << 0;
constexpr int kRulePathBeneath = 1;
// Rights that make sense on a file (not a directory); others make landlock_add_rule fail.
constexpr uint64_t kFileRights = kFsExecute | kFsWriteFile | kFsReadFile | kFsTruncate | kFsIoctlDev;

struct RulesetAttr {
  uint64_t handled_access_fs = 0;
  uint64_t handled_access_net = 0;
  uint64_t scoped = 0;
};
struct __attribute__((packed)) PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
};

// Every filesystem right the ABI knows (the ruleset "handles" them: denied unless a rule allows).
uint64_t HandledFs(int abi) {
  uint64_t rights = (kFsMakeSym << 1) - 1;  // ABI 1: EXECUTE .. MAKE_SYM
  if (abi >= 2) rights |= kFsRefer;
  if (abi >= 3) rights |= kFsTruncate;
  if (abi >= 5) rights |= kFsIoctlDev;
  return rights;
}

constexpr uint64_t Rights(PathAccess access) {
  constexpr uint64_t kRead = kFsReadFile | kFsReadDir;
  switch (access) {
    case PathAccess::kRead:
      return kRead;
    case PathAccess::kReadExec:
      return kRead | kFsExecute;
    case PathAccess::kReadWrite:
      return kRead | kFsWriteFile | kFsRemoveDir | kFsRemoveFile | kFsMakeDir | kFsMakeReg |
             kFsMakeSock | kFsMakeFifo | kFsMakeSym | kFsRefer | kFsTruncate;
  }
  return 0;
}
static_assert((Rights(PathAccess::kReadWrite) & (kFsMakeChar | kFsMakeBlock)) == 0,
              "device creation is never granted");

// System locations every process needs to run (read+exec). /etc minus its secrets: see kEtcSecrets.
constexpr const char* kSystemDirs[] = {"/usr",  "/lib", "/lib64", "/lib32", "/bin",
                                       "/sbin", "/etc", "/opt",   "/proc",  "/sys/devices/system/cpu",
                                       "/run/systemd/resolve"};
// Readable by root (the kernel's uid) yet nothing an app needs: left out of the /etc rules.
constexpr const char* kEtcSecrets[] = {"/etc/shadow",  "/etc/shadow-",    "/etc/gshadow",
                                       "/etc/gshadow-", "/etc/sudoers",    "/etc/sudoers.d",
                                       "/etc/ssh",      "/etc/ssl/private"};
constexpr const char* kDevices[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                    "/dev/urandom"};

bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

bool IsWithin(const fs::path& inner, const fs::path& outer) {
  auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

// `dir` read+exec, except the secrets beneath it: a directory holding one is replaced by its
// entries (recursively), so that the secret itself gets no rule.
void AddExcept(const fs::path& dir, std::vector<SandboxPath>& out) {
  bool holds_secret = false;
  for (const char* secret : kEtcSecrets) {
    if (fs::path(secret) == dir) return;
    if (IsWithin(secret, dir)) holds_secret = true;
  }
  if (!holds_secret) {
    out.push_back({dir, PathAccess::kReadExec});
    return;
  }
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    AddExcept(it->path(), out);
}

std::optional<fs::path> FindOnPath(const std::string& name, const std::string& path_env) {
  if (name.find('/') != std::string::npos) return fs::path(name);
  std::istringstream dirs(path_env);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

// The interpreter of a `#!` line, resolved: nullopt when `executable` is not a script.
std::optional<fs::path> Interpreter(const fs::path& executable, const std::string& path_env) {
  std::ifstream in(executable, std::ios::binary);
  std::string line;
  if (!in || !std::getline(in, line) || line.rfind("#!", 0) != 0) return std::nullopt;
  std::istringstream words(line.substr(2));
  std::string interpreter, arg;
  words >> interpreter;
  if (interpreter.empty()) return std::nullopt;
  if (fs::path(interpreter).filename() == "env") {
    while (words >> arg && arg.rfind('-', 0) == 0) {
    }
    if (arg.empty() || arg.rfind('-', 0) == 0 || arg.find('=') != std::string::npos) return std::nullopt;
    auto found = FindOnPath(arg, path_env);
    if (!found) return std::nullopt;
    interpreter = found->string();
  }
  std::error_code ec;
  fs::path real = fs::canonical(interpreter, ec);
  if (ec) return std::nullopt;
  return real;
}

// landlock_create_ruleset for `abi`, handling every FS right it knows; TCP too when `deny_tcp`
// (ABI 4); signal and abstract-socket scoping (ABI 6).
int CreateRuleset(int abi, bool deny_tcp) {
  RulesetAttr attr;
  attr.handled_access_fs = HandledFs(abi);
  size_t size = sizeof attr.handled_access_fs;
  if (abi >= 4) {
    if (deny_tcp) attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
    size = offsetof(RulesetAttr, scoped);
  }
  if (abi >= 6) {
    attr.scoped = kScopeAbstractUnix | kScopeSignal;
    size = sizeof attr;
  }
  return static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, size, 0U));
}

void AddRule(int ruleset, int abi, const SandboxPath& rule) {
  int fd = ::open(rule.path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) {
    spdlog::debug("sandbox: no rule for {}: {}", rule.path.string(), std::strerror(errno));
    return;
  }
  struct stat st {};
  PathBeneathAttr attr{Rights(rule.access) & HandledFs(abi), fd};
  if (::fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) attr.allowed_access &= kFileRights;
  if (S_ISCHR(st.st_mode) && abi >= 5) attr.allowed_access |= kFsIoctlDev;
  if (attr.allowed_access != 0 &&
      ::syscall(SYS_landlock_add_rule, ruleset, kRulePathBeneath, &attr, 0U) != 0) {
    spdlog::warn("sandbox: landlock rule for {} refused: {}", rule.path.string(),
                 std::strerror(errno));
  }
  ::close(fd);
}

// A ruleset fd >= 3 (so that dup2 onto stdio in the child never clobbers it), CLOEXEC.
Result<int> BuildRuleset(int abi, const std::vector<SandboxPath>& paths, bool deny_tcp) {
  int ruleset = CreateRuleset(abi, deny_tcp);
  if (ruleset < 0) {
    return MakeError(ErrorCode::kInternalError,
                     std::string("sandbox: landlock_create_ruleset: ") + std::strerror(errno));
  }
  if (ruleset < 3) {
    int high = ::fcntl(ruleset, F_DUPFD_CLOEXEC, 3);
    ::close(ruleset);
    if (high < 0) return MakeError(ErrorCode::kInternalError, "sandbox: fcntl failed");
    ruleset = high;
  }
  ::fcntl(ruleset, F_SETFD, FD_CLOEXEC);
  for (const auto& rule : paths) AddRule(ruleset, abi, rule);
  return ruleset;
}

bool SeccompFilterAvailable() {
  // With a null program the kernel answers EFAULT when filters exist, EINVAL when they do not.
  return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, nullptr, 0, 0) < 0 && errno == EFAULT;
}

// 0: a private netns directly, 1: inside a new user namespace, 2: neither. Tried in a child.
int ProbeNetworkNamespace() {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWNET) == 0) ::_exit(0);
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) ::_exit(1);
    ::_exit(2);
  }
  if (pid < 0) return 2;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

Status PrepareTmpDir(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!ec) fs::create_directories(dir, ec);
  if (!ec && ::chmod(dir.c_str(), 0700) != 0) ec = std::error_code(errno, std::generic_category());
  if (ec) {
    return MakeError(ErrorCode::kInternalError,
                     "sandbox: cannot prepare " + dir.string() + ": " + ec.message());
  }
  return Status::Ok();
}

}  // namespace

int LandlockAbi() {
  long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, kCreateRulesetVersion);
  return abi > 0 ? static_cast<int>(abi) : 0;
}

std::optional<fs::path> InterpreterPrefix(const fs::path& executable, const std::string& path_env,
                                          const fs::path& home) {
  auto interpreter = Interpreter(executable, path_env);
  if (!interpreter) return std::nullopt;
  fs::path dir = interpreter->parent_path();
  fs::path prefix = dir.parent_path();
  // Never open the whole system or the user's home because an interpreter lives in ~/bin.
  if (prefix == prefix.root_path() || (!home.empty() && IsWithin(home, prefix))) prefix = dir;
  if (prefix == prefix.root_path() || (!home.empty() && IsWithin(home, prefix))) return std::nullopt;
  return prefix;
}

std::vector<SandboxPath> SandboxPaths(const AppSpec& spec) {
  std::vector<SandboxPath> out;
  for (const char* dir : kSystemDirs) {
    if (!Exists(dir)) continue;
    if (std::string_view(dir) == "/etc")
      AddExcept(dir, out);
    else
      out.push_back({dir, PathAccess::kReadExec});
  }
  for (const char* dev : kDevices)
    if (Exists(dev)) out.push_back({dev, PathAccess::kReadWrite});
  out.push_back({spec.dir, PathAccess::kReadExec});
  out.push_back({spec.executable, PathAccess::kReadExec});
  auto env_of = [&](const char* name) {
    auto it = spec.env.find(name);
    return it == spec.env.end() ? std::string() : it->second;
  };
  std::string home = env_of("HOME");
  if (auto interpreter = Interpreter(spec.executable, env_of("PATH")))
    out.push_back({*interpreter, PathAccess::kReadExec});
  if (auto prefix = InterpreterPrefix(spec.executable, env_of("PATH"), home))
    out.push_back({*prefix, PathAccess::kReadExec});
  for (const auto& p : spec.sandbox.read_paths) out.push_back({p, PathAccess::kRead});
  for (const auto& p : spec.sandbox.write_paths) out.push_back({p, PathAccess::kReadWrite});
  if (!spec.sandbox.tmp_dir.empty()) out.push_back({spec.sandbox.tmp_dir, PathAccess::kReadWrite});
  std::erase_if(out, [](const SandboxPath& p) { return !Exists(p.path); });
  return out;
}

SandboxPlan::SandboxPlan(SandboxPlan&& other) noexcept
    : enabled(other.enabled),
      landlock_fd(std::exchange(other.landlock_fd, -1)),
      seccomp(std::move(other.seccomp)),
      private_network(other.private_network),
      uid_map(std::move(other.uid_map)),
      gid_map(std::move(other.gid_map)),
      core_dumps_off(other.core_dumps_off),
      env(std::move(other.env)),
      enforcement(std::move(other.enforcement)) {}

SandboxPlan& SandboxPlan::operator=(SandboxPlan&& other) noexcept {
  if (this != &other) {
    if (landlock_fd >= 0) ::close(landlock_fd);
    enabled = other.enabled;
    landlock_fd = std::exchange(other.landlock_fd, -1);
    seccomp = std::move(other.seccomp);
    private_network = other.private_network;
    uid_map = std::move(other.uid_map);
    gid_map = std::move(other.gid_map);
    core_dumps_off = other.core_dumps_off;
    env = std::move(other.env);
    enforcement = std::move(other.enforcement);
  }
  return *this;
}

SandboxPlan::~SandboxPlan() {
  if (landlock_fd >= 0) ::close(landlock_fd);
}

json::object NoSandboxEnforcement() {
  return {{"sandbox", "none"}, {"noNewPrivs", "none"}, {"seccomp", "none"},
          {"landlock", "none"}, {"network", "none"},    {"tmp", "none"}};
}

Result<SandboxPlan> PlanSandbox(const AppSpec& spec) {
  SandboxPlan plan;
  plan.enforcement = NoSandboxEnforcement();
  const SandboxSpec& sandbox = spec.sandbox;
  if (!sandbox.enabled) return plan;
  plan.enabled = true;
  plan.core_dumps_off = true;  // secrets in memory must not land in core files
  plan.enforcement["sandbox"] = "on";
  plan.enforcement["noNewPrivs"] = "on";
  if (!sandbox.tmp_dir.empty()) {
    if (Status s = PrepareTmpDir(sandbox.tmp_dir); !s.ok()) return s.error();
    for (const char* name : {"TMPDIR", "TMP", "TEMP"}) plan.env[name] = sandbox.tmp_dir.string();
    plan.enforcement["tmp"] = "private";
  }
  if (SeccompFilterAvailable()) {
    plan.seccomp = BuildSeccompFilter(sandbox.network);
    plan.enforcement["seccomp"] = "filter";
  }
  if (int abi = LandlockAbi(); abi > 0) {
    auto ruleset = BuildRuleset(abi, SandboxPaths(spec), !sandbox.network);
    if (!ruleset.ok()) return ruleset.error();
    plan.landlock_fd = *ruleset;
    plan.enforcement["landlock"] = "abi" + std::to_string(abi);
  } else {
    plan.enforcement["landlock"] = "unsupported";
  }
  if (!sandbox.network) {
    plan.private_network = true;
    // Identity maps for the user-namespace fallback: files keep their owners as seen inside.
    plan.uid_map = std::to_string(::getuid()) + " " + std::to_string(::getuid()) + " 1\n";
    plan.gid_map = std::to_string(::getgid()) + " " + std::to_string(::getgid()) + " 1\n";
  }
#if defined(__SANITIZE_ADDRESS__)
  // Test builds only: LeakSanitizer stops the world with ptrace, which the filter forbids, and
  // would turn every exit of an ASan-built app into a fatal error.
  auto asan = spec.env.find("ASAN_OPTIONS");
  plan.env["ASAN_OPTIONS"] =
      (asan == spec.env.end() || asan->second.empty() ? "" : asan->second + ":") + "detect_leaks=0";
#endif
  return plan;
}

void FinishEnforcement(const SandboxPlan& plan, bool got_netns, json::object& enforcement) {
  for (const auto& [key, value] : plan.enforcement) enforcement[key] = value;
  if (!plan.enabled) return;
  if (!plan.private_network)
    enforcement["network"] = "host";
  else if (got_netns)
    enforcement["network"] = "netns";
  else if (!plan.seccomp.empty())
    enforcement["network"] = "unix-only";
  else
    enforcement["network"] = "host";  // neither a namespace nor a filter: nothing is restricted
}

}  // namespace internal

SandboxSupport ProbeSandboxSupport() {
  SandboxSupport support;
  support.landlock_abi = internal::LandlockAbi();
  support.seccomp = internal::SeccompFilterAvailable();
  int netns = internal::ProbeNetworkNamespace();
  support.network_namespace = netns < 2;
  std::string detail = support.landlock_abi > 0
                           ? "landlock ABI " + std::to_string(support.landlock_abi)
                           : std::string("no landlock");
  detail += support.seccomp ? ", seccomp" : ", no seccomp";
  detail += netns == 0 ? ", netns" : netns == 1 ? ", netns (user namespace)" : ", no netns";
  support.detail = detail;
  return support;
}

}  // namespace oc::supervisor
