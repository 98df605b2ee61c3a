#include "supervisor/spawn.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

namespace oc::supervisor::internal {

namespace {

// Steps the child can fail at, reported to the parent through the CLOEXEC pipe.
enum class ChildStep : int {
  kSetsid,
  kPdeathsig,
  kCgroup,
  kRlimitNofile,
  kRlimitAs,
  kNice,
  kRlimitCore,
  kNetworkNamespace,  // fatal only when the user-namespace maps cannot be written
  kChdir,
  kStdio,
  kNoNewPrivs,
  kLandlock,
  kSeccomp,
  kExec
};

const char* StepName(ChildStep step) {
  switch (step) {
    case ChildStep::kSetsid:
      return "setsid";
    case ChildStep::kPdeathsig:
      return "prctl(PR_SET_PDEATHSIG)";
    case ChildStep::kCgroup:
      return "joining cgroup";
    case ChildStep::kRlimitNofile:
      return "setrlimit(RLIMIT_NOFILE)";
    case ChildStep::kRlimitAs:
      return "setrlimit(RLIMIT_AS)";
    case ChildStep::kNice:
      return "setpriority";
    case ChildStep::kRlimitCore:
      return "setrlimit(RLIMIT_CORE)";
    case ChildStep::kNetworkNamespace:
      return "sandbox: writing the user namespace's uid/gid maps";
    case ChildStep::kChdir:
      return "chdir";
    case ChildStep::kStdio:
      return "redirecting stdio";
    case ChildStep::kNoNewPrivs:
      return "sandbox: prctl(PR_SET_NO_NEW_PRIVS)";
    case ChildStep::kLandlock:
      return "sandbox: landlock_restrict_self";
    case ChildStep::kSeccomp:
      return "sandbox: installing the seccomp filter";
    case ChildStep::kExec:
      return "exec";
  }
  return "?";
}

// A fatal report ends the child; a non-fatal one tells the parent what was achieved (the only one:
// kNetworkNamespace = the child has a private network namespace).
struct ChildReport {
  ChildStep step;
  int error;
  bool fatal;
};

// Everything the child needs, as plain data built before fork.
struct ChildPlan {
  const char* executable;
  const char* dir;
  char* const* argv;
  char* const* envp;
  int stdin_fd, stdout_fd, stderr_fd;  // child ends
  int report_fd;                       // write end of the CLOEXEC report pipe
  int cgroup_procs_fd;                 // -1: none
  pid_t parent;
  bool set_nofile, set_as, set_nice;
  rlim_t nofile, address_space;
  int nice;
  int max_fd;  // for the close() loop when close_range is unavailable
  // The sandbox (SandboxPlan).
  bool sandboxed;  // PR_SET_NO_NEW_PRIVS
  bool core_off;
  bool private_network;
  const char* uid_map;
  const char* gid_map;
  int landlock_fd;  // -1: none
  bool seccomp_on;
  struct sock_fprog seccomp;
};

[[noreturn]] void ChildFail(const ChildPlan& plan, ChildStep step) {
  ChildReport report{step, errno, true};
  ssize_t ignored = ::write(plan.report_fd, &report, sizeof report);
  (void)ignored;
  ::_exit(127);
}

void ChildNote(const ChildPlan& plan, ChildStep step) {
  ChildReport report{step, 0, false};
  ssize_t ignored = ::write(plan.report_fd, &report, sizeof report);
  (void)ignored;
}

bool WriteProcFile(const char* path, const char* text) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t len = ::strlen(text);
  bool ok = ::write(fd, text, len) == static_cast<ssize_t>(len);
  ::close(fd);
  return ok;
}

// A private network namespace: directly (root), else inside a new user namespace with identity
// maps. Neither available is not an error (the seccomp filter still keeps the app to AF_UNIX).
void EnterNetworkNamespace(const ChildPlan& plan) {
  bool done = ::unshare(CLONE_NEWNET) == 0;
  if (!done && ::unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) {
    if (!WriteProcFile("/proc/self/setgroups", "deny") ||
        !WriteProcFile("/proc/self/gid_map", plan.gid_map) ||
        !WriteProcFile("/proc/self/uid_map", plan.uid_map)) {
      ChildFail(plan, ChildStep::kNetworkNamespace);
    }
    done = true;
  }
  if (done) ChildNote(plan, ChildStep::kNetworkNamespace);
}

// no_new_privs, Landlock, seccomp — in that order (both need no_new_privs without CAP_SYS_ADMIN).
void RestrictSelf(const ChildPlan& plan) {
  if (!plan.sandboxed) return;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ChildFail(plan, ChildStep::kNoNewPrivs);
  if (plan.landlock_fd >= 0 && ::syscall(SYS_landlock_restrict_self, plan.landlock_fd, 0U) != 0)
    ChildFail(plan, ChildStep::kLandlock);
  if (plan.seccomp_on && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &plan.seccomp, 0, 0) != 0)
    ChildFail(plan, ChildStep::kSeccomp);
}

bool SetLimit(int resource, rlim_t value) {
  struct rlimit lim = {};
  lim.rlim_cur = value;
  lim.rlim_max = value;
  return ::setrlimit(resource, &lim) == 0;
}

// Puts `fd` on `target`, clearing CLOEXEC (dup2 onto itself would keep it).
bool MoveFd(int fd, int target) {
  if (fd == target) return ::fcntl(fd, F_SETFD, 0) == 0;
  return ::dup2(fd, target) == target;
}

void CloseFrom(int first, int last, int max_fd) {
  if (first > last) return;
  if (::close_range(static_cast<unsigned>(first), static_cast<unsigned>(last), 0) == 0) return;
  for (int fd = first; fd <= std::min(last, max_fd); ++fd) ::close(fd);
}

// Runs in the child between fork and exec: async-signal-safe calls only, no allocation.
[[noreturn]] void RunChild(const ChildPlan& plan) {
  // Handlers of the kernel (asio's signal pipe) must not run here, and ignored signals would stay
  // ignored across exec: back to defaults, then unblock everything.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (::setsid() < 0) ChildFail(plan, ChildStep::kSetsid);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) ChildFail(plan, ChildStep::kPdeathsig);
  // The kernel may have died before prctl: then nobody would ever kill us.
  if (::getppid() != plan.parent) ::_exit(127);
  if (plan.cgroup_procs_fd >= 0 && ::write(plan.cgroup_procs_fd, "0", 1) != 1) {
    ChildFail(plan, ChildStep::kCgroup);
  }
  if (plan.set_nofile && !SetLimit(RLIMIT_NOFILE, plan.nofile))
    ChildFail(plan, ChildStep::kRlimitNofile);
  if (plan.set_as && !SetLimit(RLIMIT_AS, plan.address_space))
    ChildFail(plan, ChildStep::kRlimitAs);
  if (plan.set_nice && ::setpriority(PRIO_PROCESS, 0, plan.nice) < 0)
    ChildFail(plan, ChildStep::kNice);
  if (plan.core_off && !SetLimit(RLIMIT_CORE, 0)) ChildFail(plan, ChildStep::kRlimitCore);
  if (plan.private_network) EnterNetworkNamespace(plan);
  if (::chdir(plan.dir) < 0) ChildFail(plan, ChildStep::kChdir);
  if (!MoveFd(plan.stdin_fd, 0) || !MoveFd(plan.stdout_fd, 1) || !MoveFd(plan.stderr_fd, 2)) {
    ChildFail(plan, ChildStep::kStdio);
  }
  RestrictSelf(plan);
  // Every other fd goes, except the report pipe (CLOEXEC: closed by a successful exec).
  CloseFrom(3, plan.report_fd - 1, plan.max_fd);
  CloseFrom(plan.report_fd + 1, INT_MAX, plan.max_fd);
  ::execve(plan.executable, plan.argv, plan.envp);
  ChildFail(plan, ChildStep::kExec);
}

// Owns fds until released; closes them on every early return.
class FdSet {
 public:
  ~FdSet() {
    for (int fd : fds_) ::close(fd);
  }
  int Add(int fd) {
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  void Close(int fd) {
    std::erase(fds_, fd);
    ::close(fd);
  }
  int Release(int fd) {
    std::erase(fds_, fd);
    return fd;
  }

 private:
  std::vector<int> fds_;
};

// A CLOEXEC pipe whose ends are >= 3, so that dup2 onto 0..2 in the child never clobbers them.
bool MakePipe(FdSet& fds, int (&ends)[2]) {
  int raw[2];
  if (::pipe2(raw, O_CLOEXEC) != 0) return false;
  for (int i = 0; i < 2; ++i) {
    if (raw[i] < 3) {
      int high = ::fcntl(raw[i], F_DUPFD_CLOEXEC, 3);
      ::close(raw[i]);
      raw[i] = high;
    }
    ends[i] = fds.Add(raw[i]);
  }
  return ends[0] >= 0 && ends[1] >= 0;
}

Error SysError(const char* what) {
  return MakeError(ErrorCode::kInternalError,
                   std::string("spawn failed: ") + what + ": " + std::strerror(errno));
}

Error ChildError(const SpawnRequest& request, const ChildReport& report) {
  std::string reason = std::strerror(report.error);
  if (report.step == ChildStep::kExec) {
    return MakeError(ErrorCode::kInternalError,
                     "exec failed: " + request.executable.string() + ": " + reason);
  }
  std::string detail = StepName(report.step);
  if (report.step == ChildStep::kChdir) detail += " " + request.dir.string();
  return MakeError(ErrorCode::kInternalError, "spawn failed: " + detail + ": " + reason);
}

// Waits for the report pipe: EOF means exec succeeded; a fatal report means the child failed and
// exits. Non-fatal reports on the way are collected into `child`.
std::optional<ChildReport> ReadReport(int fd, SpawnedChild& child) {
  ChildReport report{};
  for (;;) {
    ssize_t n = ::read(fd, &report, sizeof report);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof report)) return std::nullopt;
    if (report.fatal) return report;
    if (report.step == ChildStep::kNetworkNamespace) child.network_namespace = true;
  }
}

void ReapNow(pid_t pid) {
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

Result<SpawnedChild> SpawnChild(const SpawnRequest& request) {
  FdSet fds;
  int out[2], err[2], report[2];
  if (!MakePipe(fds, out) || !MakePipe(fds, err) || !MakePipe(fds, report)) return SysError("pipe");
  int devnull = fds.Add(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (devnull < 0) return SysError("open /dev/null");
  if (devnull < 3) {
    int high = ::fcntl(devnull, F_DUPFD_CLOEXEC, 3);
    fds.Close(devnull);
    devnull = fds.Add(high);
    if (devnull < 0) return SysError("fcntl");
  }

  std::string executable = request.executable.string();
  std::string dir = request.dir.string();
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : request.env) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv{executable.data(), nullptr};

  struct rlimit nofile {};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  const LimitPlan* limits = request.limits;
  ChildPlan plan{};
  plan.executable = executable.c_str();
  plan.dir = dir.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.stdin_fd = devnull;
  plan.stdout_fd = out[1];
  plan.stderr_fd = err[1];
  plan.report_fd = report[1];
  plan.cgroup_procs_fd = limits ? limits->cgroup_procs_fd : -1;
  plan.parent = ::getpid();
  plan.set_nofile = limits && limits->nofile;
  plan.nofile = plan.set_nofile ? *limits->nofile : 0;
  plan.set_as = limits && limits->address_space;
  plan.address_space = plan.set_as ? *limits->address_space : 0;
  plan.set_nice = limits && limits->nice;
  plan.nice = plan.set_nice ? *limits->nice : 0;
  const SandboxPlan* sandbox = request.sandbox;
  plan.sandboxed = sandbox && sandbox->enabled;
  plan.core_off = plan.sandboxed && sandbox->core_dumps_off;
  plan.private_network = plan.sandboxed && sandbox->private_network;
  plan.uid_map = plan.sandboxed ? sandbox->uid_map.c_str() : "";
  plan.gid_map = plan.sandboxed ? sandbox->gid_map.c_str() : "";
  plan.landlock_fd = plan.sandboxed ? sandbox->landlock_fd : -1;
  plan.seccomp_on = plan.sandboxed && !sandbox->seccomp.empty();
  if (plan.seccomp_on) {
    plan.seccomp.len = static_cast<unsigned short>(sandbox->seccomp.size());
    plan.seccomp.filter = const_cast<sock_filter*>(sandbox->seccomp.data());
  }
  plan.max_fd = nofile.rlim_cur == RLIM_INFINITY || nofile.rlim_cur > 1048576
                    ? 1048576
                    : static_cast<int>(nofile.rlim_cur);

  // No signal handler of ours may run in the child before it resets them: block all around fork.
  sigset_t all, previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  pid_t pid = ::fork();
  if (pid == 0) RunChild(plan);
  int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) {
    errno = fork_errno;
    return SysError("fork");
  }

  fds.Close(out[1]);
  fds.Close(err[1]);
  fds.Close(report[1]);
  fds.Close(devnull);
  // Blocks only until the child's execve: the pipe is CLOEXEC, so success reads EOF.
  SpawnedChild child;
  if (auto failure = ReadReport(report[0], child)) {
    ReapNow(pid);
    return ChildError(request, *failure);
  }
  child.pid = pid;
  child.stdout_fd = fds.Release(out[0]);
  child.stderr_fd = fds.Release(err[0]);
  return child;
}

Result<std::string> RandomToken() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got < sizeof bytes) {
    int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t n = ::read(fd, bytes, sizeof bytes);
      got = n > 0 ? static_cast<size_t>(n) : 0;
      ::close(fd);
    }
  }
  if (got < sizeof bytes) {
    return MakeError(ErrorCode::kInternalError,
                     "spawn failed: no source of randomness for the token");
  }
  static const char kHex[] = "0123456789abcdef";
  std::string token;
  for (unsigned char b : bytes) {
    token.push_back(kHex[b >> 4]);
    token.push_back(kHex[b & 0xf]);
  }
  return token;
}

}  // namespace oc::supervisor::internal
