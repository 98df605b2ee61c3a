// Supervisor state machine with real child processes: crashes and backoff, restart intensity,
// start and heartbeat timeouts, graceful stop and its escalation, app-requested shutdown, StopAll.
#include <signal.h>

#include "supervisor/supervisor.h"
#include "supervisor/supervisor_test_util.h"

namespace oc::supervisor {
namespace {

using testing::Clock;
using testing::Ms;
using testing::MsBetween;
using testing::ProcessGone;
using SupervisorLifecycleTest = testing::SupervisorFixture;

// Tolerance for "happened after the expected delay": never early, at most this late.
constexpr int64_t kLateMs = 300;

// Waits for an app whose main loop ends when the file `quit` appears in its directory.
constexpr const char* kQuitFileApp = R"SH(trap 'echo got-term; exit 0' TERM
while [ ! -f quit ]; do sleep 0.02; done
echo clean-exit
exit 0)SH";

void ExpectDelay(int64_t actual, int64_t expected, const char* what) {
  EXPECT_GE(actual, expected) << what;
  EXPECT_LT(actual, expected + kLateMs) << what;
}

TEST_F(SupervisorLifecycleTest, ExitCodeCrashRestartsWithExponentialBackoffCapped) {
  auto s = testing::FastSettings();
  s.restart_delay_ms = 100;
  s.backoff_multiplier = 2;
  s.max_restart_delay_ms = 300;
  s.max_restarts = 10;
  MakeSupervisor(s);
  StartScript("crash", "exit 1");
  ASSERT_TRUE(RunUntil([&] { return StartsOf("crash") >= 5; }, Ms(5000)));
  auto starts = observer_.ChangesTo("crash", AppState::kStarting);
  auto exits = observer_.ExitsOf("crash");
  ASSERT_GE(exits.size(), 4u);
  const int64_t expected[] = {100, 200, 300, 300};  // 100 * 2^(n-1), capped at 300
  for (size_t i = 0; i < 4; ++i) {
    ExpectDelay(MsBetween(exits[i].at, starts[i + 1].at), expected[i], "restart delay");
  }
  auto errors = observer_.ChangesTo("crash", AppState::kError);
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(*errors[0].status.last_error, "exited with code 1");
  EXPECT_EQ(starts[4].status.restart_count, 4);
}

TEST_F(SupervisorLifecycleTest, KilledFromOutsideIsACrash) {
  MakeSupervisor();
  StartScript("victim", "exec sleep 30");
  pid_t first = *PidOf("victim");
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(RunUntil([&] { return StartsOf("victim") == 2; }));
  auto errors = observer_.ChangesTo("victim", AppState::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(*errors[0].status.last_error, "killed by signal 9 (SIGKILL)");
  ExpectDelay(MsBetween(observer_.ExitsOf("victim")[0].at,
                        observer_.ChangesTo("victim", AppState::kStarting)[1].at),
              50, "first restart");
  EXPECT_NE(*PidOf("victim"), first);
  EXPECT_TRUE(ProcessGone(first));
  EXPECT_EQ(sup_->Get("victim")->restart_count, 1);
}

TEST_F(SupervisorLifecycleTest, SegfaultIsACrash) {
  MakeSupervisor();
  StartScript("segv", "ulimit -c 0\nkill -SEGV $$");
  ASSERT_TRUE(RunUntil([&] { return StartsOf("segv") >= 2; }));
  auto errors = observer_.ChangesTo("segv", AppState::kError);
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].status.last_error->rfind("killed by signal 11 (SIGSEGV)", 0), 0u)
      << *errors[0].status.last_error;
}

TEST_F(SupervisorLifecycleTest, CleanExitWithoutShutdownRequestIsACrash) {
  MakeSupervisor();
  StartScript("quitter", "exit 0");
  ASSERT_TRUE(RunUntil([&] { return StartsOf("quitter") >= 2; }));
  EXPECT_EQ(*observer_.ChangesTo("quitter", AppState::kError)[0].status.last_error,
            "exited with code 0");
}

TEST_F(SupervisorLifecycleTest, CrashLoopEndsInErrorUntilStartedAgain) {
  auto s = testing::FastSettings();
  s.restart_delay_ms = 20;
  s.backoff_multiplier = 1;
  s.max_restarts = 3;
  MakeSupervisor(s);
  StartScript("loop", "exit 3");
  ASSERT_TRUE(RunUntil([&] {
    auto st = sup_->Get("loop");
    return st->last_error && st->last_error->rfind("restart limit reached", 0) == 0;
  }));
  RunFor(Ms(300));                  // no further attempts
  EXPECT_EQ(StartsOf("loop"), 4u);  // the first start and max_restarts restarts
  EXPECT_EQ(observer_.ExitsOf("loop").size(), 4u);
  auto status = sup_->Get("loop");
  EXPECT_EQ(status->state, AppState::kError);
  EXPECT_FALSE(status->next_restart_at_ms);  // in error for good
  EXPECT_EQ(status->restart_count, 3);
  EXPECT_NE(status->last_error->find("exited with code 3"), std::string::npos)
      << *status->last_error;

  // Start() resets the history: a fresh run with a fresh budget.
  ASSERT_TRUE(sup_->Start("loop").ok());
  EXPECT_EQ(StartsOf("loop"), 5u);
  EXPECT_EQ(observer_.changes.back().status.restart_count, 0);
  ASSERT_TRUE(RunUntil([&] { return StartsOf("loop") >= 6; }));
}

TEST_F(SupervisorLifecycleTest, StartTimeoutKillsAndCountsAsFailure) {
  auto s = testing::FastSettings();
  s.start_timeout_ms = 200;
  MakeSupervisor(s);
  auto before_start = Clock::now();  // the timeout counts from the spawn, inside Start()
  StartScript("slow", "exec sleep 30");
  pid_t first = *PidOf("slow");
  ASSERT_TRUE(RunUntil([&] { return !observer_.ExitsOf("slow").empty(); }));
  ExpectDelay(MsBetween(before_start, observer_.ExitsOf("slow")[0].at), 200, "start timeout");
  auto errors = observer_.ChangesTo("slow", AppState::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].status.last_error->rfind("start timeout", 0), 0u)
      << *errors[0].status.last_error;
  EXPECT_TRUE(ProcessGone(first));
  ASSERT_TRUE(RunUntil([&] { return StartsOf("slow") == 2; }));  // restarted like a crash
  // Ready in time: no more timeouts.
  sup_->OnReady("slow");
  RunFor(Ms(400));
  EXPECT_EQ(StateOf("slow"), AppState::kReady);
  EXPECT_EQ(observer_.ExitsOf("slow").size(), 1u);
}

TEST_F(SupervisorLifecycleTest, HeartbeatTimeoutKillsAndRestarts) {
  auto s = testing::FastSettings();
  s.heartbeat_interval_ms = 50;
  s.heartbeat_timeout_ms = 300;
  MakeSupervisor(s);
  StartScript("silent", "exec sleep 30");
  auto before_ready = Clock::now();
  sup_->OnReady("silent");
  ASSERT_EQ(StateOf("silent"), AppState::kReady);
  ASSERT_TRUE(sup_->Get("silent")->last_heartbeat_ms);  // ready counts as a heartbeat
  ASSERT_TRUE(RunUntil([&] { return !observer_.ExitsOf("silent").empty(); }));
  ExpectDelay(MsBetween(before_ready, observer_.ExitsOf("silent")[0].at), 300, "heartbeat timeout");
  EXPECT_EQ(observer_.ChangesTo("silent", AppState::kError)[0].status.last_error->rfind(
                "heartbeat timeout", 0),
            0u);
  ASSERT_TRUE(RunUntil([&] { return StartsOf("silent") == 2; }));
}

TEST_F(SupervisorLifecycleTest, HeartbeatsKeepTheAppReady) {
  auto s = testing::FastSettings();
  s.heartbeat_timeout_ms = 300;
  MakeSupervisor(s);
  StartScript("alive", "exec sleep 30");
  pid_t pid = *PidOf("alive");
  sup_->OnReady("alive");
  for (int i = 0; i < 8; ++i) {
    RunFor(Ms(100));
    sup_->OnHeartbeat("alive");
  }
  EXPECT_EQ(StateOf("alive"), AppState::kReady);
  EXPECT_EQ(*PidOf("alive"), pid);
  EXPECT_TRUE(observer_.ExitsOf("alive").empty());
  EXPECT_GE(*sup_->Get("alive")->last_heartbeat_ms, NowMs() - 200);
}

TEST_F(SupervisorLifecycleTest, StopSendsShutdownAndAppExitsOnItsOwn) {
  MakeSupervisor();
  StartScript("polite", kQuitFileApp);
  sup_->OnReady("polite");
  observer_.on_shutdown = [&](std::string_view id) {
    std::ofstream(root_ / "pkg" / std::string(id) / "quit") << "";
  };
  auto begin = Clock::now();
  ASSERT_TRUE(Await(sup_->Stop("polite", "user request")).ok());
  EXPECT_LT(MsBetween(begin, Clock::now()), 300);  // before any signal
  EXPECT_EQ(StateOf("polite"), AppState::kStopped);
  ASSERT_EQ(observer_.shutdowns.size(), 1u);
  EXPECT_EQ(observer_.last_shutdown_reason, "user request");
  EXPECT_EQ(observer_.last_shutdown_timeout, 300);
  ASSERT_TRUE(WaitForLog("polite", "clean-exit"));
  EXPECT_FALSE(LogsContain("polite", "got-term"));
  ASSERT_EQ(observer_.ChangesTo("polite", AppState::kStopping).size(), 1u);
  RunFor(Ms(200));
  EXPECT_EQ(StartsOf("polite"), 1u);  // a requested stop is not a crash
  EXPECT_EQ(observer_.ExitsOf("polite").size(), 1u);
}

TEST_F(SupervisorLifecycleTest, StopEscalatesToSigtermAfterShutdownTimeout) {
  MakeSupervisor();
  StartScript("termed", "trap 'echo got-term; exit 0' TERM\nwhile true; do sleep 0.02; done");
  auto begin = Clock::now();
  ASSERT_TRUE(Await(sup_->Stop("termed", "bye")).ok());
  ExpectDelay(MsBetween(begin, Clock::now()), 300, "SIGTERM after shutdown_timeout");
  EXPECT_EQ(StateOf("termed"), AppState::kStopped);
  ASSERT_TRUE(WaitForLog("termed", "got-term"));
  RunFor(Ms(200));
  EXPECT_EQ(StartsOf("termed"), 1u);
}

TEST_F(SupervisorLifecycleTest, StopEscalatesToSigkillWhenTermIsIgnored) {
  MakeSupervisor();
  StartScript("stubborn", "trap 'echo term-ignored' TERM\nwhile true; do sleep 0.02; done");
  pid_t pid = *PidOf("stubborn");
  auto begin = Clock::now();
  ASSERT_TRUE(Await(sup_->Stop("stubborn", "bye")).ok());
  ExpectDelay(MsBetween(begin, Clock::now()), 600, "SIGKILL after shutdown_timeout + kill_grace");
  EXPECT_EQ(StateOf("stubborn"), AppState::kStopped);
  EXPECT_TRUE(LogsContain("stubborn", "term-ignored"));
  EXPECT_TRUE(ProcessGone(pid));
  RunFor(Ms(200));
  EXPECT_EQ(StartsOf("stubborn"), 1u);
}

TEST_F(SupervisorLifecycleTest, ConcurrentStopsShareOneShutdown) {
  MakeSupervisor();
  StartScript("twice", "trap 'echo term-ignored' TERM\nwhile true; do sleep 0.02; done");
  std::optional<Status> a, b;
  asio::co_spawn(io_, sup_->Stop("twice", "one"), [&](std::exception_ptr, Status s) { a = s; });
  asio::co_spawn(io_, sup_->Stop("twice", "two"), [&](std::exception_ptr, Status s) { b = s; });
  ASSERT_TRUE(RunUntil([&] { return a && b; }));
  EXPECT_TRUE(a->ok());
  EXPECT_TRUE(b->ok());
  EXPECT_EQ(observer_.shutdowns.size(), 1u);
  EXPECT_EQ(observer_.ExitsOf("twice").size(), 1u);
}

TEST_F(SupervisorLifecycleTest, AppRequestedShutdownThenExitIsACleanStop) {
  MakeSupervisor();
  StartScript("leaver", kQuitFileApp);
  sup_->OnReady("leaver");
  sup_->OnShutdownRequested("leaver", "done for today");
  EXPECT_EQ(StateOf("leaver"), AppState::kStopping);
  std::ofstream(root_ / "pkg" / "leaver" / "quit") << "";
  ASSERT_TRUE(WaitForState("leaver", AppState::kStopped));
  EXPECT_TRUE(LogsContain("leaver", "clean-exit"));
  EXPECT_TRUE(observer_.shutdowns.empty());  // the app asked: no app:shutdown back
  RunFor(Ms(300));
  EXPECT_EQ(StartsOf("leaver"), 1u);
  EXPECT_EQ(StateOf("leaver"), AppState::kStopped);
  EXPECT_FALSE(sup_->Get("leaver")->last_error);
  EXPECT_TRUE(sup_->Start("leaver").ok());  // and it can be started again
}

TEST_F(SupervisorLifecycleTest, AppRequestedShutdownButStillRunningGetsSignals) {
  MakeSupervisor();
  StartScript("lingerer", kQuitFileApp);
  sup_->OnReady("lingerer");
  auto begin = Clock::now();
  sup_->OnShutdownRequested("lingerer", "bye");
  ASSERT_TRUE(WaitForState("lingerer", AppState::kStopped));
  ExpectDelay(MsBetween(begin, Clock::now()), 300, "SIGTERM after shutdown_timeout");
  EXPECT_TRUE(WaitForLog("lingerer", "got-term"));
  RunFor(Ms(200));
  EXPECT_EQ(StartsOf("lingerer"), 1u);
}

TEST_F(SupervisorLifecycleTest, StopAllStopsInTheGivenOrderOneAfterAnother) {
  MakeSupervisor();
  for (const char* id : {"a", "b", "c", "d"}) StartScript(id, kQuitFileApp);
  observer_.on_shutdown = [&](std::string_view id) {
    std::ofstream(root_ / "pkg" / std::string(id) / "quit") << "";
  };
  AwaitVoid(sup_->StopAll({"c", "unknown", "a", "b"}, "kernel shutdown"));
  std::vector<std::string> shutdown_order, exit_order;
  for (const auto& e : observer_.shutdowns) shutdown_order.push_back(e.app_id);
  for (const auto& e : observer_.exits) exit_order.push_back(e.app_id);
  // "d" was not listed: stopped after the listed ones.
  EXPECT_EQ(shutdown_order, (std::vector<std::string>{"c", "a", "b", "d"}));
  EXPECT_EQ(exit_order, (std::vector<std::string>{"c", "a", "b", "d"}));
  for (size_t i = 0; i + 1 < observer_.shutdowns.size(); ++i) {
    EXPECT_GE(observer_.shutdowns[i + 1].at, observer_.exits[i].at) << "not one after another";
  }
  for (const auto& st : sup_->List()) EXPECT_EQ(st.state, AppState::kStopped) << st.package_id;
  EXPECT_EQ(observer_.last_shutdown_reason, "kernel shutdown");
}

TEST_F(SupervisorLifecycleTest, StopCancelsAPendingRestart) {
  auto s = testing::FastSettings();
  s.restart_delay_ms = 400;
  MakeSupervisor(s);
  StartScript("pending", "exit 1");
  ASSERT_TRUE(WaitForState("pending", AppState::kError));
  auto waiting = sup_->Get("pending");
  ASSERT_TRUE(waiting->next_restart_at_ms);
  EXPECT_GE(*waiting->next_restart_at_ms, NowMs() + 200);
  EXPECT_LE(*waiting->next_restart_at_ms, NowMs() + 400);
  ASSERT_TRUE(Await(sup_->Stop("pending", "user")).ok());
  EXPECT_EQ(StateOf("pending"), AppState::kStopped);
  EXPECT_FALSE(sup_->Get("pending")->next_restart_at_ms);
  RunFor(Ms(600));
  EXPECT_EQ(StartsOf("pending"), 1u);
  EXPECT_TRUE(sup_->Remove("pending").ok());
}

TEST_F(SupervisorLifecycleTest, ConsecutiveFailuresResetAfterAStableReadyRun) {
  auto s = testing::FastSettings();
  s.restart_delay_ms = 200;
  s.backoff_multiplier = 2;
  s.restart_window_ms = 300;  // stable period = min(10 s, restart window)
  s.max_restarts = 100;
  MakeSupervisor(s);
  StartScript("flaky", "exec sleep 30");
  auto kill_current = [&] { ASSERT_EQ(::kill(*PidOf("flaky"), SIGKILL), 0); };
  kill_current();
  ASSERT_TRUE(RunUntil([&] { return StartsOf("flaky") == 2; }));
  kill_current();
  ASSERT_TRUE(RunUntil([&] { return StartsOf("flaky") == 3; }));
  sup_->OnReady("flaky");
  RunFor(Ms(400));  // ready for longer than the stable period
  kill_current();
  ASSERT_TRUE(RunUntil([&] { return StartsOf("flaky") == 4; }));
  auto starts = observer_.ChangesTo("flaky", AppState::kStarting);
  auto exits = observer_.ExitsOf("flaky");
  ExpectDelay(MsBetween(exits[0].at, starts[1].at), 200, "1st failure");
  ExpectDelay(MsBetween(exits[1].at, starts[2].at), 400, "2nd consecutive failure");
  ExpectDelay(MsBetween(exits[2].at, starts[3].at), 200, "failure after a stable run");
}

TEST_F(SupervisorLifecycleTest, UpdateSettingsAppliesToTheNextRestart) {
  MakeSupervisor();
  auto s = testing::FastSettings();
  s.restart_delay_ms = 400;
  sup_->UpdateSettings(s);
  StartScript("later", "exit 1");
  ASSERT_TRUE(RunUntil([&] { return StartsOf("later") == 2; }));
  ExpectDelay(MsBetween(observer_.ExitsOf("later")[0].at,
                        observer_.ChangesTo("later", AppState::kStarting)[1].at),
              400, "updated restart delay");
}

TEST_F(SupervisorLifecycleTest, RestartStopsAndStartsFresh) {
  MakeSupervisor();
  StartScript("again", "trap 'exit 0' TERM\nwhile true; do sleep 0.02; done");
  pid_t first = *PidOf("again");
  sup_->OnReady("again");
  ASSERT_TRUE(Await(sup_->Restart("again")).ok());
  EXPECT_EQ(StateOf("again"), AppState::kStarting);
  EXPECT_NE(*PidOf("again"), first);
  EXPECT_TRUE(ProcessGone(first));
  EXPECT_EQ(sup_->Get("again")->restart_count, 0);
  EXPECT_EQ(observer_.last_shutdown_reason, "restart");
  EXPECT_EQ(Await(sup_->Restart("nope")).error().code, ErrorCode::kNotFound);
}

TEST_F(SupervisorLifecycleTest, EveryTransitionIsReported) {
  MakeSupervisor();
  StartScript("seq", "trap 'exit 0' TERM\nwhile true; do sleep 0.02; done");
  sup_->OnReady("seq");
  ASSERT_TRUE(Await(sup_->Stop("seq", "x")).ok());
  std::vector<AppState> states;
  for (const auto& c : observer_.changes) states.push_back(c.status.state);
  EXPECT_EQ(states, (std::vector<AppState>{AppState::kStarting, AppState::kReady,
                                           AppState::kStopping, AppState::kStopped}));
  EXPECT_TRUE(observer_.changes[0].status.pid);
  EXPECT_FALSE(observer_.changes[3].status.pid);
  // OnExited comes before the resulting transition.
  EXPECT_LE(observer_.exits[0].at, observer_.changes[3].at);
}

}  // namespace
}  // namespace oc::supervisor
