#include "memory/embedder.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <cmath>
#include <thread>

#include "agent/test_http_server.h"
#include "memory/embedder_wire.h"
#include "memory/memory_text.h"

namespace oc::memory {
namespace {

using namespace std::chrono_literals;
using agent::HttpClient;
using agent::test_server::CannedAnswer;
using agent::test_server::CapturedRequest;
using agent::test_server::RawResponse;
using agent::test_server::RunCoroutine;
using agent::test_server::TestHttpServer;
using Vectors = std::vector<std::vector<float>>;

const std::string kKey = "sk-secret-key-123";

double Norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

CannedAnswer Json(int status, const std::string& body, const std::string& headers = "") {
  static const std::map<int, std::string> reasons = {{200, "OK"}, {400, "Bad Request"}, {401, "Unauthorized"},
                                                     {403, "Forbidden"}, {429, "Too Many Requests"},
                                                     {500, "Internal Server Error"}, {503, "Service Unavailable"}};
  auto it = reasons.find(status);
  return CannedAnswer{{RawResponse(status, it == reasons.end() ? "Status" : it->second, headers, body)}};
}

// A vector that says which text it belongs to: [1 + position-in-batch, 2, 0, ...] of `dims`, so the
// test can tell the order after normalisation.
json::array MarkedVector(size_t i, size_t dims) {
  json::array v;
  for (size_t d = 0; d < dims; ++d) v.emplace_back(d == 0 ? static_cast<double>(i + 1) : d == 1 ? 2.0 : 0.0);
  return v;
}

// Which text a MarkedVector came from (its first two components are (i+1, 2) up to scale).
int MarkOf(const std::vector<float>& v) { return static_cast<int>(std::lround(2.0 * v[0] / v[1])) - 1; }

class EmbedderTest : public ::testing::Test {
 protected:
  std::unique_ptr<Embedder> Make(EmbedderSettings s) {
    if (s.base_url.empty()) s.base_url = server.base_url() + "/v1/";
    s.retry_base_delay = 1ms;
    auto r = MakeEmbedder(s, io.get_executor(), pool, http);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? std::move(*r) : nullptr;
  }
  static EmbedderSettings Settings(std::string provider, std::string key = kKey) {
    EmbedderSettings s;
    s.provider = std::move(provider);
    s.api_key = std::move(key);
    return s;
  }
  Result<Vectors> Embed(Embedder& e, std::vector<std::string> texts) { return RunCoroutine(io, e.Embed(std::move(texts))); }

  // Answers every openai request with one MarkedVector per input, in reverse index order.
  void ServeOpenAi(size_t dims = 4) {
    server.set_handler([dims](const CapturedRequest& req) {
      size_t n = req.Json().at("input").as_array().size();
      json::array data;
      for (size_t i = n; i-- > 0;) data.push_back(json::object{{"object", "embedding"}, {"index", i}, {"embedding", MarkedVector(i, dims)}});
      return Json(200, json::serialize(json::object{{"object", "list"}, {"data", data}, {"model", "m"}}));
    });
  }

  asio::io_context io;
  asio::thread_pool pool{2};
  TestHttpServer server{io.get_executor()};
  HttpClient http{io.get_executor()};
};

// ---- construction ----

TEST_F(EmbedderTest, SettingsAreCheckedAtConstruction) {
  auto make = [&](EmbedderSettings s) { return MakeEmbedder(s, io.get_executor(), pool, http); };
  auto unknown = make(Settings("cohere"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidParams);
  EXPECT_NE(unknown.error().message.find("cohere"), std::string::npos);
  for (const char* provider : {"openai", "gemini"}) {
    auto keyless = make(Settings(provider, ""));
    ASSERT_FALSE(keyless.ok()) << provider;
    EXPECT_EQ(keyless.error().code, ErrorCode::kInvalidParams);
    EXPECT_NE(keyless.error().message.find("apiKey"), std::string::npos);
  }
  EXPECT_TRUE(make(Settings("ollama", "")).ok());
  EXPECT_TRUE(make(Settings("local", "")).ok());
  EmbedderSettings tiny = Settings("local", "");
  tiny.dimensions = 4;
  EXPECT_EQ(make(tiny).error().code, ErrorCode::kInvalidParams);
  EmbedderSettings other_model = Settings("local", "");
  other_model.model = "bert";
  EXPECT_EQ(make(other_model).error().code, ErrorCode::kInvalidParams);
}

TEST_F(EmbedderTest, ModelKeys) {
  auto key = [&](std::string provider, std::string model, int dims) {
    EmbedderSettings s = Settings(std::move(provider));
    s.model = std::move(model);
    s.dimensions = dims;
    return MakeEmbedder(s, io.get_executor(), pool, http).value()->model_key();
  };
  EXPECT_EQ(key("local", "", 0), "local/hash-v1-384");
  EXPECT_EQ(key("local", "hash-v1", 64), "local/hash-v1-64");
  EXPECT_EQ(key("openai", "", 0), "openai/text-embedding-3-small");
  EXPECT_EQ(key("openai", "text-embedding-3-large", 256), "openai/text-embedding-3-large-256");
  EXPECT_EQ(key("gemini", "", 0), "gemini/text-embedding-004");
  EXPECT_EQ(key("gemini", "models/text-embedding-004", 128), "gemini/text-embedding-004-128");
  EXPECT_EQ(key("ollama", "", 0), "ollama/nomic-embed-text");
}

// ---- local ----

TEST_F(EmbedderTest, LocalIsDeterministicNormalisedAndCounted) {
  EmbedderSettings s = Settings("local", "");
  s.batch_size = 2;
  auto embedder = Make(s);
  std::vector<std::string> texts = {"I prefer Postgres over MySQL", "the cat sat on the mat", "", "tea, not coffee", "x"};
  auto r = Embed(*embedder, texts);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 5u);
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ((*r)[i].size(), 384u);
    EXPECT_EQ((*r)[i], LocalEmbedding(texts[i]));
    EXPECT_NEAR(Norm((*r)[i]), texts[i].empty() ? 0.0 : 1.0, 1e-5);
  }
  EXPECT_EQ(embedder->texts_embedded(), 5);
  auto again = Embed(*embedder, {texts[0]});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->at(0), r->at(0));
  EXPECT_EQ(embedder->texts_embedded(), 6);
  auto none = Embed(*embedder, {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(embedder->texts_embedded(), 6);
}

TEST_F(EmbedderTest, LocalComputesOnTheWorkersAndResumesOnTheLoop) {
  auto embedder = Make(Settings("local", ""));
  std::string chunk;
  while (chunk.size() < 1600) chunk += "memory indexing of workspace files with hashed features ";
  std::vector<std::string> texts(3000, chunk);
  // A timer of the loop fires while the batch is computed elsewhere.
  bool timer_fired_first = false, done = false;
  asio::steady_timer timer(io, 1ms);
  timer.async_wait([&](boost::system::error_code) { timer_fired_first = !done; });
  std::thread::id loop_thread = std::this_thread::get_id(), resumed_on;
  auto run = [&]() -> asio::awaitable<Result<Vectors>> {
    auto r = co_await embedder->Embed(texts);
    resumed_on = std::this_thread::get_id();
    done = true;
    co_return r;
  };
  auto r = RunCoroutine(io, run());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), texts.size());
  EXPECT_EQ(resumed_on, loop_thread);
  EXPECT_TRUE(timer_fired_first);
}

// ---- openai ----

TEST_F(EmbedderTest, OpenAiRequestsBatchesAndOrdersByIndex) {
  ServeOpenAi();
  EmbedderSettings s = Settings("openai");
  s.model = "text-embedding-3-large";
  s.dimensions = 4;
  s.batch_size = 2;
  auto embedder = Make(s);
  auto r = Embed(*embedder, {"t0", "t1", "t2", "t3", "t4"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 5u);
  // Each batch answered in reverse order: placed by index, so marks are 0,1 | 0,1 | 0.
  std::vector<int> marks;
  for (const auto& v : *r) {
    EXPECT_EQ(v.size(), 4u);
    EXPECT_NEAR(Norm(v), 1.0, 1e-6);
    marks.push_back(MarkOf(v));
  }
  EXPECT_EQ(marks, (std::vector<int>{0, 1, 0, 1, 0}));
  EXPECT_EQ(embedder->texts_embedded(), 5);

  ASSERT_EQ(server.requests().size(), 3u);
  const char* inputs[] = {R"(["t0","t1"])", R"(["t2","t3"])", R"(["t4"])"};
  for (size_t i = 0; i < 3; ++i) {
    const auto& req = server.requests()[i];
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.target, "/v1/embeddings");
    EXPECT_EQ(req.Header("authorization"), "Bearer " + kKey);
    EXPECT_EQ(req.Header("content-type"), "application/json");
    EXPECT_EQ(req.Json(), json::parse(std::string(R"({"model":"text-embedding-3-large","input":)") + inputs[i] +
                                      R"(,"encoding_format":"float","dimensions":4})"));
  }
}

TEST_F(EmbedderTest, OpenAiWithoutDimensionsSendsNoneAndNormalises) {
  server.Queue(Json(200, R"({"data":[{"index":0,"embedding":[3,4]},{"index":1,"embedding":[0.0,-2.5]}]})"));
  auto embedder = Make(Settings("openai"));
  auto r = Embed(*embedder, {"a", "b"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FLOAT_EQ(r->at(0)[0], 0.6f);
  EXPECT_FLOAT_EQ(r->at(0)[1], 0.8f);
  EXPECT_FLOAT_EQ(r->at(1)[1], -1.0f);
  json::value body = server.requests().at(0).Json();
  EXPECT_EQ(body.at("model"), "text-embedding-3-small");
  EXPECT_FALSE(body.as_object().contains("dimensions"));
}

// ---- gemini ----

TEST_F(EmbedderTest, GeminiWireFormat) {
  server.set_handler([](const CapturedRequest& req) {
    json::array embeddings;
    size_t n = req.Json().at("requests").as_array().size();
    for (size_t i = 0; i < n; ++i) embeddings.push_back(json::object{{"values", MarkedVector(i, 3)}});
    return Json(200, json::serialize(json::object{{"embeddings", embeddings}}));
  });
  EmbedderSettings s = Settings("gemini");
  s.base_url = server.base_url() + "/v1beta";
  s.dimensions = 3;
  s.batch_size = 2;
  auto embedder = Make(s);
  auto r = Embed(*embedder, {"alpha", "beta", "gamma"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(MarkOf(r->at(1)), 1);
  EXPECT_EQ(MarkOf(r->at(2)), 0);
  EXPECT_NEAR(Norm(r->at(2)), 1.0, 1e-6);
  ASSERT_EQ(server.requests().size(), 2u);
  const auto& req = server.requests()[0];
  EXPECT_EQ(req.target, "/v1beta/models/text-embedding-004:batchEmbedContents");  // the key is not in the URL
  EXPECT_EQ(req.Header("x-goog-api-key"), kKey);
  EXPECT_FALSE(req.HasHeader("authorization"));
  EXPECT_EQ(req.Json(), json::parse(R"({"requests":[
      {"model":"models/text-embedding-004","content":{"parts":[{"text":"alpha"}]},"outputDimensionality":3},
      {"model":"models/text-embedding-004","content":{"parts":[{"text":"beta"}]},"outputDimensionality":3}]})"));
  EXPECT_EQ(server.requests()[1].Json().at("requests").as_array().size(), 1u);
  EXPECT_EQ(embedder->texts_embedded(), 3);
}

// ---- ollama ----

TEST_F(EmbedderTest, OllamaWireFormat) {
  server.Queue(Json(200, R"({"model":"nomic-embed-text","embeddings":[[1,0,0],[0,2,0]],"total_duration":1})"));
  EmbedderSettings s = Settings("ollama", "");
  s.base_url = server.base_url() + "/";
  auto embedder = Make(s);
  auto r = Embed(*embedder, {"one", "two"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->at(0), (std::vector<float>{1, 0, 0}));
  EXPECT_EQ(r->at(1), (std::vector<float>{0, 1, 0}));
  const auto& req = server.requests().at(0);
  EXPECT_EQ(req.target, "/api/embed");
  EXPECT_FALSE(req.HasHeader("authorization"));
  EXPECT_EQ(req.Json(), json::parse(R"({"model":"nomic-embed-text","input":["one","two"]})"));
}

// ---- retries and errors ----

TEST_F(EmbedderTest, RateLimitWaitsForRetryAfterThenSucceeds) {
  server.Queue(Json(429, R"({"error":{"message":"Rate limit reached"}})", "Retry-After: 1\r\n"));
  server.Queue(Json(200, R"({"data":[{"index":0,"embedding":[1,1]}]})"));
  auto embedder = Make(Settings("openai"));  // backoff base 1 ms: the wait is the header's
  auto t0 = std::chrono::steady_clock::now();
  auto r = Embed(*embedder, {"x"});
  auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_GE(waited, 950ms);
  EXPECT_EQ(embedder->texts_embedded(), 1);
}

TEST_F(EmbedderTest, ServerErrorsAreRetriedThenReportedWithoutTheKey) {
  for (int i = 0; i < 3; ++i) {
    server.Queue(Json(500, "upstream exploded; your key " + kKey + " is fine\n\n  really"));
  }
  EmbedderSettings s = Settings("openai");
  s.max_retries = 2;
  auto embedder = Make(s);
  auto r = Embed(*embedder, {"x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(r.error().code, ErrorCode::kInternalError);
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("openai"), std::string::npos) << m;
  EXPECT_NE(m.find("500"), std::string::npos) << m;
  EXPECT_NE(m.find("upstream exploded"), std::string::npos) << m;
  EXPECT_EQ(m.find(kKey), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_EQ(r.error().data.at("httpStatus"), 500);
  EXPECT_EQ(embedder->texts_embedded(), 0);
}

TEST_F(EmbedderTest, UnauthorizedAndOtherClientErrorsAreNotRetried) {
  struct Case {
    int status;
    ErrorCode code;
  };
  for (Case c : {Case{401, ErrorCode::kUnauthorized}, Case{403, ErrorCode::kUnauthorized}, Case{400, ErrorCode::kInternalError}}) {
    size_t before = server.requests().size();
    server.Queue(Json(c.status, R"({"error":{"message":"Incorrect API key provided: )" + kKey + R"("}})"));
    auto embedder = Make(Settings("gemini"));
    auto r = Embed(*embedder, {"x"});
    ASSERT_FALSE(r.ok()) << c.status;
    EXPECT_EQ(r.error().code, c.code) << c.status;
    EXPECT_EQ(server.requests().size(), before + 1) << c.status;
    EXPECT_NE(r.error().message.find("Incorrect API key provided: ***"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find(kKey), std::string::npos);
  }
}

TEST_F(EmbedderTest, MalformedAnswersAreInvalidAndNotRetried) {
  struct Case {
    std::string provider, body;
  };
  std::vector<Case> cases = {
      {"openai", "not json"},
      {"openai", R"([1,2])"},
      {"openai", R"({"object":"list"})"},
      {"openai", R"({"data":[{"index":0,"embedding":[1,2]}]})"},                                    // 1 for 2
      {"openai", R"({"data":[{"index":0,"embedding":[1,2]},{"index":0,"embedding":[1,2]}]})"},      // index twice
      {"openai", R"({"data":[{"index":0,"embedding":[1,2]},{"index":2,"embedding":[1,2]}]})"},      // out of range
      {"openai", R"({"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1,2,3]}]})"},    // mixed dims
      {"openai", R"({"data":[{"index":0,"embedding":[1,"2"]},{"index":1,"embedding":[1,2]}]})"},    // non-number
      {"openai", R"({"data":[{"index":0,"embedding":[]},{"index":1,"embedding":[1,2]}]})"},         // empty
      {"openai", R"({"data":[{"index":0,"embedding":"AAAA"},{"index":1,"embedding":[1,2]}]})"},     // base64
      {"gemini", R"({"embeddings":[{"values":[1,2]}]})"},
      {"gemini", R"({"embeddings":[{"values":[1,2]},{"value":[1,2]}]})"},
      {"gemini", R"({"embeddings":[{"values":[1,2]},{"values":[1,null]}]})"},
      {"ollama", R"({"embeddings":[[1,2],[1,2,3]]})"},
      {"ollama", R"({"embeddings":[[1,2],[true,2]]})"},
      {"ollama", R"({"embedding":[1,2]})"},
  };
  for (const Case& c : cases) {
    size_t before = server.requests().size();
    server.Queue(Json(200, c.body));
    auto embedder = Make(Settings(c.provider));
    auto r = Embed(*embedder, {"a", "b"});
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest) << c.body;
    EXPECT_NE(r.error().message.find(c.provider + " embeddings: malformed answer"), std::string::npos) << r.error().message;
    EXPECT_EQ(server.requests().size(), before + 1) << c.body;
    EXPECT_EQ(embedder->texts_embedded(), 0);
  }
}

TEST_F(EmbedderTest, MixedDimensionsAcrossBatchesAreInvalid) {
  server.Queue(Json(200, R"({"embeddings":[[1,2,3]]})"));
  server.Queue(Json(200, R"({"embeddings":[[1,2]]})"));
  EmbedderSettings s = Settings("ollama", "");
  s.batch_size = 1;
  auto embedder = Make(s);
  auto r = Embed(*embedder, {"a", "b"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(embedder->texts_embedded(), 1);  // the first batch was embedded
}

TEST_F(EmbedderTest, SilentServerTimesOutAfterRetries) {
  server.Queue(CannedAnswer{{}, 0ms, CannedAnswer::Then::kKeepOpen, true});
  server.Queue(CannedAnswer{{}, 0ms, CannedAnswer::Then::kKeepOpen, true});
  EmbedderSettings s = Settings("ollama", "");
  s.timeout = 150ms;
  s.max_retries = 1;
  auto embedder = Make(s);
  auto r = Embed(*embedder, {"x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(EmbedderTest, DroppedConnectionIsRetried) {
  server.Queue(CannedAnswer{{}, 0ms, CannedAnswer::Then::kReset});
  server.Queue(Json(503, "busy"));
  server.Queue(Json(200, R"({"embeddings":[[2,0]]})"));
  auto embedder = Make(Settings("ollama", ""));
  auto r = Embed(*embedder, {"x"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->at(0), (std::vector<float>{1, 0}));
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST_F(EmbedderTest, UnreachableServerIsConnectionClosed) {
  EmbedderSettings s = Settings("ollama", "");
  s.base_url = "http://127.0.0.1:1";
  s.max_retries = 0;
  auto embedder = Make(s);
  auto r = Embed(*embedder, {"x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConnectionClosed);
  EXPECT_NE(r.error().message.find("ollama embeddings"), std::string::npos);
}

TEST_F(EmbedderTest, OverlappingCallsEachGetTheirOwnVectors) {
  ServeOpenAi(3);
  EmbedderSettings s = Settings("openai");
  s.batch_size = 1;
  auto embedder = Make(s);
  Result<Vectors> first = Error{}, second = Error{};
  int finished = 0;
  auto call = [&](std::vector<std::string> texts, Result<Vectors>& out) -> asio::awaitable<void> {
    out = co_await embedder->Embed(std::move(texts));
    if (++finished == 2) io.stop();
  };
  asio::co_spawn(io, call({"a", "b", "c"}, first), asio::detached);
  asio::co_spawn(io, call({"d", "e"}, second), asio::detached);
  io.run();
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(first->size(), 3u);
  EXPECT_EQ(second->size(), 2u);
  EXPECT_EQ(server.requests().size(), 5u);
  EXPECT_EQ(embedder->texts_embedded(), 5);
}

// ---- wire pieces ----

TEST(EmbedderWireTest, ErrorDetailPrefersTheErrorMessage) {
  EXPECT_EQ(wire::ErrorDetail(R"({"error":{"message":"quota exceeded","type":"x"}})"), "quota exceeded");
  EXPECT_EQ(wire::ErrorDetail(R"({"error":"model \"x\" not found"})"), "model \"x\" not found");
  EXPECT_EQ(wire::ErrorDetail("  <html>\n  gateway   timeout </html>"), "<html> gateway timeout </html>");
  std::string long_body(1000, 'e');
  EXPECT_EQ(wire::ErrorDetail(long_body, 50), std::string(50, 'e') + "...");
}

TEST(EmbedderWireTest, HugeAndTinyNumbersStillNormalise) {
  auto r = wire::ParseOllamaEmbeddings(R"({"embeddings":[[1e300,1e300],[1e-300,0],[0,0]]})", 3);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_NEAR(r->at(0)[0], std::sqrt(0.5), 1e-6);
  EXPECT_FLOAT_EQ(r->at(1)[0], 1.0f);
  EXPECT_EQ(r->at(2), (std::vector<float>{0, 0}));  // a zero vector stays zero
}

}  // namespace
}  // namespace oc::memory
