// OpenAI chat completions (POST /v1/chat/completions): chat.completion bodies, chat.completion.chunk
// SSE events ending in "data: [DONE]", {"error":{message,type,param,code}} errors.
#include "wire.h"

namespace oc::testllm {
namespace {

constexpr std::string_view kFingerprint = "fp_oc_test";

std::string_view DefaultErrorType(int status) {
  if (status == 401) return "authentication_error";
  if (status == 403) return "permission_error";
  if (status == 404) return "not_found_error";
  if (status == 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

std::string ErrorJson(const Failure& f) {
  json::value code = ErrorMember(f, "code", f.status == 429 ? json::value("rate_limit_exceeded") : nullptr);
  return ErrorBody(f.message(), f.type().value_or(std::string(DefaultErrorType(f.status))),
                   ErrorMember(f, "param", nullptr), std::move(code));
}

PlannedResponse Refuse(std::string message, json::value param) {
  return JsonAnswer(400, ErrorBody(message, "invalid_request_error", std::move(param), nullptr));
}

// ---- reading -------------------------------------------------------------------------------------

json::object NormalToolCall(const json::value& v) {
  json::object out;
  const json::object* call = v.if_object();
  if (!call) return out;
  if (auto id = GetString(*call, "id")) out["id"] = *id;
  if (const json::object* fn = GetObject(*call, "function")) {
    out["name"] = GetString(*fn, "name").value_or("");
    std::string_view args = GetString(*fn, "arguments").value_or("{}");
    Result<json::value> parsed = ParseJson(args);
    out["arguments"] = parsed.ok() ? std::move(parsed).value() : json::value(args);
  }
  return out;
}

json::object NormalOpenAiMessage(const json::object& m) {
  std::string role(*GetString(m, "role"));
  if (role == "developer") role = "system";
  json::object out = NormalMessage(role, PartsText(m.if_contains("content")));
  if (const json::array* calls = GetArray(m, "tool_calls")) {
    json::array normal;
    for (const json::value& call : *calls) normal.push_back(NormalToolCall(call));
    out["toolCalls"] = std::move(normal);
  }
  if (auto id = GetString(m, "tool_call_id")) out["toolCallId"] = *id;
  if (auto name = GetString(m, "name"); name && role == "tool") out["name"] = *name;
  return out;
}

json::array NormalTools(const json::object& body) {
  json::array out;
  const json::array* tools = GetArray(body, "tools");
  if (!tools) return out;
  for (const json::value& t : *tools) {
    const json::object* fn = t.is_object() ? GetObject(t.get_object(), "function") : nullptr;
    if (!fn) continue;
    json::object tool{{"name", GetString(*fn, "name").value_or("")}};
    if (const json::value* d = fn->if_contains("description")) tool["description"] = *d;
    if (const json::value* p = fn->if_contains("parameters")) tool["parameters"] = *p;
    out.push_back(std::move(tool));
  }
  return out;
}

// Checks the parts of the request the server relies on, as OpenAI does (400 otherwise).
std::optional<PlannedResponse> Read(const IncomingRequest&, const json::value& body, ChatRequest& chat) {
  if (!body.is_object()) return Refuse("request body must be a JSON object", nullptr);
  const json::object& o = body.get_object();
  if (!GetString(o, "model")) return Refuse("you must provide a model parameter", "model");
  chat.model = std::string(*GetString(o, "model"));
  chat.stream = GetBool(o, "stream").value_or(false);
  if (const json::object* options = GetObject(o, "stream_options"))
    chat.include_usage = chat.stream && GetBool(*options, "include_usage").value_or(false);
  const json::array* messages = GetArray(o, "messages");
  if (!messages || messages->empty()) return Refuse("'messages' must be a non-empty array", "messages");
  for (size_t i = 0; i < messages->size(); ++i) {
    const json::object* m = (*messages)[i].if_object();
    if (!m || !GetString(*m, "role"))
      return Refuse("each message must be an object with a string 'role'", json::value(IndexPath("messages", i)));
    chat.messages.push_back(NormalOpenAiMessage(*m));
  }
  chat.tools = NormalTools(o);
  chat.response_id = "chatcmpl-oc" + std::to_string(chat.serial);
  return std::nullopt;
}

// ---- rendering -----------------------------------------------------------------------------------

json::object Usage(const Completion& c) {
  return {{"prompt_tokens", c.prompt_tokens},
          {"completion_tokens", c.completion_tokens},
          {"total_tokens", c.prompt_tokens + c.completion_tokens}};
}

json::object ToolCallJson(const ScriptedToolCall& tc) {
  return {{"id", tc.id}, {"type", "function"}, {"function", {{"name", tc.name}, {"arguments", tc.arguments}}}};
}

std::string CompletionBody(const Completion& c, const ChatRequest& chat) {
  json::object message{{"role", "assistant"}, {"refusal", nullptr}};
  message["content"] = c.content ? json::value(*c.content) : json::value(nullptr);
  if (!c.tool_calls.empty()) {
    json::array calls;
    for (const ScriptedToolCall& tc : c.tool_calls) calls.push_back(ToolCallJson(tc));
    message["tool_calls"] = std::move(calls);
  }
  json::object choice{{"index", 0}, {"message", std::move(message)}, {"logprobs", nullptr},
                      {"finish_reason", c.finish_reason}};
  json::object body{{"id", chat.response_id}, {"object", "chat.completion"}, {"created", chat.created},
                    {"model", c.model}, {"system_fingerprint", kFingerprint}};
  body["choices"] = json::array{std::move(choice)};
  body["usage"] = Usage(c);
  return json::serialize(body);
}

class ChunkWriter {
 public:
  ChunkWriter(const Completion& c, const ChatRequest& chat) : c_(c), chat_(chat) {}

  void Delta(json::object delta, json::value finish_reason = nullptr) {
    json::object choice{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}};
    choice["finish_reason"] = std::move(finish_reason);
    json::object chunk = Base();
    chunk["choices"] = json::array{std::move(choice)};
    // With include_usage every chunk carries "usage": null except the final usage chunk.
    if (chat_.include_usage) chunk["usage"] = nullptr;
    Emit(chunk);
  }
  void Usage() {
    json::object chunk = Base();
    chunk["choices"] = json::array();
    chunk["usage"] = oc::testllm::Usage(c_);
    Emit(chunk);
  }
  void Done() { events_.emplace_back("data: [DONE]\n\n"); }
  std::vector<std::string> Take() { return std::move(events_); }

 private:
  json::object Base() const {
    return {{"id", chat_.response_id}, {"object", "chat.completion.chunk"}, {"created", chat_.created},
            {"model", c_.model},       {"system_fingerprint", kFingerprint}};
  }
  void Emit(const json::object& chunk) { events_.push_back("data: " + json::serialize(chunk) + "\n\n"); }

  const Completion& c_;
  const ChatRequest& chat_;
  std::vector<std::string> events_;
};

std::vector<std::string> StreamEvents(const Completion& c, const ChatRequest& chat) {
  ChunkWriter w(c, chat);
  w.Delta({{"role", "assistant"}, {"content", ""}});
  if (c.content) {
    for (std::string& piece : SplitUtf8(*c.content, c.chunk_chars)) w.Delta({{"content", std::move(piece)}});
  }
  for (size_t i = 0; i < c.tool_calls.size(); ++i) {
    const ScriptedToolCall& tc = c.tool_calls[i];
    json::object first{{"index", i}, {"id", tc.id}, {"type", "function"},
                       {"function", {{"name", tc.name}, {"arguments", ""}}}};
    w.Delta({{"tool_calls", json::array{std::move(first)}}});
    for (std::string& piece : SplitUtf8(tc.arguments, c.chunk_chars)) {
      json::object more{{"index", i}, {"function", {{"arguments", std::move(piece)}}}};
      w.Delta({{"tool_calls", json::array{std::move(more)}}});
    }
  }
  w.Delta(json::object(), json::value(c.finish_reason));
  if (chat.include_usage) w.Usage();
  w.Done();
  return w.Take();
}

PlannedResponse Render(const Completion& c, const ChatRequest& chat) {
  if (!chat.stream) return JsonAnswer(200, CompletionBody(c, chat));
  PlannedResponse r;
  r.streamed = true;
  r.headers.emplace_back("Content-Type", "text/event-stream");
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.chunks = StreamEvents(c, chat);
  return r;
}

PlannedResponse HttpError(const Failure& f) { return JsonAnswer(f.status, ErrorJson(f)); }

std::string StreamError(const Failure& f, const ChatRequest&, size_t) { return "data: " + ErrorJson(f) + "\n\n"; }

}  // namespace

const WireOps kOpenAiWire{WireFormat::kOpenAi, Read, Render, HttpError, StreamError, "text/event-stream"};

}  // namespace oc::testllm
