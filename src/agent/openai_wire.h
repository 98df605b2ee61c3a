// Wire-format pieces of the `openai-completions` provider that do no I/O: assembling a streamed
// answer from its SSE events, and turning an error answer into a classified Error (agent/llm.h).
// Split from openai_provider.cpp so the fuzz target (fuzz/fuzz_sse.cpp) can link them without
// Beast or OpenSSL. SseParser, BuildChatCompletionsBody and ParseChatCompletion (declared in
// openai_provider.h) are implemented beside these, in openai_wire.cpp.
//
// Error codes used for each kind: rate_limit → kUnknownError, server → kInternalError,
// timeout → kTimeout, network → kConnectionClosed, auth → kUnauthorized (401) / kForbidden (403),
// bad_request → kInvalidRequest. Error::data is {kind, httpStatus?, retryAfterMs?}.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/llm.h"

namespace oc::agent {

// An Error of the given kind with data {kind, httpStatus?, retryAfterMs?}.
Error MakeLlmError(std::string_view kind, std::string message, int http_status = 0,
                   std::optional<int64_t> retry_after_ms = std::nullopt);

// The kind for an HTTP status: 401/403 auth, 408 timeout, 429 rate_limit, 5xx server, other 4xx
// (and anything else that is not 2xx) bad_request.
std::string_view KindForHttpStatus(int status);

// Milliseconds to wait from the headers of an error answer: `retry-after-ms` (OpenAI's, may be
// fractional) wins over `Retry-After` (delay-seconds or an HTTP date, relative to `now_unix_s`).
// nullopt when neither is present or parseable; never negative.
std::optional<int64_t> ParseRetryAfter(std::string_view retry_after_ms, std::string_view retry_after,
                                       int64_t now_unix_s);

// The Error for a non-2xx answer: the kind from the status, the message from an OpenAI error body
// {error:{message,type,code}} (or the start of the body, or the status alone), prefixed with the
// provider name and status.
Error ErrorFromHttpAnswer(std::string_view provider, int status, std::string_view body,
                          std::optional<int64_t> retry_after_ms);

// Assembles a streamed chat completion from the data of its SSE events (one chat.completion.chunk
// JSON each, then "[DONE]"). Text deltas of choices[0] go to `on_text` as they arrive; tool-call
// deltas are merged by their index (id and name from the first piece that has them, arguments
// concatenated); finish_reason, usage and model are kept. Not thread-safe; one per call.
class ChatStreamAssembler {
 public:
  explicit ChatStreamAssembler(TextSink on_text) : on_text_(std::move(on_text)) {}

  // Consumes one event. Returns false once the stream carried an error object or a malformed chunk
  // (then error() says which, and later events are ignored). Events after [DONE] are ignored.
  bool OnEvent(std::string_view data);

  bool done() const { return done_; }  // [DONE] seen
  bool failed() const { return error_.has_value(); }
  const std::optional<Error>& error() const { return error_; }
  size_t events() const { return events_; }

  // The assembled answer; the stream's error if it carried one; kind network "stream ended early"
  // when neither [DONE] nor a finish_reason arrived.
  Result<LlmResponse> Finish();

 private:
  void MergeToolCallDeltas(const json::array& deltas);
  void ConsumeChunk(const json::object& chunk);

  TextSink on_text_;
  LlmResponse response_;
  std::map<int64_t, ToolCall> tool_calls_;  // by the delta's index (a map: indexes are untrusted)
  int64_t last_index_ = -1;
  std::optional<Error> error_;
  bool done_ = false;
  size_t events_ = 0;
};

}  // namespace oc::agent
