// Wire format of the `gemini` provider (Google's Generative Language API v1beta, generateContent and
// streamGenerateContent?alt=sse) without I/O: the request body, reading an answer (whole or streamed
// chunk by chunk), classifying errors. Split from gemini_provider.cpp so a fuzz target can link it
// without Beast or OpenSSL; every parser treats its input as untrusted and never throws.
//
// Mapping onto agent/llm.h:
//   system messages → systemInstruction.parts; user → role "user" text; assistant → role "model"
//   (text part, then one functionCall part per tool call, args parsed from the call's JSON text);
//   tool results → role "user" functionResponse parts {name, response:{content: <text>}}.
//   Consecutive contents of the same role are merged (Gemini wants turns to alternate).
//   Tools → tools[0].functionDeclarations with `parameters` narrowed to Gemini's OpenAPI schema
//   subset (GeminiSchemaFromJsonSchema).
// Tool-call ids: Gemini often sends none. Calls without one get "call_<n>" (AssignGeminiCallIds);
// such synthesized ids are never sent back (results pair with calls by order and name), a real id
// from the server is echoed in functionCall.id and functionResponse.id.
// Thought signatures: Gemini 3 rejects a history whose function calls lack the thoughtSignature the
// model attached to them. ToolCall has no room for it, so answers report it beside the calls
// (GeminiAnswer::signatures) and the body builder asks a lookup for it; when the lookup knows none
// (another provider made the call, or the kernel restarted), the first call of the step carries the
// documented placeholder kGeminiSkipSignature instead. Signatures on text parts are not kept (Gemini
// requires only those of function calls).
// Finish reasons: STOP with function calls → "tool_calls", STOP → "stop", MAX_TOKENS → "length",
// anything else (SAFETY, RECITATION, MALFORMED_FUNCTION_CALL, ...) is passed through as sent.
// A prompt blocked outright (promptFeedback.blockReason, no candidate) is an error of kind
// bad_request, so failover can try another model.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/llm.h"

namespace oc::agent {

// Google's placeholder signature for function calls the model did not produce in this exchange.
inline constexpr std::string_view kGeminiSkipSignature = "skip_thought_signature_validator";

// The thoughtSignature Gemini attached to an earlier call (matched on id, name and arguments), or ""
// when unknown.
using ThoughtSignatureLookup = std::function<std::string(const ToolCall& call)>;

// The request body (JSON text) for generateContent / streamGenerateContent. `signatures` may be empty.
std::string BuildGeminiBody(const LlmRequest& request, const ThoughtSignatureLookup& signatures = {});

// A JSON Schema narrowed to what Gemini's `parameters` accepts: unsupported keywords dropped
// (additionalProperties, $schema, $ref, oneOf, allOf, const → enum, ...), a type list like
// ["string","null"] → type "string" + nullable, `required` limited to the declared properties,
// enum only on strings (values as strings), format only where Gemini knows it. Never fails; a
// non-object input gives {"type":"object"}.
json::value GeminiSchemaFromJsonSchema(const json::value& schema);

// An answer plus the thoughtSignature of each tool call ("" when none), parallel to
// response.tool_calls.
struct GeminiAnswer {
  LlmResponse response;
  std::vector<std::string> signatures;
};

// Parses a whole GenerateContentResponse (a non-streamed answer). Tool calls without a server id
// keep an empty id (see AssignGeminiCallIds). Errors: kind bad_request for malformed JSON or a
// blocked prompt; an {error:{...}} body is classified like an HTTP error.
Result<GeminiAnswer> ParseGeminiResponse(std::string_view body);

// Gives every call with an empty id the id "call_<next_number>", counting up.
void AssignGeminiCallIds(LlmResponse& response, int64_t& next_number);
// True for ids of the form AssignGeminiCallIds makes ("call_" + digits).
bool IsSynthesizedGeminiCallId(std::string_view id);

// "STOP"/"MAX_TOKENS"/... → the agent's finish reason (see the top of this file).
std::string GeminiFinishReason(std::string_view reason, bool has_tool_calls);

// A google.protobuf.Duration in its JSON form ("2s", "0.5s", or {seconds, nanos}) in ms, rounded
// up and capped at 24 h; nullopt when it is not one.
std::optional<int64_t> ParseGoogleDuration(const json::value& duration);

// The Error for a Google error object {code, message, status, details[]}, without a provider prefix.
// `http_status` is the answer's status, or 0 for an error inside a 2xx stream or body. The kind comes
// from the HTTP status, else from `code`, else from `status` (RESOURCE_EXHAUSTED → rate_limit,
// UNAVAILABLE/INTERNAL → server, UNAUTHENTICATED/PERMISSION_DENIED → auth, DEADLINE_EXCEEDED →
// timeout, anything else → bad_request); retryAfterMs is `retry_after_ms` (from the Retry-After
// header) or else a RetryInfo detail's retryDelay. Message: "HTTP <status>: <message> (<STATUS>)",
// or "stream error: ..." when http_status is 0.
Error GeminiErrorFromObject(const json::value& error, int http_status, std::optional<int64_t> retry_after_ms);

// The Error for a non-2xx answer: GeminiErrorFromObject when the body is {error:{...}} (or an array
// starting with one, as the streaming endpoint may send), otherwise the start of the body quoted.
// The message starts "<provider>: HTTP <status>".
Error GeminiErrorFromHttpAnswer(std::string_view provider, int status, std::string_view body,
                                std::optional<int64_t> retry_after_ms);

// Assembles a streamed answer from the data of its SSE events, each a whole GenerateContentResponse
// holding the next piece: text parts are appended and passed to `on_text` (thought summaries are
// skipped), function calls arrive whole and are collected in order, usage/model/finishReason keep
// their latest value. Not thread-safe; one per call.
class GeminiStreamAssembler {
 public:
  explicit GeminiStreamAssembler(TextSink on_text) : on_text_(std::move(on_text)) {}

  // Consumes one event. Returns false once the stream carried an error object, a blocked prompt or
  // a malformed chunk (error() says which; later events are ignored).
  bool OnEvent(std::string_view data);

  bool failed() const { return error_.has_value(); }
  const std::optional<Error>& error() const { return error_; }
  size_t events() const { return events_; }

  // The assembled answer; the stream's error if it carried one; kind network "stream ended early"
  // when no finishReason arrived.
  Result<GeminiAnswer> Finish();

 private:
  void ConsumeChunk(const json::object& chunk);

  TextSink on_text_;
  GeminiAnswer answer_;
  std::string raw_finish_reason_;
  std::optional<Error> error_;
  size_t events_ = 0;
};

}  // namespace oc::agent
