#include "agent/failover.h"

#include <gtest/gtest.h>

#include <deque>

#include "agent/openai_provider.h"
#include "agent/openai_wire.h"
#include "agent/test_http_server.h"

namespace oc::agent {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test_server::CannedAnswer;
using test_server::RawResponse;
using test_server::RunCoroutine;

// A provider that answers from a script and records the models it was asked for.
class ScriptedProvider : public Provider {
 public:
  explicit ScriptedProvider(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }

  void Answer(std::string text) {
    LlmResponse r;
    r.text = std::move(text);
    r.finish_reason = "stop";
    script_.push_back(std::move(r));
  }
  void Fail(std::string_view kind, int status = 0, std::optional<int64_t> retry_after_ms = std::nullopt) {
    script_.push_back(MakeLlmError(kind, name_ + " failed with " + std::string(kind), status, retry_after_ms));
  }

  asio::awaitable<Result<LlmResponse>> Complete(const LlmRequest& request, TextSink on_text,
                                                std::chrono::milliseconds timeout) override {
    calls.push_back(request.model);
    timeouts.push_back(timeout);
    if (script_.empty()) co_return MakeError(ErrorCode::kInternalError, "script exhausted");
    Result<LlmResponse> next = std::move(script_.front());
    script_.pop_front();
    if (next.ok() && on_text) on_text(next->text);
    co_return next;
  }

  std::vector<std::string> calls;
  std::vector<std::chrono::milliseconds> timeouts;

 private:
  std::string name_;
  std::deque<Result<LlmResponse>> script_;
};

class FailoverTest : public ::testing::Test {
 protected:
  FailoverResult RunFailover(const std::vector<std::string>& refs) {
    ProviderLookup lookup = [this](const std::string& name) -> Provider* {
      if (name == "alpha") return &alpha;
      if (name == "beta") return &beta;
      return nullptr;
    };
    LlmRequest request;
    request.messages.push_back({"user", "hi", {}, "", ""});
    auto started_at = std::chrono::steady_clock::now();
    FailoverResult r = RunCoroutine(
        io, CompleteWithFailover(refs, request, lookup, policy, [this](std::string_view d) { text += d; },
                                 [this](const std::string& model) { started.push_back(model); }));
    elapsed = std::chrono::steady_clock::now() - started_at;
    return r;
  }

  asio::io_context io;
  ScriptedProvider alpha{"alpha"};
  ScriptedProvider beta{"beta"};
  RetryPolicy policy{2, 1ms, 4ms, 60000ms, 1234ms};
  std::string text;
  std::vector<std::string> started;
  std::chrono::steady_clock::duration elapsed{};
};

TEST(ParseModelRefTest, SplitsAtTheFirstSlash) {
  auto r = ParseModelRef("openai/gpt-4o");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, "openai");
  EXPECT_EQ(r->second, "gpt-4o");
  auto nested = ParseModelRef("openrouter/meta-llama/llama-3.1-70b");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->first, "openrouter");
  EXPECT_EQ(nested->second, "meta-llama/llama-3.1-70b");
  for (const char* bad : {"gpt-4o", "/gpt", "openai/", ""}) {
    auto e = ParseModelRef(bad);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.error().code, ErrorCode::kInvalidParams);
  }
}

TEST_F(FailoverTest, FirstModelAnswers) {
  alpha.Answer("hello");
  auto r = RunFailover({"alpha/one", "beta/two"});
  ASSERT_TRUE(r.response.ok());
  EXPECT_EQ(r.response->text, "hello");
  EXPECT_EQ(r.model, "alpha/one");
  EXPECT_EQ(alpha.calls, std::vector<std::string>{"one"});  // the provider sees the bare model name
  EXPECT_EQ(alpha.timeouts, std::vector<std::chrono::milliseconds>{1234ms});
  EXPECT_TRUE(beta.calls.empty());
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_TRUE(r.attempts[0].ok);
  EXPECT_EQ(text, "hello");
  EXPECT_EQ(started, std::vector<std::string>{"alpha/one"});
}

TEST_F(FailoverTest, RateLimitIsRetriedOnTheSameModelHonouringRetryAfter) {
  policy.base_delay = 2000ms;  // a backoff instead of the server's 50 ms would blow the bound below
  policy.max_delay = 2000ms;
  alpha.Fail(kErrRateLimit, 429, 50);
  alpha.Answer("after the wait");
  auto r = RunFailover({"alpha/one", "beta/two"});
  ASSERT_TRUE(r.response.ok());
  EXPECT_EQ(r.response->text, "after the wait");
  EXPECT_EQ(alpha.calls, (std::vector<std::string>{"one", "one"}));
  EXPECT_GE(elapsed, 50ms);
  EXPECT_LT(elapsed, 1500ms);
  ASSERT_EQ(r.attempts.size(), 2u);
  EXPECT_FALSE(r.attempts[0].ok);
  EXPECT_EQ(r.attempts[0].http_status, 429);
  EXPECT_EQ(r.attempts[0].error_kind, "rate_limit");
  EXPECT_TRUE(r.attempts[1].ok);
  EXPECT_EQ(started, (std::vector<std::string>{"alpha/one", "alpha/one"}));
}

TEST_F(FailoverTest, RetryAfterIsCapped) {
  policy.max_retry_after = 30ms;
  alpha.Fail(kErrRateLimit, 429, 3'600'000);
  alpha.Answer("ok");
  auto r = RunFailover({"alpha/one"});
  ASSERT_TRUE(r.response.ok());
  EXPECT_LT(elapsed, 2s);
}

TEST_F(FailoverTest, ServerErrorsExhaustRetriesThenTheNextModel) {
  policy.base_delay = 20ms;
  policy.max_delay = 1000ms;
  for (int i = 0; i < 3; ++i) alpha.Fail(kErrServer, 500);
  beta.Answer("from beta");
  auto r = RunFailover({"alpha/one", "beta/two"});
  ASSERT_TRUE(r.response.ok());
  EXPECT_EQ(r.model, "beta/two");
  EXPECT_EQ(alpha.calls.size(), 3u);  // first try + max_retries
  EXPECT_EQ(beta.calls, std::vector<std::string>{"two"});
  EXPECT_GE(elapsed, 60ms);  // backoff 20 ms then 40 ms (plus jitter)
  ASSERT_EQ(r.attempts.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r.attempts[i].model, "alpha/one");
    EXPECT_EQ(r.attempts[i].http_status, 500);
    EXPECT_EQ(r.attempts[i].error_kind, "server");
  }
  EXPECT_EQ(r.attempts[3].model, "beta/two");
  EXPECT_TRUE(r.attempts[3].ok);
}

TEST_F(FailoverTest, TimeoutsAndNetworkErrorsAreRetried) {
  alpha.Fail(kErrTimeout);
  alpha.Fail(kErrNetwork);
  alpha.Answer("third time");
  auto r = RunFailover({"alpha/one"});
  ASSERT_TRUE(r.response.ok());
  EXPECT_EQ(alpha.calls.size(), 3u);
}

TEST_F(FailoverTest, AuthErrorSkipsTheRestOfThatProvider) {
  alpha.Fail(kErrAuth, 401);
  beta.Answer("beta answers");
  auto r = RunFailover({"alpha/one", "alpha/two", "beta/three"});
  ASSERT_TRUE(r.response.ok());
  EXPECT_EQ(alpha.calls, std::vector<std::string>{"one"});  // not retried, "two" never asked
  EXPECT_EQ(r.model, "beta/three");
  ASSERT_EQ(r.attempts.size(), 3u);
  EXPECT_EQ(r.attempts[0].error_kind, "auth");
  EXPECT_EQ(r.attempts[0].http_status, 401);
  EXPECT_EQ(r.attempts[1].model, "alpha/two");
  EXPECT_EQ(r.attempts[1].error_kind, "auth");
  EXPECT_NE(r.attempts[1].error.find("skipped"), std::string::npos);
  EXPECT_EQ(r.attempts[1].duration_ms, 0);
  EXPECT_TRUE(r.attempts[2].ok);
}

TEST_F(FailoverTest, BadRequestMovesOnAtOnce) {
  policy.base_delay = 5000ms;  // any wait would show
  alpha.Fail(kErrBadRequest, 400);
  alpha.Answer("second alpha model");
  auto r = RunFailover({"alpha/one", "alpha/two"});
  ASSERT_TRUE(r.response.ok());
  EXPECT_EQ(alpha.calls, (std::vector<std::string>{"one", "two"}));
  EXPECT_LT(elapsed, 1s);
  EXPECT_EQ(r.attempts[0].error_kind, "bad_request");
}

TEST_F(FailoverTest, UnknownProviderAndInvalidRefAreSkippedWithAnAttempt) {
  beta.Answer("ok");
  auto r = RunFailover({"nosuch/model", "no-slash", "beta/two"});
  ASSERT_TRUE(r.response.ok());
  ASSERT_EQ(r.attempts.size(), 3u);
  EXPECT_EQ(r.attempts[0].model, "nosuch/model");
  EXPECT_FALSE(r.attempts[0].ok);
  EXPECT_NE(r.attempts[0].error.find("unknown provider 'nosuch'"), std::string::npos);
  EXPECT_EQ(r.attempts[1].model, "no-slash");
  EXPECT_FALSE(r.attempts[1].ok);
  EXPECT_TRUE(r.attempts[2].ok);
  EXPECT_EQ(started, std::vector<std::string>{"beta/two"});  // only real calls start an attempt
}

TEST_F(FailoverTest, EverythingFailingReturnsTheLastProviderError) {
  policy.max_retries = 0;
  alpha.Fail(kErrServer, 503);
  beta.Fail(kErrBadRequest, 404);
  auto r = RunFailover({"alpha/one", "beta/two", "ghost/three"});
  ASSERT_FALSE(r.response.ok());
  EXPECT_EQ(r.response.error().message, "beta failed with bad_request");
  EXPECT_EQ(r.model, "beta/two");
  ASSERT_EQ(r.attempts.size(), 3u);
  EXPECT_EQ(r.attempts[2].model, "ghost/three");
}

TEST_F(FailoverTest, NoModelsAndOnlyUnknownProviders) {
  auto none = RunFailover({});
  ASSERT_FALSE(none.response.ok());
  EXPECT_TRUE(none.attempts.empty());

  auto unknown = RunFailover({"ghost/one"});
  ASSERT_FALSE(unknown.response.ok());
  EXPECT_EQ(unknown.response.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(unknown.model, "ghost/one");
}

TEST(AttemptTest, ToJson) {
  Attempt ok;
  ok.model = "openai/gpt-4o";
  ok.ok = true;
  ok.duration_ms = 120;
  EXPECT_EQ(ok.ToJson(), json::parse(R"({"model":"openai/gpt-4o","status":"ok","durationMs":120})"));
  Attempt failed;
  failed.model = "openai/gpt-4o";
  failed.error = "openai: HTTP 429: slow down";
  failed.error_kind = "rate_limit";
  failed.http_status = 429;
  failed.duration_ms = 3;
  EXPECT_EQ(failed.ToJson(), json::parse(R"({"model":"openai/gpt-4o","status":"error","error":"openai: HTTP 429: slow down",
                                             "kind":"rate_limit","httpStatus":429,"durationMs":3})"));
}

// The whole path: the real provider, a local server answering 429 with retry-after-ms, then 200.
TEST(FailoverEndToEndTest, RateLimitedThenAnsweredOverHttp) {
  asio::io_context io;
  test_server::TestHttpServer server(io.get_executor());
  server.Queue(CannedAnswer{{RawResponse(429, "Too Many Requests", "retry-after-ms: 50\r\n",
                                         R"({"error":{"message":"Rate limit reached","type":"requests"}})")}});
  server.Queue(CannedAnswer{{test_server::RawChunkedStream(
      {"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"pong\"},\"finish_reason\":\"stop\"}]}\n\n",
       "data: [DONE]\n\n"})}});
  HttpClient http(io.get_executor());
  auto provider = MakeOpenAiProvider(http, OpenAiSettings{"local", server.base_url() + "/v1", ""});
  ProviderLookup lookup = [&](const std::string& name) { return name == "local" ? provider.get() : nullptr; };
  LlmRequest request;
  request.messages.push_back({"user", "ping", {}, "", ""});
  RetryPolicy policy;
  policy.base_delay = 5000ms;
  std::string text;
  auto started = std::chrono::steady_clock::now();
  FailoverResult r = RunCoroutine(io, CompleteWithFailover({"local/tiny"}, request, lookup, policy,
                                                          [&](std::string_view d) { text += d; }));
  auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(r.response.ok()) << r.response.error().message;
  EXPECT_EQ(r.response->text, "pong");
  EXPECT_EQ(text, "pong");
  EXPECT_GE(elapsed, 50ms);
  EXPECT_LT(elapsed, 3s);
  ASSERT_EQ(r.attempts.size(), 2u);
  EXPECT_EQ(r.attempts[0].http_status, 429);
  EXPECT_EQ(r.attempts[0].error_kind, "rate_limit");
  EXPECT_TRUE(r.attempts[1].ok);
  EXPECT_EQ(server.requests().at(1).Json().at("model"), "tiny");
}

}  // namespace
}  // namespace oc::agent
