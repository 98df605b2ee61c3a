// The `ollama` provider (SPEC §8.2): Ollama's native chat API, POST <baseUrl>/api/chat. Streaming
// answers are NDJSON (one JSON object per line, the last with done:true), not SSE; tool calls arrive
// whole with their arguments as a JSON object. The wire mapping is documented in agent/ollama_wire.h.
// No authentication by default: `Authorization: Bearer <key>` is sent only when an api key is set
// (a proxy or a hosted Ollama in front).
// Errors: classified as documented in agent/llm.h from the HTTP status (404 "model not found" is
// bad_request; 429 honours Retry-After); the message comes from Ollama's {"error": "..."} body; an
// error line inside a 2xx stream is an error of kind server.
// Call ids: Ollama gives none, so each tool call gets "call_<n>", n counted per provider instance
// from a clock-based start, so ids stay unique within a session history across calls and restarts
// (other providers reject duplicate ids when a history is replayed to them after a failover).
#pragma once

#include <memory>
#include <string>

#include "agent/http_client.h"
#include "agent/llm.h"

namespace oc::agent {

struct OllamaSettings {
  std::string name = "ollama";                      // provider name as configured
  std::string base_url = "http://127.0.0.1:11434";  // the server root; a trailing "/v1" is dropped
  std::string api_key;                              // empty: no Authorization header
};

// `http` must outlive the provider.
std::unique_ptr<Provider> MakeOllamaProvider(HttpClient& http, OllamaSettings settings);

}  // namespace oc::agent
