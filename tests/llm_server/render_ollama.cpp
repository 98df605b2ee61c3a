// Ollama's native chat (POST /api/chat): one JSON object, or (stream, the default) NDJSON lines
// {model, created_at, message:{role, content, tool_calls?}, done:false} ending with a done:true
// line carrying done_reason, the durations, prompt_eval_count and eval_count. Tool-call arguments
// are objects. Errors: {"error": "..."}, in a stream as one such line.
#include "wire.h"

#include <cstdio>
#include <ctime>

namespace oc::testllm {
namespace {

// Durations (ns) reported with every final line; made up but plausible.
constexpr int64_t kLoadNs = 1'000'000;
constexpr int64_t kNsPerPromptToken = 200'000;
constexpr int64_t kNsPerEvalToken = 2'000'000;

std::string ErrorJson(const Failure& f) { return json::serialize(json::object{{"error", f.message()}}); }

// Ollama (a Go server) labels its JSON answers with a charset.
PlannedResponse OllamaJson(int status, std::string body) {
  PlannedResponse r = JsonAnswer(status, std::move(body));
  r.headers = {{"Content-Type", "application/json; charset=utf-8"}};
  return r;
}

PlannedResponse Refuse(int status, std::string message) {
  Failure f;
  f.status = status;
  f.error = {{"message", std::move(message)}};
  return OllamaJson(status, ErrorJson(f));
}

// RFC 3339 UTC with nanoseconds, as Ollama writes created_at.
std::string CreatedAt() {
  const int64_t ms = NowMs();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ms % 1000) * 1'000'000);
  return buf;
}

// ---- reading -------------------------------------------------------------------------------------

json::object NormalOllamaMessage(const json::object& m) {
  std::string_view role = *GetString(m, "role");
  json::object out = NormalMessage(role, std::string(GetString(m, "content").value_or("")));
  if (const json::array* calls = GetArray(m, "tool_calls")) {
    json::array normal;
    for (const json::value& v : *calls) {
      const json::object* call = v.if_object();
      const json::object* fn = call ? GetObject(*call, "function") : nullptr;
      if (!fn) continue;
      json::object n{{"name", GetString(*fn, "name").value_or("")}};
      if (auto id = GetString(*call, "id")) n["id"] = *id;
      const json::value* args = fn->if_contains("arguments");
      n["arguments"] = args ? *args : json::value(json::object());
      normal.push_back(std::move(n));
    }
    out["toolCalls"] = std::move(normal);
  }
  if (auto name = GetString(m, "tool_name")) out["name"] = *name;
  if (auto id = GetString(m, "tool_call_id")) out["toolCallId"] = *id;
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

// A request without messages only loads the model: Ollama answers done_reason "load".
PlannedResponse LoadAnswer(const ChatRequest& chat) {
  json::object r{{"model", chat.model}, {"created_at", CreatedAt()},
                 {"message", {{"role", "assistant"}, {"content", ""}}}, {"done_reason", "load"}, {"done", true}};
  PlannedResponse answer = OllamaJson(200, json::serialize(r) + (chat.stream ? "\n" : ""));
  if (chat.stream) answer.headers = {{"Content-Type", "application/x-ndjson"}};
  return answer;
}

std::optional<PlannedResponse> Read(const IncomingRequest&, const json::value& body, ChatRequest& chat) {
  if (!body.is_object()) return Refuse(400, "invalid request body");
  const json::object& o = body.get_object();
  if (!GetString(o, "model") || GetString(o, "model")->empty()) return Refuse(400, "model is required");
  chat.model = std::string(*GetString(o, "model"));
  chat.stream = GetBool(o, "stream").value_or(true);  // Ollama streams unless told not to
  const json::value* messages = o.if_contains("messages");
  if (messages && !messages->is_array()) return Refuse(400, "messages must be an array");
  if (!messages || messages->get_array().empty()) return LoadAnswer(chat);
  for (const json::value& m : messages->get_array()) {
    const json::object* message = m.if_object();
    if (!message || !GetString(*message, "role")) return Refuse(400, "each message must have a role");
    chat.messages.push_back(NormalOllamaMessage(*message));
  }
  chat.tools = NormalTools(o);
  return std::nullopt;
}

// ---- rendering -----------------------------------------------------------------------------------

std::string DoneReason(std::string_view reason) {
  if (reason == "stop" || reason == "tool_calls") return "stop";  // Ollama says stop after tool calls too
  return std::string(reason);
}

json::array ToolCalls(const Completion& c) {
  json::array calls;
  for (const ScriptedToolCall& tc : c.tool_calls) {
    json::object call;
    if (tc.explicit_id) call["id"] = tc.id;
    call["function"] = {{"name", tc.name}, {"arguments", ArgumentsValue(tc)}};
    calls.push_back(std::move(call));
  }
  return calls;
}

json::object Line(const Completion& c, json::object message) {
  json::object ordered{{"role", "assistant"}};
  for (auto& [key, value] : message) ordered[key] = std::move(value);
  return {{"model", c.model}, {"created_at", CreatedAt()}, {"message", std::move(ordered)}};
}

// The final object's fields after "message".
void AddDone(json::object& o, const Completion& c) {
  const int64_t prompt_ns = c.prompt_tokens * kNsPerPromptToken, eval_ns = c.completion_tokens * kNsPerEvalToken;
  o["done_reason"] = DoneReason(c.finish_reason);
  o["done"] = true;
  o["total_duration"] = kLoadNs + prompt_ns + eval_ns;
  o["load_duration"] = kLoadNs;
  o["prompt_eval_count"] = c.prompt_tokens;
  o["prompt_eval_duration"] = prompt_ns;
  o["eval_count"] = c.completion_tokens;
  o["eval_duration"] = eval_ns;
}

std::vector<std::string> StreamLines(const Completion& c) {
  std::vector<std::string> lines;
  auto emit = [&](json::object o) { lines.push_back(json::serialize(o) + "\n"); };
  if (c.content) {
    for (std::string& piece : SplitUtf8(*c.content, c.chunk_chars)) {
      json::object line = Line(c, {{"content", std::move(piece)}});
      line["done"] = false;
      emit(std::move(line));
    }
  }
  if (!c.tool_calls.empty()) {
    json::object line = Line(c, {{"content", ""}, {"tool_calls", ToolCalls(c)}});
    line["done"] = false;
    emit(std::move(line));
  }
  json::object last = Line(c, {{"content", ""}});
  AddDone(last, c);
  emit(std::move(last));
  return lines;
}

PlannedResponse Render(const Completion& c, const ChatRequest& chat) {
  if (!chat.stream) {
    json::object message{{"content", c.content.value_or("")}};
    if (!c.tool_calls.empty()) message["tool_calls"] = ToolCalls(c);
    json::object body = Line(c, std::move(message));
    AddDone(body, c);
    return OllamaJson(200, json::serialize(body));
  }
  PlannedResponse r;
  r.streamed = true;
  r.headers.emplace_back("Content-Type", "application/x-ndjson");
  r.chunks = StreamLines(c);
  return r;
}

PlannedResponse HttpError(const Failure& f) { return OllamaJson(f.status, ErrorJson(f)); }

std::string StreamError(const Failure& f, const ChatRequest&, size_t) { return ErrorJson(f) + "\n"; }

}  // namespace

const WireOps kOllamaWire{WireFormat::kOllama, Read, Render, HttpError, StreamError, "application/x-ndjson"};

}  // namespace oc::testllm
