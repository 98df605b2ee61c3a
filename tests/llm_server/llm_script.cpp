#include "llm_script.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace oc::testllm {
namespace {

constexpr std::string_view kFingerprint = "fp_oc_test";
constexpr std::string_view kJsonType = "application/json";
constexpr size_t kMaxChunkChars = 1 << 20;
constexpr int64_t kMaxDelayMs = 24 * 3600 * 1000;

constexpr std::array<std::string_view, 17> kStepFields = {
    "match",   "delayMs",    "chunkDelayMs", "status", "error",           "retryAfter", "headers",
    "content", "chunkChars", "toolCalls",    "finishReason", "usage",     "model",      "dropAfterChunks",
    "hang",    "rawBody",    "rawChunks"};

Error Bad(std::string message) { return MakeError(ErrorCode::kInvalidParams, std::move(message)); }

// ---- step parsing --------------------------------------------------------------------------------

Status ReadString(const json::object& o, std::string_view key, std::optional<std::string>& out) {
  const json::value* v = o.if_contains(key);
  if (!v) return Status::Ok();
  if (!v->is_string()) return Bad(std::string(key) + " must be a string");
  out = std::string(v->get_string());
  return Status::Ok();
}

Status ReadInt(const json::object& o, std::string_view key, int64_t min, int64_t max, std::optional<int64_t>& out) {
  if (!o.contains(key)) return Status::Ok();
  std::optional<int64_t> n = GetInt(o, key);
  if (!n || *n < min || *n > max)
    return Bad(std::string(key) + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  out = *n;
  return Status::Ok();
}

Status ParseToolCalls(const json::value& v, int64_t& next_call_id, std::vector<ScriptedToolCall>& out) {
  if (!v.is_array()) return Bad("toolCalls must be an array");
  const json::array& calls = v.get_array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const std::string path = IndexPath("toolCalls", i);
    const json::object* call = calls[i].if_object();
    if (!call) return Bad(path + " must be an object");
    ScriptedToolCall tc;
    std::optional<std::string_view> name = GetString(*call, "name");
    if (!name) return Bad(path + ".name must be a string");
    tc.name = *name;
    if (std::optional<std::string_view> id = GetString(*call, "id")) {
      tc.id = *id;
    } else if (call->contains("id")) {
      return Bad(path + ".id must be a string");
    } else {
      tc.id = "call_" + std::to_string(next_call_id++);
    }
    const json::value* args = call->if_contains("arguments");
    tc.arguments = !args ? "{}" : args->is_string() ? std::string(args->get_string()) : json::serialize(*args);
    out.push_back(std::move(tc));
  }
  return Status::Ok();
}

Status ParseStringMap(const json::value& v, std::vector<std::pair<std::string, std::string>>& out) {
  if (!v.is_object()) return Bad("headers must be an object");
  for (const auto& [name, value] : v.get_object()) {
    if (!value.is_string()) return Bad("headers." + std::string(name) + " must be a string");
    out.emplace_back(std::string(name), std::string(value.get_string()));
  }
  return Status::Ok();
}

Status ParseUsage(const json::value& v, ScriptStep& step) {
  if (!v.is_object()) return Bad("usage must be an object");
  Status s = ReadInt(v.get_object(), "prompt_tokens", 0, INT32_MAX, step.prompt_tokens);
  if (!s.ok()) return s;
  return ReadInt(v.get_object(), "completion_tokens", 0, INT32_MAX, step.completion_tokens);
}

Status ParseRawChunks(const json::value& v, ScriptStep& step) {
  if (!v.is_array()) return Bad("rawChunks must be an array of strings");
  step.raw_chunks.emplace();
  for (const json::value& chunk : v.get_array()) {
    if (!chunk.is_string()) return Bad("rawChunks must be an array of strings");
    step.raw_chunks->emplace_back(chunk.get_string());
  }
  return Status::Ok();
}

Status ParseNumbers(const json::object& o, ScriptStep& step) {
  std::optional<int64_t> delay, chunk_delay, status, chunk_chars, drop;
  for (Status s : {ReadInt(o, "delayMs", 0, kMaxDelayMs, delay), ReadInt(o, "chunkDelayMs", 0, kMaxDelayMs, chunk_delay),
                   ReadInt(o, "status", 100, 599, status), ReadInt(o, "chunkChars", 1, kMaxChunkChars, chunk_chars),
                   ReadInt(o, "dropAfterChunks", 0, INT32_MAX, drop)}) {
    if (!s.ok()) return s;
  }
  step.delay_ms = delay.value_or(0);
  step.chunk_delay_ms = chunk_delay.value_or(0);
  if (status) step.status = static_cast<int>(*status);
  step.chunk_chars = static_cast<size_t>(chunk_chars.value_or(8));
  if (drop) step.drop_after_chunks = static_cast<size_t>(*drop);
  return Status::Ok();
}

Status ParseStrings(const json::object& o, ScriptStep& step) {
  for (Status s : {ReadString(o, "match", step.match), ReadString(o, "retryAfter", step.retry_after),
                   ReadString(o, "content", step.content), ReadString(o, "finishReason", step.finish_reason),
                   ReadString(o, "model", step.model), ReadString(o, "rawBody", step.raw_body)}) {
    if (!s.ok()) return s;
  }
  if (const json::value* hang = o.if_contains("hang")) {
    if (!hang->is_bool()) return Bad("hang must be a boolean");
    step.hang = hang->get_bool();
  }
  return Status::Ok();
}

Status ParseStructures(const json::object& o, int64_t& next_call_id, ScriptStep& step) {
  if (const json::value* error = o.if_contains("error")) {
    if (!error->is_object()) return Bad("error must be an object");
    step.error = error->get_object();
  }
  if (const json::value* headers = o.if_contains("headers")) {
    Status s = ParseStringMap(*headers, step.headers);
    if (!s.ok()) return s;
  }
  if (const json::value* calls = o.if_contains("toolCalls")) {
    Status s = ParseToolCalls(*calls, next_call_id, step.tool_calls);
    if (!s.ok()) return s;
  }
  if (const json::value* usage = o.if_contains("usage")) {
    Status s = ParseUsage(*usage, step);
    if (!s.ok()) return s;
  }
  if (const json::value* raw = o.if_contains("rawChunks")) return ParseRawChunks(*raw, step);
  return Status::Ok();
}

// ---- request reading -----------------------------------------------------------------------------

// The text of a message's content: a string, or the text parts of an array of parts.
std::string ContentText(const json::object& message) {
  const json::value* content = message.if_contains("content");
  if (!content) return "";
  if (content->is_string()) return std::string(content->get_string());
  std::string text;
  if (const json::array* parts = content->if_array()) {
    for (const json::value& part : *parts) {
      if (const json::object* p = part.if_object()) {
        if (std::optional<std::string_view> t = GetString(*p, "text")) text += *t;
      }
    }
  }
  return text;
}

// What a chat request resolves to before a step is applied.
struct ChatContext {
  std::string model;
  bool stream = false;
  bool include_usage = false;
  std::string last_user_text;
  std::string echo;  // the default answer
  size_t prompt_chars = 0;
  std::string completion_id;
  int64_t created = 0;
};

// Checks the parts of the request the server relies on, as OpenAI does (400 otherwise).
std::optional<std::pair<std::string, std::string>> ValidateChat(const json::value& body) {
  if (!body.is_object()) return std::pair{"request body must be a JSON object", ""};
  const json::object& o = body.get_object();
  if (!GetString(o, "model")) return std::pair{"you must provide a model parameter", "model"};
  const json::array* messages = GetArray(o, "messages");
  if (!messages || messages->empty()) return std::pair{"'messages' must be a non-empty array", "messages"};
  for (size_t i = 0; i < messages->size(); ++i) {
    const json::object* m = (*messages)[i].if_object();
    if (!m || !GetString(*m, "role"))
      return std::pair{"each message must be an object with a string 'role'", IndexPath("messages", i)};
  }
  return std::nullopt;
}

ChatContext ReadChat(const json::object& body) {
  ChatContext ctx;
  ctx.model = std::string(*GetString(body, "model"));
  ctx.stream = GetBool(body, "stream").value_or(false);
  if (const json::object* options = GetObject(body, "stream_options"))
    ctx.include_usage = ctx.stream && GetBool(*options, "include_usage").value_or(false);
  const json::array& messages = *GetArray(body, "messages");
  for (const json::value& m : messages) {
    const json::object& message = m.get_object();
    std::string text = ContentText(message);
    ctx.prompt_chars += text.size();
    if (*GetString(message, "role") == "user") ctx.last_user_text = std::move(text);
  }
  const json::object& last = messages.back().get_object();
  ctx.echo = (*GetString(last, "role") == "tool" ? "tool result: " : "echo: ") + ContentText(last);
  ctx.created = NowMs() / 1000;
  return ctx;
}

// ---- rendering -----------------------------------------------------------------------------------

PlannedResponse JsonResponse(int status, const json::value& body) {
  PlannedResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", kJsonType);
  r.body = json::serialize(body);
  return r;
}

std::string_view DefaultErrorType(int status) {
  if (status == 401) return "authentication_error";
  if (status == 403) return "permission_error";
  if (status == 404) return "not_found_error";
  if (status == 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

PlannedResponse ErrorResponse(int status, std::string_view message, std::string_view type, json::value param = nullptr,
                              json::value code = nullptr) {
  PlannedResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", kJsonType);
  r.body = ErrorBody(message, type, std::move(param), std::move(code));
  return r;
}

PlannedResponse ScriptedError(const ScriptStep& step) {
  const int status = step.status.value_or(500);
  json::object e = step.error.value_or(json::object());
  std::optional<std::string_view> message = GetString(e, "message");
  std::optional<std::string_view> type = GetString(e, "type");
  json::value code = e.contains("code") ? e.at("code") : status == 429 ? json::value("rate_limit_exceeded") : nullptr;
  json::value param = e.contains("param") ? e.at("param") : nullptr;
  return ErrorResponse(status, message.value_or("scripted error (HTTP " + std::to_string(status) + ")"),
                       type.value_or(DefaultErrorType(status)), std::move(param), std::move(code));
}

// Splits UTF-8 text into pieces of `n` code points (never inside a multi-byte character).
std::vector<std::string> SplitUtf8(std::string_view text, size_t n) {
  std::vector<std::string> pieces;
  size_t start = 0, count = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool starts_char = (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
    if (starts_char && count == n) {
      pieces.emplace_back(text.substr(start, i - start));
      start = i;
      count = 0;
    }
    count += starts_char;
  }
  if (start < text.size()) pieces.emplace_back(text.substr(start));
  return pieces;
}

int64_t RoughTokens(size_t chars) { return static_cast<int64_t>((chars + 3) / 4); }

// The completion after the step is applied.
struct Completion {
  std::optional<std::string> content;  // null when only tool calls
  std::vector<ScriptedToolCall> tool_calls;
  std::string finish_reason;
  std::string model;
  json::object usage;
};

Completion ResolveCompletion(const ScriptStep& step, const ChatContext& ctx) {
  Completion c;
  c.content = step.content;
  if (!c.content && step.tool_calls.empty()) c.content = ctx.echo;
  c.tool_calls = step.tool_calls;
  c.finish_reason = step.finish_reason.value_or(step.tool_calls.empty() ? "stop" : "tool_calls");
  c.model = step.model.value_or(ctx.model);
  size_t completion_chars = c.content ? c.content->size() : 0;
  for (const ScriptedToolCall& tc : c.tool_calls) completion_chars += tc.name.size() + tc.arguments.size();
  const int64_t prompt = step.prompt_tokens.value_or(RoughTokens(ctx.prompt_chars));
  const int64_t completion = step.completion_tokens.value_or(RoughTokens(completion_chars));
  c.usage = {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
  return c;
}

json::object ToolCallJson(const ScriptedToolCall& tc) {
  return {{"id", tc.id}, {"type", "function"}, {"function", {{"name", tc.name}, {"arguments", tc.arguments}}}};
}

std::string CompletionBody(const Completion& c, const ChatContext& ctx) {
  json::object message{{"role", "assistant"}, {"refusal", nullptr}};
  message["content"] = c.content ? json::value(*c.content) : json::value(nullptr);
  if (!c.tool_calls.empty()) {
    json::array calls;
    for (const ScriptedToolCall& tc : c.tool_calls) calls.push_back(ToolCallJson(tc));
    message["tool_calls"] = std::move(calls);
  }
  json::object choice{{"index", 0}, {"message", std::move(message)}, {"logprobs", nullptr},
                      {"finish_reason", c.finish_reason}};
  json::object body{{"id", ctx.completion_id}, {"object", "chat.completion"}, {"created", ctx.created},
                    {"model", c.model}, {"system_fingerprint", kFingerprint}};
  body["choices"] = json::array{std::move(choice)};
  body["usage"] = c.usage;
  return json::serialize(body);
}

class ChunkWriter {
 public:
  ChunkWriter(const Completion& c, const ChatContext& ctx) : c_(c), ctx_(ctx) {}

  void Delta(json::object delta, json::value finish_reason = nullptr) {
    json::object choice{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}};
    choice["finish_reason"] = std::move(finish_reason);
    json::object chunk = Base();
    chunk["choices"] = json::array{std::move(choice)};
    // With include_usage every chunk carries "usage": null except the final usage chunk.
    if (ctx_.include_usage) chunk["usage"] = nullptr;
    Emit(chunk);
  }
  void Usage() {
    json::object chunk = Base();
    chunk["choices"] = json::array();
    chunk["usage"] = c_.usage;
    Emit(chunk);
  }
  void Done() { events_.emplace_back("data: [DONE]\n\n"); }
  std::vector<std::string> Take() { return std::move(events_); }

 private:
  json::object Base() const {
    return {{"id", ctx_.completion_id}, {"object", "chat.completion.chunk"}, {"created", ctx_.created},
            {"model", c_.model},        {"system_fingerprint", kFingerprint}};
  }
  void Emit(const json::object& chunk) { events_.push_back("data: " + json::serialize(chunk) + "\n\n"); }

  const Completion& c_;
  const ChatContext& ctx_;
  std::vector<std::string> events_;
};

std::vector<std::string> StreamEvents(const Completion& c, const ChatContext& ctx, size_t chunk_chars) {
  ChunkWriter w(c, ctx);
  w.Delta({{"role", "assistant"}, {"content", ""}});
  if (c.content) {
    for (std::string& piece : SplitUtf8(*c.content, chunk_chars)) w.Delta({{"content", std::move(piece)}});
  }
  for (size_t i = 0; i < c.tool_calls.size(); ++i) {
    const ScriptedToolCall& tc = c.tool_calls[i];
    json::object first{{"index", i}, {"id", tc.id}, {"type", "function"},
                       {"function", {{"name", tc.name}, {"arguments", ""}}}};
    w.Delta({{"tool_calls", json::array{std::move(first)}}});
    for (std::string& piece : SplitUtf8(tc.arguments, chunk_chars)) {
      json::object more{{"index", i}, {"function", {{"arguments", std::move(piece)}}}};
      w.Delta({{"tool_calls", json::array{std::move(more)}}});
    }
  }
  w.Delta(json::object(), json::value(c.finish_reason));
  if (ctx.include_usage) w.Usage();
  w.Done();
  return w.Take();
}

// The response body (or events) for a chat request once its step is known; delays, headers and
// drops are applied by the caller.
PlannedResponse ChatBody(const ScriptStep& step, const ChatContext& ctx) {
  if (step.raw_body) {
    PlannedResponse r;
    r.status = step.status.value_or(200);
    r.headers.emplace_back("Content-Type", kJsonType);
    r.body = *step.raw_body;
    return r;
  }
  if (step.error || step.status.value_or(200) >= 400) return ScriptedError(step);
  const Completion completion = ResolveCompletion(step, ctx);
  PlannedResponse r;
  r.status = step.status.value_or(200);
  if (step.raw_chunks || ctx.stream) {
    r.streamed = true;
    r.headers.emplace_back("Content-Type", "text/event-stream");
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.chunks = step.raw_chunks ? *step.raw_chunks : StreamEvents(completion, ctx, step.chunk_chars);
  } else {
    r.headers.emplace_back("Content-Type", kJsonType);
    r.body = CompletionBody(completion, ctx);
  }
  return r;
}

// Step headers replace same-named defaults (case-insensitively).
void SetHeader(PlannedResponse& r, const std::string& name, const std::string& value) {
  auto same = [&](const auto& h) {
    return std::equal(h.first.begin(), h.first.end(), name.begin(), name.end(),
                      [](char a, char b) { return std::tolower(a) == std::tolower(b); });
  };
  r.headers.erase(std::remove_if(r.headers.begin(), r.headers.end(), same), r.headers.end());
  r.headers.emplace_back(name, value);
}

json::object ModelsList() {
  json::array data;
  for (std::string_view id : {"test-model", "gpt-4o-mini", "gpt-4o", "test-model-large"})
    data.push_back({{"id", id}, {"object", "model"}, {"created", 1700000000}, {"owned_by", "openclawos-test"}});
  return {{"object", "list"}, {"data", std::move(data)}};
}

}  // namespace

Result<ScriptStep> ParseStep(const json::value& step, int64_t& next_call_id) {
  const json::object* o = step.if_object();
  if (!o) return Bad("a step must be an object");
  for (const auto& field : *o) {
    if (std::find(kStepFields.begin(), kStepFields.end(), std::string_view(field.key())) == kStepFields.end())
      return Bad("unknown step field '" + std::string(field.key()) + "'");
  }
  ScriptStep s;
  for (Status st : {ParseNumbers(*o, s), ParseStrings(*o, s), ParseStructures(*o, next_call_id, s)}) {
    if (!st.ok()) return st.error();
  }
  return s;
}

std::string ErrorBody(std::string_view message, std::string_view type, json::value param, json::value code) {
  json::object error{{"message", message}, {"type", type}};
  error["param"] = std::move(param);
  error["code"] = std::move(code);
  return json::serialize(json::object{{"error", std::move(error)}});
}

PlannedResponse LlmScript::Handle(const IncomingRequest& request) {
  const std::string& path = request.path;
  const bool get = request.method == "GET", post = request.method == "POST";
  const bool known = path == "/v1/chat/completions" || path == "/chat/completions" || path == "/v1/models" ||
                     path == "/models" || path == "/_script" || path == "/_reset" || path == "/_requests" ||
                     path == "/_stats";
  if (!known) {
    return ErrorResponse(404, "Unknown request URL: " + request.method + " " + path, "invalid_request_error", nullptr,
                         "unknown_url");
  }
  if (post && (path == "/v1/chat/completions" || path == "/chat/completions")) return HandleChat(request);
  if (get && (path == "/v1/models" || path == "/models")) return JsonResponse(200, ModelsList());
  if (post && path == "/_script") return HandleScript(request);
  if (post && path == "/_reset") {
    steps_.clear();
    recorded_.clear();
    total_requests_ = 0;
    return JsonResponse(200, json::object{{"ok", true}});
  }
  if (get && path == "/_requests") return JsonResponse(200, json::object{{"requests", RecordedRequests()}});
  if (get && path == "/_stats") return JsonResponse(200, Stats());
  return ErrorResponse(405, "method " + request.method + " is not allowed on " + path, "invalid_request_error");
}

PlannedResponse LlmScript::HandleChat(const IncomingRequest& request) {
  Result<json::value> body = ParseJson(request.body);
  if (!body.ok()) {
    return ErrorResponse(400, "We could not parse the JSON body of your request (" + body.error().message + ")",
                         "invalid_request_error");
  }
  if (max_recorded_ > 0) {
    if (recorded_.size() == max_recorded_) recorded_.pop_front();
    recorded_.push_back(json::object{{"path", request.path},
                                     {"authorization", request.authorization},
                                     {"headers", request.headers},
                                     {"body", *body}});
  }
  ++total_requests_;
  if (auto invalid = ValidateChat(*body)) {
    json::value param = invalid->second.empty() ? json::value(nullptr) : json::value(invalid->second);
    return ErrorResponse(400, invalid->first, "invalid_request_error", std::move(param));
  }
  ChatContext ctx = ReadChat(body->get_object());
  ctx.completion_id = "chatcmpl-oc" + std::to_string(next_completion_id_++);
  const ScriptStep step = TakeStep(ctx.last_user_text);
  PlannedResponse r = ChatBody(step, ctx);
  if (step.retry_after) SetHeader(r, "Retry-After", *step.retry_after);
  for (const auto& [name, value] : step.headers) SetHeader(r, name, value);
  r.delay_ms = step.delay_ms;
  r.chunk_delay_ms = step.chunk_delay_ms;
  r.hang = step.hang;
  r.drop_after_chunks = step.drop_after_chunks;
  return r;
}

PlannedResponse LlmScript::HandleScript(const IncomingRequest& request) {
  Result<json::value> body = ParseJson(request.body);
  const json::array* steps = body.ok() && body->is_object() ? GetArray(body->get_object(), "steps") : nullptr;
  if (!steps) return ErrorResponse(400, "expected {\"steps\": [...]}", "invalid_request_error", "steps");
  std::vector<ScriptStep> parsed;
  for (size_t i = 0; i < steps->size(); ++i) {
    Result<ScriptStep> step = ParseStep((*steps)[i], next_call_id_);
    if (!step.ok()) {  // all or nothing: a broken script must not half-apply
      return ErrorResponse(400, IndexPath("steps", i) + ": " + step.error().message, "invalid_request_error",
                           json::value(IndexPath("steps", i)));
    }
    parsed.push_back(std::move(step).value());
  }
  for (ScriptStep& step : parsed) steps_.push_back(std::move(step));
  return JsonResponse(200, json::object{{"queued", parsed.size()}, {"pending", steps_.size()}});
}

ScriptStep LlmScript::TakeStep(std::string_view last_user_text) {
  for (auto it = steps_.begin(); it != steps_.end(); ++it) {
    if (!it->match || last_user_text.find(*it->match) != std::string_view::npos) {
      ScriptStep step = std::move(*it);
      steps_.erase(it);
      return step;
    }
  }
  return ScriptStep{};
}

json::object LlmScript::Stats() const {
  return {{"requests", total_requests_},
          {"pending", steps_.size()},
          {"recorded", recorded_.size()},
          {"connections", connections_open_},
          {"connectionsTotal", connections_total_}};
}

json::value LlmScript::RecordedRequests() const {
  json::array out;
  out.reserve(recorded_.size());
  for (const json::object& r : recorded_) out.push_back(r);
  return out;
}

}  // namespace oc::testllm
