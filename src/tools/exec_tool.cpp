#include "tools/exec_tool.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "tools/html_text.h"

namespace oc::tools::internal {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

Status CheckAllowlist(std::string_view command, const std::vector<std::string>& patterns) {
  static constexpr std::string_view kControl = ";&|$`><()\n\r";
  size_t bad = command.find_first_of(kControl);
  if (bad != std::string_view::npos) {
    std::string shown = command[bad] == '\n'   ? "a line break"
                        : command[bad] == '\r' ? "a carriage return"
                                               : std::string("'") + command[bad] + "'";
    return MakeError(ErrorCode::kForbidden, "exec refused: under the allowlist policy commands may not contain " +
                                                shown +
                                                " (no ; & | $ ` > < ( ) or line breaks); run one plain command");
  }
  std::string cmd(command);
  for (const std::string& p : patterns) {
    if (::fnmatch(p.c_str(), cmd.c_str(), 0) == 0) return Status::Ok();
  }
  std::string list;
  for (const std::string& p : patterns) list += (list.empty() ? "" : ", ") + p;
  return MakeError(ErrorCode::kForbidden, "exec refused: the command matches no allowlist pattern (allowed: " +
                                              (list.empty() ? std::string("none") : list) + ")");
}

namespace {

constexpr auto kDrainAfterExit = std::chrono::milliseconds(1000);

// One running child and the callbacks watching it. Shared by the callbacks so it outlives them.
struct ChildRun : std::enable_shared_from_this<ChildRun> {
  explicit ChildRun(const asio::any_io_executor& ex) : pipe(ex), pidfd(ex), deadline(ex), wake(ex), poll(ex) {}

  pid_t pid = -1;
  bool reaped = false;
  int wait_status = 0;
  bool eof = false;
  bool timed_out = false;
  size_t cap = 0;
  std::string out;
  size_t dropped = 0;
  std::array<char, 16384> buf{};
  asio::posix::stream_descriptor pipe, pidfd;
  asio::steady_timer deadline, wake, poll;

  void KillGroup() {
    if (pid > 0 && !reaped) ::kill(-pid, SIGKILL);
  }

  // The shell has exited (a zombie keeps its pid and group id reserved): kill what it left in its
  // group, then reap it by pid.
  void OnExited() {
    if (reaped) return;
    KillGroup();
    while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
    }
    reaped = true;
    wake.cancel();
  }

  void ReadMore() {
    pipe.async_read_some(asio::buffer(buf), [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
      size_t keep = std::min(n, self->cap - std::min(self->cap, self->out.size()));
      self->out.append(self->buf.data(), keep);
      self->dropped += n - keep;
      if (ec) {
        self->eof = true;
        self->wake.cancel();
        return;
      }
      self->ReadMore();
    });
  }

  void WatchExit() {
    if (pidfd.is_open()) {
      pidfd.async_wait(asio::posix::descriptor_base::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                         if (!ec) self->OnExited();
                       });
      return;
    }
    PollExit();
  }

  // Without a pidfd: look (without reaping) every 20 ms.
  void PollExit() {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) {
      OnExited();
      return;
    }
    poll.expires_after(std::chrono::milliseconds(20));
    poll.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->PollExit();
    });
  }

  void ArmDeadline(std::chrono::milliseconds timeout) {
    deadline.expires_after(timeout);
    deadline.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->reaped) return;
      self->timed_out = true;
      self->KillGroup();
    });
  }

  void StopWatching() {
    boost::system::error_code ignored;
    deadline.cancel();
    poll.cancel();
    pipe.close(ignored);
    pidfd.close(ignored);
  }
};

// Kills and reaps the child if the coroutine ends before it did (cancelled, loop destroyed).
struct ReapGuard {
  std::shared_ptr<ChildRun> run;
  ~ReapGuard() {
    if (run->reaped || run->pid <= 0) return;
    run->KillGroup();
    while (::waitpid(run->pid, &run->wait_status, 0) < 0 && errno == EINTR) {
    }
    run->reaped = true;
    run->StopWatching();
  }
};

std::vector<std::string> MinimalEnvironment(const fs::path& cwd) {
  const char* path = std::getenv("PATH");
  const char* lang = std::getenv("LANG");
  return {std::string("PATH=") + (path && *path ? path : "/usr/local/bin:/usr/bin:/bin"), "HOME=" + cwd.string(),
          std::string("LANG=") + (lang && *lang ? lang : "C.UTF-8"), "TERM=dumb"};
}

struct SpawnConfig {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnConfig() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnConfig() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

// posix_spawn of the shell: own process group, default signal handling and an empty mask (the
// kernel ignores SIGPIPE; commands must not inherit that), stdin /dev/null, stdout and stderr into
// `write_fd`, nothing else inherited.
Result<pid_t> SpawnShell(const std::string& command, const fs::path& cwd, int write_fd) {
  SpawnConfig c;
  int rc = posix_spawn_file_actions_addopen(&c.actions, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&c.actions, write_fd, 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&c.actions, write_fd, 2);
  if (rc == 0) rc = posix_spawn_file_actions_addchdir_np(&c.actions, cwd.c_str());
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&c.actions, 3);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig = 1; sig < 32; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaddset(&defaults, sig);
  }
  if (rc == 0)
    rc = posix_spawnattr_setflags(&c.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (rc == 0) rc = posix_spawnattr_setpgroup(&c.attr, 0);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&c.attr, &empty);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&c.attr, &defaults);
  if (rc != 0)
    return MakeError(ErrorCode::kInternalError, std::string("exec: preparing the spawn failed: ") + std::strerror(rc));

  std::vector<std::string> env = MinimalEnvironment(cwd);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  pid_t pid = -1;
  rc = ::posix_spawn(&pid, "/bin/sh", &c.actions, &c.attr, argv, envp.data());
  if (rc != 0)
    return MakeError(ErrorCode::kInternalError, std::string("exec: cannot start /bin/sh: ") + std::strerror(rc));
  return pid;
}

int OpenPidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

}  // namespace

asio::awaitable<Result<ExecOutput>> RunShellCommand(asio::any_io_executor loop, std::string command, fs::path cwd,
                                                    std::chrono::milliseconds timeout, size_t max_output_bytes) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    co_return MakeError(ErrorCode::kInternalError, std::string("exec: pipe failed: ") + std::strerror(errno));
  }
  auto spawned = SpawnShell(command, cwd, fds[1]);
  ::close(fds[1]);
  if (!spawned.ok()) {
    ::close(fds[0]);
    co_return spawned.error();
  }
  auto run = std::make_shared<ChildRun>(loop);
  run->pid = *spawned;
  run->cap = max_output_bytes;
  run->pipe.assign(fds[0]);
  int pidfd = OpenPidfd(run->pid);
  if (pidfd >= 0) {
    ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    run->pidfd.assign(pidfd);
  }
  ReapGuard guard{run};
  run->ReadMore();
  run->WatchExit();
  run->ArmDeadline(timeout);

  Clock::time_point drain_until{};
  while (!(run->reaped && run->eof)) {
    if (run->reaped && drain_until == Clock::time_point{}) drain_until = Clock::now() + kDrainAfterExit;
    if (drain_until != Clock::time_point{} && Clock::now() >= drain_until) break;  // a writer escaped the group
    if (drain_until != Clock::time_point{}) {
      run->wake.expires_at(drain_until);
    } else {
      run->wake.expires_after(std::chrono::hours(24));
    }
    boost::system::error_code ec;
    co_await run->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  run->StopWatching();

  ExecOutput out;
  out.output = ToValidUtf8(run->out);
  out.dropped_bytes = run->dropped;
  out.timed_out = run->timed_out;
  if (WIFEXITED(run->wait_status)) out.exit_code = WEXITSTATUS(run->wait_status);
  if (WIFSIGNALED(run->wait_status)) out.signal = WTERMSIG(run->wait_status);
  co_return out;
}

}  // namespace oc::tools::internal
