// Wire format of the `anthropic-messages` provider (Anthropic's Messages API) without I/O: the
// request body, the non-streamed answer, the streamed answer's SSE events, and error bodies. Split
// from anthropic_provider.cpp so a fuzz target can link it without Beast or OpenSSL. All input is
// treated as untrusted.
//
// Mapping onto agent/llm.h:
//   - system messages → the top-level "system" string (joined with a blank line);
//   - user text → {role:"user"}; assistant text and tool calls → {role:"assistant"} with "text" and
//     "tool_use" {id, name, input} blocks (ToolCall::arguments parsed to the input object; empty or
//     non-object arguments are sent as {});
//   - tool results (role "tool") → "tool_result" {tool_use_id, content} blocks in a user message;
//   - consecutive messages of one role are merged into one message (the API requires user and
//     assistant to alternate), tool results first inside a user message (the API requires that);
//     empty text is left out (the API rejects empty text blocks) and a message left with nothing
//     is dropped; a message holding a single text block is sent with string content;
//   - stop_reason end_turn/stop_sequence → "stop", tool_use → "tool_calls", max_tokens → "length",
//     anything else as it came (pause_turn, refusal, ...);
//   - usage: input = input_tokens + cache_creation_input_tokens + cache_read_input_tokens (the whole
//     prompt, as OpenAI's prompt_tokens counts it), output = output_tokens.
// Error kinds from an error object's type: rate_limit_error → rate_limit; overloaded_error and
// api_error (and unknown types) → server; authentication_error/permission_error → auth;
// timeout_error → timeout; invalid_request_error, not_found_error, request_too_large,
// billing_error → bad_request. A non-2xx answer's kind comes from its HTTP status (529 → server).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "agent/llm.h"

namespace oc::agent {

// max_tokens sent when the request does not set one (the API requires the field).
inline constexpr int64_t kAnthropicDefaultMaxTokens = 4096;

// The request body (JSON text) for POST /v1/messages.
std::string BuildAnthropicMessagesBody(const LlmRequest& request);

// Parses a non-streamed answer ({type:"message", content:[blocks], stop_reason, usage, model}).
// An error object ({type:"error", error:{type, message}}) is returned as its Error; anything
// malformed is kind bad_request.
Result<LlmResponse> ParseAnthropicMessage(std::string_view body);

// Our finish reason for an Anthropic stop_reason (see the mapping above).
std::string AnthropicFinishReason(std::string_view stop_reason);

// The Error for an Anthropic error object {type, message} that arrived inside a 2xx answer or a
// stream (no httpStatus in its data); `context` starts the message ("stream error").
Error AnthropicErrorFromObject(const json::value& error, std::string_view context);

// The Error for a non-2xx answer: kind from the status, message "<provider>: HTTP <status>: <error
// message> (<error type>)" from an Anthropic error body (or the start of the body).
Error AnthropicErrorFromHttpAnswer(std::string_view provider, int status, std::string_view body,
                                   std::optional<int64_t> retry_after_ms);

// Assembles a streamed answer from the data of its SSE events (each a JSON object whose "type" is
// message_start, content_block_start/delta/stop, message_delta, message_stop, ping or error). Text
// deltas go to `on_text` as they arrive; tool_use blocks collect their input_json_delta pieces by
// block index. Unknown event and delta types (thinking, citations, ...) are ignored. Not
// thread-safe; one per call.
class AnthropicStreamAssembler {
 public:
  explicit AnthropicStreamAssembler(TextSink on_text) : on_text_(std::move(on_text)) {}

  // Consumes one event. Returns false once the stream carried an error event or malformed data
  // (then error() says which and later events are ignored). Events after message_stop are ignored.
  bool OnEvent(std::string_view data);

  bool done() const { return done_; }  // message_stop seen
  bool failed() const { return error_.has_value(); }
  const std::optional<Error>& error() const { return error_; }
  size_t events() const { return events_; }

  // The assembled answer; the stream's error if it carried one; kind network "stream ended early"
  // when neither message_stop nor a stop_reason arrived.
  Result<LlmResponse> Finish();

 private:
  void OnBlockStart(const json::object& event);
  void OnBlockDelta(const json::object& event);
  void OnMessageDelta(const json::object& event);

  struct ToolBlock {
    ToolCall call;
    std::string initial_input;  // content_block_start's input, used when no delta arrives
    bool has_delta = false;
  };

  TextSink on_text_;
  LlmResponse response_;
  std::map<int64_t, ToolBlock> tool_blocks_;  // by block index (a map: indexes are untrusted)
  std::optional<Error> error_;
  bool done_ = false;
  size_t events_ = 0;
};

}  // namespace oc::agent
