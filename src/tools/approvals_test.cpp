#include "tools/approvals.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>

namespace oc::tools {
namespace {

using namespace std::chrono_literals;

class ToolsApprovals : public ::testing::Test {
 protected:
  ToolsApprovals() {
    broker.on_requested = [this](const ApprovalRequest& r) { requested.push_back(r); };
    broker.on_resolved = [this](const json::value& v) { resolved.push_back(v); };
  }

  // Starts a Request() whose decision lands in `slot`.
  void Start(std::string command, std::chrono::milliseconds timeout, std::optional<ApprovalDecision>& slot) {
    ApprovalRequest r;
    r.command = std::move(command);
    r.cwd = "/ws";
    r.agent_id = "main";
    r.session_key = "agent:main:x";
    r.run_id = "run-7";
    asio::co_spawn(
        io, [this, r, timeout, &slot]() -> asio::awaitable<void> { slot = co_await broker.Request(r, timeout); },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
  }
  void RunFor(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }

  asio::io_context io;
  ApprovalBroker broker{io.get_executor()};
  std::vector<ApprovalRequest> requested;
  std::vector<json::value> resolved;
};

TEST_F(ToolsApprovals, ResolveApprovesAndReportsWhoDecided) {
  std::optional<ApprovalDecision> decision;
  Start("make test", 5s, decision);
  RunFor(20ms);
  ASSERT_EQ(requested.size(), 1u);
  const ApprovalRequest& r = requested[0];
  EXPECT_TRUE(r.id.starts_with("apr-1-")) << r.id;
  EXPECT_EQ(r.id.size(), std::string("apr-1-").size() + 8);
  EXPECT_EQ(r.expires_ms - r.created_ms, 5000);
  ASSERT_EQ(broker.Pending().size(), 1u);
  EXPECT_FALSE(decision.has_value());

  json::value j = ApprovalToJson(broker.Pending()[0]);
  EXPECT_EQ(j.at("command").as_string(), "make test");
  EXPECT_EQ(j.at("kind").as_string(), "exec");
  EXPECT_EQ(j.at("cwd").as_string(), "/ws");
  EXPECT_EQ(j.at("agentId").as_string(), "main");
  EXPECT_EQ(j.at("sessionKey").as_string(), "agent:main:x");
  EXPECT_EQ(j.at("runId").as_string(), "run-7");
  EXPECT_EQ(j.at("expiresAt").as_int64() - j.at("createdAt").as_int64(), 5000);

  ASSERT_TRUE(broker.Resolve(r.id, true, "alice", "looks fine").ok());
  RunFor(20ms);
  ASSERT_TRUE(decision.has_value());
  EXPECT_EQ(*decision, ApprovalDecision::kApproved);
  EXPECT_TRUE(broker.Pending().empty());
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].at("id").as_string(), r.id);
  EXPECT_EQ(resolved[0].at("decision").as_string(), "approved");
  EXPECT_EQ(resolved[0].at("by").as_string(), "alice");
  EXPECT_EQ(resolved[0].at("reason").as_string(), "looks fine");

  // Resolved once: a second answer finds nothing.
  Status again = broker.Resolve(r.id, false, "bob");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
}

TEST_F(ToolsApprovals, DenyAndTimeout) {
  std::optional<ApprovalDecision> denied, timed_out;
  Start("rm -rf build", 5s, denied);
  Start("sleep 1", 50ms, timed_out);
  RunFor(10ms);
  auto pending = broker.Pending();
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].command, "rm -rf build");  // oldest first
  EXPECT_EQ(pending[1].command, "sleep 1");
  EXPECT_NE(pending[0].id, pending[1].id);

  ASSERT_TRUE(broker.Resolve(pending[0].id, false, "cli").ok());
  RunFor(150ms);
  EXPECT_EQ(denied, ApprovalDecision::kDenied);
  EXPECT_EQ(timed_out, ApprovalDecision::kTimedOut);
  EXPECT_TRUE(broker.Pending().empty());
  ASSERT_EQ(resolved.size(), 2u);
  EXPECT_EQ(resolved[0].at("decision").as_string(), "denied");
  EXPECT_EQ(resolved[1].at("decision").as_string(), "timeout");
  EXPECT_EQ(resolved[1].at("id").as_string(), pending[1].id);
  EXPECT_FALSE(resolved[1].as_object().contains("by"));
  EXPECT_EQ(broker.Resolve(pending[1].id, true, "late").error().code, ErrorCode::kNotFound);
}

TEST_F(ToolsApprovals, UnknownIdIsNotFound) {
  Status s = broker.Resolve("apr-99-deadbeef", true, "cli");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(resolved.empty());
}

TEST_F(ToolsApprovals, DenyAllFinishesEveryWaitingRequest) {
  std::optional<ApprovalDecision> a, b;
  Start("one", 5s, a);
  Start("two", 5s, b);
  RunFor(10ms);
  ASSERT_EQ(broker.Pending().size(), 2u);
  broker.DenyAll("shutting down");
  RunFor(10ms);
  EXPECT_EQ(a, ApprovalDecision::kDenied);
  EXPECT_EQ(b, ApprovalDecision::kDenied);
  EXPECT_TRUE(broker.Pending().empty());
  ASSERT_EQ(resolved.size(), 2u);
  EXPECT_EQ(resolved[0].at("reason").as_string(), "shutting down");
  EXPECT_EQ(resolved[1].at("decision").as_string(), "denied");
}

}  // namespace
}  // namespace oc::tools
