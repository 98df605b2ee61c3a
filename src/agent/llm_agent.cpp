// The default agent's tool loop (SPEC §8.3).
#include <boost/asio/this_coro.hpp>

#include <spdlog/spdlog.h>

#include "agent/agent.h"

namespace oc::agent {
namespace {

json::value MessagesJson(const std::vector<ChatMessage>& messages) {
  json::array out;
  out.reserve(messages.size());
  for (const auto& m : messages) {
    json::object o{{"role", m.role}, {"content", m.content}};
    if (!m.tool_calls.empty()) {
      json::array calls;
      for (const auto& c : m.tool_calls) calls.push_back(json::object{{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
      o["toolCalls"] = std::move(calls);
    }
    if (!m.tool_call_id.empty()) o["toolCallId"] = m.tool_call_id;
    out.push_back(std::move(o));
  }
  return out;
}

std::string ResultText(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

std::string Cap(std::string text, size_t max_chars) {
  if (text.size() <= max_chars) return text;
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
  size_t dropped = text.size() - cut;
  text.resize(cut);
  text += "\n[... " + std::to_string(dropped) + " more bytes cut]";
  return text;
}

class LlmAgent : public Agent {
 public:
  LlmAgent(hooks::HookBus& bus, ToolHost& tools, ProviderLookup providers)
      : bus_(bus), tools_(tools), providers_(std::move(providers)) {}

  asio::awaitable<RunResult> Run(const AgentSettings& settings, RunInput input, RunObserver observer) override {
    RunResult result;
    std::vector<ChatMessage> messages;
    if (!settings.system_prompt.empty()) messages.push_back(ChatMessage{"system", settings.system_prompt, {}, {}, {}});
    for (auto& m : input.history) messages.push_back(std::move(m));
    std::vector<ToolSpec> tool_specs = tools_.ToolsFor(settings.id);
    json::object context{{"agentId", settings.id}, {"sessionKey", input.session_key}};

    for (int turn = 0; turn < settings.max_turns; ++turn) {
      result.turns = turn + 1;
      LlmRequest request;
      request.messages = messages;
      request.tools = tool_specs;
      if (bus_.HasHandlers("llm_input"))  // the whole history as JSON: only when someone listens
        bus_.Emit("llm_input", json::object{{"sessionKey", input.session_key}, {"agentId", settings.id},
                                            {"messages", MessagesJson(messages)},
                                            {"model", settings.models.empty() ? "" : settings.models.front()}},
                  context);
      TextSink sink = observer.on_text ? TextSink(observer.on_text) : TextSink();
      FailoverResult call = co_await CompleteWithFailover(settings.models, std::move(request), providers_,
                                                          settings.retry, sink, observer.on_attempt);
      for (auto& a : call.attempts) result.attempts.push_back(std::move(a));
      result.model = call.model;
      if (!call.response.ok()) {
        result.error = call.response.error().message;
        co_return result;
      }
      LlmResponse& answer = call.response.value();
      result.usage.input += answer.usage.input;
      result.usage.output += answer.usage.output;
      if (bus_.HasHandlers("llm_output")) bus_.Emit("llm_output", OutputEvent(input.session_key, settings.id, answer), context);

      ChatMessage assistant{"assistant", answer.text, answer.tool_calls, {}, {}};
      messages.push_back(assistant);
      result.produced.push_back(std::move(assistant));
      result.usage_per_message.push_back(answer.usage);
      if (answer.tool_calls.empty()) {
        result.success = true;
        result.text = answer.text;
        co_return result;
      }
      for (const ToolCall& call_spec : answer.tool_calls) {
        if (observer.on_tool_call) observer.on_tool_call(call_spec);
        ToolOutcome outcome = co_await RunTool(call_spec, input, settings, context);
        if (observer.on_tool_result) observer.on_tool_result(call_spec, outcome);
        ChatMessage tool_message{"tool", Cap(outcome.output, settings.max_tool_result_chars), {}, call_spec.id,
                                 call_spec.name};
        messages.push_back(tool_message);
        result.produced.push_back(std::move(tool_message));
        result.usage_per_message.push_back(TokenUsage{});
      }
    }
    result.error = "stopped after maxTurns (" + std::to_string(settings.max_turns) + ") model calls";
    co_return result;
  }

 private:
  static json::value OutputEvent(const std::string& session_key, const std::string& agent_id, const LlmResponse& r) {
    json::array calls;
    for (const auto& c : r.tool_calls) calls.push_back(json::object{{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
    return json::object{{"sessionKey", session_key},
                        {"agentId", agent_id},
                        {"response", json::object{{"text", r.text}, {"toolCalls", std::move(calls)},
                                                  {"finishReason", r.finish_reason}, {"model", r.model}}},
                        {"tokenUsage", json::object{{"input", r.usage.input}, {"output", r.usage.output}}}};
  }

  // before_tool_call → invoke → tool_result_persist → after_tool_call.
  asio::awaitable<ToolOutcome> RunTool(const ToolCall& call, const RunInput& input, const AgentSettings& settings,
                                       const json::object& context) {
    auto started = std::chrono::steady_clock::now();
    json::value tool_input;
    std::error_code ec;
    tool_input = json::parse(call.arguments.empty() ? std::string_view("{}") : std::string_view(call.arguments), ec);
    if (ec) co_return ToolOutcome{"error: the tool arguments are not valid JSON (" + ec.message() + ")", true};

    json::object before{{"toolName", call.name}, {"toolInput", tool_input}, {"sessionKey", input.session_key},
                        {"runId", input.run_id}};
    hooks::InterceptOutcome gate = co_await bus_.RunIntercept("before_tool_call", std::move(before), context);
    ToolOutcome outcome;
    if (gate.blocked) {
      outcome = {"error: the tool call was blocked" + (gate.reason.empty() ? std::string() : ": " + gate.reason), true};
    } else {
      if (const auto* o = gate.data.if_object(); o && o->contains("toolInput")) tool_input = o->at("toolInput");
      ToolContext tctx{input.session_key, input.run_id, settings.id};
      outcome = co_await tools_.Invoke(call.name, tool_input, std::move(tctx));
    }

    json::object persist{{"toolName", call.name}, {"result", outcome.output}, {"sessionKey", input.session_key}};
    hooks::InterceptOutcome kept = co_await bus_.RunIntercept("tool_result_persist", std::move(persist), context);
    if (kept.blocked) {
      outcome.output = "[tool result withheld" + (kept.reason.empty() ? std::string() : ": " + kept.reason) + "]";
    } else if (const auto* o = kept.data.if_object(); o && o->contains("result")) {
      outcome.output = ResultText(o->at("result"));
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    bus_.Emit("after_tool_call",
              json::object{{"toolName", call.name}, {"toolInput", tool_input}, {"toolOutput", outcome.output},
                           {"success", !outcome.is_error && !gate.blocked}, {"duration", ms},
                           {"sessionKey", input.session_key}, {"runId", input.run_id}},
              context);
    co_return outcome;
  }

  hooks::HookBus& bus_;
  ToolHost& tools_;
  ProviderLookup providers_;
};

}  // namespace

std::unique_ptr<Agent> MakeLlmAgent(hooks::HookBus& bus, ToolHost& tools, ProviderLookup providers) {
  return std::make_unique<LlmAgent>(bus, tools, std::move(providers));
}

}  // namespace oc::agent
