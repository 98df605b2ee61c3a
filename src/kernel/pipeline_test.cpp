// The pipeline against a real state.db in a temp home, the real hook bus, and in-test stand-ins
// for what the kernel provides (the channel's owner app, app tools) and for the agent (through the
// pluggable Agent interface). End-to-end behaviour with real processes is in
// tests/integration/test_pipeline.py.
#include "kernel/pipeline.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <filesystem>
#include <functional>

namespace oc::kernel {
namespace {

namespace fs = std::filesystem;

// Replies "echo: <last message>" after `delay`; records what each run saw.
class EchoAgent : public agent::Agent {
 public:
  std::chrono::milliseconds delay{0};
  std::vector<std::vector<std::string>> seen;  // contents of the history per run
  std::map<std::string, int> active_per_session;
  bool overlap = false;

  asio::awaitable<agent::RunResult> Run(const agent::AgentSettings&, agent::RunInput input, agent::RunObserver obs) override {
    if (active_per_session[input.session_key]++ > 0) overlap = true;
    std::vector<std::string> contents;
    for (const auto& m : input.history) contents.push_back(m.role + ":" + m.content);
    seen.push_back(contents);
    if (delay.count() > 0) {
      asio::steady_timer t(co_await asio::this_coro::executor, delay);
      co_await t.async_wait(asio::use_awaitable);
    }
    --active_per_session[input.session_key];
    agent::RunResult r;
    r.success = true;
    r.text = "echo: " + input.history.back().content;
    if (obs.on_text) obs.on_text(r.text);
    r.produced.push_back(agent::ChatMessage{"assistant", r.text, {}, {}, {}});
    r.usage_per_message.push_back({3, 4});
    r.usage = {3, 4};
    r.model = "test/echo";
    co_return r;
  }
};

class FakeHost : public PipelineHost {
 public:
  explicit FakeHost(hooks::HookBus& bus) : bus_(bus) {}
  bool channel_up = true;
  json::value answer = json::object{{"delivered", true}, {"messageId", "p1"}};
  std::vector<json::value> deliveries;
  std::vector<json::value> events;

  std::shared_ptr<hooks::HookHandler> DeliveryHandlerFor(const std::string&) override {
    if (!channel_up) return nullptr;
    return std::make_shared<hooks::FunctionHandler>(bus_, "owner-app", 0, [this](const hooks::HookEvent& e) {
      deliveries.push_back(e.data);
      return std::optional<json::value>(answer);
    });
  }
  std::vector<agent::ToolSpec> AppTools() override { return {}; }
  asio::awaitable<agent::ToolOutcome> InvokeAppTool(std::string, json::value, agent::ToolContext) override {
    co_return agent::ToolOutcome{"none", true};
  }
  void BroadcastEvent(std::string_view event, json::value payload) override {
    events.push_back(json::object{{"event", event}, {"payload", std::move(payload)}});
  }

 private:
  hooks::HookBus& bus_;
};

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home = fs::temp_directory_path() / ("oc-pipeline-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(home);
    fs::create_directories(home);
    paths.home = home;
    paths.database = home / "state.db";
    Open();
  }
  void TearDown() override {
    pipeline.reset();
    fs::remove_all(home);
  }
  void Open(std::string config_text = "{}") {
    pipeline.reset();
    auto config = config::Config::FromText(config_text, config::MapEnv({}));
    ASSERT_TRUE(config.ok()) << config.error().message;
    auto p = Pipeline::Open(io, paths, *config, bus, host);
    ASSERT_TRUE(p.ok()) << p.error().message;
    pipeline = std::move(p).value();
    pipeline->RegisterAgent("default", echo);
    if (resume_on_open) pipeline->ResumePending();
  }
  // Runs the loop until `done` or 5 s.
  void RunUntil(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(done()) << "timed out";
  }
  json::object Queue(std::string address, std::string text, json::object metadata = {}) {
    json::object params{{"sessionKey", address}, {"text", text}, {"metadata", metadata}};
    auto r = pipeline->Queue(params);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r->as_object() : json::object();
  }
  int64_t Count(std::string_view sql) { return pipeline->database().QueryInt(sql).value().value_or(-1); }
  std::vector<std::string> History(std::string key) {
    auto h = pipeline->SessionsHistory(json::object{{"key", key}});
    std::vector<std::string> out;
    if (!h.ok()) return out;
    for (const auto& m : h->at("messages").as_array())
      out.push_back(std::string(m.at("role").as_string()) + ":" + std::string(m.at("content").as_string()));
    return out;
  }

  fs::path home;
  config::Paths paths;
  asio::io_context io;
  hooks::HookBus bus{io.get_executor(), hooks::HookSettings{}};
  FakeHost host{bus};
  std::shared_ptr<EchoAgent> echo = std::make_shared<EchoAgent>();
  std::unique_ptr<Pipeline> pipeline;
  bool resume_on_open = true;
};

TEST_F(PipelineTest, QueueCommitsBeforeAnsweringThenDeliversTheReply) {
  json::object r = Queue("chat:42", "hello", json::object{{"from", "u42"}, {"messageId", "m-1"}});
  EXPECT_EQ(r.at("queued"), true);
  EXPECT_EQ(r.at("sessionKey"), "agent:default:identity:chat:u42");
  // committed before any loop iteration: the message and its queued run are in the database
  EXPECT_EQ(Count("SELECT count(*) FROM messages WHERE role = 'user'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE status IN ('queued', 'running')"), 1);
  RunUntil([&] { return Count("SELECT count(*) FROM outbox WHERE status = 'delivered'") == 1; });
  ASSERT_EQ(host.deliveries.size(), 1u);
  const auto& d = host.deliveries[0].as_object();
  EXPECT_EQ(d.at("channelId"), "chat");
  EXPECT_EQ(d.at("target"), "42");
  EXPECT_EQ(d.at("content"), "echo: hello");
  EXPECT_EQ(d.at("metadata").at("messageId"), "m-1");
  EXPECT_TRUE(d.at("metadata").as_object().contains("deliveryId"));
  EXPECT_EQ(History(std::string(r.at("sessionKey").as_string())), (std::vector<std::string>{"user:hello", "assistant:echo: hello"}));
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE status = 'done' AND tokens_out = 4"), 1);
  // the same platform message again: nothing new is queued
  json::object again = Queue("chat:42", "hello", json::object{{"from", "u42"}, {"messageId", "m-1"}});
  EXPECT_EQ(again.at("duplicate"), true);
  EXPECT_EQ(again.at("runId"), r.at("runId"));
  EXPECT_EQ(Count("SELECT count(*) FROM messages WHERE role = 'user'"), 1);
}

TEST_F(PipelineTest, RunsOfOneSessionAreSerialisedAndEachSeesItsOwnTurn) {
  echo->delay = std::chrono::milliseconds(20);
  Queue("chat:1", "one");
  Queue("chat:1", "two");
  Queue("chat:1", "three");
  RunUntil([&] { return host.deliveries.size() == 3; });
  EXPECT_FALSE(echo->overlap);
  ASSERT_EQ(echo->seen.size(), 3u);
  // the second run sees the first exchange, then its own message — not the third, queued behind it
  EXPECT_EQ(echo->seen[1], (std::vector<std::string>{"user:one", "assistant:echo: one", "user:two"}));
  EXPECT_EQ(echo->seen[2].back(), "user:three");
  EXPECT_EQ(host.deliveries[0].at("content"), "echo: one");
  EXPECT_EQ(host.deliveries[2].at("content"), "echo: three");
}

TEST_F(PipelineTest, RepliesWaitInTheOutboxUntilTheChannelIsBack) {
  host.channel_up = false;
  Queue("chat:7", "anyone there?");
  RunUntil([&] { return Count("SELECT count(*) FROM outbox WHERE last_error LIKE '%no connected app%'") == 1; });
  EXPECT_TRUE(host.deliveries.empty());
  EXPECT_EQ(Count("SELECT attempts FROM outbox"), 0);  // waiting for the app is not a failed attempt
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE status = 'pending'"), 1);
  host.channel_up = true;
  pipeline->ChannelAvailable("chat");
  RunUntil([&] { return host.deliveries.size() == 1; });
  RunUntil([&] { return Count("SELECT count(*) FROM outbox WHERE status = 'delivered'") == 1; });
}

TEST_F(PipelineTest, AnErrorFromTheAppIsRetriedWithBackoff) {
  host.answer = json::object{{"delivered", false}, {"error", "platform down"}};
  Queue("chat:8", "hi");
  RunUntil([&] { return host.deliveries.size() == 1; });
  RunUntil([&] { return Count("SELECT attempts FROM outbox") == 1; });
  auto entries = pipeline->OutboxList(json::object());
  ASSERT_TRUE(entries.ok());
  const auto& e = entries->at("entries").as_array()[0].as_object();
  EXPECT_EQ(e.at("status"), "pending");
  EXPECT_NE(std::string(e.at("lastError").as_string()).find("platform down"), std::string::npos);
  EXPECT_GE(e.at("nextAttemptAt").as_int64(), NowMs() + 500);  // backed off, not retried at once
  host.answer = json::object{{"delivered", true}};
  RunUntil([&] { return Count("SELECT count(*) FROM outbox WHERE status = 'delivered'") == 1; });
  EXPECT_EQ(host.deliveries.size(), 2u);
}

TEST_F(PipelineTest, AnInterceptorCanModifyOrBlockADelivery) {
  auto interceptor = std::make_shared<hooks::FunctionHandler>(bus, "guard", 1, [](const hooks::HookEvent& e) {
    std::string content(e.data.at("content").as_string());
    if (content.find("secret") != std::string::npos) return std::optional<json::value>(json::value(nullptr));
    return std::optional<json::value>(json::value{{"action", "modify"}, {"data", {{"content", content + " (checked)"}}}});
  });
  ASSERT_TRUE(bus.Intercept("message_sending", interceptor).ok());
  Queue("chat:9", "public");
  Queue("chat:10", "secret");
  RunUntil([&] { return Count("SELECT count(*) FROM outbox WHERE status IN ('delivered', 'blocked')") == 2; });
  ASSERT_EQ(host.deliveries.size(), 1u);
  EXPECT_EQ(host.deliveries[0].at("content"), "echo: public (checked)");
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE status = 'blocked' AND last_error LIKE '%guard%'"), 1);
}

TEST_F(PipelineTest, ACrashedKernelsRunsResumeOnTheNextStart) {
  Queue("chat:11", "survive");
  // "crash": the pipeline goes away before the loop ever ran the run; one run is left running too
  pipeline.reset();
  ASSERT_TRUE(store::Database::Open(paths.database).value()->Run("UPDATE runs SET status = 'running'").ok());
  resume_on_open = false;
  Open();
  // recovered at once, ahead of anything new; executed only when the kernel says so
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE status = 'queued' AND resumed = 1"), 1);
  Queue("chat:11", "newer");
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(host.deliveries.empty());
  pipeline->ResumePending();
  RunUntil([&] { return host.deliveries.size() == 2; });
  EXPECT_EQ(host.deliveries[1].at("content"), "echo: newer");
  EXPECT_EQ(host.deliveries[0].at("content"), "echo: survive");
  EXPECT_EQ(History("chat:11"), (std::vector<std::string>{"user:survive", "user:newer", "assistant:echo: survive",
                                                          "assistant:echo: newer"}));
  EXPECT_EQ(Count("SELECT resumed FROM runs WHERE id = 1"), 1);
  // the resumed run did not see the newer message, which came after it
  EXPECT_EQ(echo->seen[0], (std::vector<std::string>{"user:survive"}));
}

TEST_F(PipelineTest, DispatchGoesToTheConversationAndIntoItsHistory) {
  Queue("chat:12", "hi");
  RunUntil([&] { return host.deliveries.size() == 1; });
  auto d = pipeline->Dispatch(json::object{{"sessionKey", "chat:12"}, {"content", "reminder"}});
  ASSERT_TRUE(d.ok()) << d.error().message;
  RunUntil([&] { return host.deliveries.size() == 2; });
  EXPECT_EQ(host.deliveries[1].at("target"), "12");
  EXPECT_EQ(History("chat:12").back(), "assistant:reminder");
  // by session key, too; an unknown key is NOT_FOUND
  auto by_key = pipeline->Dispatch(json::object{{"sessionKey", "agent:default:identity:chat:12"}, {"content", "again"}});
  EXPECT_TRUE(by_key.ok());
  auto unknown = pipeline->Dispatch(json::object{{"sessionKey", "agent:default:nobody"}, {"content", "x"}});
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

TEST_F(PipelineTest, ControlTurnsWaitForTheRunAndAreIdempotent) {
  auto turn = [&](json::object params) {
    std::optional<Result<json::value>> out;
    asio::co_spawn(io, [&, params]() -> asio::awaitable<void> { out = co_await pipeline->AgentTurn(params); },
                   asio::detached);
    RunUntil([&] { return out.has_value(); });
    return std::move(*out);
  };
  auto a = turn(json::object{{"message", "ping"}, {"idempotencyKey", "k1"}});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->at("status"), "ok");
  EXPECT_EQ(a->at("text"), "echo: ping");
  EXPECT_EQ(a->at("sessionKey"), "agent:default:main");
  auto b = turn(json::object{{"message", "ping"}, {"idempotencyKey", "k1"}});
  EXPECT_EQ(b->at("runId"), a->at("runId"));
  EXPECT_EQ(echo->seen.size(), 1u);
  EXPECT_TRUE(host.deliveries.empty());  // control turns answer the caller, nothing is delivered
  auto missing = turn(json::object{{"message", ""}});
  EXPECT_EQ(missing.error().code, ErrorCode::kInvalidParams);
  auto unknown_agent = turn(json::object{{"message", "x"}, {"agentId", "nobody"}});
  EXPECT_EQ(unknown_agent.error().code, ErrorCode::kNotFound);
  // the streamed text reached the control plane as agent events
  bool saw_delta = false;
  for (const auto& e : host.events)
    if (e.at("payload").at("stream") == "assistant" && e.at("payload").at("idempotencyKey") == "k1") saw_delta = true;
  EXPECT_TRUE(saw_delta);
}

TEST_F(PipelineTest, ResetBranchAndDelete) {
  Queue("chat:13", "first");
  RunUntil([&] { return host.deliveries.size() == 1; });
  auto branch = pipeline->SessionsBranch(json::object{{"key", "chat:13"}, {"atMessage", 1}});
  ASSERT_TRUE(branch.ok()) << branch.error().message;
  std::string bkey(branch->at("session").at("key").as_string());
  EXPECT_EQ(branch->at("session").at("messageCount"), 1);
  EXPECT_EQ(History(bkey), (std::vector<std::string>{"user:first"}));
  auto reset = pipeline->SessionsReset(json::object{{"key", "chat:13"}});
  ASSERT_TRUE(reset.ok());
  EXPECT_EQ(reset->at("ended").at("active"), false);
  EXPECT_TRUE(History("chat:13").empty());  // no active session under that key now
  Queue("chat:13", "after reset");
  RunUntil([&] { return host.deliveries.size() == 2; });
  EXPECT_EQ(History("chat:13"), (std::vector<std::string>{"user:after reset", "assistant:echo: after reset"}));
  auto del = pipeline->SessionsDelete(json::object{{"key", bkey}});
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->at("deleted"), 1);
  EXPECT_EQ(pipeline->SessionsGet(json::object{{"key", bkey}}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(pipeline->SessionsHistory(json::object{}).error().code, ErrorCode::kInvalidParams);
}

TEST_F(PipelineTest, AFailedRunTellsTheSenderAndABlockedOneStaysSilent) {
  class Failing : public agent::Agent {
    asio::awaitable<agent::RunResult> Run(const agent::AgentSettings&, agent::RunInput, agent::RunObserver) override {
      agent::RunResult r;
      r.error = "all models failed: rate limited";
      co_return r;
    }
  };
  pipeline->RegisterAgent("default", std::make_shared<Failing>());
  Queue("chat:20", "hello?");
  RunUntil([&] { return host.deliveries.size() == 1; });
  EXPECT_EQ(host.deliveries[0].at("content"), "Sorry, I could not answer that (all models failed: rate limited).");
  EXPECT_EQ(host.deliveries[0].at("metadata").at("error"), true);
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE status = 'failed'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM messages WHERE role = 'assistant'"), 0);  // not the model's words

  auto gate = std::make_shared<hooks::FunctionHandler>(bus, "gate", 0, [](const hooks::HookEvent&) {
    return std::optional<json::value>(json::value{{"action", "block"}, {"reason", "quiet hours"}});
  });
  ASSERT_TRUE(bus.Intercept("before_agent_start", gate).ok());
  Queue("chat:21", "anyone?");
  RunUntil([&] { return Count("SELECT count(*) FROM runs WHERE status = 'failed'") == 2; });
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(host.deliveries.size(), 1u);
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE error LIKE '%quiet hours%'"), 1);
}

TEST_F(PipelineTest, InterceptorsCannotRedirectADelivery) {
  auto redirect = std::make_shared<hooks::FunctionHandler>(bus, "sneaky", 1, [](const hooks::HookEvent&) {
    return std::optional<json::value>(json::value{{"action", "modify"},
                                                  {"data", {{"target", "someone-else"}, {"channelId", "other"},
                                                            {"content", "changed"}}}});
  });
  ASSERT_TRUE(bus.Intercept("message_sending", redirect).ok());
  Queue("chat:30", "hi");
  RunUntil([&] { return host.deliveries.size() == 1; });
  EXPECT_EQ(host.deliveries[0].at("target"), "30");
  EXPECT_EQ(host.deliveries[0].at("channelId"), "chat");
  EXPECT_EQ(host.deliveries[0].at("content"), "changed");  // the content is theirs to change
}

TEST_F(PipelineTest, LifecycleHooksFireWithTheirData) {
  std::map<std::string, std::vector<json::value>> seen;
  for (std::string hook : {"session_start", "session_end", "before_reset", "message_received", "agent_end",
                           "message_sent"}) {
    auto h = std::make_shared<hooks::FunctionHandler>(bus, "watcher", 2, [&seen, hook](const hooks::HookEvent& e) {
      seen[hook].push_back(e.data);
      return std::optional<json::value>();
    });
    ASSERT_TRUE(bus.Subscribe(hook, h).ok());
  }
  json::object r = Queue("chat:40", "hello hooks", json::object{{"from", "u40"}});
  std::string key(r.at("sessionKey").as_string());
  RunUntil([&] { return seen["message_sent"].size() == 1; });
  ASSERT_EQ(seen["session_start"].size(), 1u);
  EXPECT_EQ(seen["session_start"][0].at("sessionKey"), json::value(key));
  EXPECT_EQ(seen["session_start"][0].at("channelId"), "chat");
  ASSERT_EQ(seen["message_received"].size(), 1u);
  EXPECT_EQ(seen["message_received"][0].at("content"), "hello hooks");
  EXPECT_EQ(seen["message_received"][0].at("from"), "u40");
  ASSERT_EQ(seen["agent_end"].size(), 1u);
  EXPECT_EQ(seen["agent_end"][0].at("success"), true);
  EXPECT_EQ(seen["agent_end"][0].at("runId"), r.at("runId"));
  EXPECT_EQ(seen["agent_end"][0].at("tokenUsage").at("output"), 4);
  EXPECT_EQ(seen["message_sent"][0].at("content"), "echo: hello hooks");
  EXPECT_EQ(seen["message_sent"][0].at("target"), "40");
  // a second message in the same session starts nothing new
  Queue("chat:40", "again", json::object{{"from", "u40"}});
  RunUntil([&] { return seen["message_sent"].size() == 2; });
  EXPECT_EQ(seen["session_start"].size(), 1u);
  ASSERT_TRUE(pipeline->SessionsReset(json::object{{"key", key}, {"reason", "user asked"}}).ok());
  RunUntil([&] { return seen["session_end"].size() == 1; });
  EXPECT_EQ(seen["before_reset"][0].at("reason"), "user asked");
  EXPECT_EQ(seen["session_end"][0].at("messageCount"), 4);
}

TEST_F(PipelineTest, APluggedInAgentAnswersForItsId) {
  Open(R"({"bindings": [{"agentId": "custom", "match": {"channel": "special"}}]})");
  auto custom = std::make_shared<EchoAgent>();
  pipeline->RegisterAgent("custom", custom);
  json::object r = Queue("special:1", "for the custom agent");
  EXPECT_EQ(r.at("sessionKey"), "agent:custom:identity:special:1");
  Queue("chat:1", "for the default agent");
  RunUntil([&] { return host.deliveries.size() == 2; });
  EXPECT_EQ(custom->seen.size(), 1u);
  EXPECT_EQ(echo->seen.size(), 1u);
}

TEST_F(PipelineTest, ChatCommandsAreAnsweredWithoutTheAgentAndHiddenFromIt) {
  Queue("alpha:dm", "hello");
  RunUntil([&] { return host.deliveries.size() == 1; });
  Queue("alpha:dm", "/status");
  RunUntil([&] { return host.deliveries.size() == 2; });
  EXPECT_EQ(echo->seen.size(), 1u);  // the agent did not run for the command
  std::string status(host.deliveries[1].at("content").as_string());
  EXPECT_EQ(status.rfind("Session: agent:default:", 0), 0u) << status;
  EXPECT_NE(status.find("Messages: 3"), std::string::npos) << status;
  Queue("alpha:dm", "again");
  RunUntil([&] { return host.deliveries.size() == 3; });
  ASSERT_EQ(echo->seen.size(), 2u);
  EXPECT_EQ(echo->seen[1], (std::vector<std::string>{"user:hello", "assistant:echo: hello", "user:again"}));
  // both are kept in the history, the answer with its own role
  auto history = History("alpha:dm");
  ASSERT_EQ(history.size(), 6u);
  EXPECT_EQ(history[2], "user:/status");
  EXPECT_EQ(history[3].rfind("command:Session:", 0), 0u) << history[3];
}

TEST_F(PipelineTest, NewEndsTheSessionInItsTurn) {
  echo->delay = std::chrono::milliseconds(50);
  Queue("alpha:dm", "first");
  Queue("alpha:dm", "/new");  // queued while "first" runs: waits for it
  RunUntil([&] { return host.deliveries.size() == 2; });
  Queue("alpha:dm", "second");
  RunUntil([&] { return host.deliveries.size() == 3; });
  EXPECT_EQ(host.deliveries[0].at("content"), "echo: first");  // the run before /new was not cut
  EXPECT_EQ(std::string(host.deliveries[1].at("content").as_string()).rfind("Started a new session", 0), 0u);
  ASSERT_EQ(echo->seen.size(), 2u);
  EXPECT_EQ(echo->seen[1], (std::vector<std::string>{"user:second"}));  // a fresh session
  EXPECT_EQ(Count("SELECT count(*) FROM sessions WHERE active = 0 AND end_reason = 'new'"), 1);
}

// Calls a tool the way the agent does and runs the loop until it answers.
agent::ToolOutcome CallTool(asio::io_context& io, Pipeline& p, std::string name, json::value input,
                            agent::ToolContext context) {
  std::optional<agent::ToolOutcome> out;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await p.Invoke(name, input, context); }, asio::detached);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!out && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return out.value_or(agent::ToolOutcome{"timed out", true});
}

TEST_F(PipelineTest, CronToolActsOnlyForTheCallingAgent) {
  Open(R"({"agents": {"ops": {"model": "test/x"}}})");
  agent::ToolContext ctx{"agent:default:main", "1", "default"};
  auto added = CallTool(io, *pipeline, "cron",
                        json::object{{"action", "add"}, {"agentId", "ops"}, {"message", "tidy up"},
                                     {"schedule", json::object{{"every", "1h"}}}}, ctx);
  ASSERT_FALSE(added.is_error) << added.output;
  EXPECT_EQ(ParseJson(added.output).value().at("job").at("agentId"), "default");  // not "ops"
  auto foreign = pipeline->cron().Add(json::object{{"agentId", "ops"}, {"message", "ops job"},
                                                   {"schedule", json::object{{"every", "1h"}}}});
  ASSERT_TRUE(foreign.ok());
  std::string foreign_id(foreign->at("job").at("id").as_string());
  for (std::string action : {"run", "remove", "update"}) {
    auto r = CallTool(io, *pipeline, "cron", json::object{{"action", action}, {"id", foreign_id}, {"enabled", false}}, ctx);
    EXPECT_TRUE(r.is_error) << action;
    EXPECT_NE(r.output.find("no job"), std::string::npos) << r.output;
  }
  auto other_session = CallTool(io, *pipeline, "cron",
                                json::object{{"action", "add"}, {"message", "x"}, {"session", "agent:ops:main"},
                                             {"schedule", json::object{{"every", "1h"}}}}, ctx);
  EXPECT_TRUE(other_session.is_error);
  auto listed = CallTool(io, *pipeline, "cron", json::object{{"action", "list"}}, ctx);
  EXPECT_EQ(listed.output.find(foreign_id), std::string::npos) << listed.output;
}

TEST_F(PipelineTest, SessionToolsSeeOnlyWhatTheCallerMay) {
  Open(R"({"bindings": [{"agentId": "ops", "match": {"channel": "opschan"}}], "agents": {"ops": {"model": "test/x"}}})");
  pipeline->RegisterAgent("ops", echo);
  json::object dm = Queue("chat:owner", "my secret plan", json::object{{"chatType", "direct"}});
  json::object group = Queue("chat:team", "hello team", json::object{{"chatType", "group"}, {"groupId", "team"}});
  json::object ops = Queue("opschan:1", "ops stuff");
  RunUntil([&] { return host.deliveries.size() == 3; });
  std::string dm_key(dm.at("sessionKey").as_string()), group_key(group.at("sessionKey").as_string()),
      ops_key(ops.at("sessionKey").as_string());
  // From the group: only the group's own session
  agent::ToolContext from_group{group_key, "2", "default"};
  auto leaked = CallTool(io, *pipeline, "sessions_history", json::object{{"sessionKey", dm_key}}, from_group);
  EXPECT_TRUE(leaked.is_error);
  EXPECT_EQ(leaked.output.find("secret"), std::string::npos);
  auto listed = CallTool(io, *pipeline, "sessions_list", json::object{}, from_group);
  EXPECT_EQ(listed.output.find(dm_key), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find(group_key), std::string::npos) << listed.output;
  EXPECT_TRUE(CallTool(io, *pipeline, "sessions_send", json::object{{"sessionKey", dm_key}, {"message", "hi"}}, from_group).is_error);
  // From a direct session: the agent's own sessions, not another agent's
  agent::ToolContext from_dm{dm_key, "1", "default"};
  EXPECT_FALSE(CallTool(io, *pipeline, "sessions_history", json::object{{"sessionKey", group_key}}, from_dm).is_error);
  EXPECT_TRUE(CallTool(io, *pipeline, "sessions_history", json::object{{"sessionKey", ops_key}}, from_dm).is_error);
  // Sending to itself under its address is still itself
  auto self = CallTool(io, *pipeline, "sessions_send", json::object{{"sessionKey", "chat:owner"}, {"message", "loop"}}, from_dm);
  EXPECT_TRUE(self.is_error);
  EXPECT_NE(self.output.find("itself"), std::string::npos) << self.output;
}

TEST(ChatCommandParse, KnownCommandsWithArgumentsAndBotSuffix) {
  auto status = Pipeline::ParseChatCommand("  /status  ");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->name, "status");
  EXPECT_EQ(status->arg, "");
  auto model = Pipeline::ParseChatCommand("/MODEL  anthropic/claude-sonnet-4-5 \n");
  ASSERT_TRUE(model);
  EXPECT_EQ(model->name, "model");
  EXPECT_EQ(model->arg, "anthropic/claude-sonnet-4-5");
  auto addressed = Pipeline::ParseChatCommand("/new@MyAssistantBot");
  ASSERT_TRUE(addressed);
  EXPECT_EQ(addressed->name, "new");
  for (const char* text : {"/reset", "/compact", "/help"}) EXPECT_TRUE(Pipeline::ParseChatCommand(text)) << text;
}

TEST(ChatCommandParse, EverythingElseIsAMessageForTheAgent) {
  for (const char* text : {"", "/", "status", "/statusbar", "/etc/passwd is a file", "hello /status", "//status"})
    EXPECT_FALSE(Pipeline::ParseChatCommand(text)) << text;
}

}  // namespace
}  // namespace oc::kernel
