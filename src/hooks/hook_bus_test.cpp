#include "hooks/hook_bus.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <exception>
#include <stdexcept>

namespace oc::hooks {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using AnswerFn = std::function<std::optional<json::value>(const HookEvent&)>;

json::value J(std::string_view s) { return ParseJson(s).value(); }

json::value Continue() { return json::object{{"action", "continue"}}; }
json::value Block(std::string_view reason) { return json::object{{"action", "block"}, {"reason", reason}}; }

// Simulates an app connection: records every event and answers on a later loop turn, the way a
// hook.result arrives over the socket. `answer` returning nullopt = the app never answers.
class FakeApp : public HookHandler {
 public:
  FakeApp(HookBus& bus, asio::io_context& io, std::string owner, int rank, AnswerFn answer = nullptr)
      : bus_(bus), io_(io), owner_(std::move(owner)), rank_(rank), answer_(std::move(answer)) {}

  const std::string& owner() const override { return owner_; }
  int trust_rank() const override { return rank_; }
  void Deliver(const HookEvent& event) override {
    events.push_back(event);
    if (!answer_) return;
    std::optional<json::value> answer = answer_(event);
    if (!answer) return;
    asio::post(io_, [this, id = event.event_id, value = std::move(*answer)] {
      statuses.push_back(bus_.DeliverResult(id, owner_, value));
    });
  }

  std::vector<HookEvent> events;
  std::vector<Status> statuses;

 private:
  HookBus& bus_;
  asio::io_context& io_;
  std::string owner_;
  int rank_;
  AnswerFn answer_;
};

class HookBusTest : public ::testing::Test {
 protected:
  HookSettings Settings(int64_t timeout_ms = 1000) {
    HookSettings s;
    s.intercept_timeout_ms = timeout_ms;
    return s;
  }

  // Drives the loop until `work` completes.
  template <class T>
  T Run(asio::awaitable<T> work) {
    std::optional<T> out;
    std::exception_ptr error;
    asio::co_spawn(io_, std::move(work), [&](std::exception_ptr e, T value) {
      error = e;
      out = std::move(value);
    });
    io_.restart();
    io_.run();
    if (error) std::rethrow_exception(error);
    EXPECT_TRUE(out.has_value());
    return std::move(*out);
  }
  // The hook name is a temporary that is gone before the coroutine first runs, on purpose: the bus
  // must have copied it (ASan builds catch it otherwise).
  InterceptOutcome Intercept(const std::string& hook, json::value data, json::object context = {}) {
    asio::awaitable<InterceptOutcome> work =
        bus_.RunIntercept(std::string(hook), std::move(data), std::move(context));
    return Run(std::move(work));
  }

  // An in-process interceptor that records its turn in `calls_` and answers `answer` synchronously.
  std::shared_ptr<FunctionHandler> Recorder(std::string owner, int rank, json::value answer = Continue()) {
    return std::make_shared<FunctionHandler>(bus_, owner, rank, [this, owner, answer](const HookEvent&) {
      calls_.push_back(owner);
      return std::optional<json::value>(answer);
    });
  }
  std::shared_ptr<FakeApp> App(std::string owner, int rank, AnswerFn answer = nullptr) {
    return std::make_shared<FakeApp>(bus_, io_, std::move(owner), rank, std::move(answer));
  }

  asio::io_context io_;
  HookBus bus_{io_.get_executor(), Settings()};
  std::vector<std::string> calls_;
  const json::value message_ = J(R"({"channelId":"irc","target":"#c","content":"hi","metadata":{}})");
};

// --- registration -------------------------------------------------------------------------------

TEST_F(HookBusTest, RegistrationErrors) {
  auto app = App("a", 2);
  Status unknown = bus_.Subscribe("no_such_hook", app);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidParams);
  EXPECT_NE(unknown.error().message.find("no_such_hook"), std::string::npos);

  Status subscribe_only = bus_.Intercept("message_received", app);
  ASSERT_FALSE(subscribe_only.ok());
  EXPECT_EQ(subscribe_only.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(subscribe_only.error().message, "\"message_received\" cannot be intercepted");
  Status via_alias = bus_.Intercept("agent_completed", app);  // alias of subscribe-only agent_end
  ASSERT_FALSE(via_alias.ok());
  EXPECT_EQ(via_alias.error().message, "\"agent_end\" cannot be intercepted");

  EXPECT_EQ(bus_.Intercept("message_sending", nullptr).error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(bus_.Subscribe("message_sent", App("", 2)).error().code, ErrorCode::kInvalidParams);
  EXPECT_TRUE(bus_.SubscriptionsOf("a").empty());

  // Any hook can be observed, including interceptable ones.
  EXPECT_TRUE(bus_.Subscribe("message_sending", app).ok());
}

TEST_F(HookBusTest, HasHandlersSeesSubscribersAndInterceptorsByAnyName) {
  EXPECT_FALSE(bus_.HasHandlers("llm_input"));
  EXPECT_FALSE(bus_.HasHandlers("no_such_hook"));
  auto app = App("a", 2);
  ASSERT_TRUE(bus_.Subscribe("llm_input", app).ok());
  ASSERT_TRUE(bus_.Intercept("tool_executing", app).ok());
  EXPECT_TRUE(bus_.HasHandlers("llm_input"));
  EXPECT_TRUE(bus_.HasHandlers("before_tool_call"));
  EXPECT_FALSE(bus_.HasHandlers("llm_output"));
  bus_.RemoveOwner("a");
  EXPECT_FALSE(bus_.HasHandlers("llm_input"));
  EXPECT_FALSE(bus_.HasHandlers("before_tool_call"));
}

TEST_F(HookBusTest, AliasesResolveToCanonicalNames) {
  auto app = App("a", 2);
  ASSERT_TRUE(bus_.Subscribe("tool_completed", app).ok());
  ASSERT_TRUE(bus_.Intercept("tool_executing", app).ok());
  ASSERT_TRUE(bus_.Subscribe("agent_completed", app).ok());
  EXPECT_EQ(bus_.SubscriptionsOf("a"),
            (std::vector<std::string>{"after_tool_call", "agent_end", "before_tool_call"}));

  bus_.Emit("after_tool_call", J(R"({"toolName":"x"})"));
  bus_.Emit("agent_completed", J(R"({"runId":"r"})"));
  io_.run();
  ASSERT_EQ(app->events.size(), 2u);
  EXPECT_EQ(app->events[0].hook_name, "after_tool_call");
  EXPECT_EQ(app->events[1].hook_name, "agent_end");

  bus_.Unsubscribe("tool_executing", "a");  // by alias
  EXPECT_EQ(bus_.SubscriptionsOf("a"), (std::vector<std::string>{"after_tool_call", "agent_end"}));
}

TEST_F(HookBusTest, UnsubscribeRemovesBothKindsAndRemoveOwnerEverything) {
  auto a = App("a", 2, [](const HookEvent&) { return Continue(); });
  auto b = App("b", 2, [](const HookEvent&) { return Continue(); });
  ASSERT_TRUE(bus_.Subscribe("message_sending", a).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", a).ok());
  ASSERT_TRUE(bus_.Subscribe("session_start", a).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", b).ok());

  bus_.Unsubscribe("message_sending", "a");
  EXPECT_EQ(bus_.SubscriptionsOf("a"), (std::vector<std::string>{"session_start"}));
  bus_.Unsubscribe("no_such_hook", "a");  // no-op
  Intercept("message_sending", message_);
  EXPECT_TRUE(a->events.empty());
  EXPECT_EQ(b->events.size(), 1u);

  bus_.RemoveOwner("a");
  bus_.RemoveOwner("b");
  EXPECT_TRUE(bus_.SubscriptionsOf("a").empty());
  EXPECT_TRUE(bus_.SubscriptionsOf("b").empty());
  bus_.Emit("session_start", J(R"({"sessionKey":"s"})"));
  io_.restart();
  io_.run();
  EXPECT_TRUE(a->events.empty());
}

TEST_F(HookBusTest, ReRegistrationReplacesHandlerAndKeepsPosition) {
  ASSERT_TRUE(bus_.Intercept("before_tool_call", Recorder("a", 2)).ok());
  ASSERT_TRUE(bus_.Intercept("before_tool_call", Recorder("b", 2)).ok());
  auto resumed = std::make_shared<FunctionHandler>(bus_, "a", 2, [this](const HookEvent&) {
    calls_.push_back("a2");
    return std::optional<json::value>(Continue());
  });
  ASSERT_TRUE(bus_.Intercept("before_tool_call", resumed).ok());
  Intercept("before_tool_call", J(R"({"toolName":"x"})"));
  EXPECT_EQ(calls_, (std::vector<std::string>{"a2", "b"}));
}

// --- ordering -----------------------------------------------------------------------------------

TEST_F(HookBusTest, OrdersByTrustRankThenSettingsOrderThenRegistration) {
  ASSERT_TRUE(bus_.Intercept("message_sending", Recorder("community-1", 2)).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", Recorder("verified", 1)).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", Recorder("community-2", 2)).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", Recorder("core", 0)).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", Recorder("community-3", 2)).ok());

  Intercept("message_sending", message_);
  EXPECT_EQ(calls_, (std::vector<std::string>{"core", "verified", "community-1", "community-2", "community-3"}));

  // hooks.order: listed owners first in listed order, unlisted after; trust still comes first.
  HookSettings settings = Settings();
  settings.order = {"community-3", "core-unused", "community-2", "verified"};
  bus_.UpdateSettings(settings);
  calls_.clear();
  Intercept("message_sending", message_);
  EXPECT_EQ(calls_, (std::vector<std::string>{"core", "verified", "community-3", "community-2", "community-1"}));
}

// --- answers ------------------------------------------------------------------------------------

TEST_F(HookBusTest, ModificationsChainAndEachInterceptorSeesCurrentData) {
  // Asynchronous answers (as from apps) and an in-process one in the same chain.
  auto exclaim = App("exclaim", 0, [](const HookEvent& e) {
    json::value data = e.data;
    data.as_object()["content"] = std::string(e.data.at("content").as_string()) + "!";
    return std::optional<json::value>(json::object{{"action", "modify"}, {"data", data}});
  });
  auto question = App("question", 1, [](const HookEvent& e) {
    json::value data = e.data;  // shorthand: the data object itself
    data.as_object()["content"] = std::string(e.data.at("content").as_string()) + "?";
    data.as_object()["tagged"] = true;
    return std::optional<json::value>(data);
  });
  auto in_process = std::make_shared<FunctionHandler>(bus_, "kernel:upper", 2, [](const HookEvent& e) {
    json::value data = e.data;
    data.as_object()["content"] = "<" + std::string(e.data.at("content").as_string()) + ">";
    return std::optional<json::value>(data);
  });
  ASSERT_TRUE(bus_.Intercept("message_sending", in_process).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", question).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", exclaim).ok());

  InterceptOutcome out = Intercept("message_sending", message_, json::object{{"sessionKey", "irc:#c"}});
  EXPECT_FALSE(out.blocked);
  EXPECT_EQ(out.data.at("content"), "<hi!?>");
  EXPECT_EQ(out.data.at("tagged"), true);
  EXPECT_EQ(out.data.at("target"), "#c");
  ASSERT_EQ(question->events.size(), 1u);
  EXPECT_EQ(question->events[0].data.at("content"), "hi!");
  EXPECT_EQ(question->events[0].context.at("sessionKey"), "irc:#c");
  EXPECT_TRUE(question->events[0].context.at("timestamp").is_int64());
  EXPECT_NE(question->events[0].event_id, exclaim->events[0].event_id);  // one id per delivery
  EXPECT_TRUE(exclaim->statuses.at(0).ok());
  EXPECT_EQ(bus_.pending_count(), 0u);
}

TEST_F(HookBusTest, BlockStopsTheChainAndSaysWho) {
  ASSERT_TRUE(bus_.Intercept("before_tool_call", Recorder("first", 0)).ok());
  auto blocker = App("guard", 1, [](const HookEvent&) { return std::optional<json::value>(Block("no shell")); });
  ASSERT_TRUE(bus_.Intercept("before_tool_call", blocker).ok());
  ASSERT_TRUE(bus_.Intercept("before_tool_call", Recorder("after", 2)).ok());

  InterceptOutcome out = Intercept("before_tool_call", J(R"({"toolName":"exec","toolInput":{}})"));
  EXPECT_TRUE(out.blocked);
  EXPECT_EQ(out.reason, "no shell");
  EXPECT_EQ(out.blocked_by, "guard");
  EXPECT_EQ(out.data.at("toolName"), "exec");
  EXPECT_EQ(calls_, (std::vector<std::string>{"first"}));
}

TEST_F(HookBusTest, NullShorthandBlocks) {
  ASSERT_TRUE(bus_.Intercept("tool_result_persist", Recorder("nuller", 2, nullptr)).ok());
  ASSERT_TRUE(bus_.Intercept("tool_result_persist", Recorder("later", 2)).ok());
  InterceptOutcome out = Intercept("tool_result_persist", J(R"({"toolName":"x","result":"r"})"));
  EXPECT_TRUE(out.blocked);
  EXPECT_EQ(out.blocked_by, "nuller");
  EXPECT_EQ(out.reason, "");
  EXPECT_EQ(calls_, (std::vector<std::string>{"nuller"}));
}

TEST_F(HookBusTest, InvalidModificationsAreContinueWithUnchangedData) {
  ASSERT_TRUE(bus_.Intercept("message_sending", Recorder("non-object", 0, "just text")).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending",
                             Recorder("retyped", 0,
                                      J(R"({"action":"modify","data":{"channelId":"irc","target":"#c",
                                            "content":42,"metadata":{}}})")))
                  .ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", Recorder("bad-action", 0, J(R"({"action":"explode"})"))).ok());
  auto witness = App("witness", 1, [](const HookEvent&) { return std::optional<json::value>(Continue()); });
  ASSERT_TRUE(bus_.Intercept("message_sending", witness).ok());

  InterceptOutcome out = Intercept("message_sending", message_);
  EXPECT_FALSE(out.blocked);
  EXPECT_EQ(out.data, message_);
  ASSERT_EQ(witness->events.size(), 1u);
  EXPECT_EQ(witness->events[0].data, message_);
  EXPECT_EQ(calls_.size(), 3u);
}

TEST_F(HookBusTest, PartialModificationsMergeIntoTheCurrentData) {
  ASSERT_TRUE(bus_.Intercept("message_sending", Recorder("first", 0, J(R"({"content":"x"})"))).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending",
                             Recorder("second", 1, J(R"({"action":"modify","data":{"target":"#d","note":1}})")))
                  .ok());
  InterceptOutcome out = Intercept("message_sending", message_);
  EXPECT_EQ(out.data, J(R"({"channelId":"irc","target":"#d","content":"x","metadata":{},"note":1})"));
}

TEST_F(HookBusTest, ThrowingInterceptorCountsAsContinue) {
  auto thrower = std::make_shared<FunctionHandler>(bus_, "kernel:broken", 0, [](const HookEvent&)
                                                       -> std::optional<json::value> {
    throw std::runtime_error("boom");
  });
  ASSERT_TRUE(bus_.Intercept("before_agent_start", thrower).ok());
  ASSERT_TRUE(bus_.Intercept("before_agent_start", Recorder("next", 1)).ok());
  InterceptOutcome out = Intercept("before_agent_start", J(R"({"input":"x"})"));
  EXPECT_FALSE(out.blocked);
  EXPECT_EQ(calls_, (std::vector<std::string>{"next"}));
  EXPECT_EQ(bus_.pending_count(), 0u);
}

// --- timeouts and results -----------------------------------------------------------------------

TEST_F(HookBusTest, TimeoutIsContinueByDefault) {
  bus_.UpdateSettings(Settings(50));
  auto silent = App("silent", 0);  // never answers
  ASSERT_TRUE(bus_.Intercept("before_tool_call", silent).ok());
  ASSERT_TRUE(bus_.Intercept("before_tool_call", Recorder("next", 1)).ok());

  auto start = Clock::now();
  InterceptOutcome out = Intercept("before_tool_call", J(R"({"toolName":"x"})"));
  auto elapsed = Clock::now() - start;
  EXPECT_FALSE(out.blocked);
  EXPECT_EQ(calls_, (std::vector<std::string>{"next"}));
  EXPECT_GE(elapsed, 50ms);
  EXPECT_LT(elapsed, 2s);
  EXPECT_EQ(bus_.pending_count(), 0u);

  // The answer arriving after the timeout is refused and changes nothing.
  ASSERT_EQ(silent->events.size(), 1u);
  Status late = bus_.DeliverResult(silent->events[0].event_id, "silent", Block("too late"));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(out.blocked);
}

TEST_F(HookBusTest, TimeoutBlocksFailClosedHooks) {
  HookSettings settings = Settings(50);
  settings.fail_closed = {"tool_executing"};  // alias of before_tool_call
  bus_.UpdateSettings(settings);
  ASSERT_TRUE(bus_.Intercept("before_tool_call", App("silent", 0)).ok());
  ASSERT_TRUE(bus_.Intercept("before_tool_call", Recorder("next", 1)).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", App("silent", 0)).ok());

  InterceptOutcome out = Intercept("before_tool_call", J(R"({"toolName":"x"})"));
  EXPECT_TRUE(out.blocked);
  EXPECT_EQ(out.reason, "timeout");
  EXPECT_EQ(out.blocked_by, "silent");
  EXPECT_EQ(out.data.at("toolName"), "x");
  EXPECT_TRUE(calls_.empty());

  EXPECT_FALSE(Intercept("message_sending", message_).blocked);  // not listed: fail-open
}

TEST_F(HookBusTest, DeliverResultChecksIdAndOwner) {
  std::vector<Status> foreign;
  auto target = App("target", 1);  // answers through the test below
  auto meddler = std::make_shared<FunctionHandler>(bus_, "meddler", 0, [](const HookEvent&) {
    return std::optional<json::value>(Continue());
  });
  ASSERT_TRUE(bus_.Intercept("message_sending", meddler).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", target).ok());

  Status unknown = bus_.DeliverResult("h-999", "target", Continue());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);

  // While target's delivery is pending: another owner may not answer it; target may, once.
  asio::steady_timer timer(io_, 10ms);
  timer.async_wait([&](boost::system::error_code) {
    ASSERT_EQ(bus_.pending_count(), 1u);
    const std::string id = target->events.at(0).event_id;
    foreign.push_back(bus_.DeliverResult(id, "meddler", Block("hijack")));
    foreign.push_back(bus_.DeliverResult(id, "target", J(R"({"action":"modify","data":{"channelId":"irc",
        "target":"#c","content":"ok","metadata":{}}})")));
    foreign.push_back(bus_.DeliverResult(id, "target", Block("twice")));
  });
  InterceptOutcome out = Intercept("message_sending", message_);
  ASSERT_EQ(foreign.size(), 3u);
  EXPECT_EQ(foreign[0].error().code, ErrorCode::kForbidden);
  EXPECT_TRUE(foreign[1].ok());
  EXPECT_EQ(foreign[2].error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(out.blocked);
  EXPECT_EQ(out.data.at("content"), "ok");
}

// --- removal mid-chain --------------------------------------------------------------------------

TEST_F(HookBusTest, HandlerRemovedBeforeItsTurnIsSkipped) {
  auto remover = std::make_shared<FunctionHandler>(bus_, "kernel:remover", 0, [this](const HookEvent&) {
    calls_.push_back("remover");
    bus_.RemoveOwner("victim");
    return std::optional<json::value>(Continue());
  });
  ASSERT_TRUE(bus_.Intercept("message_sending", remover).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", Recorder("victim", 1, Block("never"))).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", Recorder("last", 2)).ok());

  InterceptOutcome out = Intercept("message_sending", message_);
  EXPECT_FALSE(out.blocked);
  EXPECT_EQ(calls_, (std::vector<std::string>{"remover", "last"}));
}

TEST_F(HookBusTest, OwnerRemovedWhileAwaitedIsAbandonedPromptly) {
  auto silent = App("crashing-app", 0);  // would hold the chain for the full timeout
  ASSERT_TRUE(bus_.Intercept("message_sending", silent).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", Recorder("last", 1)).ok());
  HookSettings settings = Settings(5000);
  settings.fail_closed = {"message_sending"};  // removal is not a timeout: it does not block
  bus_.UpdateSettings(settings);

  asio::steady_timer timer(io_, 20ms);
  timer.async_wait([&](boost::system::error_code) { bus_.RemoveOwner("crashing-app"); });
  auto start = Clock::now();
  InterceptOutcome out = Intercept("message_sending", message_);
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_FALSE(out.blocked);
  EXPECT_EQ(calls_, (std::vector<std::string>{"last"}));
  EXPECT_EQ(bus_.pending_count(), 0u);
  EXPECT_EQ(bus_.DeliverResult(silent->events.at(0).event_id, "crashing-app", Continue()).error().code,
            ErrorCode::kNotFound);
}

// --- subscribers --------------------------------------------------------------------------------

TEST_F(HookBusTest, SubscribersGetEventsAsynchronouslyOnTheLoop) {
  auto first = App("first", 2);
  auto second = App("second", 3);
  auto thrower = std::make_shared<FunctionHandler>(bus_, "kernel:thrower", 0, [](const HookEvent&)
                                                       -> std::optional<json::value> {
    throw std::runtime_error("boom");
  });
  ASSERT_TRUE(bus_.Subscribe("message_received", thrower).ok());
  ASSERT_TRUE(bus_.Subscribe("message_received", first).ok());
  ASSERT_TRUE(bus_.Subscribe("message_received", second).ok());

  bus_.Emit("message_received", J(R"({"sessionKey":"irc:#c","content":"hi","metadata":{}})"),
            json::object{{"channelId", "irc"}, {"timestamp", 7}});
  EXPECT_TRUE(first->events.empty());  // Emit returned before any delivery
  EXPECT_TRUE(second->events.empty());
  io_.run();
  ASSERT_EQ(first->events.size(), 1u);
  ASSERT_EQ(second->events.size(), 1u);  // a throwing subscriber does not stop the others
  const HookEvent& event = first->events[0];
  EXPECT_EQ(event.event_id, second->events[0].event_id);
  EXPECT_EQ(event.event_id.rfind("h-", 0), 0u);
  EXPECT_EQ(event.ToPayload(), J(R"({"eventId":")" + event.event_id + R"(","hookName":"message_received",
      "data":{"sessionKey":"irc:#c","content":"hi","metadata":{}},
      "context":{"channelId":"irc","timestamp":7}})"));
  EXPECT_EQ(bus_.pending_count(), 0u);  // subscribers are not awaited
}

TEST_F(HookBusTest, SubscriberRemovedBeforeDeliveryIsSkipped) {
  auto app = App("gone", 2);
  ASSERT_TRUE(bus_.Subscribe("session_end", app).ok());
  bus_.Emit("session_end", J(R"({"sessionKey":"s","reason":"idle"})"));
  bus_.RemoveOwner("gone");
  io_.run();
  EXPECT_TRUE(app->events.empty());
}

TEST_F(HookBusTest, InterceptDoesNotNotifySubscribers) {
  auto observer = App("observer", 2);
  ASSERT_TRUE(bus_.Subscribe("message_sending", observer).ok());
  ASSERT_TRUE(bus_.Intercept("message_sending", Recorder("i", 2)).ok());
  Intercept("message_sending", message_);
  EXPECT_TRUE(observer->events.empty());
  EXPECT_EQ(calls_.size(), 1u);
}

TEST_F(HookBusTest, SubscribeOnlyOrUnknownHookInterceptReturnsDataUnchanged) {
  EXPECT_EQ(Intercept("message_received", message_).data, message_);
  InterceptOutcome unknown = Intercept("no_such_hook", message_);
  EXPECT_FALSE(unknown.blocked);
  EXPECT_EQ(unknown.data, message_);
}

// --- RunInterceptThen ---------------------------------------------------------------------------

TEST_F(HookBusTest, FinalHandlerReceivesFinalDataAndItsAnswerIsReturned) {
  ASSERT_TRUE(bus_.Intercept("message_sending",
                             Recorder("rewriter", 1,
                                      J(R"({"channelId":"irc","target":"#c","content":"bye","metadata":{}})")))
                  .ok());
  auto channel = App("irc-app", 2, [](const HookEvent&) {
    return std::optional<json::value>(J(R"({"delivered":true,"messageId":"m1"})"));
  });
  auto result = Run(bus_.RunInterceptThen(std::string("message_sending"), message_, {}, channel, 200ms));
  EXPECT_FALSE(result.outcome.blocked);
  EXPECT_EQ(result.outcome.data.at("content"), "bye");
  ASSERT_EQ(channel->events.size(), 1u);
  EXPECT_EQ(channel->events[0].hook_name, "message_sending");
  EXPECT_EQ(channel->events[0].data.at("content"), "bye");
  ASSERT_TRUE(result.final_result.has_value());
  EXPECT_EQ(*result.final_result, J(R"({"delivered":true,"messageId":"m1"})"));
}

TEST_F(HookBusTest, FinalHandlerTimeoutGivesNoResult) {
  auto channel = App("irc-app", 2);  // never acknowledges
  auto start = Clock::now();
  auto result = Run(bus_.RunInterceptThen("message_sending", message_, {}, channel, 50ms));
  EXPECT_GE(Clock::now() - start, 50ms);
  EXPECT_FALSE(result.outcome.blocked);
  EXPECT_FALSE(result.final_result.has_value());
  EXPECT_EQ(channel->events.size(), 1u);
  EXPECT_EQ(bus_.pending_count(), 0u);
}

TEST_F(HookBusTest, FinalHandlerNotRunWhenBlocked) {
  ASSERT_TRUE(bus_.Intercept("message_sending", Recorder("censor", 0, Block("profanity"))).ok());
  auto channel = App("irc-app", 2, [](const HookEvent&) { return std::optional<json::value>(J("{}")); });
  auto result = Run(bus_.RunInterceptThen("message_sending", message_, {}, channel, 200ms));
  EXPECT_TRUE(result.outcome.blocked);
  EXPECT_EQ(result.outcome.blocked_by, "censor");
  EXPECT_FALSE(result.final_result.has_value());
  EXPECT_TRUE(channel->events.empty());
}

TEST_F(HookBusTest, FinalHandlerErrorAnswerAndOwnerRemoval) {
  auto failing = App("irc-app", 2, [](const HookEvent&) {
    return std::optional<json::value>(J(R"({"error":{"code":"TIMEOUT","message":"server down"}})"));
  });
  auto result = Run(bus_.RunInterceptThen("message_sending", message_, {}, failing, 200ms));
  ASSERT_TRUE(result.final_result.has_value());
  EXPECT_EQ(result.final_result->at("error").at("message"), "server down");

  // The channel app exits while delivering: no result, without waiting for the final timeout.
  auto exiting = App("exiting-app", 2);
  asio::steady_timer timer(io_, 20ms);
  timer.async_wait([&](boost::system::error_code) { bus_.RemoveOwner("exiting-app"); });
  auto start = Clock::now();
  auto gone = Run(bus_.RunInterceptThen("message_sending", message_, {}, exiting, 5s));
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_FALSE(gone.final_result.has_value());
}

TEST_F(HookBusTest, FunctionHandlerMayAnswerLater) {
  std::string held_id;
  auto deferred = std::make_shared<FunctionHandler>(bus_, "kernel:deferred", 0, [&](const HookEvent& e) {
    held_id = e.event_id;
    return std::optional<json::value>();  // answers from a later loop turn
  });
  ASSERT_TRUE(bus_.Intercept("before_agent_start", deferred).ok());
  asio::steady_timer timer(io_, 10ms);
  timer.async_wait([&](boost::system::error_code) {
    EXPECT_TRUE(bus_.DeliverResult(held_id, "kernel:deferred", Block("later")).ok());
  });
  InterceptOutcome out = Intercept("before_agent_start", J(R"({"input":"x"})"));
  EXPECT_TRUE(out.blocked);
  EXPECT_EQ(out.reason, "later");
}

}  // namespace
}  // namespace oc::hooks
