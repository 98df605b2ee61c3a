// Supervisor with real child processes: spawn environment, output capture, limits, spawn tokens,
// the registry API and status reporting. Restart/health/stop behaviour: supervisor_lifecycle_test.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <regex>

#include "supervisor/supervisor.h"
#include "supervisor/supervisor_test_util.h"

namespace oc::supervisor {
namespace {

using testing::Ms;
using testing::MsBetween;
using testing::ProcessGone;
using SupervisorSpawnTest = testing::SupervisorFixture;

TEST(SupervisorStateNameTest, NamesMatchTheProtocol) {
  EXPECT_EQ(AppStateName(AppState::kStopped), "stopped");
  EXPECT_EQ(AppStateName(AppState::kStarting), "starting");
  EXPECT_EQ(AppStateName(AppState::kReady), "ready");
  EXPECT_EQ(AppStateName(AppState::kStopping), "stopping");
  EXPECT_EQ(AppStateName(AppState::kError), "error");
}

TEST(SupervisorRestartDelayTest, GrowsByTheMultiplierUpToTheCap) {
  SupervisorSettings s;  // 1000 ms × 2^(n-1), capped at 60 s
  EXPECT_EQ(RestartDelay(s, 1).count(), 1000);
  EXPECT_EQ(RestartDelay(s, 2).count(), 2000);
  EXPECT_EQ(RestartDelay(s, 6).count(), 32000);
  EXPECT_EQ(RestartDelay(s, 7).count(), 60000);
  EXPECT_EQ(RestartDelay(s, 5000).count(), 60000);  // pow overflows to infinity: still the cap
}

TEST(SupervisorRestartDelayTest, ZeroDelayStaysZeroAfterAnyNumberOfFailures) {
  SupervisorSettings s;
  s.restart_delay_ms = 0;
  EXPECT_EQ(RestartDelay(s, 1).count(), 0);
  EXPECT_EQ(RestartDelay(s, 100).count(), 0);
  // 2^1099 is infinite as a double, and 0 × infinity is NaN: this once became the 60 s cap.
  EXPECT_EQ(RestartDelay(s, 1100).count(), 0);
  s.backoff_multiplier = 100;
  EXPECT_EQ(RestartDelay(s, 200).count(), 0);
}

TEST(SupervisorStatusTest, ToJsonUsesProtocolKeysAndOmitsAbsentOptionals) {
  AppStatus s;
  s.package_id = "@acme/echo";
  s.state = AppState::kReady;
  s.pid = 42;
  s.started_at_ms = 1000;
  s.restart_count = 2;
  s.last_heartbeat_ms = 2000;
  s.last_error = "exited with code 1";
  s.memory_rss_bytes = 4096;
  s.cpu_percent = 12.5;
  s.enforcement = {{"memory", "none"}, {"fds", "rlimit"}, {"cpu", "none"}, {"sandbox", "none"}};
  json::object o = s.ToJson().as_object();
  EXPECT_EQ(o.at("packageId").as_string(), "@acme/echo");
  EXPECT_EQ(o.at("state").as_string(), "ready");
  EXPECT_EQ(o.at("pid").as_int64(), 42);
  EXPECT_EQ(o.at("startedAt").as_int64(), 1000);
  EXPECT_EQ(o.at("restartCount").as_int64(), 2);
  EXPECT_EQ(o.at("lastHeartbeat").as_int64(), 2000);
  EXPECT_EQ(o.at("lastError").as_string(), "exited with code 1");
  EXPECT_EQ(o.at("resourceUsage").at("memoryRss").as_int64(), 4096);
  EXPECT_DOUBLE_EQ(o.at("resourceUsage").at("cpuPercent").as_double(), 12.5);
  EXPECT_EQ(o.at("enforcement").at("fds").as_string(), "rlimit");

  AppStatus bare;
  bare.package_id = "x";
  json::object b = bare.ToJson().as_object();
  EXPECT_EQ(b.at("state").as_string(), "stopped");
  EXPECT_EQ(b.at("restartCount").as_int64(), 0);
  for (const char* key : {"pid", "startedAt", "lastHeartbeat", "lastError", "resourceUsage"}) {
    EXPECT_FALSE(b.contains(key)) << key;
  }
  EXPECT_TRUE(b.contains("enforcement"));
}

TEST_F(SupervisorSpawnTest, ChildGetsOnlyTheBuiltEnvironmentCwdAndIsolatedStdio) {
  ::setenv("TEST_SECRET_xyz", "kernel-only-secret", 1);
  // Without O_CLOEXEC: the child must still not inherit it.
  std::filesystem::path marker = root_ / "inherited-marker";
  int leaked = ::open(marker.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(leaked, 0);
  MakeSupervisor();
  auto main = WriteScript("envapp", R"SH(echo "CWD=$(pwd)"
env | sed 's/^/ENV:/'
echo "STDIN=$(readlink /proc/$$/fd/0)"
ls -l /proc/$$/fd/ | sed 's/^/FD:/'
echo DONE
exec sleep 30)SH");
  AppSpec spec = MakeSpec("envapp", main);
  spec.env["CUSTOM_VAR"] = "hello world";
  spec.env["OPENCLAWOS_APP_ID"] = "forged";  // the supervisor's own values win
  sup_->Add(spec);
  ASSERT_TRUE(sup_->Start("envapp").ok());
  ASSERT_TRUE(WaitForLog("envapp", "DONE"));
  ::close(leaked);
  ::unsetenv("TEST_SECRET_xyz");

  EXPECT_EQ(LogValue("envapp", "CWD="), main.parent_path().string());
  EXPECT_FALSE(LogsContain("envapp", "TEST_SECRET_xyz"));
  EXPECT_FALSE(LogsContain("envapp", "kernel-only-secret"));
  EXPECT_EQ(LogValue("envapp", "ENV:CUSTOM_VAR="), "hello world");
  EXPECT_EQ(LogValue("envapp", "ENV:PATH="), "/usr/bin:/bin");
  EXPECT_EQ(LogValue("envapp", "ENV:OPENCLAWOS_APP_ID="), "envapp");
  EXPECT_EQ(LogValue("envapp", "ENV:OPENCLAWOS_SOCKET="), socket_path_.string());
  std::string token = LogValue("envapp", "ENV:OPENCLAWOS_APP_TOKEN=");
  EXPECT_TRUE(std::regex_match(token, std::regex("[0-9a-f]{32}"))) << token;
  EXPECT_EQ(LogValue("envapp", "STDIN="), "/dev/null");
  EXPECT_FALSE(LogsContain("envapp", "inherited-marker"));

  // Own session and process group.
  pid_t pid = *PidOf("envapp");
  EXPECT_EQ(::getpgid(pid), pid);
  EXPECT_EQ(::getsid(pid), pid);
  EXPECT_EQ(StateOf("envapp"), AppState::kStarting);
}

TEST_F(SupervisorSpawnTest, TokensDifferPerSpawn) {
  MakeSupervisor();
  StartScript("tok", R"SH(echo "TOKEN=$OPENCLAWOS_APP_TOKEN"; exec sleep 30)SH");
  ASSERT_TRUE(WaitForLog("tok", "TOKEN="));
  std::string first = LogValue("tok", "TOKEN=");
  ASSERT_TRUE(Await(sup_->Restart("tok")).ok());
  ASSERT_TRUE(RunUntil([&] { return sup_->Logs("tok", 10).size() >= 2; }));
  std::string second = sup_->Logs("tok", 1).back();
  EXPECT_NE("TOKEN=" + first, second);
  EXPECT_EQ(second.size(), std::string("TOKEN=").size() + 32);
}

TEST_F(SupervisorSpawnTest, CapturesStdoutAndStderrIntoRingAndLogFile) {
  MakeSupervisor();
  // stderr first and a pause: the two pipes are read independently, so order only across time.
  StartScript("logs", R"SH(echo to-stderr >&2
sleep 0.2
seq 1 1500
printf 'no-newline-at-end'
exec sleep 30)SH");
  ASSERT_TRUE(WaitForLog("logs", "1500"));
  EXPECT_FALSE(LogsContain("logs", "no-newline-at-end"));
  // The unterminated last piece is delivered once the writer closes the pipe.
  ASSERT_TRUE(Await(sup_->Stop("logs", "test")).ok());
  ASSERT_TRUE(WaitForLog("logs", "no-newline-at-end"));

  std::vector<std::string> all = sup_->Logs("logs", 5000);
  ASSERT_EQ(all.size(), 1000u);  // the ring keeps the last 1000 lines
  EXPECT_EQ(all.front(), "502");
  EXPECT_EQ(all[998], "1500");
  EXPECT_EQ(all[999], "no-newline-at-end");
  EXPECT_EQ(sup_->Logs("logs", 2), (std::vector<std::string>{"1500", "no-newline-at-end"}));
  EXPECT_TRUE(sup_->Logs("unknown", 10).empty());
  // Numbered for followers: "to-stderr" is line 0, "1".."1500" lines 1..1500, the last one 1501.
  auto tail = sup_->ReadLogs("logs", std::nullopt, 2);
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->lines, (std::vector<std::string>{"1500", "no-newline-at-end"}));
  EXPECT_EQ(tail->next, 1502u);
  auto since = sup_->ReadLogs("logs", 1499, 10);
  EXPECT_EQ(since->lines, (std::vector<std::string>{"1499", "1500", "no-newline-at-end"}));
  EXPECT_EQ(since->next, 1502u);
  EXPECT_EQ(since->skipped, 0u);
  auto gone = sup_->ReadLogs("logs", 500, 3);  // 500 and 501 fell out of the ring
  EXPECT_EQ(gone->lines, (std::vector<std::string>{"502", "503", "504"}));
  EXPECT_EQ(gone->skipped, 2u);
  EXPECT_EQ(gone->next, 505u);
  EXPECT_TRUE(sup_->ReadLogs("logs", 1502, 10)->lines.empty());
  EXPECT_FALSE(sup_->ReadLogs("unknown", 0, 10));

  std::ifstream file(root_ / "logs" / "apps" / "logs.log");
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 1502u);    // the file keeps everything
  EXPECT_EQ(lines[0], "to-stderr");  // stderr is captured too (long gone from the ring)
  EXPECT_EQ(lines[1], "1");
  EXPECT_EQ(lines.back(), "no-newline-at-end");
}

TEST_F(SupervisorSpawnTest, LogFileRotatesAtOneMebibyteKeepingThree) {
  MakeSupervisor();
  // 45000 lines of 100 bytes = 4.5 MB: enough for .1 .2 .3 and a dropped generation.
  StartScript("big", "yes '" + std::string(99, 'x') + R"SH(' | head -n 45000
echo END-OF-OUTPUT
exec sleep 30)SH");
  ASSERT_TRUE(WaitForLog("big", "END-OF-OUTPUT", Ms(20000)));
  std::filesystem::path log = root_ / "logs" / "apps" / "big.log";
  uint64_t total = 0;
  for (const char* suffix : {"", ".1", ".2", ".3"}) {
    std::filesystem::path p = log.string() + suffix;
    ASSERT_TRUE(std::filesystem::exists(p)) << p;
    EXPECT_LE(std::filesystem::file_size(p), 1u << 20) << p;
    total += std::filesystem::file_size(p);
  }
  EXPECT_FALSE(std::filesystem::exists(log.string() + ".4"));
  EXPECT_LT(total, 45000u * 100u);  // the oldest generation was dropped
  EXPECT_GT(std::filesystem::file_size(log.string() + ".3"), 1000000u);
  std::ifstream current(log);
  std::string text((std::istreambuf_iterator<char>(current)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("END-OF-OUTPUT"), std::string::npos);
}

TEST_F(SupervisorSpawnTest, SpawnTokenIsSingleUseAndBoundToTheChildGroup) {
  MakeSupervisor();
  StartScript("tokapp", R"SH(echo "TOKEN=$OPENCLAWOS_APP_TOKEN"
sleep 30 &
echo "CHILD=$!"
wait)SH");
  ASSERT_TRUE(WaitForLog("tokapp", "CHILD="));
  std::string token = LogValue("tokapp", "TOKEN=");
  pid_t child = std::stoi(LogValue("tokapp", "CHILD="));
  pid_t pid = *PidOf("tokapp");
  ASSERT_EQ(token.size(), 32u);

  std::string wrong = token;
  wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(sup_->ConsumeSpawnToken("tokapp", wrong, pid));
  EXPECT_FALSE(sup_->ConsumeSpawnToken("tokapp", token.substr(0, 31), pid));
  EXPECT_FALSE(sup_->ConsumeSpawnToken("tokapp", "", pid));
  EXPECT_FALSE(sup_->ConsumeSpawnToken("tokapp", token, ::getpid()));  // not in its group
  EXPECT_FALSE(sup_->ConsumeSpawnToken("other", token, pid));
  // Failed attempts do not burn it; a process of the child's group may use it, once.
  EXPECT_TRUE(sup_->ConsumeSpawnToken("tokapp", token, child));
  EXPECT_FALSE(sup_->ConsumeSpawnToken("tokapp", token, pid));
  EXPECT_FALSE(sup_->ConsumeSpawnToken("tokapp", token, child));
}

TEST_F(SupervisorSpawnTest, TokenOfTheMainProcessWorksAndDiesWithTheRun) {
  MakeSupervisor();
  StartScript("tok2", R"SH(echo "TOKEN=$OPENCLAWOS_APP_TOKEN"; exec sleep 30)SH");
  ASSERT_TRUE(WaitForLog("tok2", "TOKEN="));
  std::string token = LogValue("tok2", "TOKEN=");
  pid_t pid = *PidOf("tok2");
  ASSERT_TRUE(Await(sup_->Stop("tok2", "test")).ok());
  EXPECT_FALSE(sup_->ConsumeSpawnToken("tok2", token, pid));  // no live child, no token
}

TEST_F(SupervisorSpawnTest, MaxFdsAndMemoryAndCpuLimitsAreAppliedAndReported) {
  MakeSupervisor();
  auto main = WriteScript("limited", R"SH(echo "NOFILE=$(ulimit -n)"
echo "AS=$(ulimit -v)"
echo "NICE=$(cut -d' ' -f19 /proc/$$/stat)"
sed 's/^/CG:/' /proc/$$/cgroup
echo DONE
exec sleep 30)SH");
  AppSpec spec = MakeSpec("limited", main);
  spec.limits.max_fds = 64;
  spec.limits.max_memory_bytes = int64_t{512} << 20;
  spec.limits.cpu_shares = 256;
  sup_->Add(spec);
  ASSERT_TRUE(sup_->Start("limited").ok());
  ASSERT_TRUE(WaitForLog("limited", "DONE"));

  json::object enforcement = sup_->Get("limited")->enforcement;
  EXPECT_EQ(LogValue("limited", "NOFILE="), "64");
  EXPECT_EQ(enforcement.at("fds").as_string(), "rlimit");
  EXPECT_EQ(enforcement.at("sandbox").as_string(), "none");
  std::string memory(enforcement.at("memory").as_string());
  std::string cpu(enforcement.at("cpu").as_string());
  bool in_app_cgroup = false;
  for (const auto& line : sup_->Logs("limited", 100)) {
    if (line.rfind("CG:0::", 0) == 0 && line.find("/openclawos-limited") != std::string::npos) {
      in_app_cgroup = true;
    }
  }
  // Whatever the machine allows, the report must match what the process really has.
  if (memory == "cgroup") {
    EXPECT_TRUE(in_app_cgroup);
  } else {
    ASSERT_EQ(memory, "rlimit_as");
    EXPECT_EQ(LogValue("limited", "AS="), std::to_string(512 * 1024));  // KiB
  }
  if (cpu == "cgroup") {
    EXPECT_TRUE(in_app_cgroup);
  } else {
    ASSERT_EQ(cpu, "nice");
    errno = 0;
    int own = ::getpriority(PRIO_PROCESS, 0);
    EXPECT_EQ(LogValue("limited", "NICE="), std::to_string(std::min(own + 6, 19)));
  }
  EXPECT_EQ(in_app_cgroup, memory == "cgroup" || cpu == "cgroup");

  ASSERT_TRUE(Await(sup_->Stop("limited", "test")).ok());
  json::object after = sup_->Get("limited")->enforcement;  // nothing is applied to nothing
  EXPECT_EQ(after.at("memory").as_string(), "none");
  EXPECT_EQ(after.at("fds").as_string(), "none");
}

TEST_F(SupervisorSpawnTest, NoLimitsMeansNoEnforcement) {
  MakeSupervisor();
  StartScript("free", R"SH(echo "NOFILE=$(ulimit -n)"; exec sleep 30)SH");
  ASSERT_TRUE(WaitForLog("free", "NOFILE="));
  json::object e = sup_->Get("free")->enforcement;
  EXPECT_EQ(e, (json::object{{"memory", "none"}, {"fds", "none"}, {"cpu", "none"}, {"sandbox", "none"},
                             {"noNewPrivs", "none"}, {"seccomp", "none"}, {"landlock", "none"},
                             {"network", "none"}, {"tmp", "none"}}));
  struct rlimit own {};
  ::getrlimit(RLIMIT_NOFILE, &own);
  EXPECT_EQ(LogValue("free", "NOFILE="), std::to_string(own.rlim_cur));
}

TEST_F(SupervisorSpawnTest, NonExecutableMainIsAnExecFailureCountedAsFailure) {
  auto settings = testing::FastSettings();
  settings.restart_delay_ms = 20;
  settings.max_restarts = 2;
  MakeSupervisor(settings);
  sup_->Add(MakeSpec("noexec", WriteScript("noexec", "echo never", 0644)));
  ASSERT_TRUE(sup_->Start("noexec").ok());
  auto status = sup_->Get("noexec");
  EXPECT_EQ(status->state, AppState::kError);
  EXPECT_FALSE(status->pid);
  ASSERT_TRUE(status->last_error);
  EXPECT_EQ(status->last_error->rfind("exec failed: ", 0), 0u) << *status->last_error;
  EXPECT_NE(status->last_error->find("Permission denied"), std::string::npos);
  // Retried under the restart policy, then given up.
  ASSERT_TRUE(RunUntil([&] {
    auto s = sup_->Get("noexec");
    return s->last_error && s->last_error->rfind("restart limit reached", 0) == 0;
  }));
  EXPECT_EQ(sup_->Get("noexec")->restart_count, 2);
  EXPECT_NE(sup_->Get("noexec")->last_error->find("exec failed"), std::string::npos);
  EXPECT_TRUE(observer_.ExitsOf("noexec").empty());  // no app process ever ran
  EXPECT_EQ(StartsOf("noexec"), 0u);
}

TEST_F(SupervisorSpawnTest, MissingExecutableAndMissingDirectoryAreReported) {
  MakeSupervisor();
  AppSpec missing = MakeSpec("missing", root_ / "pkg" / "missing" / "nope");
  std::filesystem::create_directories(missing.dir);
  sup_->Add(missing);
  ASSERT_TRUE(sup_->Start("missing").ok());
  EXPECT_NE(sup_->Get("missing")->last_error->find("exec failed: "), std::string::npos);
  EXPECT_NE(sup_->Get("missing")->last_error->find("No such file or directory"), std::string::npos);

  AppSpec nodir = MakeSpec("nodir", WriteScript("nodir", "exec sleep 30"));
  nodir.dir = root_ / "does-not-exist";
  sup_->Add(nodir);
  ASSERT_TRUE(sup_->Start("nodir").ok());
  EXPECT_EQ(sup_->Get("nodir")->last_error->rfind("spawn failed: chdir", 0), 0u)
      << *sup_->Get("nodir")->last_error;
}

TEST_F(SupervisorSpawnTest, RegistryRules) {
  MakeSupervisor();
  EXPECT_EQ(sup_->Start("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(sup_->Remove("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(Await(sup_->Stop("nope", "x")).error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(sup_->Get("nope"));

  StartScript("reg", "exec sleep 30");
  EXPECT_TRUE(sup_->Has("reg"));
  EXPECT_EQ(sup_->Start("reg").error().code, ErrorCode::kConflict);
  EXPECT_EQ(sup_->Remove("reg").error().code, ErrorCode::kConflict);
  ASSERT_TRUE(Await(sup_->Stop("reg", "test")).ok());
  EXPECT_TRUE(Await(sup_->Stop("reg", "again")).ok());  // stopping a stopped app is fine
  EXPECT_TRUE(sup_->Remove("reg").ok());
  EXPECT_FALSE(sup_->Has("reg"));

  // Re-adding a known id replaces the spec; the new one is used at the next spawn.
  sup_->Add(MakeSpec("swap", WriteScript("swap", "echo v1; exec sleep 30")));
  auto v2 = WriteScript("swap2", "echo v2; exec sleep 30");
  AppSpec spec2 = MakeSpec("swap", v2);
  sup_->Add(spec2);
  ASSERT_TRUE(sup_->Start("swap").ok());
  ASSERT_TRUE(WaitForLog("swap", "v2"));
  EXPECT_FALSE(LogsContain("swap", "v1"));
  ASSERT_EQ(sup_->List().size(), 1u);
  EXPECT_EQ(sup_->List()[0].package_id, "swap");
}

TEST_F(SupervisorSpawnTest, ListReportsLiveMemoryAndCpu) {
  MakeSupervisor();
  StartScript("busy", "while :; do :; done");
  StartScript("idle", "exec sleep 30");
  RunFor(Ms(600));
  std::vector<AppStatus> list = sup_->List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].package_id, "busy");
  ASSERT_TRUE(list[0].memory_rss_bytes);
  EXPECT_GT(*list[0].memory_rss_bytes, 0);
  ASSERT_TRUE(list[0].cpu_percent);
  EXPECT_GT(*list[0].cpu_percent, 5.0);
  EXPECT_LE(*list[0].cpu_percent, 105.0);
  ASSERT_TRUE(list[1].cpu_percent);
  EXPECT_LT(*list[1].cpu_percent, 5.0);
  ASSERT_TRUE(list[0].started_at_ms);
  EXPECT_LE(*list[0].started_at_ms, NowMs());
  json::object o = list[0].ToJson().as_object();
  EXPECT_TRUE(o.at("resourceUsage").as_object().contains("memoryRss"));

  ASSERT_TRUE(Await(sup_->Stop("busy", "test")).ok());
  auto stopped = sup_->Get("busy");
  EXPECT_FALSE(stopped->memory_rss_bytes);
  EXPECT_FALSE(stopped->pid);
}

TEST_F(SupervisorSpawnTest, DestructorKillsRemainingChildren) {
  MakeSupervisor();
  StartScript("orphan", "sleep 30 & wait");
  pid_t pid = *PidOf("orphan");
  sup_.reset();
  EXPECT_TRUE(ProcessGone(pid));
}

TEST_F(SupervisorSpawnTest, ChildDiesWithTheKernel) {
  // A stand-in kernel process that dies without cleaning up: its app must die too.
  auto main = WriteScript("pdeath", "exec sleep 30");
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t kernel = ::fork();
  ASSERT_GE(kernel, 0);
  if (kernel == 0) {
    ::close(fds[0]);
    asio::io_context io;
    testing::RecordingObserver observer;
    auto* sup = new Supervisor(io, testing::FastSettings(), observer, socket_path_);  // leaked
    sup->Add(MakeSpec("pdeath", main));
    pid_t app =
        sup->Start("pdeath").ok() && sup->Get("pdeath")->pid ? *sup->Get("pdeath")->pid : -1;
    ssize_t n = ::write(fds[1], &app, sizeof app);
    ::_exit(n == sizeof app ? 0 : 1);
  }
  ::close(fds[1]);
  pid_t app = -1;
  ASSERT_EQ(::read(fds[0], &app, sizeof app), static_cast<ssize_t>(sizeof app));
  ::close(fds[0]);
  ASSERT_GT(app, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(kernel, &status, 0), kernel);
  auto deadline = testing::Clock::now() + Ms(3000);
  while (!ProcessGone(app) && testing::Clock::now() < deadline) ::usleep(10000);
  EXPECT_TRUE(ProcessGone(app));
}

}  // namespace
}  // namespace oc::supervisor
