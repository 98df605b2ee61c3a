// Ollama /api/chat wire format without I/O: NDJSON framing, request body, answer parsing and stream
// assembly. Everything here treats its input as untrusted (fuzzed by fuzz_ndjson).
#include "common/text.h"
#include "agent/ollama_wire.h"

#include "agent/openai_wire.h"

namespace oc::agent {
namespace {

// The Error for an {"error": ...} object arriving with a 2xx status (a stream line or a whole
// body). Ollama sends a string; an object's message and numeric code (when a proxy adds them) are
// read too. Without a status the kind is server: the model runner failed mid-answer.
Error ErrorFromErrorValue(const json::value& error_value) {
  std::string message = "error without message";
  int status = 0;
  if (error_value.is_string()) {
    message = std::string(error_value.get_string());
  } else if (const auto* obj = error_value.if_object()) {
    if (auto m = GetString(*obj, "message")) message = std::string(*m);
    for (std::string_view key : {"status_code", "code"}) {
      if (auto code = GetInt(*obj, key); code && *code >= 100 && *code <= 599) status = static_cast<int>(*code);
    }
  } else if (!error_value.is_null()) {
    message = json::serialize(error_value);
  }
  std::string_view kind = status != 0 ? KindForHttpStatus(status) : kErrServer;
  return MakeLlmError(kind, "stream error: " + message, status);
}

// A call's arguments as the object Ollama expects; text that is not a JSON object becomes {} (the
// model produced it elsewhere, e.g. another provider before a failover).
json::value ArgumentsObject(std::string_view text) {
  if (auto parsed = TryParseJson(text, nullptr); parsed && parsed->is_object()) return std::move(*parsed);
  return json::object();
}

json::object MessageToJson(const ChatMessage& m) {
  json::object out{{"role", m.role}, {"content", m.content}};
  if (m.role == "assistant" && !m.tool_calls.empty()) {
    json::array calls;
    for (const ToolCall& call : m.tool_calls) {
      json::object fn{{"name", call.name}, {"arguments", ArgumentsObject(call.arguments)}};
      calls.push_back(json::object{{"function", std::move(fn)}});
    }
    out["tool_calls"] = std::move(calls);
  }
  if (m.role == "tool" && !m.name.empty()) out["tool_name"] = m.name;
  return out;
}

// Whole tool calls of one message: the arguments object serialised, an id synthesised when absent.
void AppendToolCalls(const json::array& calls, uint64_t& next_call_number, std::vector<ToolCall>& out) {
  for (const auto& item : calls) {
    const json::object* call = item.if_object();
    if (!call) continue;
    ToolCall tc;
    if (const json::object* fn = GetObject(*call, "function")) {
      if (auto name = GetString(*fn, "name")) tc.name = std::string(*name);
      const json::value* args = fn->if_contains("arguments");
      if (!args || args->is_null()) {
        tc.arguments = "{}";
      } else if (args->is_string()) {
        tc.arguments = std::string(args->get_string());  // JSON text already (OpenAI style)
      } else {
        tc.arguments = json::serialize(*args);
      }
    }
    if (auto id = GetString(*call, "id"); id && !id->empty()) {
      tc.id = std::string(*id);
    } else {
      tc.id = "call_" + std::to_string(next_call_number++);
    }
    out.push_back(std::move(tc));
  }
}

// Reads one answer object (a stream line or the whole answer) into `out`; true when it says done.
bool ReadChatObject(const json::object& obj, LlmResponse& out, std::string& done_reason,
                    uint64_t& next_call_number, const TextSink& on_text) {
  if (out.model.empty()) {
    if (auto model = GetString(obj, "model")) out.model = std::string(*model);
  }
  if (const json::object* message = GetObject(obj, "message")) {
    if (auto text = GetString(*message, "content"); text && !text->empty()) {
      out.text.append(*text);
      if (on_text) on_text(*text);
    }
    if (const json::array* calls = GetArray(*message, "tool_calls")) {
      AppendToolCalls(*calls, next_call_number, out.tool_calls);
    }
  }
  if (auto reason = GetString(obj, "done_reason"); reason && !reason->empty()) done_reason = std::string(*reason);
  if (auto in = GetInt(obj, "prompt_eval_count")) out.usage.input = *in;
  if (auto generated = GetInt(obj, "eval_count")) out.usage.output = *generated;
  return GetBool(obj, "done").value_or(false);
}

// Ollama says "stop" also when the model called tools.
std::string FinishReason(const std::string& done_reason, bool has_tool_calls) {
  if (done_reason.empty() || done_reason == "stop") return has_tool_calls ? "tool_calls" : "stop";
  return done_reason;
}

}  // namespace

// ---- NDJSON ----

bool NdjsonParser::Feed(std::string_view bytes, const LineSink& on_line) {
  if (failed_) return false;
  while (!bytes.empty()) {
    size_t end = bytes.find('\n');
    std::string_view piece = bytes.substr(0, end);
    if (line_.size() + piece.size() > max_line_bytes_) {
      failed_ = true;
      line_.clear();
      return false;
    }
    line_.append(piece);
    if (end == std::string_view::npos) break;
    bytes.remove_prefix(end + 1);
    Dispatch(on_line);
  }
  return true;
}

void NdjsonParser::Flush(const LineSink& on_line) {
  if (!failed_) Dispatch(on_line);
}

void NdjsonParser::Dispatch(const LineSink& on_line) {
  std::string_view line = line_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find_first_not_of(" \t\r") != std::string_view::npos) on_line(line);
  line_.clear();
}

// ---- request ----

std::string BuildOllamaChatBody(const LlmRequest& request) {
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
  json::object options;
  if (request.max_tokens) options["num_predict"] = *request.max_tokens;
  if (request.temperature) options["temperature"] = *request.temperature;
  if (!options.empty()) body["options"] = std::move(options);
  return json::serialize(body);
}

// ---- non-streamed answer ----

Result<LlmResponse> ParseOllamaChat(std::string_view body, uint64_t first_call_number) {
  std::string_view trimmed = TrimAsciiSpace(body);
  std::string what;
  auto parsed = TryParseJson(trimmed, &what);
  if (!parsed) {
    if (trimmed.find('\n') == std::string_view::npos) {
      return MakeLlmError(kErrBadRequest, "malformed chat answer: " + what);
    }
    // Several lines: the server streamed although stream was false.
    NdjsonParser lines;
    OllamaStreamAssembler assembler(nullptr, first_call_number);
    auto on_line = [&](std::string_view line) { assembler.OnLine(line); };
    if (!lines.Feed(trimmed, on_line)) return MakeLlmError(kErrBadRequest, "chat answer line exceeds the size limit");
    lines.Flush(on_line);
    return assembler.Finish();
  }
  const json::object* root = parsed->if_object();
  if (!root) return MakeLlmError(kErrBadRequest, "malformed chat answer: not an object");
  if (const auto* error = root->if_contains("error"); error && !error->is_null()) {
    return ErrorFromErrorValue(*error);
  }
  if (!GetObject(*root, "message")) return MakeLlmError(kErrBadRequest, "malformed chat answer: no message");
  LlmResponse out;
  std::string done_reason;
  uint64_t next_call_number = first_call_number;
  ReadChatObject(*root, out, done_reason, next_call_number, nullptr);
  out.finish_reason = FinishReason(done_reason, !out.tool_calls.empty());
  return out;
}

// ---- streamed answer ----

bool OllamaStreamAssembler::OnLine(std::string_view line) {
  if (error_) return false;
  if (done_) return true;
  ++lines_;
  std::string what;
  auto parsed = TryParseJson(TrimAsciiSpace(line), &what);
  if (!parsed || !parsed->is_object()) {
    error_ = MakeLlmError(kErrBadRequest, "malformed stream line: " + (what.empty() ? "not an object" : what));
    return false;
  }
  const json::object& obj = parsed->get_object();
  if (const auto* error = obj.if_contains("error"); error && !error->is_null()) {
    error_ = ErrorFromErrorValue(*error);
    return false;
  }
  done_ = ReadChatObject(obj, response_, done_reason_, next_call_number_, on_text_);
  return true;
}

Result<LlmResponse> OllamaStreamAssembler::Finish() {
  if (error_) return *error_;
  if (!done_) return MakeLlmError(kErrNetwork, "stream ended early (no line with done:true)");
  LlmResponse out = response_;
  out.finish_reason = FinishReason(done_reason_, !out.tool_calls.empty());
  return out;
}

}  // namespace oc::agent
