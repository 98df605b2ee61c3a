// Failover over a list of model refs: per model a few retries with backoff for transient errors,
// then the next model; auth errors rule out the provider for the rest of the list.
#include "agent/failover.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <set>

#include "agent/openai_wire.h"

namespace oc::agent {
namespace {

using std::chrono::milliseconds;

// splitmix64: jitter only needs to spread retries of concurrent runs apart, not be unpredictable.
uint64_t NextRandom() {
  thread_local uint64_t state = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

bool IsRetryable(std::string_view kind) {
  return kind == kErrRateLimit || kind == kErrServer || kind == kErrTimeout || kind == kErrNetwork;
}

std::string KindOf(const Error& e) {
  if (const auto* data = e.data.if_object()) {
    if (auto kind = GetString(*data, "kind")) return std::string(*kind);
  }
  return "";
}

// The wait before retry number `retry` (0-based): the server's Retry-After when it sent one
// (capped), else base × 2^retry capped at max_delay, plus up to 25% jitter.
milliseconds RetryDelay(const Error& e, int retry, const RetryPolicy& policy) {
  if (const auto* data = e.data.if_object()) {
    if (auto after = GetInt(*data, "retryAfterMs"); after && *after >= 0) {
      return std::min(milliseconds(*after), policy.max_retry_after);
    }
  }
  int64_t delay = policy.base_delay.count();
  for (int i = 0; i < retry && delay < policy.max_delay.count(); ++i) delay *= 2;
  delay = std::min(delay, static_cast<int64_t>(policy.max_delay.count()));
  int64_t jitter_span = delay / 4;
  int64_t jitter = jitter_span > 0 ? static_cast<int64_t>(NextRandom() % static_cast<uint64_t>(jitter_span + 1)) : 0;
  return milliseconds(delay + jitter);
}

asio::awaitable<void> Sleep(milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(delay);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

Attempt FailedAttempt(const std::string& ref, std::string error, std::string_view kind) {
  Attempt a;
  a.model = ref;
  a.error = std::move(error);
  a.error_kind = std::string(kind);
  return a;
}

Attempt RecordCall(const std::string& ref, const Result<LlmResponse>& r,
                   std::chrono::steady_clock::time_point started) {
  Attempt a;
  a.model = ref;
  a.ok = r.ok();
  a.duration_ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (!r.ok()) {
    a.error = r.error().message;
    a.error_kind = KindOf(r.error());
    if (const auto* data = r.error().data.if_object()) {
      a.http_status = static_cast<int>(GetInt(*data, "httpStatus").value_or(0));
    }
  }
  return a;
}

// Calls one model until it answers, fails for good, or runs out of retries; records each call.
asio::awaitable<Result<LlmResponse>> CallWithRetries(Provider& provider, const std::string& ref,
                                                     const LlmRequest& request, const RetryPolicy& policy,
                                                     const TextSink& on_text,
                                                     const std::function<void(const std::string&)>& on_attempt_start,
                                                     std::vector<Attempt>& attempts) {
  for (int retry = 0;; ++retry) {
    if (on_attempt_start) on_attempt_start(ref);
    auto started = std::chrono::steady_clock::now();
    Result<LlmResponse> r = co_await provider.Complete(request, on_text, policy.call_timeout);
    attempts.push_back(RecordCall(ref, r, started));
    if (r.ok() || !IsRetryable(KindOf(r.error())) || retry >= policy.max_retries) co_return r;
    co_await Sleep(RetryDelay(r.error(), retry, policy));
  }
}

}  // namespace

Result<std::pair<std::string, std::string>> ParseModelRef(std::string_view ref) {
  size_t slash = ref.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == ref.size()) {
    return MakeError(ErrorCode::kInvalidParams,
                     "model ref '" + std::string(ref) + "' is not of the form provider/model");
  }
  // Only the first '/' separates: OpenRouter models contain slashes ("openrouter/meta/llama-3").
  return std::pair<std::string, std::string>(std::string(ref.substr(0, slash)), std::string(ref.substr(slash + 1)));
}

json::value Attempt::ToJson() const {
  json::object out{{"model", model}, {"status", ok ? "ok" : "error"}};
  if (!ok) {
    out["error"] = error;
    if (!error_kind.empty()) out["kind"] = error_kind;
  }
  if (http_status != 0) out["httpStatus"] = http_status;
  out["durationMs"] = duration_ms;
  return out;
}

asio::awaitable<FailoverResult> CompleteWithFailover(const std::vector<std::string>& model_refs,
                                                     LlmRequest request, const ProviderLookup& providers,
                                                     RetryPolicy policy, TextSink on_text,
                                                     std::function<void(const std::string& model)> on_attempt_start) {
  FailoverResult out;
  std::set<std::string> failed_auth;  // providers ruled out for this call
  bool called = false;                // a provider was called: its error beats a lookup failure
  for (const std::string& ref : model_refs) {
    if (!called) out.model = ref;
    auto parsed = ParseModelRef(ref);
    if (!parsed.ok()) {
      out.attempts.push_back(FailedAttempt(ref, parsed.error().message, kErrBadRequest));
      if (!called) out.response = parsed.error();
      continue;
    }
    const auto& [provider_name, model] = *parsed;
    if (failed_auth.count(provider_name)) {
      std::string why = "skipped: provider '" + provider_name + "' failed authentication";
      out.attempts.push_back(FailedAttempt(ref, why, kErrAuth));
      continue;
    }
    Provider* provider = providers ? providers(provider_name) : nullptr;
    if (!provider) {
      std::string why = "unknown provider '" + provider_name + "'";
      out.attempts.push_back(FailedAttempt(ref, why, kErrBadRequest));
      if (!called) out.response = MakeError(ErrorCode::kNotFound, why);
      continue;
    }
    request.model = model;
    called = true;
    out.model = ref;
    out.response = co_await CallWithRetries(*provider, ref, request, policy, on_text, on_attempt_start, out.attempts);
    if (out.response.ok()) co_return out;
    if (KindOf(out.response.error()) == kErrAuth) failed_auth.insert(provider_name);
  }
  co_return out;
}

}  // namespace oc::agent
