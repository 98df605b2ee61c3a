#include "supervisor/supervisor.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>

#include "supervisor/app_log.h"
#include "supervisor/limits.h"
#include "supervisor/proc_stats.h"
#include "supervisor/sandbox.h"
#include "supervisor/spawn.h"

// State machine, one row per event (anything not listed is ignored):
//
//   from             event                           to        action
//   stopped|error    Start()                         starting  reset history; spawn
//   error            restart timer                   starting  spawn
//   (spawning)       spawn/exec failure              error     failure (see below)
//   starting         OnReady()                       ready     heartbeat deadline armed
//   starting         start timeout                   -         SIGKILL group; its exit = failure
//   ready            heartbeat timeout               -         SIGKILL group; its exit = failure
//   starting|ready   Stop() / OnShutdownRequested()  stopping  app:shutdown (Stop only), then
//                                                              SIGTERM, SIGKILL after timeouts
//   starting|ready   exit (not asked for)            error     failure (see below)
//   stopping         exit                            stopped   -
//   error (pending)  Stop()                          stopped   restart cancelled
//
// failure: consecutive++ (reset first if the run was ready >= StablePeriod); if max_restarts
// restarts already happened within restart_window -> error for good; else error with a restart
// timer of restart_delay * multiplier^(consecutive-1), capped.
// Every transition notifies Observer::OnStateChanged; every exit of a process Observer::OnExited.

namespace oc::supervisor {

namespace {
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;
using boost::system::error_code;

constexpr size_t kLogRingLines = 1000;
constexpr Ms kStableReadyCap{
    10000};                         // ready this long (or restart_window if shorter) = healthy run
constexpr Ms kAfterKillWait{5000};  // SIGKILL not reaped after this: report kTimeout

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* abbrev = ::sigabbrev_np(sig);
    std::string out = "killed by signal " + std::to_string(sig);
    if (abbrev) out += std::string(" (SIG") + abbrev + ")";
    if (WCOREDUMP(status)) out += ", core dumped";
    return out;
  }
  return "exited with status " + std::to_string(status);
}

Ms StablePeriod(const SupervisorSettings& s) {
  return std::min(kStableReadyCap, Ms(s.restart_window_ms));
}

// Compares without an early exit, so timing does not reveal how much of a token matched.
bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

void SignalGroup(pid_t pid, int sig) {
  // The child called setsid(), so its pgid is its pid.
  if (::kill(-pid, sig) != 0) ::kill(pid, sig);
}

void ReapBlocking(pid_t pid) {
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}
}  // namespace

std::string_view AppStateName(AppState state) {
  switch (state) {
    case AppState::kStopped:
      return "stopped";
    case AppState::kStarting:
      return "starting";
    case AppState::kReady:
      return "ready";
    case AppState::kStopping:
      return "stopping";
    case AppState::kError:
      return "error";
  }
  return "unknown";
}

json::value AppStatus::ToJson() const {
  json::object out;
  out["packageId"] = package_id;
  out["state"] = AppStateName(state);
  if (pid) out["pid"] = *pid;
  if (started_at_ms) out["startedAt"] = *started_at_ms;
  out["restartCount"] = restart_count;
  if (last_heartbeat_ms) out["lastHeartbeat"] = *last_heartbeat_ms;
  if (last_error) out["lastError"] = *last_error;
  if (memory_rss_bytes || cpu_percent) {
    json::object usage;
    if (memory_rss_bytes) usage["memoryRss"] = *memory_rss_bytes;
    if (cpu_percent) usage["cpuPercent"] = *cpu_percent;
    out["resourceUsage"] = std::move(usage);
  }
  out["enforcement"] = enforcement;
  return out;
}

struct Supervisor::App {
  App(asio::io_context& io, AppSpec s)
      : spec(std::move(s)),
        start_timer(io),
        health_timer(io),
        restart_timer(io),
        ring(kLogRingLines) {}
  ~App() {
    for (auto* waiter : exit_waiters) waiter->cancel();
    for (auto& weak : readers) {
      if (auto reader = weak.lock()) reader->Close();
    }
  }
  void AppendLog(std::string_view line) {
    log_file.Append(line);
    ring.Push(std::string(line));
  }
  bool Exited(uint64_t of_run) const { return run != of_run || !pid; }

  AppSpec spec;
  AppState state = AppState::kStopped;
  // The current process. `run` grows with every spawn so that handlers of an older run can tell.
  uint64_t run = 0;
  std::optional<pid_t> pid;
  std::optional<int64_t> started_at_ms;
  std::string token;
  bool token_used = false;
  bool stop_requested = false;             // the coming exit is clean
  std::optional<std::string> kill_reason;  // we SIGKILLed it for this failure
  std::optional<Clock::time_point> ready_since;
  std::optional<int64_t> last_heartbeat_ms;
  Clock::time_point last_heartbeat_steady{};
  std::filesystem::path cgroup_dir;
  json::object enforcement = internal::NoEnforcement();
  mutable internal::CpuSampler cpu;
  // Restart policy.
  int restart_count = 0;
  int consecutive_failures = 0;
  std::deque<Clock::time_point> restart_times;  // automatic restarts, for the intensity limit
  bool restart_pending = false;
  uint64_t restart_epoch = 0;
  int64_t next_restart_at_ms = 0;
  std::optional<std::string> last_error;
  asio::steady_timer start_timer, health_timer, restart_timer;
  std::vector<asio::steady_timer*> exit_waiters;  // Stop() coroutines waiting for the exit
  // Output.
  internal::LogRing ring;
  internal::RotatingLogFile log_file;
  std::vector<std::weak_ptr<internal::LineReader>> readers;
};

Supervisor::Supervisor(asio::io_context& io, SupervisorSettings settings, Observer& observer,
                       std::filesystem::path socket_path)
    : io_(io), observer_(observer), socket_path_(std::move(socket_path)), sigchld_(io, SIGCHLD) {
  UpdateSettings(settings);
  WaitForChildren();
}

Supervisor::~Supervisor() {
  error_code ec;
  sigchld_.cancel(ec);
  for (auto& [id, app] : apps_) {
    if (!app->pid) continue;
    SignalGroup(*app->pid, SIGKILL);
    ReapBlocking(*app->pid);
    internal::RemoveCgroup(app->cgroup_dir);
    spdlog::info("supervisor: killed {} (pid {}) on shutdown", id, *app->pid);
  }
  apps_.clear();
}

void Supervisor::UpdateSettings(SupervisorSettings s) {
  s.start_timeout_ms = std::max<int64_t>(s.start_timeout_ms, 1);
  s.heartbeat_interval_ms = std::max<int64_t>(s.heartbeat_interval_ms, 1);
  s.heartbeat_timeout_ms = std::max<int64_t>(s.heartbeat_timeout_ms, 1);
  s.restart_delay_ms = std::max<int64_t>(s.restart_delay_ms, 0);
  s.backoff_multiplier =
      std::isfinite(s.backoff_multiplier) ? std::max(s.backoff_multiplier, 1.0) : 1.0;
  s.max_restart_delay_ms = std::max<int64_t>(s.max_restart_delay_ms, 0);
  s.max_restarts = std::max(s.max_restarts, 0);
  s.restart_window_ms = std::max<int64_t>(s.restart_window_ms, 0);
  s.shutdown_timeout_ms = std::max<int64_t>(s.shutdown_timeout_ms, 0);
  s.kill_grace_ms = std::max<int64_t>(s.kill_grace_ms, 0);
  settings_ = s;
}

// ---- Registry ---------------------------------------------------------------------------------

void Supervisor::Add(AppSpec spec) {
  if (auto app = Find(spec.id)) {
    app->spec = std::move(spec);
    return;
  }
  std::string id = spec.id;
  apps_.emplace(std::move(id), std::make_shared<App>(io_, std::move(spec)));
}

Status Supervisor::Remove(std::string_view id) {
  auto it = apps_.find(id);
  if (it == apps_.end()) return MakeError(ErrorCode::kNotFound, "unknown app: " + std::string(id));
  if (it->second->pid) {
    return MakeError(ErrorCode::kConflict, "app " + std::string(id) + " is running; stop it first");
  }
  CancelRestart(*it->second);
  apps_.erase(it);
  return Status::Ok();
}

bool Supervisor::Has(std::string_view id) const { return apps_.find(id) != apps_.end(); }

Supervisor::AppPtr Supervisor::Find(std::string_view id) const {
  auto it = apps_.find(id);
  return it == apps_.end() ? nullptr : it->second;
}

// ---- Transitions ------------------------------------------------------------------------------

void Supervisor::SetState(const AppPtr& app, AppState state) {
  if (app->state != state) {
    spdlog::debug("supervisor: {} {} -> {}", app->spec.id, AppStateName(app->state),
                  AppStateName(state));
  }
  app->state = state;
  observer_.OnStateChanged(Snapshot(*app, false));
}

Status Supervisor::Start(std::string_view id) {
  AppPtr app = Find(id);
  if (!app) return MakeError(ErrorCode::kNotFound, "unknown app: " + std::string(id));
  if (app->pid) {
    return MakeError(ErrorCode::kConflict,
                     "app " + std::string(id) + " is " + std::string(AppStateName(app->state)));
  }
  CancelRestart(*app);
  app->restart_times.clear();
  app->consecutive_failures = 0;
  app->restart_count = 0;
  app->last_error.reset();
  Spawn(app);
  return Status::Ok();
}

void Supervisor::Spawn(const AppPtr& app) {
  if (app->spec.unstartable) {
    app->last_error = *app->spec.unstartable;
    app->restart_pending = false;
    spdlog::error("supervisor: {} not started: {}", app->spec.id, *app->last_error);
    return SetState(app, AppState::kError);
  }
  ++app->run;
  app->stop_requested = false;
  app->kill_reason.reset();
  app->ready_since.reset();
  app->last_heartbeat_ms.reset();
  app->token_used = false;
  auto token = internal::RandomToken();
  if (!token.ok()) return HandleFailure(app, token.error().message);
  app->token = *token;

  auto sandbox = internal::PlanSandbox(app->spec);
  if (!sandbox.ok()) {
    spdlog::warn("supervisor: cannot start {}: {}", app->spec.id, sandbox.error().message);
    return HandleFailure(app, sandbox.error().message);
  }
  internal::LimitPlan limits = internal::PlanLimits(app->spec.id, app->spec.limits);
  internal::SpawnRequest request{app->spec.executable, app->spec.dir, app->spec.env, &limits,
                                 &*sandbox};
  for (const auto& [name, value] : sandbox->env) request.env[name] = value;
  request.env["OPENCLAWOS_SOCKET"] = socket_path_.string();
  request.env["OPENCLAWOS_APP_ID"] = app->spec.id;
  request.env["OPENCLAWOS_APP_TOKEN"] = app->token;
  app->log_file.Open(app->spec.log_file);  // every spawn: follows spec changes, retries failures

  auto child = internal::SpawnChild(request);
  if (!child.ok()) {
    internal::RemoveCgroup(limits.cgroup_dir);
    spdlog::warn("supervisor: cannot start {}: {}", app->spec.id, child.error().message);
    return HandleFailure(app, child.error().message);
  }
  app->pid = child->pid;
  app->started_at_ms = NowMs();
  app->cpu.Reset(Clock::now());
  app->cgroup_dir = limits.cgroup_dir;
  app->enforcement = limits.enforcement;
  internal::FinishEnforcement(*sandbox, child->network_namespace, app->enforcement);
  std::erase_if(app->readers, [](const auto& weak) { return weak.expired(); });
  StartReader(app, child->stdout_fd);
  StartReader(app, child->stderr_fd);
  ArmStartTimeout(app);
  spdlog::info("supervisor: started {} (pid {})", app->spec.id, child->pid);
  SetState(app, AppState::kStarting);
}

void Supervisor::StartReader(const AppPtr& app, int fd) {
  std::weak_ptr<App> weak = app;
  try {
    auto reader = std::make_shared<internal::LineReader>(io_.get_executor(), fd,
                                                         [weak](std::string_view line) {
                                                           if (auto a = weak.lock())
                                                             a->AppendLog(line);
                                                         });
    reader->Start();
    app->readers.push_back(reader);
  } catch (const std::exception& e) {  // registering with the reactor failed: no capture, app runs
    spdlog::warn("supervisor: cannot capture output of {}: {}", app->spec.id, e.what());
  }
}

void Supervisor::ArmStartTimeout(const AppPtr& app) {
  app->start_timer.expires_after(Ms(settings_.start_timeout_ms));
  app->start_timer.async_wait([this, weak = std::weak_ptr<App>(app),
                               run = app->run](error_code ec) {
    auto a = weak.lock();
    if (ec || !a || a->Exited(run) || a->state != AppState::kStarting) return;
    KillForFailure(
        a, "start timeout: not ready within " + std::to_string(settings_.start_timeout_ms) + " ms");
  });
}

// Fires at the heartbeat deadline, or earlier every heartbeat_interval (so settings changes apply).
void Supervisor::ArmHealthCheck(const AppPtr& app) {
  auto deadline = app->last_heartbeat_steady + Ms(settings_.heartbeat_timeout_ms);
  app->health_timer.expires_at(
      std::min(deadline, Clock::now() + Ms(settings_.heartbeat_interval_ms)));
  app->health_timer.async_wait(
      [this, weak = std::weak_ptr<App>(app), run = app->run](error_code ec) {
        auto a = weak.lock();
        if (ec || !a || a->Exited(run) || a->state != AppState::kReady) return;
        if (Clock::now() - a->last_heartbeat_steady >= Ms(settings_.heartbeat_timeout_ms)) {
          KillForFailure(a, "heartbeat timeout: none for " +
                                std::to_string(settings_.heartbeat_timeout_ms) + " ms");
        } else {
          ArmHealthCheck(a);
        }
      });
}

void Supervisor::KillForFailure(const AppPtr& app, std::string reason) {
  spdlog::warn("supervisor: killing {} (pid {}): {}", app->spec.id, *app->pid, reason);
  app->kill_reason = std::move(reason);
  SignalGroup(*app->pid, SIGKILL);  // the exit arrives through SIGCHLD and counts as a failure
}

void Supervisor::OnReady(std::string_view id) {
  AppPtr app = Find(id);
  if (!app || app->state != AppState::kStarting) return;
  auto now = Clock::now();
  app->ready_since = now;
  app->last_heartbeat_steady = now;
  app->last_heartbeat_ms = NowMs();
  app->start_timer.cancel();
  ArmHealthCheck(app);
  SetState(app, AppState::kReady);
}

void Supervisor::OnHeartbeat(std::string_view id) {
  AppPtr app = Find(id);
  if (!app || (app->state != AppState::kStarting && app->state != AppState::kReady)) return;
  app->last_heartbeat_steady = Clock::now();
  app->last_heartbeat_ms = NowMs();
}

// ---- Exits, failures, restarts ----------------------------------------------------------------

void Supervisor::WaitForChildren() {
  sigchld_.async_wait([this, alive = std::weak_ptr<int>(alive_)](error_code ec, int) {
    if (ec || alive.expired()) return;
    WaitForChildren();
    ReapChildren();
  });
}

// Only our own pids are waited for: other subsystems may have children of their own.
void Supervisor::ReapChildren() {
  std::vector<AppPtr> running;
  for (auto& [id, app] : apps_) {
    if (app->pid) running.push_back(app);
  }
  for (const AppPtr& app : running) {
    if (!app->pid) continue;  // handled by a callback meanwhile
    pid_t pid = *app->pid;
    siginfo_t info{};
    // Peek without reaping: while the zombie holds the pid, the group id cannot be reused, so the
    // group kill below cannot hit a stranger.
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
      if (errno == ECHILD) HandleExit(app, "exited (reaped by someone else)");
      continue;
    }
    if (info.si_pid != pid) continue;  // still running
    ::kill(-pid, SIGKILL);             // what is left of its process group goes with it
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    HandleExit(app, DescribeExit(status));
  }
}

void Supervisor::HandleExit(const AppPtr& app, std::string how) {
  pid_t pid = *app->pid;
  app->pid.reset();
  app->start_timer.cancel();
  app->health_timer.cancel();
  internal::RemoveCgroup(app->cgroup_dir);
  app->cgroup_dir.clear();
  app->enforcement = internal::NoEnforcement();
  app->token.clear();
  for (auto* waiter : app->exit_waiters) waiter->cancel();
  bool clean = app->stop_requested;
  app->stop_requested = false;
  spdlog::info("supervisor: {} (pid {}) {}{}", app->spec.id, pid, how, clean ? " (stopped)" : "");
  observer_.OnExited(app->spec.id);
  if (clean) return SetState(app, AppState::kStopped);
  HandleFailure(app, app->kill_reason.value_or(how));
}

void Supervisor::HandleFailure(const AppPtr& app, std::string reason) {
  auto now = Clock::now();
  if (app->ready_since && now - *app->ready_since >= StablePeriod(settings_)) {
    app->consecutive_failures = 0;
  }
  app->ready_since.reset();
  ++app->consecutive_failures;
  auto window_start = now - Ms(settings_.restart_window_ms);
  while (!app->restart_times.empty() && app->restart_times.front() < window_start) {
    app->restart_times.pop_front();
  }
  if (static_cast<int>(app->restart_times.size()) >= settings_.max_restarts) {
    app->last_error = "restart limit reached (" + std::to_string(settings_.max_restarts) +
                      " restarts within " + std::to_string(settings_.restart_window_ms) +
                      " ms); last failure: " + reason;
    spdlog::error("supervisor: {}: {}", app->spec.id, *app->last_error);
    return SetState(app, AppState::kError);
  }
  Ms delay = RestartDelay(settings_, app->consecutive_failures);
  app->last_error = std::move(reason);
  app->restart_pending = true;
  uint64_t epoch = ++app->restart_epoch;
  app->next_restart_at_ms = NowMs() + delay.count();
  app->restart_timer.expires_after(delay);
  app->restart_timer.async_wait([this, weak = std::weak_ptr<App>(app), epoch](error_code ec) {
    auto a = weak.lock();
    if (ec || !a || !a->restart_pending || a->restart_epoch != epoch) return;
    a->restart_pending = false;
    a->restart_times.push_back(Clock::now());
    ++a->restart_count;
    Spawn(a);
  });
  spdlog::warn("supervisor: {} failed ({}); restart in {} ms", app->spec.id, *app->last_error,
               delay.count());
  SetState(app, AppState::kError);
}

void Supervisor::CancelRestart(App& app) {
  if (!app.restart_pending) return;
  app.restart_pending = false;
  ++app.restart_epoch;
  app.restart_timer.cancel();
}

// ---- Stopping ---------------------------------------------------------------------------------

// Stop() coroutines register a timer that HandleExit (or ~App) cancels.
asio::awaitable<bool> Supervisor::WaitForExit(std::weak_ptr<App> weak, uint64_t run, Ms timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  {
    auto app = weak.lock();
    if (!app || app->Exited(run)) co_return true;
    app->exit_waiters.push_back(&timer);
  }
  error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  auto app = weak.lock();
  if (!app) co_return true;
  std::erase(app->exit_waiters, &timer);
  co_return app->Exited(run);
}

void Supervisor::BeginStopping(const AppPtr& app) {
  app->stop_requested = true;
  app->start_timer.cancel();
  app->health_timer.cancel();
  SetState(app, AppState::kStopping);
}

asio::awaitable<Status> Supervisor::Stop(std::string_view id, std::string reason) {
  // Not a coroutine itself: `id` is copied now, before the caller's string can go away.
  return StopApp(std::string(id), std::move(reason));
}

asio::awaitable<Status> Supervisor::StopApp(std::string id, std::string reason) {
  AppPtr app = Find(id);
  if (!app) co_return MakeError(ErrorCode::kNotFound, "unknown app: " + id);
  if (!app->pid) {
    if (app->restart_pending) {
      CancelRestart(*app);
      SetState(app, AppState::kStopped);
    }
    co_return Status::Ok();
  }
  std::weak_ptr<App> weak = app;
  uint64_t run = app->run;
  if (app->state == AppState::kStopping) {  // someone else drives this stop: wait for its end
    app.reset();
    Ms budget = Ms(settings_.shutdown_timeout_ms + settings_.kill_grace_ms) + kAfterKillWait;
    if (co_await WaitForExit(weak, run, budget)) co_return Status::Ok();
    co_return MakeError(ErrorCode::kTimeout, "app " + id + " did not exit");
  }
  spdlog::info("supervisor: stopping {}: {}", id, reason);
  BeginStopping(app);
  app.reset();
  observer_.SendShutdown(id, reason, settings_.shutdown_timeout_ms);
  co_return co_await DriveStop(weak, run);
}

// app:shutdown was sent (or the app asked): wait, SIGTERM the group, wait, SIGKILL it. `this` is
// used only while the app exists, which implies the Supervisor does.
asio::awaitable<Status> Supervisor::DriveStop(std::weak_ptr<App> weak, uint64_t run) {
  if (co_await WaitForExit(weak, run, Ms(settings_.shutdown_timeout_ms))) co_return Status::Ok();
  if (auto app = weak.lock()) SignalGroup(*app->pid, SIGTERM);
  if (co_await WaitForExit(weak, run, Ms(settings_.kill_grace_ms))) co_return Status::Ok();
  if (auto app = weak.lock()) {
    spdlog::warn("supervisor: {} ignored SIGTERM; sending SIGKILL", app->spec.id);
    SignalGroup(*app->pid, SIGKILL);
  }
  if (co_await WaitForExit(weak, run, kAfterKillWait)) co_return Status::Ok();
  co_return MakeError(ErrorCode::kTimeout, "app did not exit after SIGKILL");
}

void Supervisor::OnShutdownRequested(std::string_view id, std::string reason) {
  AppPtr app = Find(id);
  if (!app || (app->state != AppState::kStarting && app->state != AppState::kReady)) return;
  spdlog::info("supervisor: {} asked to stop: {}", app->spec.id, reason);
  BeginStopping(app);
  asio::co_spawn(io_, DriveStop(app, app->run), asio::detached);
}

asio::awaitable<Status> Supervisor::Restart(std::string_view id) {
  return RestartApp(std::string(id));
}

asio::awaitable<Status> Supervisor::RestartApp(std::string id) {
  std::weak_ptr<int> alive = alive_;
  Status stopped = co_await StopApp(id, "restart");
  if (!stopped.ok()) co_return stopped;
  if (alive.expired()) co_return MakeError(ErrorCode::kInternalError, "supervisor is gone");
  co_return Start(id);
}

asio::awaitable<void> Supervisor::StopAll(std::vector<std::string> order, std::string reason) {
  std::weak_ptr<int> alive = alive_;
  // Pass 0: the given order. Pass 1: whatever still runs or waits for a restart, in id order.
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<std::string> ids;
    if (pass == 0) {
      ids = std::move(order);
    } else {
      for (const auto& [id, app] : apps_) {
        if (app->pid || app->restart_pending) ids.push_back(id);
      }
    }
    for (const std::string& id : ids) {
      if (alive.expired()) co_return;
      if (!Has(id)) continue;
      Status s = co_await StopApp(id, reason);
      if (!s.ok()) spdlog::warn("supervisor: stopping {}: {}", id, s.error().message);
    }
    if (alive.expired()) co_return;
  }
}

// ---- IPC-facing checks and queries ------------------------------------------------------------

bool Supervisor::ConsumeSpawnToken(std::string_view id, std::string_view token, pid_t peer_pid) {
  AppPtr app = Find(id);
  if (!app || !app->pid || app->token_used || app->token.empty()) return false;
  if (!SameSecret(token, app->token)) return false;
  if (peer_pid <= 0) return false;
  if (peer_pid != *app->pid && ::getpgid(peer_pid) != *app->pid) return false;
  app->token_used = true;
  return true;
}

AppStatus Supervisor::Snapshot(const App& app, bool with_usage) const {
  AppStatus s;
  s.package_id = app.spec.id;
  s.state = app.state;
  s.pid = app.pid;
  s.started_at_ms = app.started_at_ms;
  s.restart_count = app.restart_count;
  s.last_heartbeat_ms = app.last_heartbeat_ms;
  s.last_error = app.last_error;
  if (app.restart_pending) s.next_restart_at_ms = app.next_restart_at_ms;
  s.enforcement = app.enforcement;
  if (with_usage && app.pid) {
    s.memory_rss_bytes = internal::ReadRssBytes(*app.pid);
    s.cpu_percent = app.cpu.Sample(*app.pid, Clock::now());
  }
  return s;
}

std::vector<AppStatus> Supervisor::List() const {
  std::vector<AppStatus> out;
  for (const auto& [id, app] : apps_) out.push_back(Snapshot(*app, true));
  return out;
}

std::optional<AppStatus> Supervisor::Get(std::string_view id) const {
  AppPtr app = Find(id);
  if (!app) return std::nullopt;
  return Snapshot(*app, true);
}

std::vector<std::string> Supervisor::Logs(std::string_view id, size_t max_lines) const {
  AppPtr app = Find(id);
  if (!app) return {};
  return app->ring.Tail(max_lines);
}

std::optional<Supervisor::LogLines> Supervisor::ReadLogs(std::string_view id, std::optional<uint64_t> after,
                                                         size_t max_lines) const {
  AppPtr app = Find(id);
  if (!app) return std::nullopt;
  const auto& ring = app->ring;
  uint64_t from = after ? (*after > ring.total() ? 0 : *after) : ring.total() - std::min(max_lines, ring.size());
  LogLines out;
  uint64_t kept_from = from;
  out.lines = ring.Since(from, max_lines, &kept_from);
  out.skipped = kept_from - from;
  out.next = kept_from + out.lines.size();
  return out;
}

Ms RestartDelay(const SupervisorSettings& s, int consecutive_failures) {
  // 0 × pow(...) turns NaN once pow overflows (after ~1000 failures): no delay stays no delay.
  if (s.restart_delay_ms <= 0) return Ms(0);
  double delay = static_cast<double>(s.restart_delay_ms) *
                 std::pow(s.backoff_multiplier, std::max(consecutive_failures - 1, 0));
  double cap = static_cast<double>(s.max_restart_delay_ms);
  if (!std::isfinite(delay) || delay > cap) delay = cap;
  return Ms(static_cast<int64_t>(std::max(delay, 0.0)));
}

}  // namespace oc::supervisor
