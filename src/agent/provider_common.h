// What every provider client does the same way: naming itself in errors, mapping the HTTP client's
// transport failures to error kinds (agent/llm.h), reading Retry-After from an answer.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "agent/http_client.h"
#include "agent/openai_wire.h"

namespace oc::agent {

// Timeout → timeout, connect/reset/TLS → network, anything else (malformed URL, oversized body)
// → bad_request; the message starts with the provider's name.
inline Error ProviderTransportError(std::string_view provider, const Error& e) {
  std::string message = std::string(provider) + ": " + e.message;
  if (e.code == ErrorCode::kTimeout) return MakeLlmError(kErrTimeout, std::move(message));
  if (e.code == ErrorCode::kConnectionClosed) return MakeLlmError(kErrNetwork, std::move(message));
  return MakeLlmError(kErrBadRequest, std::move(message));
}

// `r` unchanged when ok; otherwise its error with "<provider>: " in front of the message.
template <class T>
Result<T> NamedByProvider(std::string_view provider, Result<T> r) {
  if (r.ok()) return r;
  Error e = r.error();
  e.message = std::string(provider) + ": " + e.message;
  return e;
}

// retry-after-ms, else Retry-After (seconds or an HTTP date), in ms.
inline std::optional<int64_t> RetryAfterOf(const HttpResponse& answer) {
  return ParseRetryAfter(answer.Header("retry-after-ms"), answer.Header("retry-after"),
                         static_cast<int64_t>(std::time(nullptr)));
}

// Does the body look like one JSON object (a server that ignored "stream": true)?
inline bool StartsLikeJsonObject(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && text[first] == '{';
}

}  // namespace oc::agent
