// The `anthropic-messages` provider (SPEC §8.2): POST <baseUrl>/v1/messages in Anthropic's Messages
// wire format, with headers x-api-key and anthropic-version: 2023-06-01. Streaming answers are read
// as Server-Sent Events (message_start ... message_stop) and assembled by AnthropicStreamAssembler;
// non-streamed answers are read whole. The mapping of messages, tools, tool results, stop reasons
// and usage is documented in agent/anthropic_wire.h.
// Errors: classified as documented in agent/llm.h (529 "overloaded" is a 5xx: kind server); an
// Anthropic error body {type:"error", error:{type, message}} supplies the message; Retry-After
// (seconds or HTTP date) becomes retryAfterMs; an `error` event inside a stream is classified by its
// error type (overloaded_error → server, rate_limit_error → rate_limit, ...).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "agent/http_client.h"
#include "agent/llm.h"

namespace oc::agent {

inline constexpr std::string_view kAnthropicVersion = "2023-06-01";

struct AnthropicSettings {
  std::string name = "anthropic";                       // provider name as configured
  std::string base_url = "https://api.anthropic.com";  // "/v1/messages" is appended; a base URL
                                                        // already ending in "/v1" gets "/messages"
  std::string api_key;                                  // empty: no x-api-key header (local proxies)
};

// The provider keeps a reference to `http`, which must outlive it. Complete never throws.
std::unique_ptr<Provider> MakeAnthropicProvider(HttpClient& http, AnthropicSettings settings);

}  // namespace oc::agent
