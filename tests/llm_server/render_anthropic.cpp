// Anthropic Messages (POST /v1/messages): {type:"message"} bodies, the SSE event sequence
// message_start, content_block_start/delta/stop (text_delta, input_json_delta), ping,
// message_delta (stop_reason + usage), message_stop; errors {type:"error", error:{type, message}},
// in a stream as `event: error`.
#include "wire.h"

namespace oc::testllm {
namespace {

std::string_view DefaultErrorType(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string ErrorJson(const Failure& f) {
  json::object error{{"type", f.type().value_or(std::string(DefaultErrorType(f.status)))}, {"message", f.message()}};
  return json::serialize(json::object{{"type", "error"}, {"error", std::move(error)}});
}

PlannedResponse Refuse(int status, std::string message) {
  Failure f;
  f.status = status;
  f.error = {{"message", std::move(message)}};
  return JsonAnswer(status, ErrorJson(f));
}

// ---- reading -------------------------------------------------------------------------------------

// Appends the normalised form of one message (a user message's tool_result blocks become tool
// messages, its text one user message after them).
void AppendNormal(const json::object& m, std::string_view role, json::array& out) {
  const json::value* content = m.if_contains("content");
  if (!content || !content->is_array()) {
    out.push_back(NormalMessage(role, PartsText(content)));
    return;
  }
  std::string text;
  json::array calls;
  for (const json::value& b : content->get_array()) {
    const json::object* block = b.if_object();
    if (!block) continue;
    std::string_view type = GetString(*block, "type").value_or("");
    if (type == "text") {
      text += GetString(*block, "text").value_or("");
    } else if (type == "tool_use") {
      json::object call{{"id", GetString(*block, "id").value_or("")}, {"name", GetString(*block, "name").value_or("")}};
      const json::value* input = block->if_contains("input");
      call["arguments"] = input ? *input : json::value(json::object());
      calls.push_back(std::move(call));
    } else if (type == "tool_result") {
      json::object result = NormalMessage("tool", PartsText(block->if_contains("content")));
      result["toolCallId"] = GetString(*block, "tool_use_id").value_or("");
      if (GetBool(*block, "is_error").value_or(false)) result["isError"] = true;
      out.push_back(std::move(result));
    }
  }
  if (role == "assistant") {
    json::object message = NormalMessage(role, std::move(text));
    if (!calls.empty()) message["toolCalls"] = std::move(calls);
    out.push_back(std::move(message));
  } else if (!text.empty()) {
    out.push_back(NormalMessage(role, std::move(text)));
  }
}

json::array NormalTools(const json::object& body) {
  json::array out;
  if (const json::array* tools = GetArray(body, "tools")) {
    for (const json::value& t : *tools) {
      const json::object* tool = t.if_object();
      if (!tool) continue;
      json::object normal{{"name", GetString(*tool, "name").value_or("")}};
      if (const json::value* d = tool->if_contains("description")) normal["description"] = *d;
      if (const json::value* s = tool->if_contains("input_schema")) normal["parameters"] = *s;
      out.push_back(std::move(normal));
    }
  }
  return out;
}

// The checks the API makes on what the server relies on (400 invalid_request_error otherwise,
// worded as Anthropic words them).
std::optional<PlannedResponse> Read(const IncomingRequest& in, const json::value& body, ChatRequest& chat) {
  if (!GetString(in.headers, "anthropic-version")) return Refuse(400, "anthropic-version: header is required");
  if (!body.is_object()) return Refuse(400, "Input should be a valid dictionary or object");
  const json::object& o = body.get_object();
  if (!GetString(o, "model")) return Refuse(400, "model: Field required");
  chat.model = std::string(*GetString(o, "model"));
  if (!GetInt(o, "max_tokens")) return Refuse(400, "max_tokens: Field required");
  chat.stream = GetBool(o, "stream").value_or(false);
  const json::array* messages = GetArray(o, "messages");
  if (!messages) return Refuse(400, "messages: Field required");
  if (messages->empty()) return Refuse(400, "messages: at least one message is required");
  if (const json::value* system = o.if_contains("system")) {
    if (std::string text = PartsText(system); !text.empty()) chat.messages.push_back(NormalMessage("system", text));
  }
  for (size_t i = 0; i < messages->size(); ++i) {
    const json::object* m = (*messages)[i].if_object();
    std::optional<std::string_view> role = m ? GetString(*m, "role") : std::nullopt;
    if (role != "user" && role != "assistant")
      return Refuse(400, "messages." + std::to_string(i) + ".role: Input should be 'user' or 'assistant'");
    AppendNormal(*m, *role, chat.messages);
  }
  chat.tools = NormalTools(o);
  chat.response_id = "msg_oc" + std::to_string(chat.serial);
  return std::nullopt;
}

// ---- rendering -----------------------------------------------------------------------------------

std::string StopReason(std::string_view reason) {
  if (reason == "stop") return "end_turn";
  if (reason == "length") return "max_tokens";
  if (reason == "tool_calls") return "tool_use";
  if (reason == "content_filter") return "refusal";
  return std::string(reason);
}

// Anthropic's ids look like "toolu_..."; a step's default "call_<n>" is restyled.
std::string ToolUseId(const ScriptedToolCall& tc) {
  return tc.explicit_id || tc.id.rfind("call_", 0) != 0 ? tc.id : "toolu_oc" + tc.id.substr(5);
}

bool HasTextBlock(const Completion& c) { return c.content && (!c.content->empty() || c.tool_calls.empty()); }

json::object Usage(const Completion& c, int64_t output) {
  return {{"input_tokens", c.prompt_tokens},
          {"cache_creation_input_tokens", 0},
          {"cache_read_input_tokens", 0},
          {"output_tokens", output}};
}

json::object Message(const Completion& c, const ChatRequest& chat, json::array content, json::value stop_reason,
                     int64_t output) {
  json::object m{{"id", chat.response_id}, {"type", "message"}, {"role", "assistant"}, {"model", c.model}};
  m["content"] = std::move(content);
  m["stop_reason"] = std::move(stop_reason);
  m["stop_sequence"] = nullptr;
  m["usage"] = Usage(c, output);
  return m;
}

std::string MessageBody(const Completion& c, const ChatRequest& chat) {
  json::array content;
  if (HasTextBlock(c)) content.push_back({{"type", "text"}, {"text", *c.content}});
  for (const ScriptedToolCall& tc : c.tool_calls)
    content.push_back({{"type", "tool_use"}, {"id", ToolUseId(tc)}, {"name", tc.name}, {"input", ArgumentsValue(tc)}});
  return json::serialize(Message(c, chat, std::move(content), json::value(StopReason(c.finish_reason)), c.completion_tokens));
}

class EventWriter {
 public:
  void Emit(std::string_view type, json::object data) {
    json::object ordered{{"type", type}};  // "type" first, as the API sends it
    for (auto& [key, value] : data) ordered[key] = std::move(value);
    events_.push_back("event: " + std::string(type) + "\ndata: " + json::serialize(ordered) + "\n\n");
  }
  void BlockStart(int64_t index, json::object block) {
    Emit("content_block_start", {{"index", index}, {"content_block", std::move(block)}});
    if (!pinged_) Emit("ping", {});
    pinged_ = true;
  }
  void Delta(int64_t index, json::object delta) { Emit("content_block_delta", {{"index", index}, {"delta", std::move(delta)}}); }
  void BlockStop(int64_t index) { Emit("content_block_stop", {{"index", index}}); }
  std::vector<std::string> Take() { return std::move(events_); }

 private:
  std::vector<std::string> events_;
  bool pinged_ = false;
};

std::vector<std::string> StreamEvents(const Completion& c, const ChatRequest& chat) {
  EventWriter w;
  w.Emit("message_start", {{"message", Message(c, chat, json::array(), nullptr, 1)}});
  int64_t index = 0;
  if (HasTextBlock(c)) {
    w.BlockStart(index, {{"type", "text"}, {"text", ""}});
    for (std::string& piece : SplitUtf8(*c.content, c.chunk_chars))
      w.Delta(index, {{"type", "text_delta"}, {"text", std::move(piece)}});
    w.BlockStop(index++);
  }
  for (const ScriptedToolCall& tc : c.tool_calls) {
    w.BlockStart(index, {{"type", "tool_use"}, {"id", ToolUseId(tc)}, {"name", tc.name}, {"input", json::object()}});
    w.Delta(index, {{"type", "input_json_delta"}, {"partial_json", ""}});
    for (std::string& piece : SplitUtf8(tc.arguments, c.chunk_chars))
      w.Delta(index, {{"type", "input_json_delta"}, {"partial_json", std::move(piece)}});
    w.BlockStop(index++);
  }
  json::object delta{{"stop_reason", StopReason(c.finish_reason)}, {"stop_sequence", nullptr}};
  w.Emit("message_delta", {{"delta", std::move(delta)}, {"usage", {{"output_tokens", c.completion_tokens}}}});
  w.Emit("message_stop", {});
  return w.Take();
}

PlannedResponse Render(const Completion& c, const ChatRequest& chat) {
  if (!chat.stream) return JsonAnswer(200, MessageBody(c, chat));
  PlannedResponse r;
  r.streamed = true;
  r.headers.emplace_back("Content-Type", "text/event-stream; charset=utf-8");
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.chunks = StreamEvents(c, chat);
  return r;
}

PlannedResponse HttpError(const Failure& f) { return JsonAnswer(f.status, ErrorJson(f)); }

std::string StreamError(const Failure& f, const ChatRequest&, size_t) {
  return "event: error\ndata: " + ErrorJson(f) + "\n\n";
}

}  // namespace

const WireOps kAnthropicWire{WireFormat::kAnthropic, Read, Render, HttpError, StreamError,
                             "text/event-stream; charset=utf-8"};

}  // namespace oc::testllm
