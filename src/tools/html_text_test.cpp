#include "tools/html_text.h"

#include <gtest/gtest.h>

namespace oc::tools {
namespace {

TEST(ToolsHtmlText, DropsScriptStyleHeadAndComments) {
  std::string html =
      "<!DOCTYPE html><html><head><title>T</title><style>p{color:red}</style></head>"
      "<body><script>var x = '<p>no</p>';</script><!-- hidden --><p>Hello <b>world</b></p>"
      "<noscript>enable js</noscript></body></html>";
  EXPECT_EQ(HtmlToText(html), "Hello world");
}

TEST(ToolsHtmlText, BlockElementsBecomeLineBreaks) {
  EXPECT_EQ(HtmlToText("<h1>Title</h1><p>One</p><p>Two<br>Three</p><div>Four</div>"),
            "Title\n\nOne\n\nTwo\nThree\n\nFour");
  EXPECT_EQ(HtmlToText("<ul><li>a</li><li>b <i>c</i></li></ul>"), "- a\n- b c");
  EXPECT_EQ(HtmlToText("<table><tr><td>1</td><td>2</td></tr><tr><td>3</td></tr></table>"), "1 2\n3");
}

TEST(ToolsHtmlText, KeepsLinkTextAndCollapsesWhitespace) {
  EXPECT_EQ(HtmlToText("  See   <a href=\"https://x.example/a>b\">the\n\n docs</a> \t now.  "), "See the docs now.");
  EXPECT_EQ(HtmlToText("<p>\n\n  </p><p></p><p>x</p>\n\n\n<p>y</p>"), "x\n\ny");
}

TEST(ToolsHtmlText, DecodesEntities) {
  EXPECT_EQ(HtmlToText("a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#x27; &copy; &mdash; &hellip;"),
            "a & b <c> \"d\" 'e' \xC2\xA9 \xE2\x80\x94 \xE2\x80\xA6");
  EXPECT_EQ(HtmlToText("x&nbsp;&nbsp;y"), "x y");
  EXPECT_EQ(HtmlToText("&#128512; &#x1F600;"), "\xF0\x9F\x98\x80 \xF0\x9F\x98\x80");
  EXPECT_EQ(HtmlToText("&#0;&#xD800;&#99999999;"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(HtmlToText("AT&T &unknown; & &#;"), "AT&T &unknown; & &#;");
}

TEST(ToolsHtmlText, PreKeepsWhitespace) {
  EXPECT_EQ(HtmlToText("<p>code:</p><pre>int  x;\n  return x;\n</pre><p>end</p>"),
            "code:\n\nint  x;\n  return x;\n\nend");
}

TEST(ToolsHtmlText, MalformedInputIsForgiven) {
  EXPECT_EQ(HtmlToText("a < b and c<d"), "a < b and c");  // "<d" opens an unterminated tag
  EXPECT_EQ(HtmlToText("<p>open <b>never closed"), "open never closed");
  EXPECT_EQ(HtmlToText("<script>never closed"), "");
  EXPECT_EQ(HtmlToText("x<!-- unterminated"), "x");
  EXPECT_EQ(HtmlToText("1 <3 2"), "1 <3 2");
  EXPECT_EQ(HtmlToText(""), "");
}

TEST(ToolsHtmlText, OutputIsValidUtf8WithoutControlCharacters) {
  std::string out =
      HtmlToText(std::string("a\xFF\xC3(b\x01\x7F"
                             "c\0d",
                             10));
  EXPECT_EQ(out, "a\xEF\xBF\xBD\xEF\xBF\xBD(bcd");
  EXPECT_EQ(ToValidUtf8("ok \xE2\x82\xAC \xED\xA0\x80 \xC0\xAF"),
            "ok \xE2\x82\xAC \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(ToolsHtmlText, Latin1AndPrefixHelpers) {
  EXPECT_EQ(Latin1ToUtf8("caf\xE9"), "caf\xC3\xA9");
  EXPECT_EQ(Utf8Prefix("ab\xC3\xA9z", 3), "ab");
  EXPECT_EQ(Utf8Prefix("ab\xC3\xA9z", 4), "ab\xC3\xA9");
  EXPECT_EQ(Utf8Prefix("abc", 10), "abc");
}

}  // namespace
}  // namespace oc::tools
