// ControlClient against a real ControlServer on 127.0.0.1: the two-step answer of `agent`-like
// methods (an interim {status:"accepted", runId} response, then the final one on the same id).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <future>
#include <thread>
#include <vector>

#include "gateway/control_client.h"
#include "gateway/control_server.h"

namespace oc::gateway {
namespace {

using namespace std::chrono_literals;

asio::awaitable<void> Sleep(std::chrono::milliseconds ms) {
  asio::steady_timer timer(co_await asio::this_coro::executor, ms);
  co_await timer.async_wait(asio::use_awaitable);
}

bool IsEvent(const json::value& frame, std::string_view name) {
  const auto* o = frame.if_object();
  return o && GetString(*o, "type") == "event" && GetString(*o, "event") == name;
}

class ControlClientTwoStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ControlSettings settings;
    settings.port = 0;
    server_ = std::make_unique<ControlServer>(io_, settings);
    // Acknowledges, broadcasts one `agent` event, waits params.ms, then answers (or fails).
    server_->AddMethod("two.step", [this](const ClientInfo& client, json::value params)
                                       -> asio::awaitable<Result<json::value>> {
      const auto& p = params.as_object();
      if (client.acknowledge) client.acknowledge(json::object{{"runId", "7"}, {"sessionKey", "s"}, {"status", "accepted"}});
      server_->Broadcast("agent", json::object{{"runId", "7"}, {"stream", "assistant"}});
      auto ms = std::chrono::milliseconds(GetInt(p, "ms").value_or(50));
      co_await Sleep(ms);
      if (GetBool(p, "fail") == true) co_return MakeError(ErrorCode::kTimeout, "still running", json::object{{"runId", "7"}});
      co_return json::value(json::object{{"runId", "7"}, {"status", "ok"}, {"text", "done"}});
    });
    // A final answer that merely looks like an acknowledgement (no runId).
    server_->AddMethod("looks.accepted", [](const ClientInfo&, json::value) -> asio::awaitable<Result<json::value>> {
      co_return json::value(json::object{{"status", "accepted"}});
    });
    server_->AddMethod("echo", [](const ClientInfo&, json::value params) -> asio::awaitable<Result<json::value>> {
      co_return params;
    });
    ASSERT_TRUE(server_->Listen().ok());
    thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(io_);
      io_.run();
    });
    auto client = ControlClient::Connect("127.0.0.1", server_->port(), "", "");
    ASSERT_TRUE(client.ok()) << client.error().message;
    client_ = std::move(client).value();
  }

  void TearDown() override {
    client_.reset();
    if (thread_.joinable()) {
      std::promise<void> stopped;
      asio::post(io_, [&] {
        server_->Stop();
        stopped.set_value();
      });
      stopped.get_future().wait();
      io_.stop();
      thread_.join();
    }
    server_.reset();
  }

  // The next event other than `presence`/`tick` (the server's own), or nullopt.
  std::optional<json::value> NextAgentEvent(std::chrono::milliseconds timeout) {
    for (;;) {
      auto e = client_->NextEvent(timeout);
      if (!e.ok() || !e->has_value()) return std::nullopt;
      if (IsEvent(**e, "agent")) return **e;
    }
  }

  asio::io_context io_;
  std::unique_ptr<ControlServer> server_;
  std::thread thread_;
  std::unique_ptr<ControlClient> client_;
};

TEST_F(ControlClientTwoStepTest, CallWaitsThroughTheAcknowledgement) {
  auto r = client_->Call("two.step", json::object{{"ms", 100}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, json::value(json::object{{"runId", "7"}, {"status", "ok"}, {"text", "done"}}));
  // The event sent meanwhile is kept; the acknowledgement is not an event.
  auto e = NextAgentEvent(500ms);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->at("payload").at("runId"), "7");
  EXPECT_FALSE(NextAgentEvent(200ms));
}

TEST_F(ControlClientTwoStepTest, CallStreamingSeesTheAcknowledgementFirstThenEvents) {
  std::vector<json::value> seen;
  auto r = client_->CallStreaming("two.step", json::object{{"ms", 50}},
                                  [&](const json::value& frame) {
                                    if (!IsEvent(frame, "presence") && !IsEvent(frame, "tick")) seen.push_back(frame);
                                  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->at("status"), "ok");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].at("type"), "res");
  EXPECT_EQ(seen[0].at("ok"), true);
  EXPECT_EQ(seen[0].at("payload").at("status"), "accepted");
  EXPECT_EQ(seen[0].at("payload").at("runId"), "7");
  EXPECT_TRUE(IsEvent(seen[1], "agent"));
}

TEST_F(ControlClientTwoStepTest, AnErrorAfterTheAcknowledgementIsTheAnswer) {
  auto r = client_->Call("two.step", json::object{{"ms", 10}, {"fail", true}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_EQ(r.error().data.at("runId"), "7");
}

TEST_F(ControlClientTwoStepTest, AcceptedWithoutRunIdIsAFinalAnswer) {
  auto r = client_->Call("looks.accepted", json::object());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, json::value(json::object{{"status", "accepted"}}));
}

TEST_F(ControlClientTwoStepTest, TheTimeoutCoversBothStepsAndTheConnectionSurvives) {
  auto r = client_->Call("two.step", json::object{{"ms", 800}}, 200ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  // The late final answer is dropped; the next call gets its own answer.
  std::this_thread::sleep_for(800ms);
  auto echo = client_->Call("echo", json::object{{"x", 1}});
  ASSERT_TRUE(echo.ok()) << echo.error().message;
  EXPECT_EQ(*echo, json::value(json::object{{"x", 1}}));
}

}  // namespace
}  // namespace oc::gateway
