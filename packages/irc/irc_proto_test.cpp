#include "irc_proto.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace oc::irc {
namespace {

using namespace std::chrono_literals;

TEST(IrcParse, PrivmsgWithFullPrefixAndTrailingWithColons) {
  auto m = ParseLine(":alice!~al@host.example.org PRIVMSG #chan :hi: see http://x.y/z :)\r\n");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->prefix, "alice!~al@host.example.org");
  EXPECT_EQ(m->command, "PRIVMSG");
  ASSERT_EQ(m->params.size(), 2u);
  EXPECT_EQ(m->params[0], "#chan");
  EXPECT_EQ(m->params[1], "hi: see http://x.y/z :)");
  Prefix p = ParsePrefix(m->prefix);
  EXPECT_EQ(p.nick, "alice");
  EXPECT_EQ(p.user, "~al");
  EXPECT_EQ(p.host, "host.example.org");
}

TEST(IrcParse, Ircv3TagsAreUnescaped) {
  auto m = ParseLine("@msgid=abc123;time=2024-01-01T00:00:00.000Z;+draft/x=a\\sb\\:c\\\\d\\;empty= "
                     ":bob!b@h PRIVMSG openclaw :hello");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->Tag("msgid"), "abc123");
  EXPECT_EQ(m->Tag("time"), "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(m->Tag("+draft/x"), "a b;c\\d");
  EXPECT_EQ(m->Tag("empty"), "");
  EXPECT_FALSE(m->Tag("absent").has_value());
  EXPECT_EQ(m->Nick(), "bob");
  EXPECT_EQ(m->Param(1), "hello");
}

TEST(IrcParse, NumericsServerPrefixEmptyTrailingAndNoPrefix) {
  auto welcome = ParseLine(":irc.example.net 001 openclaw :Welcome to the Internet Relay Network openclaw!~oc@localhost");
  ASSERT_TRUE(welcome.ok());
  EXPECT_EQ(welcome->command, "001");
  EXPECT_EQ(welcome->Param(0), "openclaw");
  Prefix server = ParsePrefix(welcome->prefix);
  EXPECT_EQ(server.nick, "irc.example.net");
  EXPECT_TRUE(server.user.empty() && server.host.empty());

  auto topic = ParseLine(":srv 332 me #c :");
  ASSERT_TRUE(topic.ok());
  ASSERT_EQ(topic->params.size(), 3u);
  EXPECT_EQ(topic->params[2], "");

  auto ping = ParseLine("ping :irc.example.net\n");
  ASSERT_TRUE(ping.ok());
  EXPECT_EQ(ping->command, "PING");  // commands are upper-cased
  EXPECT_EQ(ping->prefix, "");
  EXPECT_EQ(ping->Param(0), "irc.example.net");

  auto cap = ParseLine(":srv CAP * LS * :multi-prefix sasl=PLAIN,EXTERNAL");
  ASSERT_TRUE(cap.ok());
  EXPECT_EQ(cap->params, (std::vector<std::string>{"*", "LS", "*", "multi-prefix sasl=PLAIN,EXTERNAL"}));

  auto spaces = ParseLine(":n!u@h  JOIN   #a  ");  // extra spaces tolerated
  ASSERT_TRUE(spaces.ok());
  EXPECT_EQ(spaces->params, (std::vector<std::string>{"#a"}));
  EXPECT_EQ(ParseLine(":srv 005 me CASEMAPPING=rfc1459 NICKLEN=9 :are supported")->Param(3), "are supported");
}

TEST(IrcParse, RejectsBrokenLines) {
  EXPECT_FALSE(ParseLine("").ok());
  EXPECT_FALSE(ParseLine("\r\n").ok());
  EXPECT_FALSE(ParseLine(":prefix.only").ok());
  EXPECT_FALSE(ParseLine(": PRIVMSG x :y").ok());
  EXPECT_FALSE(ParseLine("@tags=only").ok());
  EXPECT_FALSE(ParseLine("12 x").ok());          // numerics have exactly three digits
  EXPECT_FALSE(ParseLine("PRIV-MSG x").ok());
  EXPECT_FALSE(ParseLine("PRIVMSG x :a\rb").ok());
  EXPECT_FALSE(ParseLine(std::string("PRIVMSG x :a\0b", 14)).ok());
  EXPECT_FALSE(ParseLine("PRIVMSG x :" + std::string(kMaxTaggedLineBytes, 'a')).ok());
}

TEST(IrcFormat, WritesTrailingOnlyWhenNeededOrAsked) {
  EXPECT_EQ(*FormatCommand("NICK", {"openclaw"}), "NICK openclaw\r\n");
  EXPECT_EQ(*FormatCommand("USER", {"oc", "0", "*", "OpenClawOS assistant"}), "USER oc 0 * :OpenClawOS assistant\r\n");
  EXPECT_EQ(*FormatCommand("PONG", {""}), "PONG :\r\n");
  EXPECT_EQ(*FormatCommand("PRIVMSG", {"#c", ":)"}), "PRIVMSG #c ::)\r\n");
  EXPECT_EQ(*FormatCommand("PRIVMSG", {"#c", "word"}, true), "PRIVMSG #c :word\r\n");
  EXPECT_EQ(*FormatCommand("cap", {"END"}), "CAP END\r\n");
}

TEST(IrcFormat, RefusesLineInjectionAndBadParams) {
  EXPECT_FALSE(FormatCommand("PRIVMSG", {"#c", "hi\r\nQUIT :owned"}).ok());
  EXPECT_FALSE(FormatCommand("PRIVMSG", {"#c", "hi\nthere"}).ok());
  EXPECT_FALSE(FormatCommand("PRIVMSG", {"#c", std::string("a\0b", 3)}).ok());
  EXPECT_FALSE(FormatCommand("PRIVMSG", {"#c\r\n", "x"}).ok());
  EXPECT_FALSE(FormatCommand("PRIVMSG", {"two words", "x"}).ok());
  EXPECT_FALSE(FormatCommand("PRIVMSG", {"", "x"}).ok());
  EXPECT_FALSE(FormatCommand("PRIVMSG", {":x", "y"}).ok());
  EXPECT_FALSE(FormatCommand("QUIT\r\n", {}).ok());
  EXPECT_FALSE(FormatCommand("PRIVMSG", {"#c", std::string(600, 'a')}).ok());
  auto fits = FormatCommand("PRIVMSG", {"#c", std::string(512 - 14, 'a')}, true);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(fits->size(), 512u);
  EXPECT_FALSE(FormatCommand("PRIVMSG", {"#c", std::string(512 - 13, 'a')}, true).ok());
}

TEST(IrcCaseMapping, Rfc1459FoldsBracketsAndTilde) {
  EXPECT_EQ(CaseFold("Nick[Away]\\~"), "nick{away}|^");
  EXPECT_EQ(CaseFold("Nick[Away]\\~", CaseMapping::kStrictRfc1459), "nick{away}|~");
  EXPECT_EQ(CaseFold("Nick[Away]", CaseMapping::kAscii), "nick[away]");
  EXPECT_TRUE(IrcEquals("Alice[m]", "alice{M}"));
  EXPECT_FALSE(IrcEquals("Alice[m]", "alice{M}", CaseMapping::kAscii));
  EXPECT_FALSE(IrcEquals("alice", "alice_"));
  EXPECT_EQ(CaseMappingFromName("ascii"), CaseMapping::kAscii);
  EXPECT_EQ(CaseMappingFromName("strict-rfc1459"), CaseMapping::kStrictRfc1459);
  EXPECT_EQ(CaseMappingFromName("rfc7613"), CaseMapping::kRfc1459);
}

TEST(IrcText, CtcpActionAndFormatting) {
  EXPECT_EQ(CtcpAction("\x01" "ACTION waves\x01"), "waves");
  EXPECT_EQ(CtcpAction("\x01" "ACTION waves"), "waves");  // unterminated, as some clients send
  EXPECT_EQ(CtcpAction("\x01" "ACTION\x01"), "");
  EXPECT_FALSE(CtcpAction("\x01VERSION\x01").has_value());
  EXPECT_FALSE(CtcpAction("\x01" "ACTIONS x\x01").has_value());
  EXPECT_FALSE(CtcpAction("ACTION waves").has_value());
  EXPECT_TRUE(IsCtcp("\x01VERSION\x01"));
  EXPECT_FALSE(IsCtcp("hello"));
  EXPECT_EQ(StripFormatting("\x02" "bold\x02 \x03" "4,12red\x03 \x03" "7x \x1Fu\x0F \x04" "FF00AAhex 5,6"), "bold red x u hex 5,6");
  EXPECT_EQ(StripFormatting("\x03,5 keeps comma"), ",5 keeps comma");
  EXPECT_TRUE(IsChannelName("#c") && IsChannelName("&local") && !IsChannelName("alice") && !IsChannelName(""));
}

TEST(IrcMasks, WildcardsAndAllowEntries) {
  EXPECT_TRUE(MaskMatches("*!*@*.example.org", "alice!al@host.example.org"));
  EXPECT_FALSE(MaskMatches("*!*@*.example.org", "alice!al@example.org"));
  EXPECT_TRUE(MaskMatches("al?ce!*@*", "ALICE!x@y"));
  EXPECT_TRUE(MaskMatches("a*b*c", "axxbyyc"));
  EXPECT_FALSE(MaskMatches("a*b*c", "axxbyy"));
  EXPECT_TRUE(MaskMatches("**", ""));
  Prefix alice{"Alice", "~al", "host.example.org"};
  EXPECT_TRUE(AllowEntryMatches("alice", alice));
  EXPECT_TRUE(AllowEntryMatches("*", alice));
  EXPECT_FALSE(AllowEntryMatches("alic", alice));
  EXPECT_FALSE(AllowEntryMatches("al*", alice));  // without '!'/'@' an entry is an exact nick
  EXPECT_TRUE(AllowEntryMatches("*!~al@host.example.org", alice));
  EXPECT_FALSE(AllowEntryMatches("*!~al@other.org", alice));
  EXPECT_TRUE(AllowEntryMatches("alice!*@*", alice));
}

// Every piece must fit one line as the server relays it: ":prefix PRIVMSG target :piece\r\n".
void ExpectPiecesFit(const std::vector<std::string>& pieces, std::string_view target, size_t prefix_bytes) {
  for (const auto& piece : pieces) {
    std::string line = std::string(prefix_bytes, 'p') + *FormatCommand("PRIVMSG", {std::string(target), piece}, true);
    EXPECT_LE(line.size(), kMaxLineBytes) << piece;
    EXPECT_EQ(piece.find_first_of("\r\n"), std::string::npos);
  }
}

TEST(IrcSplit, LinesFirstThenBudgetWithPrefix) {
  const std::string target = "#openclaw";
  const size_t prefix = 80;
  size_t budget = PrivmsgTextBudget(target, prefix);
  EXPECT_EQ(budget, 512u - 80 - 8 - target.size() - 2 - 2);
  auto pieces = SplitForIrc("first line\r\n\nsecond line\n", budget);
  EXPECT_EQ(pieces, (std::vector<std::string>{"first line", "second line"}));

  std::string words;
  for (int i = 0; i < 300; ++i) words += "word" + std::to_string(i) + " ";
  pieces = SplitForIrc(words, budget);
  ASSERT_GT(pieces.size(), 3u);
  ExpectPiecesFit(pieces, target, prefix);
  std::string joined;
  for (const auto& p : pieces) joined += p + " ";
  EXPECT_EQ(joined, words);  // nothing lost, order kept (cuts fall on spaces)
}

TEST(IrcSplit, Utf8KeptWholeAndLongWordsCut) {
  const size_t budget = PrivmsgTextBudget("alice", 100);
  std::string text;
  for (int i = 0; i < 400; ++i) text += "é€😀";  // 2 + 3 + 4 bytes, no spaces at all
  auto pieces = SplitForIrc(text, budget);
  ASSERT_GT(pieces.size(), 1u);
  std::string joined;
  for (const auto& p : pieces) {
    EXPECT_LE(p.size(), budget);
    // a piece never starts with a UTF-8 continuation byte
    EXPECT_NE(static_cast<unsigned char>(p.front()) & 0xC0, 0x80);
    joined += p;
  }
  EXPECT_EQ(joined, text);
  ExpectPiecesFit(pieces, "alice", 100);
  EXPECT_TRUE(SplitForIrc(" \n\n \r\n", budget).empty());
  EXPECT_EQ(SplitForIrc(std::string("a\0b", 3), budget), (std::vector<std::string>{"ab"}));
  EXPECT_EQ(PrivmsgTextBudget(std::string(600, 'x'), 10), 0u);
}

TEST(IrcFlood, BurstThenOneLinePerInterval) {
  auto t0 = FloodBucket::Clock::time_point() + 1h;
  FloodBucket bucket(4, 700ms, t0);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(bucket.WaitTime(t0), 0ms) << i;
    bucket.Take(t0);
  }
  EXPECT_EQ(bucket.WaitTime(t0), 700ms);
  EXPECT_EQ(bucket.WaitTime(t0 + 300ms), 400ms);
  EXPECT_EQ(bucket.WaitTime(t0 + 700ms), 0ms);
  bucket.Take(t0 + 700ms);
  EXPECT_EQ(bucket.WaitTime(t0 + 700ms), 700ms);
  // a long pause refills to the burst, never beyond it
  auto later = t0 + 1h;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(bucket.WaitTime(later), 0ms);
    bucket.Take(later);
  }
  EXPECT_GT(bucket.WaitTime(later), 0ms);
  FloodBucket unlimited(1, 0ms, t0);
  unlimited.Take(t0);
  unlimited.Take(t0 + 1ms);
  EXPECT_EQ(unlimited.WaitTime(t0 + 2ms), 0ms);
}

TEST(IrcNicks, CollisionSequenceRespectsNickLen) {
  NickSequence nicks("openclaw");
  EXPECT_EQ(nicks.Current(), "openclaw");
  EXPECT_EQ(nicks.Next(), "openclaw_");
  EXPECT_EQ(nicks.Next(), "openclaw__");
  EXPECT_EQ(nicks.Next(), "openclaw1");
  EXPECT_EQ(nicks.Next(), "openclaw2");
  EXPECT_EQ(nicks.attempts(), 4);
  nicks.Reset();
  EXPECT_EQ(nicks.Current(), "openclaw");

  NickSequence short_nicks("openclaw", 9);  // ngIRCd's default NICKLEN
  EXPECT_EQ(short_nicks.Next(), "openclaw_");
  EXPECT_EQ(short_nicks.Next(), "opencla__");
  for (int i = 0; i < 10; ++i) short_nicks.Next();
  EXPECT_EQ(short_nicks.Current(), "opencla10");
  NickSequence tiny("bot", 1);
  EXPECT_EQ(tiny.Current(), "b");
  EXPECT_EQ(tiny.Next(), "b_");  // never empty: one character of the base stays
}

TEST(IrcSasl, PlainPayloadAndChunks) {
  std::string payload = SaslPlainPayload("jilles", "sesame");
  EXPECT_EQ(payload, "amlsbGVzAGppbGxlcwBzZXNhbWU=");
  EXPECT_EQ(*oc::Base64Decode(payload), std::string("jilles\0jilles\0sesame", 20));
  EXPECT_EQ(AuthenticateChunks(payload), (std::vector<std::string>{payload}));
  std::string exact(400, 'A');
  EXPECT_EQ(AuthenticateChunks(exact), (std::vector<std::string>{exact, "+"}));
  std::string longer(500, 'B');
  auto chunks = AuthenticateChunks(longer);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].size(), 400u);
  EXPECT_EQ(chunks[1].size(), 100u);
  EXPECT_EQ(AuthenticateChunks(""), (std::vector<std::string>{"+"}));
}

TEST(IrcIsupport, TokensBetweenNickAndTrailing) {
  auto m = ParseLine(":srv 005 me CASEMAPPING=ascii NICKLEN=16 -EXCEPTS SAFELIST :are supported by this server");
  ASSERT_TRUE(m.ok());
  auto t = ParseIsupport(*m);
  EXPECT_EQ(t["CASEMAPPING"], "ascii");
  EXPECT_EQ(t["NICKLEN"], "16");
  EXPECT_EQ(t.count("SAFELIST"), 1u);
  EXPECT_EQ(t.count("EXCEPTS"), 0u);
  EXPECT_EQ(t.count("-EXCEPTS"), 0u);
  EXPECT_EQ(t.count("me"), 0u);
}

TEST(IrcAddressing, AddressedMentionedOrNeither) {
  auto a = ClassifyAddressing("openclaw: what time is it?", "openclaw");
  EXPECT_TRUE(a.addressed && a.mentioned);
  EXPECT_EQ(a.text, "what time is it?");
  a = ClassifyAddressing("OpenClaw, hi", "openclaw");
  EXPECT_TRUE(a.addressed);
  EXPECT_EQ(a.text, "hi");
  a = ClassifyAddressing("ask openclaw about it", "openclaw");
  EXPECT_FALSE(a.addressed);
  EXPECT_TRUE(a.mentioned);
  EXPECT_EQ(a.text, "ask openclaw about it");
  a = ClassifyAddressing("openclaw_ is someone else", "openclaw");
  EXPECT_FALSE(a.mentioned);
  a = ClassifyAddressing("just chatting", "openclaw");
  EXPECT_FALSE(a.addressed || a.mentioned);
}

}  // namespace
}  // namespace oc::irc
