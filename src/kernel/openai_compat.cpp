#include "kernel/openai_compat.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/text.h"
#include "sessions/router.h"

namespace oc::kernel::openai {
namespace {

Error Invalid(std::string param, std::string message) {
  return MakeError(ErrorCode::kInvalidParams, param.empty() ? message : param + ": " + message,
                   json::object{{"param", param}});
}

json::value NullIfEmpty(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }

std::string StringField(const json::object& o, std::string_view key) {
  auto v = GetString(o, key);
  return v ? std::string(*v) : std::string();
}

Result<json::object> ParseObject(std::string_view body) {
  std::string why;
  auto parsed = TryParseJson(body, &why);
  if (!parsed) return MakeError(ErrorCode::kInvalidRequest, "the body is not valid JSON: " + why);
  if (!parsed->is_object()) return Invalid("", "the body must be a JSON object");
  return std::move(parsed->as_object());
}

// The text of a message's content: a string, null, or an array of {type:"text", text} parts.
Result<std::string> ContentText(const json::value& content, const std::string& param) {
  if (content.is_null()) return std::string();
  if (content.is_string()) return std::string(content.as_string());
  if (!content.is_array()) return Invalid(param, "must be a string or an array of content parts");
  std::string text;
  for (size_t i = 0; i < content.as_array().size(); ++i) {
    const json::value& part = content.as_array()[i];
    const std::string where = IndexPath(param, i);
    const json::object* p = part.if_object();
    auto type = p ? GetString(*p, "type") : std::nullopt;
    if (!type) return Invalid(where, "must be an object with a type");
    if (*type != "text") return Invalid(where, "only text content parts are supported (got " + std::string(*type) + ")");
    auto part_text = GetString(*p, "text");
    if (!part_text) return Invalid(where + ".text", "must be a string");
    if (!text.empty()) text += "\n";
    text += *part_text;
  }
  return text;
}

Result<ChatMessage> ParseMessage(const json::value& v, const std::string& param) {
  static constexpr std::array<std::string_view, 6> kRoles = {"system", "developer", "user", "assistant", "tool", "function"};
  const json::object* o = v.if_object();
  if (!o) return Invalid(param, "must be an object");
  ChatMessage m;
  m.role = StringField(*o, "role");
  if (std::find(kRoles.begin(), kRoles.end(), m.role) == kRoles.end())
    return Invalid(param + ".role", "must be one of system, developer, user, assistant, tool, function");
  if (const json::value* content = o->if_contains("content")) {
    auto text = ContentText(*content, param + ".content");
    if (!text.ok()) return text.error();
    m.text = std::move(*text);
  }
  if (const json::array* calls = GetArray(*o, "tool_calls")) {
    for (const auto& c : *calls) {
      const json::value* name = c.is_object() ? FindPath(c, "function.name") : nullptr;
      if (name && name->is_string()) m.tool_calls.emplace_back(name->as_string());
    }
  }
  return m;
}

bool UnreservedInKey(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-' || c == '@';
}

std::string_view SpeakerOf(std::string_view role) {
  if (role == "system" || role == "developer") return "System";
  if (role == "user") return "User";
  if (role == "assistant") return "Assistant";
  return "Tool";
}

std::string TranscriptLine(const ChatMessage& m) {
  std::string text = m.text;
  if (text.empty() && !m.tool_calls.empty()) {
    text = "(called";
    for (const auto& name : m.tool_calls) text += " " + name;
    text += ")";
  }
  return std::string(SpeakerOf(m.role)) + ": " + text + "\n";
}

Error KeyTooLong(std::string param) {
  return Invalid(std::move(param), "must be at most " + std::to_string(kMaxKeyChars) + " characters");
}

// Rejects fields a webhook body does not know, so a typo ("mesage") fails loudly.
Status OnlyFields(const json::object& o, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : o)
    if (std::find(known.begin(), known.end(), std::string_view(key)) == known.end())
      return Invalid(std::string(key), "unknown field");
  return Status::Ok();
}

// An optional string field: absent is fine, anything but a string of at most `max` bytes is not.
Status OptionalString(const json::object& o, std::string_view key, size_t max, std::string& out) {
  const json::value* v = o.if_contains(key);
  if (!v) return Status::Ok();
  if (!v->is_string()) return Invalid(std::string(key), "must be a string");
  if (v->as_string().size() > max)
    return Invalid(std::string(key), "must be at most " + std::to_string(max) + " characters");
  out = std::string(v->as_string());
  return Status::Ok();
}

bool ValidHookName(std::string_view name) {
  if (name.empty() || name.size() > kMaxHookNameChars) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return UnreservedInKey(c) && c != '@'; });
}

}  // namespace

json::value ApiError::ToJson() const {
  return json::object{
      {"error", json::object{{"message", message}, {"type", type}, {"param", NullIfEmpty(param)}, {"code", NullIfEmpty(code)}}}};
}

ApiError ToApiError(const Error& error) {
  ApiError e;
  e.message = error.message;
  switch (error.code) {
    case ErrorCode::kInvalidParams:
    case ErrorCode::kInvalidRequest: break;
    case ErrorCode::kUnauthorized: e.status = 401, e.code = "invalid_api_key"; break;
    case ErrorCode::kNotFound: e.status = 404; break;
    case ErrorCode::kConflict: e.status = 409; break;
    case ErrorCode::kTimeout: e.status = 504, e.type = "api_error", e.code = "timeout"; break;
    default: e.status = 500, e.type = "api_error"; break;
  }
  if (const json::object* data = error.data.if_object()) {
    if (auto p = GetString(*data, "param")) e.param = std::string(*p);
    if (auto c = GetString(*data, "code")) e.code = std::string(*c);
  }
  return e;
}

Result<ChatRequest> ParseChatRequest(std::string_view body) {
  auto parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  const json::object& o = *parsed;
  ChatRequest r;
  if (const json::value* model = o.if_contains("model"); model && !model->is_null()) {
    if (!model->is_string()) return Invalid("model", "must be a string");
    r.model = std::string(model->as_string());
  }
  const json::array* messages = GetArray(o, "messages");
  if (!messages) return Invalid("messages", "is required (an array of messages)");
  if (messages->empty()) return Invalid("messages", "must not be empty");
  if (messages->size() > kMaxMessages)
    return Invalid("messages", "at most " + std::to_string(kMaxMessages) + " messages");
  for (size_t i = 0; i < messages->size(); ++i) {
    auto m = ParseMessage((*messages)[i], IndexPath("messages", i));
    if (!m.ok()) return m.error();
    r.messages.push_back(std::move(*m));
  }
  if (const json::value* s = o.if_contains("stream"); s && !s->is_null()) {
    if (!s->is_bool()) return Invalid("stream", "must be a boolean");
    r.stream = s->as_bool();
  }
  if (const json::object* options = GetObject(o, "stream_options")) {
    if (auto include = GetBool(*options, "include_usage")) r.include_usage = *include;
  }
  if (const json::value* u = o.if_contains("user"); u && !u->is_null()) {
    if (!u->is_string()) return Invalid("user", "must be a string");
    if (u->as_string().size() > kMaxKeyChars) return KeyTooLong("user");
    if (!u->as_string().empty()) r.user = std::string(u->as_string());
  }
  return r;
}

Result<std::string> AgentOfModel(std::string_view model) {
  constexpr std::string_view kPrefix = "openclaw:";
  if (model == "openclaw") return std::string();
  if (model.size() > kPrefix.size() && model.substr(0, kPrefix.size()) == kPrefix)
    return std::string(model.substr(kPrefix.size()));
  return MakeError(ErrorCode::kNotFound,
                   "The model `" + std::string(model) + "` does not exist: use \"openclaw\" or \"openclaw:<agentId>\"",
                   json::object{{"param", "model"}, {"code", "model_not_found"}});
}

std::string AgentOfSessionKey(std::string_view key) {
  constexpr std::string_view kPrefix = "agent:";
  if (key.substr(0, kPrefix.size()) != kPrefix) return std::string();
  key.remove_prefix(kPrefix.size());
  return std::string(key.substr(0, key.find(':')));
}

std::string UserSessionKey(std::string_view agent_id, std::string_view user) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string key = "agent:" + std::string(agent_id) + ":openai:";
  for (char c : user) {
    if (UnreservedInKey(c)) {
      key.push_back(c);
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    key.push_back('%');
    key.push_back(kHex[byte >> 4]);
    key.push_back(kHex[byte & 0xF]);
  }
  return key;
}

Result<std::string> TurnText(const std::vector<ChatMessage>& messages, bool session_selected) {
  auto last_user = std::find_if(messages.rbegin(), messages.rend(), [](const ChatMessage& m) { return m.role == "user"; });
  if (last_user == messages.rend()) return Invalid("messages", "must contain a user message");
  if (TrimAsciiSpace(last_user->text).empty()) return Invalid("messages", "the last user message has no text");
  const auto end = last_user.base() - 1;  // the last user message, as a forward iterator
  if (session_selected || end == messages.begin()) return last_user->text;
  std::string text = "[Conversation so far]\n";
  for (auto it = messages.begin(); it != end; ++it) text += TranscriptLine(*it);
  text += "[End of conversation so far]\n\n" + last_user->text;
  return text;
}

Result<json::value> ChatTurnParams(const ChatRequest& request, const TurnHeaders& headers, std::string_view fresh_id) {
  if (headers.agent_id.size() > kMaxKeyChars) return KeyTooLong("x-openclaw-agent-id");
  if (headers.session_key.size() > kMaxKeyChars) return KeyTooLong("x-openclaw-session-key");
  if (headers.idempotency_key.size() > kMaxKeyChars) return KeyTooLong("idempotency-key");
  auto from_model = AgentOfModel(request.model);
  if (!from_model.ok()) return from_model.error();
  std::string agent = !headers.agent_id.empty() ? headers.agent_id : *from_model;
  const std::string key_agent = AgentOfSessionKey(headers.session_key);
  if (headers.session_key.rfind("agent:", 0) == 0 && key_agent.empty())
    return Invalid("x-openclaw-session-key", "a session key needs an agent (agent:<agentId>:...)");
  if (!agent.empty() && !key_agent.empty() && agent != key_agent)
    return Invalid("x-openclaw-session-key", "belongs to agent " + key_agent + ", not " + agent);
  if (agent.empty()) agent = key_agent.empty() ? "default" : key_agent;

  std::string session_key = headers.session_key;
  if (session_key.empty() && request.user) session_key = UserSessionKey(agent, *request.user);
  const bool selected = !session_key.empty();
  if (!selected) session_key = "agent:" + agent + ":openai:" + std::string(fresh_id);
  auto text = TurnText(request.messages, selected);
  if (!text.ok()) return text.error();
  json::object params{{"message", std::move(*text)}, {"agentId", agent}, {"sessionKey", session_key}};
  if (!headers.idempotency_key.empty()) params["idempotencyKey"] = "openai:" + headers.idempotency_key;
  return params;
}

json::value UsageJson(const json::value& summary) {
  int64_t in = 0, out = 0;
  if (const json::value* v = FindPath(summary, "usage.input"); v && v->is_int64()) in = v->as_int64();
  if (const json::value* v = FindPath(summary, "usage.output"); v && v->is_int64()) out = v->as_int64();
  return json::object{{"prompt_tokens", in}, {"completion_tokens", out}, {"total_tokens", in + out}};
}

json::value CompletionJson(const CompletionMeta& meta, const json::value& summary) {
  const json::value* text = FindPath(summary, "text");
  json::value content = text && text->is_string() ? *text : json::value("");
  json::object message{{"role", "assistant"}, {"content", std::move(content)}};
  json::array choices{json::object{{"index", 0}, {"message", std::move(message)}, {"finish_reason", "stop"}}};
  return json::object{{"id", meta.id}, {"object", "chat.completion"}, {"created", meta.created},
                      {"model", meta.model}, {"choices", std::move(choices)}, {"usage", UsageJson(summary)}};
}

json::value ChunkJson(const CompletionMeta& meta, json::object delta, std::optional<std::string_view> finish_reason) {
  json::object choice{{"index", 0}, {"delta", std::move(delta)},
                      {"finish_reason", finish_reason ? json::value(*finish_reason) : json::value(nullptr)}};
  return json::object{{"id", meta.id}, {"object", "chat.completion.chunk"}, {"created", meta.created},
                      {"model", meta.model}, {"choices", json::array{std::move(choice)}}};
}

json::value UsageChunkJson(const CompletionMeta& meta, const json::value& summary) {
  return json::object{{"id", meta.id}, {"object", "chat.completion.chunk"}, {"created", meta.created},
                      {"model", meta.model}, {"choices", json::array()}, {"usage", UsageJson(summary)}};
}

std::string SseData(const json::value& payload) { return "data: " + json::serialize(payload) + "\n\n"; }

std::optional<ApiError> RunError(const std::optional<json::value>& summary) {
  ApiError e;
  e.type = "api_error";
  if (!summary) {
    e.status = 504;
    e.code = "timeout";
    e.message = "the run is still going after the wait ended; it keeps running and its reply is kept in the session";
    return e;
  }
  const json::value* status = FindPath(*summary, "status");
  if (status && status->is_string() && status->as_string() == "ok") return std::nullopt;
  const json::value* error = FindPath(*summary, "error");
  e.status = 502;
  e.message = error && error->is_string() ? std::string(error->as_string())
              : status && status->is_string() ? "the run ended with status " + std::string(status->as_string())
                                               : std::string("the run failed");
  return e;
}

std::string StreamEnd(const CompletionMeta& meta, const std::optional<json::value>& summary, bool streamed_text,
                      bool include_usage) {
  if (auto error = RunError(summary)) return SseData(error->ToJson()) + std::string(kSseDone);
  std::string out;
  const json::value* text = FindPath(*summary, "text");
  if (!streamed_text && text && text->is_string() && !text->as_string().empty())
    out += SseData(ChunkJson(meta, json::object{{"content", *text}}, std::nullopt));
  out += SseData(ChunkJson(meta, json::object(), "stop"));
  if (include_usage) out += SseData(UsageChunkJson(meta, *summary));
  out += kSseDone;
  return out;
}

json::value ModelsJson(const std::vector<std::string>& agent_ids, int64_t created) {
  auto model = [created](std::string id) {
    return json::object{{"id", std::move(id)}, {"object", "model"}, {"created", created}, {"owned_by", "openclaw"}};
  };
  json::array data{model("openclaw")};
  for (const auto& id : agent_ids) data.push_back(model("openclaw:" + id));
  return json::object{{"object", "list"}, {"data", std::move(data)}};
}

Result<HookAgentRequest> ParseHookAgent(std::string_view body) {
  auto parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  const json::object& o = *parsed;
  OC_TRY(OnlyFields(o, {"message", "agentId", "sessionKey", "name", "deliver", "idempotencyKey"}));
  HookAgentRequest r;
  OC_TRY(OptionalString(o, "message", kMaxHookTextBytes, r.message));
  if (TrimAsciiSpace(r.message).empty()) return Invalid("message", "is required (a non-empty string)");
  OC_TRY(OptionalString(o, "agentId", kMaxHookNameChars, r.agent_id));
  OC_TRY(OptionalString(o, "sessionKey", kMaxKeyChars, r.session_key));
  if (!r.session_key.empty() && AgentOfSessionKey(r.session_key).empty())
    return Invalid("sessionKey", "must be a session key (agent:<agentId>:...)");
  if (!r.agent_id.empty() && !r.session_key.empty() && AgentOfSessionKey(r.session_key) != r.agent_id)
    return Invalid("sessionKey", "belongs to another agent than " + r.agent_id);
  OC_TRY(OptionalString(o, "name", kMaxHookNameChars, r.name));
  if (!ValidHookName(r.name)) return Invalid("name", "must be 1-64 characters of A-Z a-z 0-9 . _ -");
  OC_TRY(OptionalString(o, "idempotencyKey", kMaxKeyChars, r.idempotency_key));
  if (const json::value* d = o.if_contains("deliver"); d && !d->is_null()) {
    if (!d->is_object()) return Invalid("deliver", "must be an object {channel, to}");
    const json::object& deliver = d->as_object();
    OC_TRY(OnlyFields(deliver, {"channel", "to"}));
    OC_TRY(OptionalString(deliver, "channel", kMaxHookNameChars, r.deliver_channel));
    OC_TRY(OptionalString(deliver, "to", kMaxKeyChars, r.deliver_to));
    if (r.deliver_channel.empty()) return Invalid("deliver.channel", "is required");
    if (r.deliver_to.empty()) return Invalid("deliver.to", "is required");
  }
  return r;
}

json::value HookTurnParams(const HookAgentRequest& request, std::string_view default_agent) {
  std::string agent = request.agent_id;
  if (agent.empty()) agent = AgentOfSessionKey(request.session_key);
  if (agent.empty()) agent = std::string(default_agent);
  std::string key = request.session_key.empty() ? "agent:" + agent + ":hook:" + request.name : request.session_key;
  json::object params{{"message", request.message}, {"agentId", agent}, {"sessionKey", std::move(key)}};
  if (!request.idempotency_key.empty()) params["idempotencyKey"] = "hook:" + request.idempotency_key;
  if (!request.deliver_channel.empty())
    params["deliver"] = json::object{{"channel", request.deliver_channel}, {"to", request.deliver_to}};
  return params;
}

Result<WakeRequest> ParseHookWake(std::string_view body) {
  auto parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  const json::object& o = *parsed;
  OC_TRY(OnlyFields(o, {"text", "mode", "agentId"}));
  WakeRequest r;
  OC_TRY(OptionalString(o, "text", kMaxHookTextBytes, r.text));
  if (TrimAsciiSpace(r.text).empty()) return Invalid("text", "is required (a non-empty string)");
  std::string mode = "now";
  OC_TRY(OptionalString(o, "mode", kMaxHookNameChars, mode));
  if (mode != "now") return Invalid("mode", "only \"now\" is supported");
  OC_TRY(OptionalString(o, "agentId", kMaxHookNameChars, r.agent_id));
  return r;
}

json::value WakeTurnParams(const WakeRequest& request, std::string_view default_agent) {
  std::string agent = request.agent_id.empty() ? std::string(default_agent) : request.agent_id;
  return json::object{{"message", "[wake] " + request.text}, {"agentId", agent},
                      {"sessionKey", sessions::MainSessionKey(agent)}};
}

}  // namespace oc::kernel::openai
