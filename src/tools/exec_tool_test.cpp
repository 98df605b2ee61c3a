// The exec tool through BuiltinTools::Invoke: policies, approvals, real processes.
#include "tools/exec_tool.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <fstream>

#include "tools/tools_test_util.h"

namespace oc::tools {
namespace {

using namespace std::chrono_literals;
using testing::ReadFile;
namespace fs = std::filesystem;

bool Contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// Processes (zombies aside) whose process group is `pgid`, from /proc.
std::vector<int> LiveMembersOfGroup(int pgid) {
  std::vector<int> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream in(e.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0, pgrp = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') out.push_back(std::stoi(name));
  }
  return out;
}

class ToolsExec : public testing::ToolsFixture {
 protected:
  ToolsExec() { call_.limits.exec_security = "full"; }
  agent::ToolOutcome Exec(const std::string& command) { return Invoke("exec", json::object{{"command", command}}); }
};

TEST_F(ToolsExec, FullRunsInTheWorkspaceWithInterleavedOutputAndExitCode) {
  auto ok = Exec("pwd; echo out; echo err >&2; cat; echo done");
  ASSERT_FALSE(ok.is_error) << ok.output;
  EXPECT_EQ(ok.output, ws_.string() + "\nout\nerr\ndone\n[exit code 0]");
  auto failed = Exec("echo before; exit 3");
  EXPECT_TRUE(failed.is_error);
  EXPECT_EQ(failed.output, "before\n[exit code 3]");
  auto signalled = Exec("kill -TERM $$");
  EXPECT_TRUE(signalled.is_error);
  EXPECT_EQ(signalled.output, "[killed by signal 15]");
}

TEST_F(ToolsExec, EnvironmentIsMinimalAndDoesNotLeakTheKernelsVariables) {
  ::setenv("OC_TOOLS_TEST_SECRET", "hunter2", 1);
  auto env = Exec("env");
  ::unsetenv("OC_TOOLS_TEST_SECRET");
  ASSERT_FALSE(env.is_error) << env.output;
  EXPECT_FALSE(Contains(env.output, "hunter2")) << env.output;
  EXPECT_FALSE(Contains(env.output, "OC_TOOLS_TEST_SECRET"));
  EXPECT_TRUE(Contains(env.output, "HOME=" + ws_.string() + "\n")) << env.output;
  EXPECT_TRUE(Contains(env.output, "TERM=dumb\n")) << env.output;
  EXPECT_TRUE(Contains(env.output, "PATH=")) << env.output;
}

TEST_F(ToolsExec, DenyRefusesAndRunsNothing) {
  call_.limits.exec_security = "deny";
  auto r = Exec("touch ran");
  EXPECT_TRUE(r.is_error);
  EXPECT_TRUE(Contains(r.output, "nothing ran")) << r.output;
  EXPECT_FALSE(fs::exists(ws_ / "ran"));
  call_.limits.exec_security = "bogus";  // an unknown policy is as good as deny
  EXPECT_TRUE(Exec("touch ran").is_error);
  EXPECT_FALSE(fs::exists(ws_ / "ran"));
}

TEST_F(ToolsExec, AllowlistMatchesWholeCommandsAndRefusesControlCharacters) {
  call_.limits.exec_security = "allowlist";
  call_.limits.exec_allowlist = {"echo *", "touch allowed-*"};
  auto ok = Exec("echo hello world");
  ASSERT_FALSE(ok.is_error) << ok.output;
  EXPECT_EQ(ok.output, "hello world\n[exit code 0]");
  ASSERT_FALSE(Exec("touch allowed-1").is_error);
  EXPECT_TRUE(fs::exists(ws_ / "allowed-1"));

  auto mismatch = Exec("touch other");
  EXPECT_TRUE(mismatch.is_error);
  EXPECT_TRUE(Contains(mismatch.output, "matches no allowlist pattern")) << mismatch.output;
  EXPECT_FALSE(fs::exists(ws_ / "other"));

  for (std::string bad : {"echo a; touch x", "echo a && touch x", "echo a | tee x", "echo $(touch x)", "echo `touch x`",
                          "echo a > x", "echo < x", "echo (x)", "echo a\ntouch x", "echo a & touch x"}) {
    auto r = Exec(bad);
    EXPECT_TRUE(r.is_error) << bad;
    EXPECT_TRUE(Contains(r.output, "may not contain")) << r.output;
  }
  EXPECT_FALSE(fs::exists(ws_ / "x"));
  EXPECT_TRUE(internal::CheckAllowlist("git status", {"git status"}).ok());
  EXPECT_FALSE(internal::CheckAllowlist("git status", {}).ok());
}

TEST_F(ToolsExec, AskRunsOnceApproved) {
  call_.limits.exec_security = "ask";
  std::vector<ApprovalRequest> seen;
  broker_.on_requested = [&](const ApprovalRequest& r) {
    seen.push_back(r);
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, 30ms);  // a human answers a bit later
    timer->async_wait([this, timer, id = r.id](const boost::system::error_code&) {
      EXPECT_TRUE(broker_.Resolve(id, true, "tester").ok());
    });
  };
  auto r = Exec("echo approved > proof.txt; echo fine");
  ASSERT_FALSE(r.is_error) << r.output;
  EXPECT_EQ(r.output, "fine\n[exit code 0]");
  EXPECT_EQ(ReadFile(ws_ / "proof.txt"), "approved\n");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].command, "echo approved > proof.txt; echo fine");
  EXPECT_EQ(seen[0].cwd, ws_.string());
  EXPECT_EQ(seen[0].agent_id, "main");
  EXPECT_EQ(seen[0].session_key, "agent:main:test");
  EXPECT_EQ(seen[0].run_id, "run-1");
}

TEST_F(ToolsExec, AskDeniedOrTimedOutRunsNothing) {
  call_.limits.exec_security = "ask";
  call_.limits.approval_timeout = 100ms;
  auto start = std::chrono::steady_clock::now();
  auto timed_out = Exec("touch ran");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_TRUE(timed_out.is_error);
  EXPECT_TRUE(Contains(timed_out.output, "nobody answered the approval request within 100 ms")) << timed_out.output;
  EXPECT_FALSE(fs::exists(ws_ / "ran"));
  EXPECT_TRUE(broker_.Pending().empty());

  call_.limits.approval_timeout = 5s;
  broker_.on_requested = [&](const ApprovalRequest& r) {
    boost::asio::post(io_, [this, id = r.id] { EXPECT_TRUE(broker_.Resolve(id, false, "tester").ok()); });
  };
  auto denied = Exec("touch ran");
  EXPECT_TRUE(denied.is_error);
  EXPECT_TRUE(Contains(denied.output, "exec denied")) << denied.output;
  EXPECT_FALSE(fs::exists(ws_ / "ran"));
}

TEST_F(ToolsExec, OutputIsCappedAndMarked) {
  call_.limits.exec_max_output_chars = 1000;
  auto r = Exec("head -c 100000 /dev/zero | tr '\\0' 'a'");
  ASSERT_FALSE(r.is_error) << r.output.substr(0, 200);
  EXPECT_EQ(r.output, std::string(1000, 'a') + "\n[output truncated: 99000 more bytes dropped]\n[exit code 0]");
}

TEST_F(ToolsExec, TimeoutKillsTheWholeProcessGroup) {
  call_.limits.exec_timeout = 10s;
  auto start = std::chrono::steady_clock::now();
  auto r =
      Invoke("exec", json::object{{"command", "echo $$ > pgid.txt; sleep 30 & sleep 30; echo x"}, {"timeoutMs", 300}});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 5s);
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.output, "[killed: timeout after 300 ms]");
  int pgid = std::stoi(ReadFile(ws_ / "pgid.txt"));
  ASSERT_GT(pgid, 1);
  std::vector<int> left;
  for (int i = 0; i < 50; ++i) {  // SIGKILL is delivered asynchronously
    left = LiveMembersOfGroup(pgid);
    if (left.empty()) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(left.empty()) << left.size() << " processes of group " << pgid << " still alive";
}

TEST_F(ToolsExec, TimeoutIsCappedByTheConfiguredLimit) {
  call_.limits.exec_timeout = 200ms;
  auto r = Invoke("exec", json::object{{"command", "sleep 30"}, {"timeoutMs", 60000}});
  EXPECT_EQ(r.output, "[killed: timeout after 200 ms]");
}

TEST_F(ToolsExec, BackgroundChildrenDieWhenTheShellExits) {
  auto start = std::chrono::steady_clock::now();
  auto r = Exec("sleep 30 & echo $$");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_FALSE(r.is_error) << r.output;
  int pgid = std::stoi(r.output);
  std::vector<int> left;
  for (int i = 0; i < 50; ++i) {
    left = LiveMembersOfGroup(pgid);
    if (left.empty()) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(left.empty());
}

TEST_F(ToolsExec, RunShellCommandDirectly) {
  auto r = agent::test_server::RunCoroutine(
      io_, internal::RunShellCommand(io_.get_executor(), "printf 'a\\377b'", ws_, 5s, 100));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->output,
            "a\xEF\xBF\xBD"
            "b");  // invalid UTF-8 replaced
  EXPECT_EQ(r->exit_code, 0);
  auto missing_cwd = agent::test_server::RunCoroutine(
      io_, internal::RunShellCommand(io_.get_executor(), "true", ws_ / "missing", 5s, 100));
  EXPECT_FALSE(missing_cwd.ok());
}

}  // namespace
}  // namespace oc::tools
