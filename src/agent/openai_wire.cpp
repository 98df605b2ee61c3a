// OpenAI chat-completions wire format without I/O: SSE framing, request body, answer parsing,
// error classification. Everything here treats its input as untrusted (fuzzed by fuzz_sse).
#include "common/text.h"
#include "agent/openai_wire.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>

#include "agent/openai_provider.h"

namespace oc::agent {
namespace {

constexpr size_t kMaxMessageFromBody = 500;  // chars of a non-JSON error body quoted in a message
constexpr int64_t kMaxRetryAfterMs = 24LL * 3600 * 1000;  // a server asking for more is capped here

// A non-negative decimal number ("2", "1.5"); nullopt otherwise.
std::optional<double> ParseNonNegativeNumber(std::string_view s) {
  s = TrimAsciiSpace(s);
  if (s.empty() || s.size() > 32) return std::nullopt;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.')) return std::nullopt;
  }
  std::string copy(s);
  char* end = nullptr;
  double d = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(d) || d < 0) return std::nullopt;
  return d;
}

int64_t ClampMs(double ms) {
  if (!(ms >= 0)) return 0;
  if (ms > static_cast<double>(kMaxRetryAfterMs)) return kMaxRetryAfterMs;
  return static_cast<int64_t>(std::ceil(ms));
}

// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") to Unix seconds; nullopt when it is not one.
std::optional<int64_t> ParseHttpDate(std::string_view s) {
  s = TrimAsciiSpace(s);
  size_t comma = s.find(", ");
  if (comma == std::string_view::npos) return std::nullopt;
  std::string rest(s.substr(comma + 2));
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  char month[4] = {};
  char zone[4] = {};
  if (std::sscanf(rest.c_str(), "%2d %3s %4d %2d:%2d:%2d %3s", &day, month, &year, &hour, &minute, &second,
                  zone) != 7) {
    return std::nullopt;
  }
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto it = std::find(std::begin(kMonths), std::end(kMonths), std::string_view(month));
  if (it == std::end(kMonths) || std::string_view(zone) != "GMT") return std::nullopt;
  if (day < 1 || day > 31 || year < 1970 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_mday = day;
  tm.tm_mon = static_cast<int>(it - std::begin(kMonths));
  tm.tm_year = year - 1900;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm));
}

std::string ValueText(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_null()) return "";
  return json::serialize(v);
}

// The Error for an OpenAI error object ({message, type, code}) that arrived with a 2xx status
// (inside a stream or as the whole body): the kind comes from a numeric code (OpenRouter sends
// the upstream status there) or the type; the server kind when nothing says otherwise.
Error ErrorFromErrorObject(const json::value& error_value) {
  std::string message = "error object without message";
  std::string type;
  int status = 0;
  if (const auto* obj = error_value.if_object()) {
    if (auto m = GetString(*obj, "message")) message = std::string(*m);
    if (auto t = GetString(*obj, "type")) type = std::string(*t);
    if (auto code = GetInt(*obj, "code"); code && *code >= 100 && *code <= 599) status = static_cast<int>(*code);
    if (auto code = GetString(*obj, "code"); code && type.empty()) type = std::string(*code);
  } else if (error_value.is_string()) {
    message = std::string(error_value.get_string());
  }
  std::string_view kind = kErrServer;
  if (status != 0) {
    kind = KindForHttpStatus(status);
  } else if (type.find("rate_limit") != std::string::npos) {
    kind = kErrRateLimit;
  } else if (type == "invalid_request_error") {
    kind = kErrBadRequest;
  } else if (type == "authentication_error" || type == "permission_error") {
    kind = kErrAuth;
  }
  return MakeLlmError(kind, "stream error: " + message, status);
}

void ReadUsage(const json::object& usage, TokenUsage& out) {
  if (auto in = GetInt(usage, "prompt_tokens")) out.input = *in;
  if (auto completion = GetInt(usage, "completion_tokens")) out.output = *completion;
}

// A message's content: a string, null, or an array of parts ({type:"text", text}).
std::string ContentText(const json::value* content) {
  if (!content) return "";
  if (content->is_string()) return std::string(content->get_string());
  std::string text;
  if (const auto* parts = content->if_array()) {
    for (const auto& part : *parts) {
      if (const auto* p = part.if_object()) {
        if (auto t = GetString(*p, "text")) text += *t;
      }
    }
  }
  return text;
}

json::object MessageToJson(const ChatMessage& m) {
  json::object out;
  out["role"] = m.role;
  if (m.role == "tool") {
    out["tool_call_id"] = m.tool_call_id;
    out["content"] = m.content;
    return out;
  }
  if (m.role == "assistant" && !m.tool_calls.empty()) {
    // OpenAI wants null rather than "" next to tool calls.
    out["content"] = m.content.empty() ? json::value(nullptr) : json::value(m.content);
    json::array calls;
    for (const ToolCall& call : m.tool_calls) {
      json::object fn{{"name", call.name}, {"arguments", call.arguments.empty() ? "{}" : call.arguments}};
      calls.push_back(json::object{{"id", call.id}, {"type", "function"}, {"function", std::move(fn)}});
    }
    out["tool_calls"] = std::move(calls);
    return out;
  }
  out["content"] = m.content;
  return out;
}

}  // namespace

// ---- errors ----

Error MakeLlmError(std::string_view kind, std::string message, int http_status,
                   std::optional<int64_t> retry_after_ms) {
  json::object data{{"kind", kind}};
  if (http_status != 0) data["httpStatus"] = http_status;
  if (retry_after_ms) data["retryAfterMs"] = *retry_after_ms;
  ErrorCode code = ErrorCode::kUnknownError;
  if (kind == kErrServer) code = ErrorCode::kInternalError;
  if (kind == kErrTimeout) code = ErrorCode::kTimeout;
  if (kind == kErrNetwork) code = ErrorCode::kConnectionClosed;
  if (kind == kErrAuth) code = http_status == 403 ? ErrorCode::kForbidden : ErrorCode::kUnauthorized;
  if (kind == kErrBadRequest) code = ErrorCode::kInvalidRequest;
  return MakeError(code, std::move(message), std::move(data));
}

std::string_view KindForHttpStatus(int status) {
  if (status == 401 || status == 403) return kErrAuth;
  if (status == 408) return kErrTimeout;
  if (status == 429) return kErrRateLimit;
  if (status >= 500 && status <= 599) return kErrServer;
  return kErrBadRequest;
}

std::optional<int64_t> ParseRetryAfter(std::string_view retry_after_ms, std::string_view retry_after,
                                       int64_t now_unix_s) {
  if (auto ms = ParseNonNegativeNumber(retry_after_ms)) return ClampMs(*ms);
  if (auto seconds = ParseNonNegativeNumber(retry_after)) return ClampMs(*seconds * 1000.0);
  if (auto date = ParseHttpDate(retry_after)) {
    return ClampMs(static_cast<double>(*date - now_unix_s) * 1000.0);
  }
  return std::nullopt;
}

Error ErrorFromHttpAnswer(std::string_view provider, int status, std::string_view body,
                          std::optional<int64_t> retry_after_ms) {
  std::string detail;
  if (auto parsed = TryParseJson(body, nullptr); parsed && parsed->is_object()) {
    if (const auto* error = parsed->get_object().if_contains("error")) {
      if (const auto* obj = error->if_object()) {
        if (auto m = GetString(*obj, "message")) detail = std::string(*m);
        if (const auto* code = obj->if_contains("code"); code && !code->is_null()) {
          detail += " (" + ValueText(*code) + ")";
        }
      } else if (error->is_string()) {
        detail = std::string(error->get_string());
      }
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

// ---- SSE ----

bool SseParser::Feed(std::string_view bytes,
                     const std::function<void(std::string_view event_data)>& on_event) {
  if (failed_) return false;
  while (!bytes.empty()) {
    if (last_was_cr_ && bytes.front() == '\n') bytes.remove_prefix(1);  // the LF of a CRLF
    last_was_cr_ = false;
    size_t end = bytes.find_first_of("\r\n");
    std::string_view piece = bytes.substr(0, end);
    if (line_.size() + piece.size() + data_.size() > max_event_bytes_) {
      failed_ = true;
      return false;
    }
    line_.append(piece);
    if (end == std::string_view::npos) break;
    last_was_cr_ = bytes[end] == '\r';
    bytes.remove_prefix(end + 1);
    if (!ProcessLine(on_event)) return false;
  }
  return true;
}

void SseParser::Flush(const std::function<void(std::string_view event_data)>& on_event) {
  if (failed_) return;
  if (!line_.empty() && !ProcessLine(on_event)) return;
  if (has_data_) on_event(data_);
  data_.clear();
  has_data_ = false;
}

bool SseParser::ProcessLine(const std::function<void(std::string_view event_data)>& on_event) {
  std::string_view line = line_;
  if (line.empty()) {  // blank line: dispatch
    if (has_data_) on_event(data_);
    data_.clear();
    has_data_ = false;
  } else if (line.front() != ':') {  // ':' starts a comment
    size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "data") {  // event, id and retry do not matter to the providers
      if (has_data_) data_.push_back('\n');
      data_.append(value);
      has_data_ = true;
      if (data_.size() > max_event_bytes_) {
        failed_ = true;
        line_.clear();
        return false;
      }
    }
  }
  line_.clear();
  return true;
}

// ---- request ----

std::string BuildChatCompletionsBody(const LlmRequest& request) {
  json::object body;
  body["model"] = request.model;
  json::array messages;
  for (const ChatMessage& m : request.messages) messages.push_back(MessageToJson(m));
  body["messages"] = std::move(messages);
  if (!request.tools.empty()) {
    json::array tools;
    for (const ToolSpec& tool : request.tools) {
      json::value parameters = tool.input_schema.is_object() ? tool.input_schema : json::object{{"type", "object"}};
      json::object fn{{"name", tool.name}, {"description", tool.description}, {"parameters", std::move(parameters)}};
      tools.push_back(json::object{{"type", "function"}, {"function", std::move(fn)}});
    }
    body["tools"] = std::move(tools);
  }
  body["stream"] = request.stream;
  if (request.stream) body["stream_options"] = json::object{{"include_usage", true}};
  if (request.max_tokens) body["max_tokens"] = *request.max_tokens;
  if (request.temperature) body["temperature"] = *request.temperature;
  return json::serialize(body);
}

// ---- non-streamed answer ----

Result<LlmResponse> ParseChatCompletion(std::string_view body) {
  std::string what;
  auto parsed = TryParseJson(body, &what);
  if (!parsed) return MakeLlmError(kErrBadRequest, "malformed chat completion: " + what);
  const json::object* root = parsed->if_object();
  if (!root) return MakeLlmError(kErrBadRequest, "malformed chat completion: not an object");
  if (const auto* error = root->if_contains("error"); error && !error->is_null()) {
    return ErrorFromErrorObject(*error);
  }
  LlmResponse out;
  if (auto model = GetString(*root, "model")) out.model = std::string(*model);
  if (const auto* usage = GetObject(*root, "usage")) ReadUsage(*usage, out.usage);
  const json::array* choices = GetArray(*root, "choices");
  if (!choices || choices->empty() || !choices->front().is_object()) {
    return MakeLlmError(kErrBadRequest, "malformed chat completion: no choices");
  }
  const json::object& choice = choices->front().get_object();
  if (auto reason = GetString(choice, "finish_reason")) out.finish_reason = std::string(*reason);
  const json::object* message = GetObject(choice, "message");
  if (!message) return MakeLlmError(kErrBadRequest, "malformed chat completion: choice without message");
  out.text = ContentText(message->if_contains("content"));
  if (const json::array* calls = GetArray(*message, "tool_calls")) {
    for (const auto& item : *calls) {
      const json::object* call = item.if_object();
      if (!call) continue;
      ToolCall tc;
      if (auto id = GetString(*call, "id")) tc.id = std::string(*id);
      if (const json::object* fn = GetObject(*call, "function")) {
        if (auto name = GetString(*fn, "name")) tc.name = std::string(*name);
        // Some servers send the arguments as an object instead of JSON text.
        if (const auto* args = fn->if_contains("arguments")) tc.arguments = ValueText(*args);
      }
      out.tool_calls.push_back(std::move(tc));
    }
  }
  return out;
}

// ---- streamed answer ----

bool ChatStreamAssembler::OnEvent(std::string_view data) {
  if (error_) return false;
  if (done_) return true;
  ++events_;
  std::string_view trimmed = TrimAsciiSpace(data);
  if (trimmed == "[DONE]") {
    done_ = true;
    return true;
  }
  if (trimmed.empty()) return true;
  std::string what;
  auto parsed = TryParseJson(trimmed, &what);
  if (!parsed || !parsed->is_object()) {
    error_ = MakeLlmError(kErrBadRequest, "malformed stream chunk: " + (what.empty() ? "not an object" : what));
    return false;
  }
  const json::object& chunk = parsed->get_object();
  if (const auto* error = chunk.if_contains("error"); error && !error->is_null()) {
    error_ = ErrorFromErrorObject(*error);
    return false;
  }
  ConsumeChunk(chunk);
  return true;
}

void ChatStreamAssembler::ConsumeChunk(const json::object& chunk) {
  if (response_.model.empty()) {
    if (auto model = GetString(chunk, "model")) response_.model = std::string(*model);
  }
  if (const auto* usage = GetObject(chunk, "usage")) ReadUsage(*usage, response_.usage);
  const json::array* choices = GetArray(chunk, "choices");
  if (!choices || choices->empty()) return;  // e.g. the final usage chunk
  const json::object* choice = choices->front().if_object();
  if (!choice) return;
  if (auto reason = GetString(*choice, "finish_reason"); reason && !reason->empty()) {
    response_.finish_reason = std::string(*reason);
  }
  const json::object* delta = GetObject(*choice, "delta");
  if (!delta) return;
  if (auto text = GetString(*delta, "content"); text && !text->empty()) {
    response_.text.append(*text);
    if (on_text_) on_text_(*text);
  }
  if (const json::array* calls = GetArray(*delta, "tool_calls")) MergeToolCallDeltas(*calls);
}

void ChatStreamAssembler::MergeToolCallDeltas(const json::array& deltas) {
  for (const auto& item : deltas) {
    const json::object* d = item.if_object();
    if (!d) continue;
    auto id = GetString(*d, "id");
    int64_t index = 0;
    if (auto i = GetInt(*d, "index")) {
      index = *i;
    } else if (last_index_ < 0 || (id && !id->empty() && tool_calls_[last_index_].id != *id)) {
      // No index (some servers): a new id starts a new call, anything else continues the last one.
      index = tool_calls_.empty() ? 0 : tool_calls_.rbegin()->first + 1;
    } else {
      index = last_index_;
    }
    last_index_ = index;
    ToolCall& call = tool_calls_[index];
    if (id && call.id.empty()) call.id = std::string(*id);
    if (const json::object* fn = GetObject(*d, "function")) {
      if (auto name = GetString(*fn, "name"); name && call.name.empty()) call.name = std::string(*name);
      if (auto args = GetString(*fn, "arguments")) call.arguments.append(*args);
    }
  }
}

Result<LlmResponse> ChatStreamAssembler::Finish() {
  if (error_) return *error_;
  if (!done_ && response_.finish_reason.empty()) {
    return MakeLlmError(kErrNetwork, "stream ended early (no [DONE] and no finish_reason)");
  }
  LlmResponse out = response_;
  for (auto& [index, call] : tool_calls_) out.tool_calls.push_back(call);
  return out;
}

}  // namespace oc::agent
