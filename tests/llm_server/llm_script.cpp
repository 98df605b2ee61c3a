#include "llm_script.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "wire.h"

namespace oc::testllm {
namespace {

constexpr size_t kMaxChunkChars = 1 << 20;
constexpr int64_t kMaxDelayMs = 24 * 3600 * 1000;

constexpr std::array<std::string_view, 18> kStepFields = {
    "match",        "delayMs", "chunkDelayMs", "status",          "error",    "retryAfter",
    "headers",      "content", "chunkChars",   "toolCalls",       "finishReason", "usage",
    "model",        "dropAfterChunks",         "errorAfterChunks", "hang",    "rawBody",
    "rawChunks"};

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
      tc.explicit_id = true;
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
  std::optional<int64_t> delay, chunk_delay, status, chunk_chars, drop, error_after;
  for (Status s : {ReadInt(o, "delayMs", 0, kMaxDelayMs, delay), ReadInt(o, "chunkDelayMs", 0, kMaxDelayMs, chunk_delay),
                   ReadInt(o, "status", 100, 599, status), ReadInt(o, "chunkChars", 1, kMaxChunkChars, chunk_chars),
                   ReadInt(o, "dropAfterChunks", 0, INT32_MAX, drop),
                   ReadInt(o, "errorAfterChunks", 0, INT32_MAX, error_after)}) {
    if (!s.ok()) return s;
  }
  step.delay_ms = delay.value_or(0);
  step.chunk_delay_ms = chunk_delay.value_or(0);
  if (status) step.status = static_cast<int>(*status);
  step.chunk_chars = static_cast<size_t>(chunk_chars.value_or(8));
  if (drop) step.drop_after_chunks = static_cast<size_t>(*drop);
  if (error_after) step.error_after_chunks = static_cast<size_t>(*error_after);
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

// ---- chat requests -------------------------------------------------------------------------------

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// The wire format of a chat endpoint, or nullptr when the path is not one.
const WireOps* ChatEndpoint(std::string_view path) {
  if (path == "/v1/chat/completions" || path == "/chat/completions") return &kOpenAiWire;
  if (path == "/v1/messages") return &kAnthropicWire;
  if (path == "/api/chat") return &kOllamaWire;
  if (StartsWith(path, "/v1beta/models/") || StartsWith(path, "/v1/models/")) return &kGeminiWire;
  return nullptr;
}

// The API key as each platform carries it (Bearer token, x-api-key, x-goog-api-key or ?key=).
std::string ApiKeyOf(const IncomingRequest& in, WireFormat format) {
  auto header = [&](std::string_view name) {
    std::optional<std::string_view> v = GetString(in.headers, name);
    return std::string(v.value_or(""));
  };
  if (format == WireFormat::kAnthropic) return header("x-api-key");
  if (format == WireFormat::kGemini) {
    std::string key = header("x-goog-api-key");
    return key.empty() ? QueryParam(in.query, "key").value_or("") : key;
  }
  constexpr std::string_view kBearer = "Bearer ";
  return StartsWith(in.authorization, kBearer) ? in.authorization.substr(kBearer.size()) : "";
}

// Fills what every format derives the same way from the normalised messages.
void DeriveConversation(ChatRequest& chat) {
  for (const json::value& m : chat.messages) {
    const json::object& message = m.get_object();
    std::string_view text = GetString(message, "content").value_or("");
    chat.prompt_chars += text.size();
    if (GetString(message, "role") == "user") chat.last_user_text = std::string(text);
  }
  if (chat.messages.empty()) {
    chat.echo = "echo: ";
    return;
  }
  const json::object& last = chat.messages.back().get_object();
  const bool tool = GetString(last, "role") == "tool";
  chat.echo = (tool ? "tool result: " : "echo: ") + std::string(GetString(last, "content").value_or(""));
}

int64_t RoughTokens(size_t chars) { return static_cast<int64_t>((chars + 3) / 4); }

Completion ResolveCompletion(const ScriptStep& step, const ChatRequest& chat) {
  Completion c;
  c.content = step.content;
  if (!c.content && step.tool_calls.empty()) c.content = chat.echo;
  c.tool_calls = step.tool_calls;
  c.finish_reason = step.finish_reason.value_or(step.tool_calls.empty() ? "stop" : "tool_calls");
  c.model = step.model.value_or(chat.model);
  size_t completion_chars = c.content ? c.content->size() : 0;
  for (const ScriptedToolCall& tc : c.tool_calls) completion_chars += tc.name.size() + tc.arguments.size();
  c.prompt_tokens = step.prompt_tokens.value_or(RoughTokens(chat.prompt_chars));
  c.completion_tokens = step.completion_tokens.value_or(RoughTokens(completion_chars));
  c.chunk_chars = step.chunk_chars;
  return c;
}

Failure FailureOf(const ScriptStep& step, int default_status) {
  Failure f;
  f.status = step.status.value_or(default_status);
  f.error = step.error.value_or(json::object());
  f.retry_after = step.retry_after;
  return f;
}

// A 200 answer that fails part-way: the first n pieces of the stream, then the in-stream error.
// A request that asked for no stream gets the error object as its 200 body.
PlannedResponse FailingAnswer(const ScriptStep& step, const ChatRequest& chat, const WireOps& wire) {
  const Failure failure = FailureOf(step, 500);
  if (!chat.stream) {
    PlannedResponse r = wire.error(failure);
    r.status = 200;
    return r;
  }
  PlannedResponse r = wire.render(ResolveCompletion(step, chat), chat);
  const size_t n = std::min(*step.error_after_chunks, r.chunks.size());
  r.chunks.resize(n);
  r.chunks.push_back(wire.stream_error(failure, chat, n));
  return r;
}

// The response for a chat request once its step is known; delays, headers and drops are applied
// by the caller.
PlannedResponse ChatAnswer(const ScriptStep& step, const ChatRequest& chat, const WireOps& wire) {
  if (step.raw_body) {
    PlannedResponse r = JsonAnswer(step.status.value_or(200), *step.raw_body);
    return r;
  }
  if (step.error_after_chunks) return FailingAnswer(step, chat, wire);
  if (step.error || step.status.value_or(200) >= 400) return wire.error(FailureOf(step, 500));
  if (step.raw_chunks) {
    PlannedResponse r;
    r.status = step.status.value_or(200);
    r.streamed = true;
    r.headers.emplace_back("Content-Type", wire.stream_content_type);
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.chunks = *step.raw_chunks;
    return r;
  }
  PlannedResponse r = wire.render(ResolveCompletion(step, chat), chat);
  if (step.status) r.status = *step.status;
  return r;
}

// ---- control -------------------------------------------------------------------------------------

PlannedResponse OpenAiError(int status, std::string_view message, json::value param = nullptr,
                            json::value code = nullptr) {
  return JsonAnswer(status, ErrorBody(message, "invalid_request_error", std::move(param), std::move(code)));
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
  const WireOps* chat = ChatEndpoint(path);
  const bool models = path == "/v1/models" || path == "/models";
  const bool control = path == "/_script" || path == "/_reset" || path == "/_requests" || path == "/_stats";
  if (!chat && !models && !control) {
    return OpenAiError(404, "Unknown request URL: " + request.method + " " + path, nullptr, "unknown_url");
  }
  if (post && chat) return HandleChat(request, *chat);
  if (get && models) return JsonAnswer(200, json::serialize(ModelsList()));
  if (post && path == "/_script") return HandleScript(request);
  if (post && path == "/_reset") {
    steps_.clear();
    recorded_.clear();
    total_requests_ = 0;
    return JsonAnswer(200, json::serialize(json::object{{"ok", true}}));
  }
  if (get && path == "/_requests") return JsonAnswer(200, json::serialize(json::object{{"requests", RecordedRequests()}}));
  if (get && path == "/_stats") return JsonAnswer(200, json::serialize(Stats()));
  return OpenAiError(405, "method " + request.method + " is not allowed on " + path);
}

PlannedResponse LlmScript::HandleChat(const IncomingRequest& request, const WireOps& wire) {
  Result<json::value> body = ParseJson(request.body);
  if (!body.ok()) {
    Failure f;
    f.status = 400;
    f.error = {{"message", "We could not parse the JSON body of your request (" + body.error().message + ")"}};
    return wire.error(f);
  }
  ChatRequest chat;
  chat.format = wire.format;
  chat.serial = next_request_serial_++;
  chat.created = NowMs() / 1000;
  std::optional<PlannedResponse> refusal = wire.read(request, *body, chat);
  Record(request, *body, chat, !refusal);
  ++total_requests_;
  if (refusal) return std::move(*refusal);
  DeriveConversation(chat);
  if (default_reply_) chat.echo = *default_reply_;
  const ScriptStep step = TakeStep(chat.last_user_text);
  PlannedResponse r = ChatAnswer(step, chat, wire);
  if (step.retry_after) SetHeader(r, "Retry-After", *step.retry_after);
  for (const auto& [name, value] : step.headers) SetHeader(r, name, value);
  r.delay_ms = step.delay_ms;
  r.chunk_delay_ms = step.chunk_delay_ms;
  r.hang = step.hang;
  r.drop_after_chunks = step.drop_after_chunks;
  return r;
}

void LlmScript::Record(const IncomingRequest& request, const json::value& body, const ChatRequest& chat, bool valid) {
  if (max_recorded_ == 0) return;
  if (recorded_.size() == max_recorded_) recorded_.pop_front();
  json::object r{{"format", FormatName(chat.format)},
                 {"path", request.path},
                 {"query", request.query},
                 {"authorization", request.authorization},
                 {"apiKey", ApiKeyOf(request, chat.format)},
                 {"headers", request.headers},
                 {"body", body},
                 {"model", chat.model},
                 {"stream", chat.stream}};
  if (valid) {
    r["messages"] = chat.messages;
    r["tools"] = chat.tools;
  }
  recorded_.push_back(std::move(r));
}

PlannedResponse LlmScript::HandleScript(const IncomingRequest& request) {
  Result<json::value> body = ParseJson(request.body);
  const json::array* steps = body.ok() && body->is_object() ? GetArray(body->get_object(), "steps") : nullptr;
  if (!steps) return OpenAiError(400, "expected {\"steps\": [...]}", "steps");
  std::vector<ScriptStep> parsed;
  for (size_t i = 0; i < steps->size(); ++i) {
    Result<ScriptStep> step = ParseStep((*steps)[i], next_call_id_);
    if (!step.ok()) {  // all or nothing: a broken script must not half-apply
      return OpenAiError(400, IndexPath("steps", i) + ": " + step.error().message, json::value(IndexPath("steps", i)));
    }
    parsed.push_back(std::move(step).value());
  }
  for (ScriptStep& step : parsed) steps_.push_back(std::move(step));
  return JsonAnswer(200, json::serialize(json::object{{"queued", parsed.size()}, {"pending", steps_.size()}}));
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
