// The test LLM server's wire formats, behind one small interface (internal to oc-test-llm; no
// I/O). llm_script.cpp routes a request to a format, which reads the body into the format-neutral
// ChatRequest; the script step is resolved into a Completion; the format renders it (whole body, or
// the stream's pieces) or renders a scripted failure as its own error object.
//
// Normalised messages (what /_requests shows as "messages", the same for every format):
//   {role: "system"|"user"|"assistant"|"tool", content: "<text>",
//    toolCalls?: [{id?, name, arguments: <JSON value as sent>}]   (assistant)
//    toolCallId?, name?}                                         (tool results)
// Normalised tools: [{name, description?, parameters?}].
//
// Finish reasons in script steps use OpenAI's vocabulary (stop, length, tool_calls,
// content_filter); each format maps them to its own words and passes anything else through.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llm_script.h"

namespace oc::testllm {

enum class WireFormat { kOpenAi, kAnthropic, kGemini, kOllama };

// "openai" | "anthropic" | "gemini" | "ollama" (the "format" field of a recorded request).
std::string_view FormatName(WireFormat format);

// A chat request in the format-neutral shape. The format's reader fills model, stream, messages,
// tools (and its own flags); llm_script.cpp derives the rest from the messages.
struct ChatRequest {
  WireFormat format = WireFormat::kOpenAi;
  std::string model;
  bool stream = false;
  bool include_usage = false;  // openai: stream_options.include_usage
  bool sse = true;             // gemini: streamGenerateContent with alt=sse (else a streamed JSON array)
  json::array messages;        // normalised, see above
  json::array tools;           // normalised, see above
  std::string last_user_text;  // the last user message's text (script steps match against it)
  std::string echo;            // the default answer
  size_t prompt_chars = 0;
  std::string response_id;  // unique per request, formatted by the format
  int64_t created = 0;      // seconds since the epoch
  int64_t serial = 0;       // request number (ids derive from it)
};

// The answer after the script step is applied.
struct Completion {
  std::optional<std::string> content;  // nullopt when only tool calls
  std::vector<ScriptedToolCall> tool_calls;
  std::string finish_reason;  // OpenAI vocabulary (see above)
  std::string model;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  size_t chunk_chars = 8;
  // A scripted mid-stream failure: the stream carries this many content pieces, then the
  // format's in-stream error object, then ends.
  std::optional<size_t> error_after_chunks;
};

// A scripted failure in a format-neutral shape: the step's error object ({message, type, ...})
// and the status it stands for.
struct Failure {
  int status = 500;
  json::object error;  // as given in the step (may be empty)
  std::optional<std::string> retry_after;
  std::string message() const;                        // error.message, or "scripted error (HTTP <status>)"
  std::optional<std::string> type() const;            // error.type when it is a string
};

// What a wire format does.
struct WireOps {
  WireFormat format;
  // Reads a parsed body. On a request the platform would refuse, returns that refusal (its own
  // error shape, usually 400); `request` arrives with format, model-from-path (gemini), serial,
  // created and stream-from-path (gemini) already set.
  std::optional<PlannedResponse> (*read)(const IncomingRequest& in, const json::value& body, ChatRequest& request);
  // The successful answer: a JSON body, or (request.stream) the streamed pieces.
  PlannedResponse (*render)(const Completion& completion, const ChatRequest& request);
  // An HTTP error answer in the format's own shape.
  PlannedResponse (*error)(const Failure& failure);
  // The in-stream error piece (one SSE event / NDJSON line) for a mid-stream failure that follows
  // the first `pieces_before` pieces of render()'s stream.
  std::string (*stream_error)(const Failure& failure, const ChatRequest& request, size_t pieces_before);
  // Content type of streamed answers and of scripted rawChunks.
  std::string_view stream_content_type;
};

extern const WireOps kOpenAiWire;
extern const WireOps kAnthropicWire;
extern const WireOps kGeminiWire;
extern const WireOps kOllamaWire;

// ---- helpers shared by the formats ----------------------------------------------------------------

inline constexpr std::string_view kJsonType = "application/json";

PlannedResponse JsonAnswer(int status, std::string body);
// Splits UTF-8 text into pieces of `n` code points (never inside a multi-byte character).
std::vector<std::string> SplitUtf8(std::string_view text, size_t n);
// A tool call's arguments as a JSON value: parsed when they are JSON, else the text as a string.
json::value ArgumentsValue(const ScriptedToolCall& call);
// The text of a content value: a string, or the "text" members of an array of parts.
std::string PartsText(const json::value* content);
// {role, content}, for normalised messages.
json::object NormalMessage(std::string_view role, std::string content);
// The value of a query parameter, percent-decoded ('+' as space); nullopt when absent.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name);
// %XX sequences decoded (malformed ones kept as they are); '+' → ' ' only when asked (queries).
std::string PercentDecode(std::string_view text, bool plus_as_space = false);
// A JSON value from a step's error object, or `fallback` when the member is missing.
json::value ErrorMember(const Failure& failure, std::string_view key, json::value fallback);

}  // namespace oc::testllm
