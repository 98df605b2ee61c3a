// Gemini (POST /v1beta/models/<model>:generateContent and :streamGenerateContent): a
// GenerateContentResponse {candidates[{content{parts, role:"model"}, finishReason, index}],
// usageMetadata, modelVersion, responseId}; streamed with ?alt=sse as one response per SSE event
// (CRLF line ends, as Google sends them), without alt=sse as a JSON array sent piece by piece.
// Errors: {error:{code, message, status, details?}}.
#include "wire.h"

#include <algorithm>
#include <cctype>

namespace oc::testllm {
namespace {

std::string_view DefaultStatus(int status) {
  switch (status) {
    case 400: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 409: return "ABORTED";
    case 429: return "RESOURCE_EXHAUSTED";
    case 499: return "CANCELLED";
    case 501: return "UNIMPLEMENTED";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: return status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT";
  }
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

std::string ErrorJson(const Failure& f) {
  json::value code = ErrorMember(f, "code", f.status);
  json::value status = ErrorMember(f, "status", json::value(f.type().value_or(std::string(DefaultStatus(f.status)))));
  json::object error{{"code", std::move(code)}, {"message", f.message()}, {"status", std::move(status)}};
  if (const json::value* details = f.error.if_contains("details")) {
    error["details"] = *details;
  } else if (f.status == 429 && f.retry_after && AllDigits(*f.retry_after)) {
    // How the API says when to come back: a RetryInfo detail.
    json::object info{{"@type", "type.googleapis.com/google.rpc.RetryInfo"}, {"retryDelay", *f.retry_after + "s"}};
    error["details"] = json::array{std::move(info)};
  }
  return json::serialize(json::object{{"error", std::move(error)}});
}

PlannedResponse Refuse(int status, std::string message) {
  Failure f;
  f.status = status;
  f.error = {{"message", std::move(message)}};
  return JsonAnswer(status, ErrorJson(f));
}

// ---- reading -------------------------------------------------------------------------------------

const json::value* Member(const json::object& o, std::string_view camel, std::string_view snake) {
  const json::value* v = o.if_contains(camel);
  return v ? v : o.if_contains(snake);
}

std::string ResponseText(const json::value* response) {
  if (!response) return "";
  if (const json::object* o = response->if_object()) {
    for (std::string_view key : {"content", "result", "output"}) {
      if (auto text = GetString(*o, key); text && o->size() == 1) return std::string(*text);
    }
  }
  return json::serialize(*response);
}

// Appends one content's normalised messages: function responses become tool messages, text one
// user/assistant message, function calls the assistant's toolCalls.
void AppendNormal(const json::array& parts, bool model, json::array& out) {
  std::string text;
  json::array calls;
  for (const json::value& p : parts) {
    const json::object* part = p.if_object();
    if (!part) continue;
    if (auto t = GetString(*part, "text")) text += *t;
    if (const json::value* fc = Member(*part, "functionCall", "function_call"); fc && fc->is_object()) {
      const json::object& call = fc->get_object();
      json::object normal{{"name", GetString(call, "name").value_or("")}};
      if (auto id = GetString(call, "id")) normal["id"] = *id;
      const json::value* args = call.if_contains("args");
      normal["arguments"] = args ? *args : json::value(json::object());
      calls.push_back(std::move(normal));
    }
    if (const json::value* fr = Member(*part, "functionResponse", "function_response"); fr && fr->is_object()) {
      const json::object& response = fr->get_object();
      json::object normal = NormalMessage("tool", ResponseText(response.if_contains("response")));
      normal["name"] = GetString(response, "name").value_or("");
      if (auto id = GetString(response, "id")) normal["toolCallId"] = *id;
      out.push_back(std::move(normal));
    }
  }
  if (model) {
    json::object message = NormalMessage("assistant", std::move(text));
    if (!calls.empty()) message["toolCalls"] = std::move(calls);
    out.push_back(std::move(message));
  } else if (!text.empty()) {
    out.push_back(NormalMessage("user", std::move(text)));
  }
}

json::array NormalTools(const json::object& body) {
  json::array out;
  const json::array* tools = GetArray(body, "tools");
  if (!tools) return out;
  for (const json::value& t : *tools) {
    const json::value* decls = t.is_object() ? Member(t.get_object(), "functionDeclarations", "function_declarations") : nullptr;
    if (!decls || !decls->is_array()) continue;
    for (const json::value& d : decls->get_array()) {
      const json::object* decl = d.if_object();
      if (!decl) continue;
      json::object tool{{"name", GetString(*decl, "name").value_or("")}};
      if (const json::value* desc = decl->if_contains("description")) tool["description"] = *desc;
      if (const json::value* params = decl->if_contains("parameters")) tool["parameters"] = *params;
      out.push_back(std::move(tool));
    }
  }
  return out;
}

// "<model>:<method>" after /v1beta/models/ (or /v1/models/). False when the method is unknown.
bool ReadPath(const IncomingRequest& in, ChatRequest& chat) {
  std::string_view rest = in.path;
  rest.remove_prefix(rest.find("/models/") + std::string_view("/models/").size());
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view method = rest.substr(colon + 1);
  if (method != "generateContent" && method != "streamGenerateContent") return false;
  chat.model = PercentDecode(rest.substr(0, colon));
  chat.stream = method == "streamGenerateContent";
  chat.sse = QueryParam(in.query, "alt") == "sse";
  return true;
}

std::optional<PlannedResponse> Read(const IncomingRequest& in, const json::value& body, ChatRequest& chat) {
  if (!ReadPath(in, chat)) return Refuse(404, "The requested method " + in.path + " was not found.");
  if (!body.is_object()) return Refuse(400, "Invalid JSON payload received. Expected an object.");
  const json::object& o = body.get_object();
  const json::array* contents = GetArray(o, "contents");
  if (!contents || contents->empty()) return Refuse(400, "* GenerateContentRequest.contents: contents is not specified\n");
  if (const json::value* system = Member(o, "systemInstruction", "system_instruction"); system && system->is_object()) {
    if (std::string text = PartsText(system->get_object().if_contains("parts")); !text.empty())
      chat.messages.push_back(NormalMessage("system", std::move(text)));
  }
  for (size_t i = 0; i < contents->size(); ++i) {
    const json::object* content = (*contents)[i].if_object();
    const json::array* parts = content ? GetArray(*content, "parts") : nullptr;
    if (!parts || parts->empty())
      return Refuse(400, "* GenerateContentRequest.contents[" + std::to_string(i) + "].parts: contents.parts must not be empty.\n");
    std::string_view role = GetString(*content, "role").value_or("user");
    if (role != "user" && role != "model") return Refuse(400, "Please use a valid role: user, model.");
    AppendNormal(*parts, role == "model", chat.messages);
  }
  chat.tools = NormalTools(o);
  chat.response_id = "oc-gemini-" + std::to_string(chat.serial);
  return std::nullopt;
}

// ---- rendering -----------------------------------------------------------------------------------

std::string FinishReason(std::string_view reason) {
  if (reason == "stop" || reason == "tool_calls") return "STOP";  // Gemini stops with STOP after calls too
  if (reason == "length") return "MAX_TOKENS";
  if (reason == "content_filter") return "SAFETY";
  return std::string(reason);
}

json::object FunctionCallPart(const ScriptedToolCall& tc) {
  json::object call{{"name", tc.name}, {"args", ArgumentsValue(tc)}};
  if (tc.explicit_id) call["id"] = tc.id;  // the API sends ids only sometimes; a scripted one is sent
  return {{"functionCall", std::move(call)}};
}

// One GenerateContentResponse. `final` adds finishReason and the completion's token count.
json::object Response(const Completion& c, const ChatRequest& chat, json::array parts, bool final) {
  json::object candidate{{"content", {{"parts", std::move(parts)}, {"role", "model"}}}};
  if (final) candidate["finishReason"] = FinishReason(c.finish_reason);
  candidate["index"] = 0;
  json::object usage{{"promptTokenCount", c.prompt_tokens}};
  if (final) usage["candidatesTokenCount"] = c.completion_tokens;
  usage["totalTokenCount"] = c.prompt_tokens + (final ? c.completion_tokens : 0);
  json::object r;
  r["candidates"] = json::array{std::move(candidate)};
  r["usageMetadata"] = std::move(usage);
  r["modelVersion"] = c.model;
  r["responseId"] = chat.response_id;
  return r;
}

// The parts of each streamed response: one per text piece, then all function calls together.
std::vector<json::array> StreamParts(const Completion& c) {
  std::vector<json::array> groups;
  if (c.content) {
    for (std::string& piece : SplitUtf8(*c.content, c.chunk_chars)) groups.push_back(json::array{json::object{{"text", std::move(piece)}}});
  }
  if (!c.tool_calls.empty()) {
    json::array calls;
    for (const ScriptedToolCall& tc : c.tool_calls) calls.push_back(FunctionCallPart(tc));
    groups.push_back(std::move(calls));
  }
  if (groups.empty()) groups.push_back(json::array{json::object{{"text", ""}}});
  return groups;
}

std::vector<std::string> StreamPieces(const Completion& c, const ChatRequest& chat) {
  std::vector<json::array> groups = StreamParts(c);
  std::vector<std::string> pieces;
  for (size_t i = 0; i < groups.size(); ++i) {
    std::string body = json::serialize(Response(c, chat, std::move(groups[i]), i + 1 == groups.size()));
    if (chat.sse) {
      pieces.push_back("data: " + body + "\r\n\r\n");
    } else {
      pieces.push_back((i == 0 ? "[" : ",\r\n") + body);
    }
  }
  if (!chat.sse) pieces.push_back("]");
  return pieces;
}

PlannedResponse Render(const Completion& c, const ChatRequest& chat) {
  if (!chat.stream) {
    json::array parts;
    if (c.content && (!c.content->empty() || c.tool_calls.empty())) parts.push_back(json::object{{"text", *c.content}});
    for (const ScriptedToolCall& tc : c.tool_calls) parts.push_back(FunctionCallPart(tc));
    return JsonAnswer(200, json::serialize(Response(c, chat, std::move(parts), true)));
  }
  PlannedResponse r;
  r.streamed = true;
  r.headers.emplace_back("Content-Type", chat.sse ? "text/event-stream" : "application/json; charset=UTF-8");
  r.chunks = StreamPieces(c, chat);
  return r;
}

PlannedResponse HttpError(const Failure& f) { return JsonAnswer(f.status, ErrorJson(f)); }

std::string StreamError(const Failure& f, const ChatRequest& chat, size_t pieces_before) {
  if (chat.sse) return "data: " + ErrorJson(f) + "\r\n\r\n";
  return (pieces_before == 0 ? "[" : ",\r\n") + ErrorJson(f) + "]";
}

}  // namespace

const WireOps kGeminiWire{WireFormat::kGemini, Read, Render, HttpError, StreamError, "text/event-stream"};

}  // namespace oc::testllm
