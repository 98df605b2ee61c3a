#include "kernel/app_http.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace oc::kernel::apphttp {
namespace {

TEST(Base64, RoundTripsEveryLengthAndByte) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (size_t n = 0; n <= bytes.size(); n += 37) {
    std::string part = bytes.substr(0, n);
    auto decoded = Base64Decode(Base64Encode(part));
    ASSERT_TRUE(decoded) << n;
    EXPECT_EQ(*decoded, part);
  }
  EXPECT_EQ(Base64Encode("hello"), "aGVsbG8=");
  EXPECT_EQ(Base64Encode("hi"), "aGk=");
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(*Base64Decode("aGVsbG8="), "hello");
}

TEST(Base64, RefusesWhatIsNotPaddedBase64) {
  EXPECT_FALSE(Base64Decode("aGVsbG8"));     // length not a multiple of 4
  EXPECT_FALSE(Base64Decode("aGV!bG8="));    // outside the alphabet
  EXPECT_FALSE(Base64Decode("aG=sbG8="));    // padding in the middle
  EXPECT_FALSE(Base64Decode("a==="));         // three pad characters
  EXPECT_FALSE(Base64Decode("not base64 at all"));
}

TEST(AppRoutes, ExactRoutesAndPrefixRoutesEndingInSlash) {
  EXPECT_TRUE(RouteMatches("/api", "/api"));
  EXPECT_FALSE(RouteMatches("/api", "/api/x"));
  EXPECT_FALSE(RouteMatches("/api", "/apix"));
  EXPECT_TRUE(RouteMatches("/static/", "/static/"));
  EXPECT_TRUE(RouteMatches("/static/", "/static/a/b.css"));
  EXPECT_FALSE(RouteMatches("/static/", "/static"));
  EXPECT_TRUE(RouteMatches("/", "/anything"));
  EXPECT_FALSE(RouteMatches("", "/"));
  std::vector<std::string> routes{"/", "/api/", "/api/notes"};
  EXPECT_EQ(BestRoute(routes, "/api/notes"), "/api/notes");
  EXPECT_EQ(BestRoute(routes, "/api/other"), "/api/");
  EXPECT_EQ(BestRoute(routes, "/index.html"), "/");
  EXPECT_FALSE(BestRoute({"/api"}, "/other"));
}

TEST(AppRoutes, DotSegmentsAreUnsafeAsSentOrDecoded) {
  EXPECT_FALSE(IsUnsafePath("/a/b.c/..d"));
  EXPECT_TRUE(IsUnsafePath("/a/../b"));
  EXPECT_TRUE(IsUnsafePath("/a/.."));
  EXPECT_TRUE(IsUnsafePath("/./a"));
  EXPECT_TRUE(IsUnsafePath("/..%2Fconfig.json"));
  EXPECT_TRUE(IsUnsafePath("/%2e%2e/config.json"));
  EXPECT_TRUE(IsUnsafePath("/a/..\\b"));
  EXPECT_TRUE(IsUnsafePath("/a%zz"));    // malformed escape
  EXPECT_TRUE(IsUnsafePath("/a%00b"));   // escaped NUL
}

TEST(AppRoutes, RequestParamsCarryTheWireShapeWithoutCredentials) {
  gateway::HttpRequest req;
  req.method = "POST";
  req.path = "/apps/notes/api/notes";
  req.query = "limit=2&x=%20";
  req.headers = {{"content-type", "application/json"}, {"authorization", "Bearer secret"},
                 {"cookie", "openclaw_auth=secret"},   {"x-multi", "a"},
                 {"x-multi", "b"},                      {"connection", "keep-alive"},
                 {"x-forwarded-prefix", "/evil"}};
  req.body = std::string("{\"text\":\"hi\"}\0\xff", 15);
  json::object p = HttpRequestParams(req, "/api/notes", "/apps/notes/");
  EXPECT_EQ(p.at("method"), "POST");
  EXPECT_EQ(p.at("path"), "/api/notes");
  EXPECT_EQ(p.at("query"), "limit=2&x=%20");
  EXPECT_EQ(*Base64Decode(p.at("body").as_string()), req.body);
  const json::object& h = p.at("headers").as_object();
  EXPECT_EQ(h.at("content-type"), "application/json");
  EXPECT_EQ(h.at("x-multi"), "a, b");
  EXPECT_EQ(h.at("x-forwarded-prefix"), "/apps/notes");
  EXPECT_FALSE(h.contains("authorization"));
  EXPECT_FALSE(h.contains("cookie"));
  EXPECT_FALSE(h.contains("connection"));
}

TEST(AppRoutes, AValidAnswerBecomesTheResponse) {
  json::value answer = json::parse(R"({"status": 201, "headers": {"Content-Type": "text/plain",
      "X-Count": "3", "Set-Cookie": "openclaw_auth=stolen", "Connection": "close",
      "Access-Control-Allow-Origin": "*", "Link": ["<a>", "<b>"]}, "body": "aGVsbG8="})");
  auto r = ResponseFromApp(answer, 1024);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 201u);
  EXPECT_EQ(r->content_type, "text/plain");
  EXPECT_EQ(r->body, "hello");
  using H = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(r->headers, (H{{"x-count", "3"}, {"link", "<a>, <b>"}, {"X-Content-Type-Options", "nosniff"}}));
  auto bare = ResponseFromApp(json::parse(R"({"status": 204})"), 10);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->body, "");
  EXPECT_EQ(bare->content_type, "application/octet-stream");
}

TEST(AppRoutes, MalformedAnswersAreRefusedWithTheReason) {
  auto why = [](std::string_view text, size_t max = 1024) {
    auto r = ResponseFromApp(json::parse(text), max);
    return r.ok() ? std::string("accepted") : r.error().message;
  };
  EXPECT_EQ(why("[1]"), "the answer is not an object");
  EXPECT_EQ(why(R"({"headers": {}})"), "status must be an integer");
  EXPECT_EQ(why(R"({"status": "200"})"), "status must be an integer");
  EXPECT_EQ(why(R"({"status": 42})"), "status 42 is not in 200..599");
  EXPECT_EQ(why(R"({"status": 101})"), "status 101 is not in 200..599");
  EXPECT_EQ(why(R"({"status": 600})"), "status 600 is not in 200..599");
  EXPECT_EQ(why(R"({"status": 200, "headers": []})"), "headers must be an object");
  EXPECT_EQ(why(R"({"status": 200, "headers": {"x": 5}})"), "header x: value must be a string");
  EXPECT_EQ(why(R"({"status": 200, "headers": {"bad name": "v"}})"), "header name \"bad name\" is not a token");
  EXPECT_EQ(why(R"({"status": 200, "headers": {"x": "a\r\nSet-Cookie: y=1"}})"),
            "header x: value contains CR, LF or NUL");
  EXPECT_EQ(why(R"({"status": 200, "body": 5})"), "body must be a base64 string");
  EXPECT_EQ(why(R"({"status": 200, "body": "%%%%"})"), "body is not base64");
  EXPECT_EQ(why(R"({"status": 200, "body": "aGVsbG8="})", 4), "body exceeds 4 bytes");
  EXPECT_EQ(why(R"({"status": 200, "body": "aGVsbG8="})", 5), "accepted");
}

TEST(AppRoutes, ContentTypesByExtension) {
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("a/b/Chart.SVG"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("data.bin"), "application/octet-stream");
  EXPECT_EQ(ContentTypeFor("README"), "application/octet-stream");
  EXPECT_EQ(ContentTypeFor(".hidden"), "application/octet-stream");
}

}  // namespace
}  // namespace oc::kernel::apphttp
