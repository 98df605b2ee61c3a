// web_fetch through BuiltinTools::Invoke against a local HTTP server (agent/test_http_server.h).
#include "tools/web_fetch.h"

#include <gtest/gtest.h>

#include "tools/tools_test_util.h"

namespace oc::tools {
namespace {

using namespace std::chrono_literals;
using agent::test_server::CannedAnswer;
using agent::test_server::CapturedRequest;
using agent::test_server::RawResponse;
using agent::test_server::TestHttpServer;
namespace ip = boost::asio::ip;

bool Contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

class ToolsWebFetch : public testing::ToolsFixture {
 protected:
  ToolsWebFetch() { call_.limits.fetch_allow_private = true; }
  agent::ToolOutcome Fetch(const std::string& url) { return Invoke("web_fetch", json::object{{"url", url}}); }
  TestHttpServer server_{io_.get_executor()};
};

TEST_F(ToolsWebFetch, HtmlBecomesTextAfterTheFinalUrlAndStatus) {
  server_.Queue(
      CannedAnswer{{RawResponse(200, "OK", "",
                                "<html><head><title>x</title><script>evil()</script></head><body>"
                                "<h1>News</h1><p>Fish &amp; chips <a href=\"/more\">read more</a></p></body></html>",
                                "text/html; charset=utf-8")}});
  auto r = Fetch(server_.base_url() + "/page#frag");
  ASSERT_FALSE(r.is_error) << r.output;
  EXPECT_EQ(r.output, "URL: " + server_.base_url() +
                          "/page\nStatus: 200\nContent-Type: text/html\n\nNews\n\nFish & chips read more");
  ASSERT_EQ(server_.requests().size(), 1u);
  EXPECT_EQ(server_.requests()[0].target, "/page");
  EXPECT_EQ(server_.requests()[0].method, "GET");
}

TEST_F(ToolsWebFetch, LoopbackIsRefusedUnlessPrivateNetworksAreAllowed) {
  call_.limits.fetch_allow_private = false;
  auto r = Fetch(server_.base_url() + "/");
  EXPECT_TRUE(r.is_error);
  EXPECT_TRUE(Contains(r.output, "refusing 127.0.0.1")) << r.output;
  EXPECT_TRUE(Contains(r.output, "allowPrivateNetwork")) << r.output;
  auto by_name = Fetch("http://localhost:" + std::to_string(server_.port()) + "/");
  EXPECT_TRUE(by_name.is_error);
  EXPECT_TRUE(Contains(by_name.output, "refusing localhost")) << by_name.output;
  auto v6 = Fetch("http://[::1]:" + std::to_string(server_.port()) + "/");
  EXPECT_TRUE(v6.is_error);
  EXPECT_TRUE(Contains(v6.output, "refusing ::1")) << v6.output;
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(ToolsWebFetch, FollowsRedirectsAndRechecksEachHop) {
  server_.set_handler([this](const CapturedRequest& req) {
    if (req.target == "/old") return CannedAnswer{{RawResponse(301, "Moved", "Location: /mid\r\n", "")}};
    if (req.target == "/mid") {
      return CannedAnswer{{RawResponse(302, "Found", "Location: " + server_.base_url() + "/new?x=1\r\n", "")}};
    }
    if (req.target == "/new?x=1") return CannedAnswer{{RawResponse(200, "OK", "", "plain text body", "text/plain")}};
    if (req.target == "/loop") return CannedAnswer{{RawResponse(302, "Found", "Location: /loop\r\n", "")}};
    if (req.target == "/to-localhost") {
      return CannedAnswer{{RawResponse(302, "Found", "Location: http://localhost:1/\r\n", "")}};
    }
    return CannedAnswer{{RawResponse(404, "Not Found", "", "no such page", "text/plain")}};
  });
  auto r = Fetch(server_.base_url() + "/old");
  ASSERT_FALSE(r.is_error) << r.output;
  EXPECT_EQ(r.output,
            "URL: " + server_.base_url() + "/new?x=1\nStatus: 200\nContent-Type: text/plain\n\nplain text body");

  auto loop = Fetch(server_.base_url() + "/loop");
  EXPECT_TRUE(loop.is_error);
  EXPECT_TRUE(Contains(loop.output, "too many redirects")) << loop.output;

  auto missing = Fetch(server_.base_url() + "/absent");
  EXPECT_TRUE(missing.is_error);
  EXPECT_TRUE(Contains(missing.output, "Status: 404\n")) << missing.output;
  EXPECT_TRUE(Contains(missing.output, "no such page")) << missing.output;

  // The first hop is allowed only because of allow_private: with it off, the redirect's target is
  // checked like the first URL (here localhost, refused before any connection).
  size_t before = server_.requests().size();
  call_.limits.fetch_allow_private = false;
  auto refused = Fetch(server_.base_url() + "/to-localhost");
  EXPECT_TRUE(refused.is_error);
  EXPECT_EQ(server_.requests().size(), before);
}

TEST_F(ToolsWebFetch, BodyIsCappedAtMaxBytes) {
  call_.limits.fetch_max_bytes = 100;
  server_.Queue(CannedAnswer{{RawResponse(200, "OK", "", std::string(5000, 'a'), "text/plain")}});
  auto r = Fetch(server_.base_url() + "/big");
  ASSERT_FALSE(r.is_error) << r.output;
  EXPECT_TRUE(Contains(r.output, "\n\n" + std::string(100, 'a') + "\n[the response was cut at 100 bytes]")) << r.output;
  EXPECT_FALSE(Contains(r.output, std::string(101, 'a')));

  server_.Queue(CannedAnswer{{RawResponse(200, "OK", "", "0123456789abcdef", "text/plain")}});
  auto cut = Invoke("web_fetch", json::object{{"url", server_.base_url() + "/small"}, {"maxChars", 10}});
  EXPECT_TRUE(Contains(cut.output, "\n\n0123456789\n[text cut at 10 of 16 characters]")) << cut.output;
}

TEST_F(ToolsWebFetch, BinaryIsRefusedAndBadUrlsAreErrors) {
  server_.Queue(CannedAnswer{{RawResponse(200, "OK", "", std::string("\x89PNG\r\n\x1a\n\0\0", 10), "image/png")}});
  auto png = Fetch(server_.base_url() + "/img.png");
  EXPECT_TRUE(png.is_error);
  EXPECT_TRUE(Contains(png.output, "binary content (image/png")) << png.output;

  auto ftp = Fetch("ftp://example.com/file");
  EXPECT_TRUE(ftp.is_error);
  EXPECT_TRUE(Contains(ftp.output, "only http and https")) << ftp.output;
  auto junk = Fetch("not a url");
  EXPECT_TRUE(junk.is_error);
  EXPECT_TRUE(Contains(junk.output, "not a valid absolute URL")) << junk.output;
  auto creds = Fetch("http://user:pw@127.0.0.1:1/");
  EXPECT_TRUE(creds.is_error);
}

TEST_F(ToolsWebFetch, TimesOut) {
  call_.limits.fetch_timeout = 200ms;
  CannedAnswer silent;
  silent.silent = true;
  server_.Queue(silent);
  auto r = Fetch(server_.base_url() + "/slow");
  EXPECT_TRUE(r.is_error);
  EXPECT_TRUE(Contains(r.output, "timed out after 200 ms")) << r.output;
}

// DNS rebinding: the early check sees an allowed address, the connect sees a blocked one. A blocked
// predicate answering "allowed" on its first call only stands in for the DNS server changing its mind.
TEST_F(ToolsWebFetch, AddressBlockedAtConnectTimeIsRefusedWithoutARequest) {
  server_.Queue(CannedAnswer{{RawResponse(200, "OK", "", "secret", "text/plain")}});
  internal::FetchLimits limits;
  limits.allow_private = false;
  int calls = 0;
  limits.is_blocked = [&calls](const ip::address& a) { return ++calls > 1 && internal::IsBlockedAddress(a); };
  auto r = agent::test_server::RunCoroutine(
      io_, internal::WebFetch(io_.get_executor(), http_, server_.base_url() + "/internal", limits));
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.output,
            "web_fetch: refusing 127.0.0.1: when connecting it resolved to 127.0.0.1, a loopback, private or "
            "link-local address (tools.webFetch.allowPrivateNetwork is off)");
  EXPECT_FALSE(Contains(r.output, "secret"));
  EXPECT_EQ(calls, 2);  // the early check, then the connect-time filter
  EXPECT_TRUE(server_.requests().empty());
  EXPECT_EQ(server_.accepts(), 0);

  // With private networks allowed there is no filter: the same fetch goes through.
  limits.allow_private = true;
  auto allowed = agent::test_server::RunCoroutine(
      io_, internal::WebFetch(io_.get_executor(), http_, server_.base_url() + "/internal", limits));
  EXPECT_FALSE(allowed.is_error) << allowed.output;
  EXPECT_TRUE(Contains(allowed.output, "secret")) << allowed.output;
}

TEST(ToolsWebFetchAddresses, BlockedRanges) {
  auto blocked = [](const char* a) { return internal::IsBlockedAddress(ip::make_address(a)); };
  for (const char* a : {"127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                        "169.254.169.254", "0.0.0.0", "100.64.0.1", "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1",
                        "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::127.0.0.1", "224.0.0.1", "255.255.255.255"}) {
    EXPECT_TRUE(blocked(a)) << a;
  }
  for (const char* a : {"8.8.8.8", "172.32.0.1", "192.169.0.1", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"}) {
    EXPECT_FALSE(blocked(a)) << a;
  }
}

}  // namespace
}  // namespace oc::tools
