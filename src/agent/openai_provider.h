// The `openai-completions` provider (SPEC §8.2): POST <baseUrl>/chat/completions in OpenAI's chat
// completions wire format (also OpenRouter, vLLM, LM Studio, Ollama's /v1). Streaming answers are
// read as Server-Sent Events ("data: {chunk}" ... "data: [DONE]"), assembling text deltas and
// tool-call deltas (by index); non-streamed answers are read whole. Tool calls go out as
// `tools: [{type:"function", function:{name, description, parameters}}]`, come back as
// `tool_calls`, and their results are sent as role "tool" messages with tool_call_id.
// Usage: requested with stream_options.include_usage when streaming.
// Errors: classified as documented in agent/llm.h; an OpenAI error body {error:{message,type,code}}
// supplies the message; Retry-After (seconds or HTTP date) and retry-after-ms become retryAfterMs.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "agent/http_client.h"
#include "agent/llm.h"

namespace oc::agent {

struct OpenAiSettings {
  std::string name = "openai";  // provider name as configured
  std::string base_url = "https://api.openai.com/v1";  // without trailing /chat/completions
  std::string api_key;          // empty: no Authorization header (local servers)
};

std::unique_ptr<Provider> MakeOpenAiProvider(HttpClient& http, OpenAiSettings settings);

// Incremental SSE parser (WHATWG event-stream rules: lines end in \n, \r\n or \r; "data:" lines of
// one event are joined with \n; comments ":" ignored; an empty line dispatches). Exposed for the
// provider, the fuzz target and tests.
class SseParser {
 public:
  // Feeds bytes; calls on_event(data) for each complete event. Returns false (and stops) when a
  // single event would exceed max_event_bytes.
  bool Feed(std::string_view bytes, const std::function<void(std::string_view event_data)>& on_event);
  // At the end of the stream: dispatches an event whose terminating blank line never came (the
  // WHATWG rules drop it; servers that end with "data: [DONE]\n" rely on leniency here).
  void Flush(const std::function<void(std::string_view event_data)>& on_event);
  explicit SseParser(size_t max_event_bytes = 8 << 20) : max_event_bytes_(max_event_bytes) {}

 private:
  bool ProcessLine(const std::function<void(std::string_view event_data)>& on_event);

  std::string line_;
  std::string data_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
  bool failed_ = false;  // the limit was hit: every later Feed returns false
  size_t max_event_bytes_;
};

// Builds the request body (JSON text) for a request; exposed for tests.
std::string BuildChatCompletionsBody(const LlmRequest& request);
// Parses a non-streamed chat completion body. kInvalidRequest (kind bad_request) when malformed.
Result<LlmResponse> ParseChatCompletion(std::string_view body);

}  // namespace oc::agent
