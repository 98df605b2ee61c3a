#include "agent/http_client.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "agent/test_http_server.h"

namespace oc::agent {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using test_server::CannedAnswer;
using test_server::RawChunkedStream;
using test_server::RawResponse;
using test_server::RunCoroutine;
using test_server::TestHttpServer;

class HttpClientTest : public ::testing::Test {
 protected:
  Result<HttpResponse> Fetch(HttpClient& client, std::string url, BodySink sink = {},
                             std::chrono::milliseconds timeout = 5s, std::string body = "") {
    HttpRequest req;
    req.url = std::move(url);
    req.body = std::move(body);
    req.headers.emplace_back("X-Test", "yes");
    return RunCoroutine(io, client.Fetch(std::move(req), std::move(sink), timeout));
  }

  asio::io_context io;
  TestHttpServer server{io.get_executor()};
  HttpClient client{io.get_executor()};
};

const std::string kChunkedHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

CannedAnswer Ok(std::string body, std::string headers = "") {
  return CannedAnswer{{RawResponse(200, "OK", headers, body)}};
}

TEST_F(HttpClientTest, SendsTheRequestAndReturnsStatusHeadersAndBody) {
  server.Queue(Ok("{\"a\":1}", "X-Reply: Hello\r\n"));
  auto r = Fetch(client, server.base_url() + "/v1/things?x=1", {}, 5s, "payload");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"a\":1}");
  EXPECT_EQ(r->Header("x-reply"), "Hello");  // names lower-cased, values kept
  EXPECT_EQ(r->Header("content-type"), "application/json");
  EXPECT_EQ(r->Header("missing"), "");
  ASSERT_EQ(server.requests().size(), 1u);
  const auto& req = server.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/v1/things?x=1");
  EXPECT_EQ(req.body, "payload");
  EXPECT_EQ(req.Header("x-test"), "yes");
  EXPECT_EQ(req.Header("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(req.Header("content-length"), "7");
}

TEST_F(HttpClientTest, ErrorStatusIsASuccessAtThisLevel) {
  server.Queue(CannedAnswer{{RawResponse(503, "Service Unavailable", "", "busy", "text/plain")}});
  auto r = Fetch(client, server.base_url() + "/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "busy");
}

TEST_F(HttpClientTest, SequentialFetchesReuseOneConnection) {
  server.Queue(Ok("one"));
  server.Queue(Ok("two"));
  server.Queue(Ok("three"));
  for (const char* expected : {"one", "two", "three"}) {
    auto r = Fetch(client, server.base_url() + "/");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->body, expected);
    EXPECT_EQ(client.idle_connections(), 1u);
  }
  EXPECT_EQ(server.accepts(), 1);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST_F(HttpClientTest, ConnectionCloseAnswerIsNotPooled) {
  server.Queue(Ok("one", "Connection: close\r\n"));
  server.Queue(Ok("two"));
  ASSERT_TRUE(Fetch(client, server.base_url() + "/").ok());
  EXPECT_EQ(client.idle_connections(), 0u);
  auto r = Fetch(client, server.base_url() + "/");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "two");
  EXPECT_EQ(server.accepts(), 2);
}

TEST_F(HttpClientTest, IdleConnectionClosedByServerIsNotReused) {
  CannedAnswer first = Ok("one");
  first.then = CannedAnswer::Then::kClose;  // keep-alive answer, then the server hangs up anyway
  server.Queue(first);
  server.Queue(Ok("two"));
  ASSERT_TRUE(Fetch(client, server.base_url() + "/").ok());
  test_server::RunFor(io, 50ms);  // let the FIN arrive
  auto r = Fetch(client, server.base_url() + "/");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "two");
  EXPECT_EQ(server.accepts(), 2);
  EXPECT_EQ(server.requests().size(), 2u);  // detected before sending: no request was lost
}

TEST_F(HttpClientTest, RequestFailingOnAReusedConnectionIsRetriedOnAFreshOne) {
  server.Queue(Ok("one"));
  CannedAnswer hang_up;  // reads the second request, then closes without a byte of answer
  hang_up.then = CannedAnswer::Then::kClose;
  server.Queue(hang_up);
  server.Queue(Ok("two"));
  ASSERT_TRUE(Fetch(client, server.base_url() + "/").ok());
  auto r = Fetch(client, server.base_url() + "/");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "two");
  EXPECT_EQ(server.accepts(), 2);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST_F(HttpClientTest, FailureOnAFreshConnectionIsNotRetried) {
  CannedAnswer hang_up;
  hang_up.then = CannedAnswer::Then::kClose;
  server.Queue(hang_up);
  auto r = Fetch(client, server.base_url() + "/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConnectionClosed);
  EXPECT_EQ(server.requests().size(), 1u);
}

// The connect-time filter (DNS-rebinding guard): a refused address is never connected to.
TEST_F(HttpClientTest, AddressFilterRejectingEveryAddressIsForbiddenAndNothingIsSent) {
  server.Queue(Ok("must not be served"));
  HttpRequest req;
  req.method = "GET";
  req.url = server.base_url() + "/";
  std::vector<std::string> asked;
  req.allow_address = [&asked](const asio::ip::address& a) {
    asked.push_back(a.to_string());
    return !a.is_loopback();
  };
  auto r = RunCoroutine(io, client.Fetch(std::move(req), {}, 5s));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(r.error().message, "address not allowed: 127.0.0.1");
  EXPECT_EQ(asked, std::vector<std::string>{"127.0.0.1"});
  test_server::RunFor(io, 50ms);
  EXPECT_EQ(server.accepts(), 0);
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpClientTest, AddressFilterSkipsRefusedEndpointsAndPooledConnectionsItRefuses) {
  server.Queue(Ok("one"));
  server.Queue(Ok("two"));
  // "localhost" may resolve to ::1 and 127.0.0.1: refusing ::1 leaves the address the server has.
  HttpRequest req;
  req.method = "GET";
  req.url = "http://localhost:" + std::to_string(server.port()) + "/";
  req.allow_address = [](const asio::ip::address& a) { return a.is_v4(); };
  auto r = RunCoroutine(io, client.Fetch(req, {}, 5s));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "one");

  // A pooled connection to 127.0.0.1 exists now; a filter refusing its peer must not reuse it.
  ASSERT_TRUE(Fetch(client, server.base_url() + "/").ok());
  ASSERT_EQ(client.idle_connections(), 2u);  // one per origin (localhost, 127.0.0.1)
  int accepts = server.accepts();
  HttpRequest refused;
  refused.method = "GET";
  refused.url = server.base_url() + "/";
  refused.allow_address = [](const asio::ip::address& a) { return !a.is_loopback(); };
  auto denied = RunCoroutine(io, client.Fetch(std::move(refused), {}, 5s));
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.accepts(), accepts);
  EXPECT_EQ(client.idle_connections(), 2u);  // still pooled for requests the filter does not cover
}

TEST_F(HttpClientTest, StreamsA2xxBodyToTheSink) {
  server.Queue(CannedAnswer{test_server::SplitEvery(RawChunkedStream({"hello ", "chunked ", "world"}), 9), 2ms});
  std::string streamed;
  int calls = 0;
  auto r = Fetch(client, server.base_url() + "/", [&](std::string_view chunk) {
    streamed.append(chunk);
    ++calls;
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(streamed, "hello chunked world");
  EXPECT_GT(calls, 1);
  EXPECT_EQ(client.idle_connections(), 1u);  // a complete chunked body leaves the connection usable
}

TEST_F(HttpClientTest, ErrorBodyIsCollectedEvenWithASink) {
  server.Queue(CannedAnswer{{RawResponse(429, "Too Many Requests", "Retry-After: 2\r\n", "{\"error\":{}}")}});
  bool sink_called = false;
  auto r = Fetch(client, server.base_url() + "/", [&](std::string_view) { return sink_called = true; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->body, "{\"error\":{}}");
  EXPECT_EQ(r->Header("retry-after"), "2");
  EXPECT_FALSE(sink_called);
}

TEST_F(HttpClientTest, SinkReturningFalseAbortsAndDropsTheConnection) {
  server.Queue(CannedAnswer{{kChunkedHead + "1\r\na\r\n", "1\r\nb\r\n0\r\n\r\n"}, 20ms});
  auto r = Fetch(client, server.base_url() + "/", [](std::string_view) { return false; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConnectionClosed);
  EXPECT_NE(r.error().message.find("aborted"), std::string::npos);
  EXPECT_EQ(client.idle_connections(), 0u);
}

TEST_F(HttpClientTest, BodyAboveTheLimitFails) {
  HttpClient small(io.get_executor(), 100);
  server.Queue(Ok(std::string(1000, 'x')));
  auto r = Fetch(small, server.base_url() + "/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);

  std::vector<std::string> chunks(20, std::string(10, 'y'));  // 200 bytes, no Content-Length
  server.Queue(CannedAnswer{{RawChunkedStream(chunks)}});
  auto streamed = Fetch(small, server.base_url() + "/", [](std::string_view) { return true; });
  ASSERT_FALSE(streamed.ok());
  EXPECT_EQ(streamed.error().code, ErrorCode::kInvalidRequest);
}

TEST_F(HttpClientTest, SilentServerTimesOut) {
  CannedAnswer silent;
  silent.silent = true;
  server.Queue(silent);
  auto started = std::chrono::steady_clock::now();
  auto r = Fetch(client, server.base_url() + "/", {}, 150ms);
  auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_GE(elapsed, 150ms);
  EXPECT_LT(elapsed, 3s);
  EXPECT_EQ(client.idle_connections(), 0u);
}

TEST_F(HttpClientTest, TimeoutCoversASlowBody) {
  server.Queue(CannedAnswer{{kChunkedHead + "1\r\na\r\n", "1\r\nb\r\n0\r\n\r\n"}, 2s});
  auto r = Fetch(client, server.base_url() + "/", [](std::string_view) { return true; }, 200ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
}

TEST_F(HttpClientTest, MalformedOrUnsupportedUrlsAreInvalidParams) {
  for (const char* url : {"not a url", "ftp://example.com/x", "http:///nohost", ""}) {
    auto r = Fetch(client, url);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams) << url;
  }
}

TEST_F(HttpClientTest, HeadersWithLineBreaksAreRefused) {
  HttpRequest req;
  req.url = server.base_url() + "/";
  req.headers.emplace_back("Authorization", "Bearer sk-x\r\nX-Injected: 1");
  auto r = RunCoroutine(io, client.Fetch(req, {}, 5s));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams);
  req.headers = {{"Bad Name", "v"}};
  EXPECT_EQ(RunCoroutine(io, client.Fetch(req, {}, 5s)).error().code, ErrorCode::kInvalidParams);
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpClientTest, RefusedConnectionIsConnectionClosed) {
  uint16_t port;
  {
    tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }  // closed again: nothing listens there now
  auto r = Fetch(client, "http://127.0.0.1:" + std::to_string(port) + "/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConnectionClosed);
  EXPECT_NE(r.error().message.find("connecting"), std::string::npos) << r.error().message;
}

TEST_F(HttpClientTest, ResetMidBodyIsConnectionClosed) {
  CannedAnswer answer{{RawChunkedStream({"partial"}, false)}};
  answer.then = CannedAnswer::Then::kReset;
  server.Queue(answer);
  std::string got;
  auto r = Fetch(client, server.base_url() + "/", [&](std::string_view c) {
    got.append(c);
    return true;
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConnectionClosed);
  EXPECT_EQ(server.requests().size(), 1u);  // an answer had started: not retried
}

TEST_F(HttpClientTest, IdleConnectionsPerOriginAreCapped) {
  server.set_handler([](const test_server::CapturedRequest&) {
    return CannedAnswer{{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "ok"}, 100ms};
  });
  constexpr int kParallel = 10;
  int done = 0;
  int succeeded = 0;
  auto one = [&]() -> asio::awaitable<void> {  // outlives the coroutines: they use its captures
    HttpRequest req;
    req.method = "GET";
    req.url = server.base_url() + "/";
    auto r = co_await client.Fetch(std::move(req), BodySink(), 5s);
    if (r.ok() && r->body == "ok") ++succeeded;
    if (++done == kParallel) io.stop();
  };
  for (int i = 0; i < kParallel; ++i) asio::co_spawn(io, one(), asio::detached);
  io.restart();
  io.run();
  EXPECT_EQ(succeeded, kParallel);
  EXPECT_EQ(server.accepts(), kParallel);  // all in flight at once: one connection each
  EXPECT_EQ(client.idle_connections(), 8u);
}

TEST_F(HttpClientTest, ClientCanBeDestroyedWithIdleConnections) {
  server.Queue(Ok("one"));
  auto scoped = std::make_unique<HttpClient>(io.get_executor());
  ASSERT_TRUE(Fetch(*scoped, server.base_url() + "/").ok());
  EXPECT_EQ(scoped->idle_connections(), 1u);
  scoped.reset();
  test_server::RunFor(io, 20ms);
  SUCCEED();
}

// ---- TLS ----

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
};

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

// A self-signed P-256 certificate for `san` (e.g. "IP:127.0.0.1").
CertAndKey MakeSelfSigned(const char* san) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("oc-test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, san}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert, key, EVP_sha256());
  BIO* cert_bio = BIO_new(BIO_s_mem());
  BIO* key_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cert_bio, cert);
  PEM_write_bio_PrivateKey(key_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  CertAndKey out{BioText(cert_bio), BioText(key_bio)};
  BIO_free(cert_bio);
  BIO_free(key_bio);
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

class HttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tls.use_certificate_chain(asio::buffer(cert.cert_pem));
    tls.use_private_key(asio::buffer(cert.key_pem), asio::ssl::context::pem);
  }
  Result<HttpResponse> Get(HttpClient& client, const std::string& url) {
    HttpRequest req;
    req.method = "GET";
    req.url = url;
    return RunCoroutine(io, client.Fetch(std::move(req), BodySink(), 5s));
  }

  asio::io_context io;
  CertAndKey cert = MakeSelfSigned("IP:127.0.0.1");
  asio::ssl::context tls{asio::ssl::context::tls_server};
};

TEST_F(HttpsTest, TrustedCertificateWorksAndConnectionsArePooled) {
  TestHttpServer server(io.get_executor(), &tls);
  server.Queue(Ok("secure one"));
  server.Queue(Ok("secure two"));
  HttpClient client(io.get_executor(), 1 << 20, cert.cert_pem);
  auto r = Get(client, server.base_url() + "/x");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "secure one");
  auto again = Get(client, server.base_url() + "/x");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->body, "secure two");
  EXPECT_EQ(server.accepts(), 1);
}

TEST_F(HttpsTest, UntrustedCertificateIsRefused) {
  TestHttpServer server(io.get_executor(), &tls);
  server.Queue(Ok("never"));
  HttpClient client(io.get_executor());  // system store only
  auto r = Get(client, server.base_url() + "/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConnectionClosed);
  EXPECT_NE(r.error().message.find("TLS handshake"), std::string::npos) << r.error().message;
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpsTest, CertificateForAnotherHostIsRefused) {
  CertAndKey other = MakeSelfSigned("DNS:example.com");
  asio::ssl::context other_tls(asio::ssl::context::tls_server);
  other_tls.use_certificate_chain(asio::buffer(other.cert_pem));
  other_tls.use_private_key(asio::buffer(other.key_pem), asio::ssl::context::pem);
  TestHttpServer server(io.get_executor(), &other_tls);
  HttpClient client(io.get_executor(), 1 << 20, other.cert_pem);  // trusted, but not for 127.0.0.1
  auto r = Get(client, server.base_url() + "/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConnectionClosed);
}

TEST_F(HttpsTest, ExtraCaThatDoesNotLoadFailsHttpsOnly) {
  HttpClient client(io.get_executor(), 1 << 20, "not a certificate");
  auto r = Get(client, "https://127.0.0.1:1/");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("extra CA"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace oc::agent
