// App supervisor (SPEC §5): spawns each app as its own process, watches readiness, heartbeats and
// exits, restarts crashed apps with backoff and restart intensity, stops apps gracefully.
//
// Rules for the whole class:
// - Single-threaded: every method must be called on the thread running the io_context given to the
//   constructor (the kernel loop). Nothing here blocks the loop for longer than a fork+exec.
// - Linux only. The Supervisor owns a SIGCHLD asio::signal_set and reaps only the pids it spawned.
// - Children die with the kernel thread that constructed the Supervisor (PR_SET_PDEATHSIG), and
//   ~Supervisor SIGKILLs the process groups of the children still alive. When an app's main
//   process exits, whatever is left of its process group is SIGKILLed too.
// - Errors are values (Status); nothing throws across this API.
//
// State machine, per app (supervisor.cpp has the full table):
//   stopped -> starting (spawned) -> ready (OnReady) -> stopping -> stopped
//   a crash / failed health check -> error, then starting again after the backoff delay, or error
//   for good when restarts are exhausted (until Start()).
//
// Restart policy: a failure is an exit that was not asked for (no Stop/OnShutdownRequested before),
// a start timeout, a heartbeat timeout or a spawn/exec failure. The n-th consecutive failure is
// restarted after restart_delay_ms * backoff_multiplier^(n-1), capped at max_restart_delay_ms. The
// consecutive-failure count resets when the run that failed had been ready for at least
// min(10 s, restart_window_ms). Independently, when max_restarts automatic restarts already
// happened within the last restart_window_ms, the next failure puts the app in `error` for good.
// While waiting for a restart the app is in `error` with lastError set to the cause.
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace oc::supervisor {
namespace asio = boost::asio;

enum class AppState { kStopped, kStarting, kReady, kStopping, kError };
// "stopped", "starting", "ready", "stopping", "error".
std::string_view AppStateName(AppState state);

// apps.supervisor.* (SPEC §5.3, §5.4). Values are read when used, so UpdateSettings applies to the
// next timer armed.
struct SupervisorSettings {
  int64_t start_timeout_ms = 10000;       // spawned -> OnReady, else SIGKILL + failure
  int64_t heartbeat_interval_ms = 30000;  // health is checked at least this often
  int64_t heartbeat_timeout_ms = 90000;   // no OnHeartbeat for this long while ready -> failure
  int64_t restart_delay_ms = 1000;
  double backoff_multiplier = 2;
  int64_t max_restart_delay_ms = 60000;
  int max_restarts = 5;
  int64_t restart_window_ms = 300000;
  int64_t shutdown_timeout_ms = 5000;  // app:shutdown -> SIGTERM
  int64_t kill_grace_ms = 2000;        // SIGTERM -> SIGKILL
};

// The wait before the restart after `consecutive_failures` (>= 1) failures in a row:
// restart_delay_ms × backoff_multiplier^(failures − 1), capped at max_restart_delay_ms. A
// restart_delay_ms of 0 means 0 however many failures came before.
std::chrono::milliseconds RestartDelay(const SupervisorSettings& s, int consecutive_failures);

// resources.limits of the manifest (SPEC §5.5).
struct ResourceLimits {
  std::optional<int64_t> max_memory_bytes;  // cgroup v2 memory.max, else RLIMIT_AS
  std::optional<int64_t> cpu_shares;        // 1024 = normal weight: cgroup cpu.weight, else nice
  std::optional<int64_t> max_fds;           // RLIMIT_NOFILE (soft = hard)
};

// The process sandbox of SPEC §5.5 (issue 8), applied between fork and exec when `enabled`: no new
// privileges, a seccomp filter, Landlock rules (when the running kernel has Landlock), a private
// network namespace unless `network`, a private TMPDIR. AppStatus::enforcement reports what was
// really applied (see sandbox.h).
struct SandboxSpec {
  bool enabled = false;
  std::vector<std::filesystem::path> read_paths;   // resources.fs.read, absolute
  std::vector<std::filesystem::path> write_paths;  // resources.fs.write + the app's data dir
  bool network = false;          // resources.network.hosts non-empty: the host network stays reachable
  std::filesystem::path tmp_dir;  // private TMPDIR, emptied at each spawn (empty path: none)
};

struct AppSpec {
  std::string id;                          // package id
  std::filesystem::path dir;               // cwd of the child
  std::filesystem::path executable;        // resolved `main` (absolute), executed directly
  std::map<std::string, std::string> env;  // the whole environment except the OPENCLAWOS_* three
  ResourceLimits limits;
  std::filesystem::path log_file;  // <home>/logs/apps/<app>.log; rotated at 1 MiB, keeps .1 .2 .3
  // Set when the app cannot run as configured (e.g. its config section fails the manifest's
  // configSchema): a spawn then does not happen; the app goes to error with this as lastError and
  // is not restarted until the spec changes and it is started again.
  std::optional<std::string> unstartable;
  SandboxSpec sandbox;
};

struct AppStatus {
  std::string package_id;
  AppState state = AppState::kStopped;
  std::optional<pid_t> pid;              // while a process runs
  std::optional<int64_t> started_at_ms;  // wall clock of the current/last spawn
  int restart_count = 0;                 // automatic restarts since the last Start()
  std::optional<int64_t> last_heartbeat_ms;
  std::optional<std::string> last_error;  // e.g. "exited with code 1", "heartbeat timeout"
  // Wall clock of the scheduled automatic restart (state error, restart pending); absent when the
  // app is in error for good. Not part of ToJson().
  std::optional<int64_t> next_restart_at_ms;
  std::optional<int64_t> memory_rss_bytes;  // main process only; List()/Get() while running
  std::optional<double> cpu_percent;        // since the previous List()/Get() (or the spawn)
  // What is actually applied to the running process ("none" for everything when not running):
  // {"memory":"cgroup"|"rlimit_as"|"none","fds":"rlimit"|"none","cpu":"cgroup"|"nice"|"none",
  //  "sandbox":"on"|"none","noNewPrivs":"on"|"none","seccomp":"filter"|"none",
  //  "landlock":"abi<N>"|"unsupported"|"none","network":"netns"|"unix-only"|"host"|"none",
  //  "tmp":"private"|"none"} (sandbox.h)
  json::object enforcement;

  // {packageId, state, pid?, startedAt?, restartCount, lastHeartbeat?, lastError?,
  //  resourceUsage? {memoryRss?, cpuPercent?}, enforcement}; absent optionals are omitted.
  json::value ToJson() const;
};

// Implemented by the kernel. Callbacks run on the loop, from inside Supervisor methods or handlers;
// they may call back into the Supervisor.
class Observer {
 public:
  virtual ~Observer() = default;
  // After every state transition (and pid change), with the new status (no resource usage).
  virtual void OnStateChanged(const AppStatus& status) = 0;
  // Ask the app to stop: the kernel sends `app:shutdown {reason, timeout}` over its IPC connection
  // (if connected). The Supervisor escalates to signals by itself.
  virtual void SendShutdown(std::string_view app_id, std::string_view reason,
                            int64_t timeout_ms) = 0;
  // The app process is gone (any reason): drop its connection, hooks and capabilities. Called
  // before the OnStateChanged of the resulting transition. Not called when the spawn itself failed.
  virtual void OnExited(std::string_view app_id) = 0;
};

class Supervisor {
 public:
  // `observer` must outlive the Supervisor. `socket_path` is passed to apps as OPENCLAWOS_SOCKET.
  Supervisor(asio::io_context& io, SupervisorSettings settings, Observer& observer,
             std::filesystem::path socket_path);
  // SIGKILLs the process groups of remaining children and reaps them; removes their cgroups.
  // Pending Stop()/StopAll() coroutines resume later and see their apps gone.
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Registers an app in state stopped. For an id already known, the spec is replaced and used from
  // the next spawn on; state, history and logs are kept.
  void Add(AppSpec spec);
  // Forgets a stopped or errored app (cancels a pending restart). kNotFound; kConflict while a
  // process runs.
  Status Remove(std::string_view id);
  // stopped/error -> starting: resets restart history and counters, spawns now. kNotFound;
  // kConflict while starting/ready/stopping. A spawn failure is not an error here: it shows in the
  // status (lastError "exec failed: ...") and follows the restart policy.
  Status Start(std::string_view id);
  // Graceful stop (SPEC §5.4): SendShutdown, wait shutdown_timeout_ms, SIGTERM to the group, wait
  // kill_grace_ms, SIGKILL. Completes when the process has exited (state stopped). A pending
  // restart is cancelled (error -> stopped). Stopping a stopped app is Ok. kNotFound; kTimeout if
  // the process survives SIGKILL for 5 s.
  asio::awaitable<Status> Stop(std::string_view id, std::string reason);
  // Stop (if running) then Start.
  asio::awaitable<Status> Restart(std::string_view id);
  // Stops the listed apps one after another in the given order (the kernel passes reverse
  // dependency order), then any other app still running, in id order. Unknown ids are skipped.
  asio::awaitable<void> StopAll(std::vector<std::string> order, std::string reason);
  // SIGHUP reload. Takes effect for timers armed from now on.
  void UpdateSettings(SupervisorSettings settings);

  // --- IPC-facing: called by the kernel's IPC layer. ---
  // True iff `token` equals the live child's one-time OPENCLAWOS_APP_TOKEN (not yet used) and
  // `peer_pid` is the child or a member of its process group. A successful call consumes the token;
  // a failed one does not.
  bool ConsumeSpawnToken(std::string_view id, std::string_view token, pid_t peer_pid);
  // starting -> ready (ignored in any other state). Counts as a heartbeat.
  void OnReady(std::string_view id);
  // Records a heartbeat (starting or ready; ignored otherwise).
  void OnHeartbeat(std::string_view id);
  // The app asked to stop (app.shutdown): starting/ready -> stopping; its exit is clean (no
  // restart). If it does not exit within shutdown_timeout_ms it gets SIGTERM, then SIGKILL.
  void OnShutdownRequested(std::string_view id, std::string reason);

  // --- Queries. ---
  // All apps in id order, with live RSS/CPU from /proc for running ones.
  std::vector<AppStatus> List() const;
  std::optional<AppStatus> Get(std::string_view id) const;
  // The last `max_lines` lines of stdout+stderr (a ring of 1000 lines, kept across restarts).
  std::vector<std::string> Logs(std::string_view id, size_t max_lines) const;
  // Numbered output for followers (`apps logs -f`): every line an app printed since the kernel
  // started is numbered from 0. Without `after`: the last `max_lines` lines. With it: the lines
  // numbered `after` and later, oldest first, at most `max_lines`; `skipped` counts the ones the
  // ring no longer holds; an `after` beyond the end (from an earlier kernel) reads from the oldest
  // kept line. nullopt for an unknown app.
  struct LogLines {
    std::vector<std::string> lines;
    uint64_t next = 0;     // the number of the line after the last one in `lines`
    uint64_t skipped = 0;
  };
  std::optional<LogLines> ReadLogs(std::string_view id, std::optional<uint64_t> after, size_t max_lines) const;
  bool Has(std::string_view id) const;

 private:
  struct App;
  using AppPtr = std::shared_ptr<App>;

  AppPtr Find(std::string_view id) const;
  AppStatus Snapshot(const App& app, bool with_usage) const;
  void SetState(const AppPtr& app, AppState state);
  void Spawn(const AppPtr& app);
  void StartReader(const AppPtr& app, int fd);
  void ArmStartTimeout(const AppPtr& app);
  void ArmHealthCheck(const AppPtr& app);
  void KillForFailure(const AppPtr& app, std::string reason);
  void WaitForChildren();
  void ReapChildren();
  void HandleExit(const AppPtr& app, std::string how);
  void HandleFailure(const AppPtr& app, std::string reason);
  void CancelRestart(App& app);
  void BeginStopping(const AppPtr& app);
  asio::awaitable<Status> StopApp(std::string id, std::string reason);
  asio::awaitable<Status> RestartApp(std::string id);
  asio::awaitable<Status> DriveStop(std::weak_ptr<App> weak, uint64_t run);
  // True once run `run` of the app has exited (or the app is gone); false after `timeout`.
  static asio::awaitable<bool> WaitForExit(std::weak_ptr<App> weak, uint64_t run,
                                           std::chrono::milliseconds timeout);

  asio::io_context& io_;
  SupervisorSettings settings_;
  Observer& observer_;
  std::filesystem::path socket_path_;
  asio::signal_set sigchld_;
  std::map<std::string, AppPtr, std::less<>> apps_;
  // Handlers that capture `this` hold a weak_ptr to this token: a handler that runs after the
  // Supervisor is gone sees it expired.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace oc::supervisor
