// The agent's Markdown → MarkdownV2 and the 4096-unit split (telegram_wire.h). Every output is read
// back with a strict MarkdownV2 reader written here after the Bot API's "MarkdownV2 style" rules, so
// "escaped correctly" is checked, not just compared.
#include <gtest/gtest.h>

#include <random>

#include "openclawos/channel_text.h"
#include "telegram_wire.h"

namespace oc::telegram {
namespace {

using openclawos::sdk::LengthUnit;
using openclawos::sdk::TextLength;

// The text a MarkdownV2 message shows, or the reason Telegram would refuse it ("" = accepted). A link
// reads as "label (url)" and a code block without the line break before its closing fence, which is
// how the pieces' plain fallback writes them.
struct Read {
  std::string plain;
  std::string error;
};

Read ReadMarkdownV2(std::string_view s) {
  Read r;
  bool bold = false, italic = false, underline = false;
  auto fail = [&](std::string why) { r.error = std::move(why); return r; };
  // Text up to the unescaped `end` character; only `\` escapes (code, pre, link URLs).
  auto until = [&](size_t& i, std::string_view end, std::string* out) {
    while (i < s.size() && !s.substr(i).starts_with(end)) {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      if (out) out->push_back(s[i]);
      ++i;
    }
    if (i >= s.size()) return false;
    i += end.size();
    return true;
  };
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == '\\') {
      if (i + 1 >= s.size() || static_cast<unsigned char>(s[i + 1]) > 126) return fail("bad escape");
      r.plain.push_back(s[i + 1]);
      i += 2;
    } else if (s.substr(i).starts_with("```")) {
      i += 3;
      size_t eol = s.find('\n', i);
      if (eol == std::string_view::npos) return fail("pre without newline");
      i = eol + 1;
      std::string code;
      if (!until(i, "```", &code)) return fail("unclosed pre");
      if (code.ends_with('\n')) code.pop_back();  // the line break before the closing fence
      r.plain += code;
    } else if (c == '`') {
      ++i;
      if (!until(i, "`", &r.plain)) return fail("unclosed code");
    } else if (c == '*') {
      bold = !bold, ++i;
    } else if (s.substr(i).starts_with("__")) {
      underline = !underline, i += 2;
    } else if (c == '_') {
      italic = !italic, ++i;
    } else if (c == '[') {
      Read label = ReadMarkdownV2(s.substr(i + 1, s.find(']', i) - i - 1));
      size_t close = s.find("](", i);
      if (close == std::string_view::npos || !label.error.empty()) return fail("bad link");
      i = close + 2;
      std::string url;
      if (!until(i, ")", &url)) return fail("unclosed link");
      // Shown as the plain fallback writes a link: "label (url)".
      r.plain += label.plain == url ? url : label.plain + " (" + url + ")";
    } else if (std::string_view("_*[]()~`>#+-=|{}.!").find(c) != std::string_view::npos) {
      return fail(std::string("Character '") + c + "' is reserved");
    } else {
      r.plain.push_back(c);
      ++i;
    }
  }
  if (bold || italic || underline) return fail("unclosed entity");
  return r;
}

std::string One(std::string_view markdown) {
  auto pieces = FormatReply(markdown);
  EXPECT_EQ(pieces.size(), 1u) << markdown;
  if (pieces.empty()) return "<none>";
  Read read = ReadMarkdownV2(pieces[0].markdown_v2);
  EXPECT_EQ(read.error, "") << pieces[0].markdown_v2;
  EXPECT_EQ(read.plain, pieces[0].plain) << pieces[0].markdown_v2;
  return pieces[0].markdown_v2;
}

TEST(TelegramMarkdown, EveryReservedCharacterIsEscapedOutsideEntities) {
  const std::string reserved = "_*[]()~`>#+-=|{}.!";
  for (char c : reserved) {
    std::string text = std::string("a ") + c + " b";
    EXPECT_EQ(One(text), std::string("a \\") + c + " b") << c;
  }
  EXPECT_EQ(EscapeMarkdownV2("1.5 + 2 = 3.5! (x) \\"), "1\\.5 \\+ 2 \\= 3\\.5\\! \\(x\\) \\\\");
  EXPECT_EQ(One("use my_var_name, 2 * 3 = 6; **open"), "use my\\_var\\_name, 2 \\* 3 \\= 6; \\*\\*open");
  EXPECT_EQ(One("plain words, no markup"), "plain words, no markup");
}

TEST(TelegramMarkdown, ConversionTable) {
  struct Case {
    std::string_view in, out;
  } cases[] = {
      {"**bold**", "*bold*"},
      {"__bold__", "*bold*"},
      {"*italic*", "_italic_"},
      {"_italic_ text", "_italic_ text"},
      {"**a.b**", "*a\\.b*"},
      {"mix **b** and *i*.", "mix *b* and _i_\\."},
      {"`a_b*c.d`", "`a_b*c.d`"},
      {"`x\\y`", "`x\\\\y`"},
      {"`` a`b ``", "` a\\`b `"},
      {"```python\nprint('a_b') # c\n```", "```python\nprint('a_b') # c\n```"},
      {"```\nx = `y`\n```\nafter.", "```\nx = \\`y\\`\n```\nafter\\."},
      {"[the docs](https://example.org/a_b?x=1.2)", "[the docs](https://example.org/a_b?x=1.2)"},
      {"[a.b](https://e.org/p\\q)", "[a\\.b](https://e.org/p\\\\q)"},
      {"[no scheme](javascript:x)", "\\[no scheme\\]\\(javascript:x\\)"},
      {"# Title.\nbody", "*Title\\.*\nbody"},
      {"#hashtag", "\\#hashtag"},
      {"> quoted", "\\> quoted"},
      {"~~gone~~ | {x}", "\\~\\~gone\\~\\~ \\| \\{x\\}"},
      {"*a* *b*", "_a_ _b_"},
      {"**unclosed and *fine*", "\\*\\*unclosed and _fine_"},
      {"```\nunclosed fence", "\\`\\`\\`\nunclosed fence"},
  };
  for (const auto& c : cases) EXPECT_EQ(One(c.in), c.out) << c.in;
}

TEST(TelegramMarkdown, PlainFallbackKeepsTheTextAndLinkTargets) {
  auto pieces = FormatReply("**Note**: see [docs](https://e.org) and `f(x)`.");
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0].plain, "Note: see docs (https://e.org) and f(x).");
}

std::string Joined(const std::vector<OutgoingPiece>& pieces) {
  std::string all;
  for (const auto& p : pieces) all += p.plain;
  return all;
}

// Every piece fits, reads back without error, and the pieces lose nothing.
void CheckPieces(const std::vector<OutgoingPiece>& pieces, size_t limit, const std::string& whole_plain) {
  for (const auto& p : pieces) {
    EXPECT_LE(TextLength(p.markdown_v2, LengthUnit::kUtf16), limit);
    Read read = ReadMarkdownV2(p.markdown_v2);
    ASSERT_EQ(read.error, "") << p.markdown_v2;
    EXPECT_EQ(read.plain, p.plain);
  }
  EXPECT_EQ(Joined(pieces), whole_plain);
}

TEST(TelegramSplit, LongTextIsCutAtParagraphsWithinTheLimit) {
  std::string text;
  for (int i = 0; i < 60; ++i) text += "Paragraph " + std::to_string(i) + ": some words. More words (really)!\n\n";
  auto pieces = FormatReply(text, 500);
  ASSERT_GT(pieces.size(), 5u);
  CheckPieces(pieces, 500, text);
  for (size_t i = 0; i + 1 < pieces.size(); ++i) EXPECT_TRUE(pieces[i].plain.ends_with("\n\n")) << i;
}

TEST(TelegramSplit, RealLimitCountsUtf16UnitsOfEmoji) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "\xF0\x9F\x98\x80";  // 10000 units
  auto pieces = FormatReply(text);
  ASSERT_EQ(pieces.size(), 3u);
  CheckPieces(pieces, kMessageLimit, text);
  EXPECT_EQ(TextLength(pieces[0].markdown_v2, LengthUnit::kUtf16), 4096u);
  // Escapes count: 3000 dots are 6000 units of MarkdownV2.
  auto dots = FormatReply(std::string(3000, '.'));
  ASSERT_EQ(dots.size(), 2u);
  CheckPieces(dots, kMessageLimit, std::string(3000, '.'));
}

TEST(TelegramSplit, CodeBlockIsClosedAndReopenedWithItsLanguage) {
  std::string code;
  for (int i = 0; i < 40; ++i) code += "let x" + std::to_string(i) + " = `v` \\ " + std::to_string(i) + ";\n";
  code.pop_back();
  std::string text = "Here:\n```rust\n" + code + "\n```\nDone.";
  auto pieces = FormatReply(text, 300);
  ASSERT_GT(pieces.size(), 3u);
  CheckPieces(pieces, 300, "Here:\n" + code + "\nDone.");
  for (size_t i = 1; i + 1 < pieces.size(); ++i) {
    EXPECT_TRUE(pieces[i].markdown_v2.starts_with("```rust\n")) << pieces[i].markdown_v2;
    EXPECT_TRUE(pieces[i].markdown_v2.ends_with("\n```")) << pieces[i].markdown_v2;
  }
}

TEST(TelegramSplit, BoldRunAndWordsAreNotBrokenWhenSpaceAllows) {
  std::string words;
  for (int i = 0; i < 50; ++i) words += "word" + std::to_string(i) + " ";
  auto pieces = FormatReply("**" + words + "end**", 120);
  ASSERT_GT(pieces.size(), 2u);
  CheckPieces(pieces, 120, words + "end");
  for (const auto& p : pieces) {
    EXPECT_TRUE(p.markdown_v2.starts_with("*") && p.markdown_v2.ends_with("*")) << p.markdown_v2;
    EXPECT_TRUE(p.plain.ends_with(" ") || p.plain.ends_with("end")) << p.plain;
  }
}

TEST(TelegramSplit, EmptyAndWhitespaceRepliesHaveNoPieces) {
  EXPECT_TRUE(FormatReply("").empty());
  EXPECT_TRUE(FormatReply(" \n\n ").empty());
  EXPECT_TRUE(PlainReply("").empty());
}

TEST(TelegramSplit, PlainReplyIsTheTextAsIs) {
  std::string text = "a_b *c* " + std::string(100, 'x');
  auto pieces = PlainReply(text, 50);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].markdown_v2, pieces[0].plain);
  EXPECT_EQ(pieces[0].plain, "a_b *c* " + std::string(42, 'x'));  // the space is too early to cut at
  EXPECT_EQ(Joined(pieces), text);
}

// Random replies made of Markdown's own characters: whatever the limit, pieces read back and fit.
TEST(TelegramSplit, RandomMarkdownAlwaysReadsBack) {
  std::mt19937 random(7);
  const std::vector<std::string> alphabet = {"a", "b", " ", "\n", "*", "**", "_", "`", "```", "[", "]", "(", ")",
                                             "https://x.io/", ".", "!", "\\", "#", "\xF0\x9F\x98\x80", "\xC3\xA9"};
  for (int round = 0; round < 400; ++round) {
    std::string text;
    size_t n = random() % 120;
    for (size_t i = 0; i < n; ++i) text += alphabet[random() % alphabet.size()];
    size_t limit = 40 + random() % 100;
    auto whole = FormatReply(text, 1 << 20);
    ASSERT_LE(whole.size(), 1u);
    std::string whole_plain = whole.empty() ? "" : whole[0].plain;
    auto pieces = FormatReply(text, limit);
    SCOPED_TRACE(text);
    if (pieces.empty()) continue;
    CheckPieces(pieces, limit, Joined(pieces));
    // Nothing but whitespace of dropped whitespace-only pieces may be missing.
    std::string a, b;
    for (char c : Joined(pieces)) if (c != ' ' && c != '\n') a += c;
    for (char c : whole_plain) if (c != ' ' && c != '\n') b += c;
    EXPECT_EQ(a, b);
  }
}

}  // namespace
}  // namespace oc::telegram
