// The default agent's tool loop against a scripted in-test provider (the provider's own wire format
// is tested in openai_provider_test.cpp and end to end in tests/integration/test_pipeline.py).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <deque>

#include "agent/agent.h"

namespace oc::agent {
namespace {

namespace asio = boost::asio;

class ScriptedProvider : public Provider {
 public:
  std::deque<Result<LlmResponse>> answers;
  std::vector<LlmRequest> requests;
  const std::string& name() const override { return name_; }
  asio::awaitable<Result<LlmResponse>> Complete(const LlmRequest& request, TextSink on_text,
                                                std::chrono::milliseconds) override {
    requests.push_back(request);
    if (answers.empty()) co_return MakeError(ErrorCode::kInternalError, "script exhausted");
    Result<LlmResponse> r = std::move(answers.front());
    answers.pop_front();
    if (r.ok() && on_text && !r->text.empty()) on_text(r->text);
    co_return r;
  }

 private:
  std::string name_ = "test";
};

class RecordingTools : public ToolHost {
 public:
  std::vector<std::pair<std::string, json::value>> calls;
  std::string output = "tool output";
  std::vector<ToolSpec> ToolsFor(const std::string&) override {
    return {ToolSpec{"lookup", "Looks things up.", json::object{{"type", "object"}}}};
  }
  asio::awaitable<ToolOutcome> Invoke(std::string name, json::value input, ToolContext) override {
    calls.emplace_back(name, input);
    co_return ToolOutcome{output, false};
  }
};

LlmResponse Text(std::string text) {
  LlmResponse r;
  r.text = std::move(text);
  r.finish_reason = "stop";
  r.usage = {10, 5};
  return r;
}

LlmResponse CallTool(std::string args) {
  LlmResponse r;
  r.tool_calls.push_back(ToolCall{"call_1", "lookup", std::move(args)});
  r.finish_reason = "tool_calls";
  r.usage = {7, 3};
  return r;
}

class LlmAgentTest : public ::testing::Test {
 protected:
  asio::io_context io;
  hooks::HookBus bus{io.get_executor(), hooks::HookSettings{}};
  ScriptedProvider provider;
  RecordingTools tools;
  std::unique_ptr<Agent> agent =
      MakeLlmAgent(bus, tools, [this](const std::string& n) -> Provider* { return n == "test" ? &provider : nullptr; });
  AgentSettings settings = [] {
    AgentSettings s;
    s.models = {"test/model-a"};
    s.system_prompt = "be brief";
    s.max_turns = 5;
    s.retry.max_retries = 0;
    return s;
  }();

  RunResult RunTurn(std::string text, RunObserver observer = {}) {
    RunInput input;
    input.run_id = "1";
    input.session_key = "agent:default:main";
    input.history.push_back(ChatMessage{"user", std::move(text), {}, {}, {}});
    std::optional<RunResult> out;
    asio::co_spawn(io, agent->Run(settings, std::move(input), std::move(observer)),
                   [&](std::exception_ptr e, RunResult r) {
                     if (e) std::rethrow_exception(e);
                     out = std::move(r);
                   });
    io.run();
    io.restart();
    return out.value();
  }

  void Intercept(std::string hook, std::function<std::optional<json::value>(const hooks::HookEvent&)> fn) {
    ASSERT_TRUE(bus.Intercept(hook, std::make_shared<hooks::FunctionHandler>(bus, "kernel:test-" + hook, 0, fn)).ok());
  }
};

TEST_F(LlmAgentTest, PlainAnswerNeedsOneModelCall) {
  provider.answers.push_back(Text("hello there"));
  std::string streamed;
  RunObserver obs;
  obs.on_text = [&](std::string_view d) { streamed += d; };
  RunResult r = RunTurn("hi", obs);
  ASSERT_TRUE(r.success) << r.error;
  EXPECT_EQ(r.text, "hello there");
  EXPECT_EQ(streamed, "hello there");
  EXPECT_EQ(r.turns, 1);
  ASSERT_EQ(r.produced.size(), 1u);
  EXPECT_EQ(r.produced[0].role, "assistant");
  EXPECT_EQ(r.usage.input, 10);
  EXPECT_EQ(r.model, "test/model-a");
  ASSERT_EQ(provider.requests.size(), 1u);
  EXPECT_EQ(provider.requests[0].model, "model-a");
  EXPECT_EQ(provider.requests[0].messages[0].role, "system");
  EXPECT_EQ(provider.requests[0].messages[0].content, "be brief");
  EXPECT_EQ(provider.requests[0].tools.size(), 1u);
}

TEST_F(LlmAgentTest, ToolResultGoesBackToTheModel) {
  provider.answers.push_back(CallTool(R"({"q":"weather"})"));
  provider.answers.push_back(Text("it is sunny"));
  std::vector<std::string> seen;
  RunObserver obs;
  obs.on_tool_call = [&](const ToolCall& c) { seen.push_back("call " + c.name); };
  obs.on_tool_result = [&](const ToolCall&, const ToolOutcome& o) { seen.push_back("result " + o.output); };
  RunResult r = RunTurn("weather?", obs);
  ASSERT_TRUE(r.success) << r.error;
  EXPECT_EQ(r.text, "it is sunny");
  ASSERT_EQ(tools.calls.size(), 1u);
  EXPECT_EQ(tools.calls[0].second, (json::value{{"q", "weather"}}));
  ASSERT_EQ(r.produced.size(), 3u);
  EXPECT_EQ(r.produced[1].role, "tool");
  EXPECT_EQ(r.produced[1].tool_call_id, "call_1");
  EXPECT_EQ(r.produced[1].content, "tool output");
  ASSERT_EQ(provider.requests.size(), 2u);
  const auto& second = provider.requests[1].messages;
  EXPECT_EQ(second[second.size() - 2].tool_calls.size(), 1u);
  EXPECT_EQ(second.back().role, "tool");
  EXPECT_EQ(seen, (std::vector<std::string>{"call lookup", "result tool output"}));
  EXPECT_EQ(r.usage.input, 17);
}

TEST_F(LlmAgentTest, BlockedToolCallIsNotRunAndTheModelIsTold) {
  Intercept("before_tool_call", [](const hooks::HookEvent&) -> std::optional<json::value> {
    return json::value{{"action", "block"}, {"reason", "not today"}};
  });
  provider.answers.push_back(CallTool("{}"));
  provider.answers.push_back(Text("ok, I could not"));
  RunResult r = RunTurn("weather?");
  ASSERT_TRUE(r.success);
  EXPECT_TRUE(tools.calls.empty());
  EXPECT_NE(r.produced[1].content.find("blocked: not today"), std::string::npos);
}

TEST_F(LlmAgentTest, InterceptorsRewriteInputAndPersistedResult) {
  Intercept("before_tool_call", [](const hooks::HookEvent& e) -> std::optional<json::value> {
    EXPECT_EQ(e.data.at("toolName"), "lookup");
    return json::value{{"action", "modify"}, {"data", {{"toolInput", {{"q", "rewritten"}}}}}};
  });
  Intercept("tool_result_persist", [](const hooks::HookEvent&) -> std::optional<json::value> {
    return json::value{{"action", "modify"}, {"data", {{"result", "[scrubbed]"}}}};
  });
  provider.answers.push_back(CallTool(R"({"q":"original"})"));
  provider.answers.push_back(Text("done"));
  RunResult r = RunTurn("go");
  ASSERT_TRUE(r.success);
  ASSERT_EQ(tools.calls.size(), 1u);
  EXPECT_EQ(tools.calls[0].second, (json::value{{"q", "rewritten"}}));
  EXPECT_EQ(r.produced[1].content, "[scrubbed]");
}

TEST_F(LlmAgentTest, InvalidArgumentsAreAnErrorResultWithoutRunningTheTool) {
  provider.answers.push_back(CallTool("{not json"));
  provider.answers.push_back(Text("sorry"));
  RunResult r = RunTurn("go");
  ASSERT_TRUE(r.success);
  EXPECT_TRUE(tools.calls.empty());
  EXPECT_NE(r.produced[1].content.find("not valid JSON"), std::string::npos);
}

TEST_F(LlmAgentTest, LongToolResultsAreCapped) {
  settings.max_tool_result_chars = 10;
  tools.output = std::string(50, 'x');
  provider.answers.push_back(CallTool("{}"));
  provider.answers.push_back(Text("fine"));
  RunResult r = RunTurn("go");
  EXPECT_EQ(r.produced[1].content.rfind(std::string(10, 'x'), 0), 0u);
  EXPECT_NE(r.produced[1].content.find("40 more bytes cut"), std::string::npos);
}

TEST_F(LlmAgentTest, StopsAfterMaxTurns) {
  settings.max_turns = 2;
  provider.answers.push_back(CallTool("{}"));
  provider.answers.push_back(CallTool("{}"));
  provider.answers.push_back(Text("never reached"));
  RunResult r = RunTurn("loop");
  EXPECT_FALSE(r.success);
  EXPECT_NE(r.error.find("maxTurns"), std::string::npos);
  EXPECT_EQ(provider.requests.size(), 2u);
}

TEST_F(LlmAgentTest, ProviderFailureFailsTheRunWithTheAttemptRecorded) {
  Error e = MakeError(ErrorCode::kInvalidRequest, "model does not exist", json::object{{"kind", "bad_request"}});
  provider.answers.push_back(e);
  RunResult r = RunTurn("hi");
  EXPECT_FALSE(r.success);
  EXPECT_NE(r.error.find("model does not exist"), std::string::npos);
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_FALSE(r.attempts[0].ok);
}

}  // namespace
}  // namespace oc::agent
