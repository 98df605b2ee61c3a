// Model failover and retries (SPEC §8.2): tries a list of model refs "provider/model" in order.
// Per model: errors of kind rate_limit/server/timeout/network are retried up to `max_retries` times
// with exponential backoff (base_delay × 2^n, capped at max_delay, plus jitter), waiting
// retryAfterMs instead when the server gave one (capped at max_retry_after); then the next model.
// kind auth → the next model of ANOTHER provider at once; bad_request → the next model at once.
// Every attempt is recorded, including models skipped without a call (unknown provider or bad ref:
// kind bad_request; provider already failed authentication: kind auth, error "skipped: ...").
// Streaming text of a failed attempt may already have reached `on_text` (callers that care reset
// their buffer on `on_attempt_start`, which is called before each provider call, not for skips).
// Waits use a steady_timer on the caller's executor.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/llm.h"

namespace oc::agent {

// "openai/gpt-4o" → {"openai", "gpt-4o"}; a ref without '/' → provider "" (kInvalidParams).
Result<std::pair<std::string, std::string>> ParseModelRef(std::string_view ref);

struct RetryPolicy {
  int max_retries = 2;  // retries per model after the first attempt
  std::chrono::milliseconds base_delay{500};
  std::chrono::milliseconds max_delay{8000};
  std::chrono::milliseconds max_retry_after{60000};
  std::chrono::milliseconds call_timeout{120000};
};

struct Attempt {
  std::string model;  // the ref
  bool ok = false;
  std::string error;       // message when !ok
  std::string error_kind;  // kind when !ok
  int http_status = 0;
  int64_t duration_ms = 0;
  json::value ToJson() const;  // {model, status:"ok"|"error", error?, kind?, httpStatus?, durationMs}
};

// When every model fails, `response` is the error of the last provider call (or, when no provider
// could be called at all, of the last ref that could not be resolved: kInvalidParams/kNotFound).
struct FailoverResult {
  Result<LlmResponse> response = MakeError(ErrorCode::kInternalError, "no model configured");
  std::string model;  // the ref that answered (or the last one whose provider was called)
  std::vector<Attempt> attempts;
};

// Looks a provider up by name; nullptr when unknown (that model is skipped with an attempt saying so).
using ProviderLookup = std::function<Provider*(const std::string& provider_name)>;

asio::awaitable<FailoverResult> CompleteWithFailover(const std::vector<std::string>& model_refs,
                                                     LlmRequest request, const ProviderLookup& providers,
                                                     RetryPolicy policy, TextSink on_text,
                                                     std::function<void(const std::string& model)> on_attempt_start = {});

}  // namespace oc::agent
