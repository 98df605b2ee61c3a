// Wire-format pieces of the `ollama` provider (Ollama's native POST /api/chat) that do no I/O:
// NDJSON framing, the request body, the non-streamed answer and the assembly of a streamed one.
// Split from ollama_provider.cpp so the fuzz target (fuzz/fuzz_ndjson.cpp) links them without
// Beast or OpenSSL. HTTP error answers reuse ErrorFromHttpAnswer (agent/openai_wire.h), which also
// reads Ollama's {"error": "message"} bodies.
//
// Mapping (agent/llm.h ↔ Ollama):
//   system/user/assistant messages → {role, content}; assistant tool calls → tool_calls:
//   [{function:{name, arguments}}] with the arguments as a JSON OBJECT (ToolCall::arguments is
//   parsed; text that is not a JSON object is sent as {}); tool results → {role:"tool", content,
//   tool_name}. Ollama matches results to calls by tool name and order, so tool_call_id is not sent.
//   Tools → [{type:"function", function:{name, description, parameters}}].
//   max_tokens → options.num_predict, temperature → options.temperature.
//   Answers: message.content → text (streamed deltas to on_text; message.thinking is ignored),
//   message.tool_calls arrive whole: the arguments object is serialised to JSON text and, as
//   Ollama gives no call ids, each call gets "call_<n>" (n counted from `first_call_number`; an id
//   the server does send is kept). done_reason "stop" with tool calls → "tool_calls"; other
//   reasons ("length", ...) are kept; done without a reason → "stop". prompt_eval_count →
//   usage.input, eval_count → usage.output.
//   A {"error": "..."} object (a stream line or a whole 2xx body) → kind server ("stream error: ...").
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "agent/llm.h"

namespace oc::agent {

// Incremental NDJSON framing: lines end in \n; a \r before the \n is dropped (\r\n endings); lines
// that are empty or only whitespace are skipped. Chunk boundaries do not matter. Not thread-safe.
class NdjsonParser {
 public:
  using LineSink = std::function<void(std::string_view line)>;

  explicit NdjsonParser(size_t max_line_bytes = 8 << 20) : max_line_bytes_(max_line_bytes) {}

  // Feeds bytes; calls on_line for each complete non-blank line (without its line end). Returns
  // false (and stops for good: every later Feed returns false, Flush does nothing) when a line
  // exceeds max_line_bytes (the \n not counted; a \r before it is).
  bool Feed(std::string_view bytes, const LineSink& on_line);
  // At the end of the body: dispatches a last line that had no \n.
  void Flush(const LineSink& on_line);
  bool failed() const { return failed_; }

 private:
  void Dispatch(const LineSink& on_line);

  std::string line_;
  bool failed_ = false;
  size_t max_line_bytes_;
};

// The JSON text of the /api/chat request body for `request`.
std::string BuildOllamaChatBody(const LlmRequest& request);

// Parses a non-streamed /api/chat answer (one JSON object with message and done:true). A body of
// several NDJSON lines (a server that streamed although stream was false) is assembled like a
// stream. Errors: kind bad_request when malformed; an {"error": ...} body → kind server.
Result<LlmResponse> ParseOllamaChat(std::string_view body, uint64_t first_call_number = 0);

// Assembles a streamed /api/chat answer from its NDJSON lines ({message:{content, tool_calls?},
// done:false} ..., then {done:true, done_reason, prompt_eval_count, eval_count}). Text deltas go to
// `on_text` as they arrive (never empty ones). Not thread-safe; one per call.
class OllamaStreamAssembler {
 public:
  explicit OllamaStreamAssembler(TextSink on_text, uint64_t first_call_number = 0)
      : on_text_(std::move(on_text)), next_call_number_(first_call_number) {}

  // Consumes one line. Returns false once the stream carried an error object or a malformed line
  // (then error() says which, and later lines are ignored). Lines after done:true are ignored.
  bool OnLine(std::string_view line);

  bool done() const { return done_; }
  bool failed() const { return error_.has_value(); }
  const std::optional<Error>& error() const { return error_; }
  size_t lines() const { return lines_; }
  // The next synthesised call number (the provider keeps numbering across calls with it).
  uint64_t next_call_number() const { return next_call_number_; }

  // The assembled answer; the stream's error if it carried one; kind network "stream ended early"
  // when no done:true line arrived.
  Result<LlmResponse> Finish();

 private:
  TextSink on_text_;
  LlmResponse response_;
  std::string done_reason_;
  uint64_t next_call_number_;
  std::optional<Error> error_;
  bool done_ = false;
  size_t lines_ = 0;
};

}  // namespace oc::agent
