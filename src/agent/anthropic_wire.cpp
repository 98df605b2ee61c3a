// Anthropic Messages wire format without I/O: request body, answer parsing, stream assembly, error
// classification. Everything here treats its input as untrusted.
#include "common/text.h"
#include "agent/anthropic_wire.h"

#include <utility>
#include <vector>

#include "agent/openai_wire.h"

namespace oc::agent {
namespace {

constexpr size_t kMaxMessageFromBody = 500;  // chars of a non-JSON error body quoted in a message

// ---- request ----

struct WireMessage {
  std::string role;  // user | assistant
  json::array blocks;
};

// A tool call's arguments as the input object the API requires ({} when not an object).
json::value ToolInput(std::string_view arguments) {
  if (auto parsed = TryParseJson(arguments, nullptr); parsed && parsed->is_object()) return std::move(*parsed);
  return json::object{};
}

json::array BlocksOf(const ChatMessage& m) {
  json::array blocks;
  if (m.role == "tool") {
    json::object result{{"type", "tool_result"}, {"tool_use_id", m.tool_call_id}};
    if (!m.content.empty()) result["content"] = m.content;
    blocks.push_back(std::move(result));
    return blocks;
  }
  if (!m.content.empty()) blocks.push_back(json::object{{"type", "text"}, {"text", m.content}});
  if (m.role == "assistant") {
    for (const ToolCall& call : m.tool_calls) {
      blocks.push_back(json::object{
          {"type", "tool_use"}, {"id", call.id}, {"name", call.name}, {"input", ToolInput(call.arguments)}});
    }
  }
  return blocks;
}

// The "type" of a block or event ("" when absent).
std::string_view TypeOf(const json::object& obj) { return GetString(obj, "type").value_or(""); }

// `m.blocks` holds objects only (built by BlocksOf).
json::object MessageToJson(WireMessage& m) {
  if (m.role == "user") {  // tool results must open a user message
    json::array results;
    json::array others;
    for (auto& b : m.blocks) (TypeOf(b.get_object()) == "tool_result" ? results : others).push_back(std::move(b));
    for (auto& b : others) results.push_back(std::move(b));
    m.blocks = std::move(results);
  }
  json::object out{{"role", m.role}};
  const json::object& first = m.blocks.front().get_object();
  if (m.blocks.size() == 1 && TypeOf(first) == "text") {
    out["content"] = first.at("text");
  } else {
    out["content"] = std::move(m.blocks);
  }
  return out;
}

// ---- answers ----

void ReadUsage(const json::object& usage, TokenUsage& out) {
  if (auto in = GetInt(usage, "input_tokens")) {
    out.input = *in + GetInt(usage, "cache_creation_input_tokens").value_or(0) +
                GetInt(usage, "cache_read_input_tokens").value_or(0);
  }
  if (auto output = GetInt(usage, "output_tokens")) out.output = *output;
}

std::string_view KindForErrorType(std::string_view type) {
  if (type == "rate_limit_error") return kErrRateLimit;
  if (type == "authentication_error" || type == "permission_error") return kErrAuth;
  if (type == "timeout_error") return kErrTimeout;
  if (type == "invalid_request_error" || type == "not_found_error" || type == "request_too_large" ||
      type == "billing_error") {
    return kErrBadRequest;
  }
  return kErrServer;  // overloaded_error, api_error, and whatever new kind of trouble
}

// {type, message} of an error object; empty strings when absent.
std::pair<std::string, std::string> ErrorTypeAndMessage(const json::value& error) {
  std::string type;
  std::string message;
  if (const auto* obj = error.if_object()) {
    if (auto t = GetString(*obj, "type")) type = std::string(*t);
    if (auto m = GetString(*obj, "message")) message = std::string(*m);
  } else if (error.is_string()) {
    message = std::string(error.get_string());
  }
  return {type, message};
}

}  // namespace

std::string BuildAnthropicMessagesBody(const LlmRequest& request) {
  std::string system;
  std::vector<WireMessage> merged;
  for (const ChatMessage& m : request.messages) {
    if (m.role == "system") {
      if (m.content.empty()) continue;
      if (!system.empty()) system += "\n\n";
      system += m.content;
      continue;
    }
    json::array blocks = BlocksOf(m);
    if (blocks.empty()) continue;
    std::string role = m.role == "assistant" ? "assistant" : "user";
    if (merged.empty() || merged.back().role != role) merged.push_back(WireMessage{role, {}});
    for (auto& b : blocks) merged.back().blocks.push_back(std::move(b));
  }
  json::object body;
  body["model"] = request.model;
  body["max_tokens"] = request.max_tokens.value_or(kAnthropicDefaultMaxTokens);
  if (!system.empty()) body["system"] = system;
  json::array messages;
  for (WireMessage& m : merged) messages.push_back(MessageToJson(m));
  body["messages"] = std::move(messages);
  if (!request.tools.empty()) {
    json::array tools;
    for (const ToolSpec& tool : request.tools) {
      json::object spec{{"name", tool.name}};
      if (!tool.description.empty()) spec["description"] = tool.description;
      spec["input_schema"] = tool.input_schema.is_object() ? tool.input_schema : json::object{{"type", "object"}};
      tools.push_back(std::move(spec));
    }
    body["tools"] = std::move(tools);
  }
  if (request.temperature) body["temperature"] = *request.temperature;
  body["stream"] = request.stream;
  return json::serialize(body);
}

std::string AnthropicFinishReason(std::string_view stop_reason) {
  if (stop_reason == "end_turn" || stop_reason == "stop_sequence") return "stop";
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "max_tokens") return "length";
  return std::string(stop_reason);
}

Error AnthropicErrorFromObject(const json::value& error, std::string_view context) {
  auto [type, message] = ErrorTypeAndMessage(error);
  if (message.empty()) message = "error without message";
  if (!type.empty()) message += " (" + type + ")";
  Error e = MakeLlmError(KindForErrorType(type), std::string(context) + ": " + message);
  if (type == "permission_error") e.code = ErrorCode::kForbidden;
  return e;
}

Error AnthropicErrorFromHttpAnswer(std::string_view provider, int status, std::string_view body,
                                   std::optional<int64_t> retry_after_ms) {
  std::string detail;
  if (auto parsed = TryParseJson(body, nullptr); parsed && parsed->is_object()) {
    if (const auto* error = parsed->get_object().if_contains("error")) {
      auto [type, message] = ErrorTypeAndMessage(*error);
      detail = message;
      if (!type.empty()) detail += detail.empty() ? type : " (" + type + ")";
    }
  }
  if (detail.empty()) {
    detail = std::string(TrimAsciiSpace(body.substr(0, kMaxMessageFromBody)));
    if (body.size() > kMaxMessageFromBody) detail += "...";
  }
  std::string message = std::string(provider) + ": HTTP " + std::to_string(status);
  if (!detail.empty()) message += ": " + detail;
  return MakeLlmError(KindForHttpStatus(status), std::move(message), status, retry_after_ms);
}

Result<LlmResponse> ParseAnthropicMessage(std::string_view body) {
  std::string what;
  auto parsed = TryParseJson(body, &what);
  if (!parsed) return MakeLlmError(kErrBadRequest, "malformed message: " + what);
  const json::object* root = parsed->if_object();
  if (!root) return MakeLlmError(kErrBadRequest, "malformed message: not an object");
  if (const auto* error = root->if_contains("error"); error && !error->is_null()) {
    return AnthropicErrorFromObject(*error, "error answer");
  }
  const json::array* content = GetArray(*root, "content");
  if (!content) return MakeLlmError(kErrBadRequest, "malformed message: no content");
  LlmResponse out;
  if (auto model = GetString(*root, "model")) out.model = std::string(*model);
  if (auto reason = GetString(*root, "stop_reason")) out.finish_reason = AnthropicFinishReason(*reason);
  if (const auto* usage = GetObject(*root, "usage")) ReadUsage(*usage, out.usage);
  for (const auto& item : *content) {
    const json::object* block = item.if_object();
    if (!block) continue;
    std::string_view type = TypeOf(*block);
    if (type == "text") {
      if (auto text = GetString(*block, "text")) out.text += *text;
    } else if (type == "tool_use") {
      ToolCall call;
      if (auto id = GetString(*block, "id")) call.id = std::string(*id);
      if (auto name = GetString(*block, "name")) call.name = std::string(*name);
      const auto* input = block->if_contains("input");
      call.arguments = input && !input->is_null() ? json::serialize(*input) : "{}";
      out.tool_calls.push_back(std::move(call));
    }  // thinking, redacted_thinking, server tool blocks: not ours to report
  }
  return out;
}

// ---- streamed answer ----

bool AnthropicStreamAssembler::OnEvent(std::string_view data) {
  if (error_) return false;
  if (done_) return true;
  ++events_;
  std::string_view trimmed = TrimAsciiSpace(data);
  if (trimmed.empty()) return true;
  std::string what;
  auto parsed = TryParseJson(trimmed, &what);
  if (!parsed || !parsed->is_object()) {
    error_ = MakeLlmError(kErrBadRequest, "malformed stream event: " + (what.empty() ? "not an object" : what));
    return false;
  }
  const json::object& event = parsed->get_object();
  std::string_view type = TypeOf(event);
  if (type == "error") {
    const auto* error = event.if_contains("error");
    error_ = AnthropicErrorFromObject(error ? *error : json::value(), "stream error");
    return false;
  }
  if (type == "message_start") {
    if (const json::object* message = GetObject(event, "message")) {
      if (auto model = GetString(*message, "model")) response_.model = std::string(*model);
      if (const auto* usage = GetObject(*message, "usage")) ReadUsage(*usage, response_.usage);
    }
  } else if (type == "content_block_start") {
    OnBlockStart(event);
  } else if (type == "content_block_delta") {
    OnBlockDelta(event);
  } else if (type == "message_delta") {
    OnMessageDelta(event);
  } else if (type == "message_stop") {
    done_ = true;
  }  // ping, content_block_stop and future event types carry nothing we need
  return true;
}

void AnthropicStreamAssembler::OnBlockStart(const json::object& event) {
  const json::object* block = GetObject(event, "content_block");
  if (!block) return;
  std::string_view type = TypeOf(*block);
  if (type == "text") {
    if (auto text = GetString(*block, "text"); text && !text->empty()) {
      response_.text.append(*text);
      if (on_text_) on_text_(*text);
    }
    return;
  }
  if (type != "tool_use") return;
  ToolBlock tool;
  if (auto id = GetString(*block, "id")) tool.call.id = std::string(*id);
  if (auto name = GetString(*block, "name")) tool.call.name = std::string(*name);
  if (const auto* input = block->if_contains("input"); input && !input->is_null()) {
    tool.initial_input = json::serialize(*input);
  }
  tool_blocks_[GetInt(event, "index").value_or(0)] = std::move(tool);
}

void AnthropicStreamAssembler::OnBlockDelta(const json::object& event) {
  const json::object* delta = GetObject(event, "delta");
  if (!delta) return;
  std::string_view type = TypeOf(*delta);
  if (type == "text_delta") {
    if (auto text = GetString(*delta, "text"); text && !text->empty()) {
      response_.text.append(*text);
      if (on_text_) on_text_(*text);
    }
  } else if (type == "input_json_delta") {
    auto it = tool_blocks_.find(GetInt(event, "index").value_or(0));
    if (it == tool_blocks_.end()) return;  // a delta for a block that never started as tool_use
    if (auto piece = GetString(*delta, "partial_json")) {
      it->second.call.arguments.append(*piece);
      it->second.has_delta = true;
    }
  }  // thinking_delta, signature_delta, citations_delta: ignored
}

void AnthropicStreamAssembler::OnMessageDelta(const json::object& event) {
  if (const json::object* delta = GetObject(event, "delta")) {
    if (auto reason = GetString(*delta, "stop_reason"); reason && !reason->empty()) {
      response_.finish_reason = AnthropicFinishReason(*reason);
    }
  }
  // Counts here are cumulative for the message: they replace the earlier ones.
  if (const json::object* usage = GetObject(event, "usage")) ReadUsage(*usage, response_.usage);
}

Result<LlmResponse> AnthropicStreamAssembler::Finish() {
  if (error_) return *error_;
  if (!done_ && response_.finish_reason.empty()) {
    return MakeLlmError(kErrNetwork, "stream ended early (no message_stop and no stop_reason)");
  }
  LlmResponse out = response_;
  for (auto& [index, tool] : tool_blocks_) {
    ToolCall call = tool.call;
    if (!tool.has_delta) call.arguments = tool.initial_input;
    if (call.arguments.empty()) call.arguments = "{}";
    out.tool_calls.push_back(std::move(call));
  }
  return out;
}

}  // namespace oc::agent
