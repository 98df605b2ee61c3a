#include "common/http_text.h"

#include <gtest/gtest.h>

namespace oc::http {
namespace {

TEST(HttpText, BearerCredential) {
  EXPECT_EQ(BearerCredential("Bearer abc"), "abc");
  EXPECT_EQ(BearerCredential("bearer   abc  "), "abc");
  EXPECT_EQ(BearerCredential("Basic abc"), "");
  EXPECT_EQ(BearerCredential("Bearer "), "");
  EXPECT_EQ(BearerCredential(""), "");
}

TEST(HttpText, PercentEncoding) {
  EXPECT_EQ(PercentDecode("/a%20b%2Fc"), "/a b/c");
  EXPECT_FALSE(PercentDecode("%4"));
  EXPECT_FALSE(PercentDecode("%zz"));
  EXPECT_FALSE(PercentDecode("a%00b"));  // an escaped NUL
  EXPECT_EQ(PercentEncodePath("charts/a b?.html"), "charts/a%20b%3F.html");
  EXPECT_EQ(PercentEncode("t/k n~"), "t%2Fk%20n~");
  EXPECT_EQ(PercentDecode(PercentEncode("any \x01 byte: %/?")), "any \x01 byte: %/?");
}

TEST(HttpText, ContentTypesByExtension) {
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("a/b/Chart.SVG"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("data.bin"), "");
  EXPECT_EQ(ContentTypeFor("README"), "");
  EXPECT_EQ(ContentTypeFor(".hidden"), "");
}

}  // namespace
}  // namespace oc::http
