// The model-facing types of the agent runtime (SPEC §8.2): a chat request with tools, the response,
// and the Provider interface every wire format implements (openai-completions now; anthropic,
// gemini, ollama and app-provided providers plug in the same way).
//
// Errors of a provider call carry data {kind, httpStatus?, retryAfterMs?} so the failover policy can
// decide without parsing messages:
//   kind "rate_limit" (429) · "server" (5xx) · "timeout" · "network" (connect/reset) → retried
//   with backoff (honouring retryAfterMs), then the next model;
//   "auth" (401/403) → the next provider at once; "bad_request" (other 4xx, unparseable answer)
//   → the next model at once.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace oc::agent {

namespace asio = boost::asio;

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text as the model produced it (may be invalid JSON)
};

struct ChatMessage {
  std::string role;  // system | user | assistant | tool
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant
  std::string tool_call_id;          // tool
  std::string name;                  // tool: the tool's name
};

struct ToolSpec {
  std::string name;
  std::string description;
  json::value input_schema;  // JSON Schema object; {"type":"object"} when the tool gave none
};

struct LlmRequest {
  std::string model;  // the provider's model name (without "provider/")
  std::vector<ChatMessage> messages;
  std::vector<ToolSpec> tools;
  bool stream = true;
  std::optional<int64_t> max_tokens;
  std::optional<double> temperature;
};

struct TokenUsage {
  int64_t input = 0;
  int64_t output = 0;
};

struct LlmResponse {
  std::string text;
  std::vector<ToolCall> tool_calls;
  std::string finish_reason;  // stop | tool_calls | length | ...
  TokenUsage usage;
  std::string model;  // as reported by the server
};

// Called with each text delta while a streamed answer arrives (never for tool-call arguments).
using TextSink = std::function<void(std::string_view delta)>;

// Error kinds (Error::data["kind"]).
inline constexpr std::string_view kErrRateLimit = "rate_limit";
inline constexpr std::string_view kErrServer = "server";
inline constexpr std::string_view kErrTimeout = "timeout";
inline constexpr std::string_view kErrNetwork = "network";
inline constexpr std::string_view kErrAuth = "auth";
inline constexpr std::string_view kErrBadRequest = "bad_request";

class Provider {
 public:
  virtual ~Provider() = default;
  virtual const std::string& name() const = 0;  // "openai", "openrouter", ...
  // One model call. `timeout` bounds the whole call (connect to last byte). Runs on the caller's
  // executor; never blocks it. `on_text` may be empty.
  virtual asio::awaitable<Result<LlmResponse>> Complete(const LlmRequest& request, TextSink on_text,
                                                        std::chrono::milliseconds timeout) = 0;
};

}  // namespace oc::agent
