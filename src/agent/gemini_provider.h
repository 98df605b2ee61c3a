// The `gemini` provider (SPEC §8.2): Google's Generative Language API v1beta.
//   POST <baseUrl>/v1beta/models/<model>:generateContent             (stream = false)
//   POST <baseUrl>/v1beta/models/<model>:streamGenerateContent?alt=sse (stream = true)
// with the key in the `x-goog-api-key` header (none when the key is empty). A base URL that already
// ends in /v1beta (or /v1) is used as it is. Streamed answers are Server-Sent Events whose data are
// whole GenerateContentResponse chunks; a 2xx answer without any event is read as a plain JSON answer
// (an object, or the array of chunks the endpoint sends without alt=sse).
// The wire format (bodies, answers, thought signatures, finish reasons) is described in
// agent/gemini_wire.h.
// Errors: classified as documented in agent/llm.h; a Google error body {error:{code,message,status,
// details}} supplies the message; Retry-After (seconds or HTTP date) wins over a RetryInfo
// detail's retryDelay ("2s") for retryAfterMs. Errors inside a stream are classified the same way.
// State: the provider numbers synthesized tool-call ids ("call_<n>", unique while it lives) and
// remembers the thought signatures of the last 512 tool calls it returned, so the next request can
// send them back. Threading: like every Provider, used from one executor.
#pragma once

#include <memory>
#include <string>

#include "agent/http_client.h"
#include "agent/llm.h"

namespace oc::agent {

struct GeminiSettings {
  std::string name = "gemini";  // provider name as configured
  std::string base_url = "https://generativelanguage.googleapis.com";  // without /v1beta/models/...
  std::string api_key;  // empty: no x-goog-api-key header (a local proxy that adds it)
};

std::unique_ptr<Provider> MakeGeminiProvider(HttpClient& http, GeminiSettings settings);

}  // namespace oc::agent
