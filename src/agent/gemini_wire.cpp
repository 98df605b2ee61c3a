// Gemini generateContent wire format without I/O (see gemini_wire.h). Inputs are untrusted: every
// parse is exception-free and every lookup checks its type.
#include "common/text.h"
#include "agent/gemini_wire.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "agent/openai_wire.h"  // MakeLlmError, KindForHttpStatus

namespace oc::agent {
namespace {

constexpr size_t kMaxMessageFromBody = 500;  // chars of a non-JSON error body quoted in a message
constexpr int64_t kMaxRetryDelayMs = 24LL * 3600 * 1000;
constexpr int kMaxSchemaDepth = 32;  // deeper schema levels are cut (cycles cannot occur in JSON)

int64_t ClampMs(double ms) {
  if (!(ms >= 0)) return 0;
  if (ms > static_cast<double>(kMaxRetryDelayMs)) return kMaxRetryDelayMs;
  return static_cast<int64_t>(std::ceil(ms));
}

// ---- schema narrowing ----

const std::set<std::string_view> kStringFormats = {"enum", "date-time"};
const std::set<std::string_view> kIntegerFormats = {"int32", "int64"};
const std::set<std::string_view> kNumberFormats = {"float", "double"};
// Keywords copied as they are when they have the right JSON type.
const std::set<std::string_view> kPlainStringKeys = {"description", "title", "pattern"};
const std::set<std::string_view> kPlainNumberKeys = {"minimum",  "maximum",       "minItems",     "maxItems",
                                                     "minLength", "maxLength",    "minProperties", "maxProperties"};

json::value NarrowSchema(const json::value& in, int depth);

// "type": a string, or a list whose "null" entry becomes nullable.
void NarrowType(const json::value& type, json::object& out) {
  if (type.is_string()) {
    out["type"] = type.get_string();
    return;
  }
  const json::array* list = type.if_array();
  if (!list) return;
  for (const auto& t : *list) {
    if (!t.is_string()) continue;
    if (t.get_string() == "null") {
      out["nullable"] = true;
    } else if (!out.contains("type")) {
      out["type"] = t.get_string();
    }
  }
}

std::string EnumText(const json::value& v) { return v.is_string() ? std::string(v.get_string()) : json::serialize(v); }

void NarrowEnum(const json::object& src, json::object& out) {
  auto type = GetString(out, "type");
  if (type && *type != "string") return;  // Gemini allows enum on strings only
  json::array values;
  if (const json::array* list = GetArray(src, "enum")) {
    for (const auto& v : *list) {
      if (!v.is_null()) values.emplace_back(EnumText(v));
    }
  } else if (const auto* c = src.if_contains("const"); c && !c->is_null()) {
    values.emplace_back(EnumText(*c));
  }
  if (values.empty()) return;
  out["type"] = "string";
  out["enum"] = std::move(values);
}

void NarrowFormat(const json::object& src, json::object& out) {
  auto format = GetString(src, "format");
  auto type = GetString(out, "type");
  if (!format || !type) return;
  if ((*type == "string" && kStringFormats.count(*format)) || (*type == "integer" && kIntegerFormats.count(*format)) ||
      (*type == "number" && kNumberFormats.count(*format))) {
    out["format"] = *format;
  }
}

void NarrowProperties(const json::object& src, json::object& out, int depth) {
  const json::object* props = GetObject(src, "properties");
  if (!props || props->empty()) return;
  json::object narrowed;
  for (const auto& [name, sub] : *props) narrowed[name] = NarrowSchema(sub, depth + 1);
  if (const json::array* required = GetArray(src, "required")) {
    json::array kept;
    for (const auto& r : *required) {
      if (r.is_string() && narrowed.contains(r.get_string())) kept.push_back(r);
    }
    if (!kept.empty()) out["required"] = std::move(kept);
  }
  if (const json::array* order = GetArray(src, "propertyOrdering")) out["propertyOrdering"] = *order;
  out["properties"] = std::move(narrowed);
}

// anyOf/oneOf: a {"type":"null"} branch becomes nullable; a single remaining branch is inlined.
void NarrowAlternatives(const json::object& src, json::object& out, int depth) {
  const json::array* list = GetArray(src, "anyOf");
  if (!list) list = GetArray(src, "oneOf");
  if (!list) return;
  json::array branches;
  for (const auto& branch : *list) {
    const json::object* b = branch.if_object();
    if (b && b->size() == 1 && GetString(*b, "type") == std::optional<std::string_view>("null")) {
      out["nullable"] = true;
      continue;
    }
    branches.push_back(NarrowSchema(branch, depth + 1));
  }
  if (branches.size() == 1 && branches[0].is_object()) {
    for (const auto& [key, value] : branches[0].get_object()) {
      if (!out.contains(key)) out[key] = value;
    }
  } else if (!branches.empty()) {
    out["anyOf"] = std::move(branches);
  }
}

json::value NarrowSchema(const json::value& in, int depth) {
  const json::object* src = in.if_object();
  if (!src || depth > kMaxSchemaDepth) return json::object{};
  json::object out;
  if (const auto* type = src->if_contains("type")) NarrowType(*type, out);
  if (auto nullable = GetBool(*src, "nullable"); nullable && *nullable) out["nullable"] = true;
  for (const auto& [key, value] : *src) {
    if (kPlainStringKeys.count(key) && value.is_string()) out[key] = value;
    if (kPlainNumberKeys.count(key) && value.is_number()) out[key] = value;
  }
  NarrowEnum(*src, out);
  NarrowFormat(*src, out);
  NarrowProperties(*src, out, depth);
  if (const auto* items = src->if_contains("items")) {
    if (items->is_object()) out["items"] = NarrowSchema(*items, depth + 1);
    const json::array* tuple = items->if_array();  // tuple form: Gemini has one item schema
    if (tuple && !tuple->empty()) out["items"] = NarrowSchema(tuple->front(), depth + 1);
  }
  NarrowAlternatives(*src, out, depth);
  if (!out.contains("type") && !out.contains("anyOf")) {  // infer what the keywords imply
    if (out.contains("properties")) out["type"] = "object";
    else if (out.contains("items")) out["type"] = "array";
  }
  return out;
}

// ---- request ----

// The contents list under construction: a part for the same role as the last content joins it.
class ContentList {
 public:
  void Add(std::string_view role, json::object part) {
    if (contents_.empty() || contents_.back().get_object().at("role").get_string() != role) {
      contents_.push_back(json::object{{"role", role}, {"parts", json::array{}}});
    }
    contents_.back().get_object()["parts"].get_array().push_back(std::move(part));
  }
  json::array Take() { return std::move(contents_); }

 private:
  json::array contents_;
};

// The call's arguments as an object (Gemini's functionCall.args); {} when they are not a JSON object.
json::value ArgsObject(const std::string& arguments) {
  auto parsed = TryParseJson(arguments, nullptr);
  if (parsed && parsed->is_object()) return std::move(*parsed);
  return json::object{};
}

void AddAssistant(const ChatMessage& m, const ThoughtSignatureLookup& signatures, ContentList& contents) {
  if (!m.content.empty()) contents.Add("model", json::object{{"text", m.content}});
  for (size_t i = 0; i < m.tool_calls.size(); ++i) {
    const ToolCall& call = m.tool_calls[i];
    json::object fn{{"name", call.name}, {"args", ArgsObject(call.arguments)}};
    if (!call.id.empty() && !IsSynthesizedGeminiCallId(call.id)) fn["id"] = call.id;
    json::object part{{"functionCall", std::move(fn)}};
    std::string signature = signatures ? signatures(call) : std::string();
    // Gemini 3 validates the signature of the first call of each step only.
    if (signature.empty() && i == 0) signature = kGeminiSkipSignature;
    if (!signature.empty()) part["thoughtSignature"] = signature;
    contents.Add("model", std::move(part));
  }
}

void AddToolResult(const ChatMessage& m, const std::map<std::string, const ToolCall*>& calls, ContentList& contents) {
  auto it = calls.find(m.tool_call_id);
  const ToolCall* call = it == calls.end() ? nullptr : it->second;
  std::string name = !m.name.empty() ? m.name : call ? call->name : "tool";
  json::object fr{{"name", name}, {"response", json::object{{"content", m.content}}}};
  if (!m.tool_call_id.empty() && !IsSynthesizedGeminiCallId(m.tool_call_id)) fr["id"] = m.tool_call_id;
  contents.Add("user", json::object{{"functionResponse", std::move(fr)}});
}

json::array FunctionDeclarations(const std::vector<ToolSpec>& tools) {
  json::array out;
  for (const ToolSpec& tool : tools) {
    json::object decl{{"name", tool.name}, {"description", tool.description}};
    json::value parameters = GeminiSchemaFromJsonSchema(tool.input_schema);
    // Gemini rejects an OBJECT schema without properties: a tool without parameters omits them.
    if (parameters.get_object().contains("properties")) decl["parameters"] = std::move(parameters);
    out.push_back(std::move(decl));
  }
  return out;
}

// ---- answers ----

// Adds one GenerateContentResponse (a whole answer or one stream chunk) to `answer`. Errors: a
// blocked prompt.
Status ReadResponseObject(const json::object& chunk, const TextSink& on_text, GeminiAnswer& answer,
                          std::string& raw_finish) {
  if (const json::object* feedback = GetObject(chunk, "promptFeedback")) {
    auto block = GetString(*feedback, "blockReason");
    if (block && !block->empty() && *block != "BLOCK_REASON_UNSPECIFIED") {
      return MakeLlmError(kErrBadRequest, "prompt blocked (" + std::string(*block) + ")");
    }
  }
  if (auto version = GetString(chunk, "modelVersion"); version && !version->empty()) {
    answer.response.model = std::string(*version);
  }
  if (const json::object* usage = GetObject(chunk, "usageMetadata")) {
    answer.response.usage.input = GetInt(*usage, "promptTokenCount").value_or(0);
    answer.response.usage.output =
        GetInt(*usage, "candidatesTokenCount").value_or(0) + GetInt(*usage, "thoughtsTokenCount").value_or(0);
  }
  const json::array* candidates = GetArray(chunk, "candidates");
  if (!candidates || candidates->empty() || !candidates->front().is_object()) return Status();
  const json::object& candidate = candidates->front().get_object();
  if (auto reason = GetString(candidate, "finishReason");
      reason && !reason->empty() && *reason != "FINISH_REASON_UNSPECIFIED") {
    raw_finish = std::string(*reason);
  }
  const json::object* content = GetObject(candidate, "content");
  const json::array* parts = content ? GetArray(*content, "parts") : nullptr;
  if (!parts) return Status();
  for (const auto& item : *parts) {
    const json::object* part = item.if_object();
    if (!part || GetBool(*part, "thought").value_or(false)) continue;  // thought summaries are not the answer
    if (auto text = GetString(*part, "text"); text && !text->empty()) {
      answer.response.text.append(*text);
      if (on_text) on_text(*text);
    }
    if (const json::object* fn = GetObject(*part, "functionCall")) {
      ToolCall call;
      if (auto id = GetString(*fn, "id")) call.id = std::string(*id);
      if (auto name = GetString(*fn, "name")) call.name = std::string(*name);
      const auto* args = fn->if_contains("args");
      call.arguments = args && !args->is_null() ? json::serialize(*args) : "{}";
      answer.response.tool_calls.push_back(std::move(call));
      answer.signatures.emplace_back(GetString(*part, "thoughtSignature").value_or(""));
    }
  }
  return Status();
}

std::string_view KindForGoogleStatus(std::string_view status) {
  if (status == "RESOURCE_EXHAUSTED") return kErrRateLimit;
  if (status == "UNAVAILABLE" || status == "INTERNAL" || status == "UNKNOWN") return kErrServer;
  if (status == "UNAUTHENTICATED" || status == "PERMISSION_DENIED") return kErrAuth;
  if (status == "DEADLINE_EXCEEDED") return kErrTimeout;
  return kErrBadRequest;
}

std::optional<int64_t> RetryDelayFromDetails(const json::object& error) {
  const json::array* details = GetArray(error, "details");
  if (!details) return std::nullopt;
  for (const auto& d : *details) {
    const json::object* detail = d.if_object();
    if (!detail) continue;
    if (const auto* delay = detail->if_contains("retryDelay")) {
      if (auto ms = ParseGoogleDuration(*delay)) return ms;
    }
  }
  return std::nullopt;
}

}  // namespace

// ---- public: request ----

json::value GeminiSchemaFromJsonSchema(const json::value& schema) {
  json::value out = NarrowSchema(schema, 0);
  json::object& obj = out.get_object();
  if (!obj.contains("type") && !obj.contains("anyOf")) obj["type"] = "object";
  return out;
}

std::string BuildGeminiBody(const LlmRequest& request, const ThoughtSignatureLookup& signatures) {
  json::array system_parts;
  ContentList contents;
  std::map<std::string, const ToolCall*> calls;  // by id: the latest call so far (ids may repeat)
  for (const ChatMessage& m : request.messages) {
    if (m.role == "system") {
      if (!m.content.empty()) system_parts.push_back(json::object{{"text", m.content}});
    } else if (m.role == "assistant") {
      AddAssistant(m, signatures, contents);
      for (const ToolCall& call : m.tool_calls) calls[call.id] = &call;
    } else if (m.role == "tool") {
      AddToolResult(m, calls, contents);
    } else if (!m.content.empty()) {  // user (and any unknown role) speaks as the user
      contents.Add("user", json::object{{"text", m.content}});
    }
  }
  json::object body;
  body["contents"] = contents.Take();
  if (!system_parts.empty()) body["systemInstruction"] = json::object{{"parts", std::move(system_parts)}};
  if (!request.tools.empty()) {
    body["tools"] = json::array{json::object{{"functionDeclarations", FunctionDeclarations(request.tools)}}};
  }
  json::object generation;
  if (request.max_tokens) generation["maxOutputTokens"] = *request.max_tokens;
  if (request.temperature) generation["temperature"] = *request.temperature;
  if (!generation.empty()) body["generationConfig"] = std::move(generation);
  return json::serialize(body);
}

// ---- public: answers ----

void AssignGeminiCallIds(LlmResponse& response, int64_t& next_number) {
  for (ToolCall& call : response.tool_calls) {
    if (call.id.empty()) call.id = "call_" + std::to_string(next_number++);
  }
}

bool IsSynthesizedGeminiCallId(std::string_view id) {
  constexpr std::string_view kPrefix = "call_";
  if (id.size() <= kPrefix.size() || id.substr(0, kPrefix.size()) != kPrefix) return false;
  for (char c : id.substr(kPrefix.size())) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string GeminiFinishReason(std::string_view reason, bool has_tool_calls) {
  if (reason == "STOP" || reason.empty()) return has_tool_calls ? "tool_calls" : "stop";
  if (reason == "MAX_TOKENS") return "length";
  return std::string(reason);
}

std::optional<int64_t> ParseGoogleDuration(const json::value& duration) {
  if (const json::object* obj = duration.if_object()) {  // {seconds, nanos}
    std::optional<int64_t> seconds = GetInt(*obj, "seconds");
    if (!seconds) {
      if (auto text = GetString(*obj, "seconds")) {
        auto parsed = ParseGoogleDuration(json::value(std::string(*text) + "s"));
        if (!parsed) return std::nullopt;
        seconds = *parsed / 1000;
      }
    }
    int64_t nanos = GetInt(*obj, "nanos").value_or(0);
    if (!seconds && nanos == 0) return std::nullopt;
    return ClampMs(static_cast<double>(seconds.value_or(0)) * 1000.0 + static_cast<double>(nanos) / 1e6);
  }
  if (!duration.is_string()) return std::nullopt;
  std::string_view s = TrimAsciiSpace(duration.get_string());
  if (s.size() < 2 || s.size() > 32 || s.back() != 's') return std::nullopt;
  s.remove_suffix(1);
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.')) return std::nullopt;
  }
  std::string copy(s);
  char* end = nullptr;
  double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(value)) return std::nullopt;
  return ClampMs(value * 1000.0);
}

Error GeminiErrorFromObject(const json::value& error, int http_status, std::optional<int64_t> retry_after_ms) {
  std::string message = "error object without message";
  std::string status;
  int code = 0;
  if (const json::object* obj = error.if_object()) {
    if (auto m = GetString(*obj, "message")) message = std::string(*m);
    if (auto s = GetString(*obj, "status")) status = std::string(*s);
    if (auto c = GetInt(*obj, "code"); c && *c >= 100 && *c <= 599) code = static_cast<int>(*c);
    if (!retry_after_ms) retry_after_ms = RetryDelayFromDetails(*obj);
  } else if (error.is_string()) {
    message = std::string(error.get_string());
  }
  std::string_view kind = http_status != 0 ? KindForHttpStatus(http_status)
                          : code != 0      ? KindForHttpStatus(code)
                                           : KindForGoogleStatus(status);
  std::string text = http_status != 0 ? "HTTP " + std::to_string(http_status) + ": " : "stream error: ";
  text += message;
  if (!status.empty()) text += " (" + status + ")";
  return MakeLlmError(kind, std::move(text), http_status != 0 ? http_status : code, retry_after_ms);
}

Error GeminiErrorFromHttpAnswer(std::string_view provider, int status, std::string_view body,
                                std::optional<int64_t> retry_after_ms) {
  std::optional<json::value> parsed = TryParseJson(body, nullptr);
  const json::value* root = parsed ? &*parsed : nullptr;
  if (root && root->is_array() && !root->get_array().empty()) root = &root->get_array().front();
  if (root && root->is_object()) {
    if (const auto* error = root->get_object().if_contains("error"); error && !error->is_null()) {
      Error e = GeminiErrorFromObject(*error, status, retry_after_ms);
      e.message = std::string(provider) + ": " + e.message;
      return e;
    }
  }
  std::string message = std::string(provider) + ": HTTP " + std::to_string(status);
  std::string detail(TrimAsciiSpace(body.substr(0, kMaxMessageFromBody)));
  if (!detail.empty()) message += ": " + detail + (body.size() > kMaxMessageFromBody ? "..." : "");
  return MakeLlmError(KindForHttpStatus(status), std::move(message), status, retry_after_ms);
}

Result<GeminiAnswer> ParseGeminiResponse(std::string_view body) {
  std::string what;
  auto parsed = TryParseJson(body, &what);
  if (!parsed) return MakeLlmError(kErrBadRequest, "malformed Gemini answer: " + what);
  const json::object* root = parsed->if_object();
  if (!root) return MakeLlmError(kErrBadRequest, "malformed Gemini answer: not an object");
  if (const auto* error = root->if_contains("error"); error && !error->is_null()) {
    return GeminiErrorFromObject(*error, 0, std::nullopt);
  }
  GeminiAnswer answer;
  std::string raw_finish;
  if (Status s = ReadResponseObject(*root, TextSink(), answer, raw_finish); !s.ok()) return s.error();
  const json::array* candidates = GetArray(*root, "candidates");
  if (!candidates || candidates->empty()) return MakeLlmError(kErrBadRequest, "malformed Gemini answer: no candidates");
  answer.response.finish_reason = GeminiFinishReason(raw_finish, !answer.response.tool_calls.empty());
  return answer;
}

// ---- public: streamed answers ----

bool GeminiStreamAssembler::OnEvent(std::string_view data) {
  if (error_) return false;
  ++events_;
  std::string_view trimmed = TrimAsciiSpace(data);
  if (trimmed.empty() || trimmed == "[DONE]") return true;  // Gemini sends no [DONE]; proxies might
  std::string what;
  auto parsed = TryParseJson(trimmed, &what);
  if (!parsed || !parsed->is_object()) {
    error_ = MakeLlmError(kErrBadRequest, "malformed stream chunk: " + (what.empty() ? "not an object" : what));
    return false;
  }
  const json::object& chunk = parsed->get_object();
  if (const auto* error = chunk.if_contains("error"); error && !error->is_null()) {
    error_ = GeminiErrorFromObject(*error, 0, std::nullopt);
    return false;
  }
  ConsumeChunk(chunk);
  return !error_;
}

void GeminiStreamAssembler::ConsumeChunk(const json::object& chunk) {
  if (Status s = ReadResponseObject(chunk, on_text_, answer_, raw_finish_reason_); !s.ok()) error_ = s.error();
}

Result<GeminiAnswer> GeminiStreamAssembler::Finish() {
  if (error_) return *error_;
  if (raw_finish_reason_.empty()) return MakeLlmError(kErrNetwork, "stream ended early (no finishReason)");
  GeminiAnswer out = answer_;
  out.response.finish_reason = GeminiFinishReason(raw_finish_reason_, !out.response.tool_calls.empty());
  return out;
}

}  // namespace oc::agent
