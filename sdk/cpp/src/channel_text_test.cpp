#include "openclawos/channel_text.h"

#include <gtest/gtest.h>

namespace openclawos::sdk {
namespace {

std::string Joined(const std::vector<std::string>& pieces) {
  std::string all;
  for (const auto& p : pieces) all += p;
  return all;
}

std::string WithoutSpace(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '\n') out += c;
  return out;
}

TEST(ChannelText, LengthInBytesAndUtf16) {
  EXPECT_EQ(TextLength("héllo", LengthUnit::kBytes), 6u);
  EXPECT_EQ(TextLength("héllo", LengthUnit::kUtf16), 5u);
  EXPECT_EQ(TextLength("a\xF0\x9F\x98\x80", LengthUnit::kUtf16), 3u);  // an emoji is a surrogate pair
  EXPECT_EQ(TextLength("\xFF\xFE", LengthUnit::kUtf16), 2u);           // invalid bytes count one each
}

TEST(ChannelText, ShortTextIsOnePieceTrimmed) {
  EXPECT_EQ(SplitText("  hello world \n", 100), std::vector<std::string>{"hello world"});
  EXPECT_TRUE(SplitText(" \n\t ", 100).empty());
  EXPECT_TRUE(SplitText("", 100).empty());
}

TEST(ChannelText, PrefersParagraphThenLineThenSpace) {
  std::string text = "first paragraph here\n\nsecond one";
  auto pieces = SplitText(text, 25);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0], "first paragraph here");
  EXPECT_EQ(pieces[1], "second one");

  pieces = SplitText("alpha beta gamma delta", 12);
  EXPECT_EQ(pieces, (std::vector<std::string>{"alpha beta", "gamma delta"}));
}

TEST(ChannelText, LongWordIsCutAtTheLimitAndNothingIsLost) {
  std::string word(50, 'x');
  auto pieces = SplitText(word, 16);
  ASSERT_EQ(pieces.size(), 4u);
  for (const auto& p : pieces) EXPECT_LE(p.size(), 16u);
  EXPECT_EQ(Joined(pieces), word);
}

TEST(ChannelText, NeverCutsInsideAUtf8SequenceAndRespectsUtf16Limit) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "\xF0\x9F\x98\x80é";  // 3 UTF-16 units, 6 bytes each round
  for (LengthUnit unit : {LengthUnit::kBytes, LengthUnit::kUtf16}) {
    auto pieces = SplitText(text, 7, unit);
    for (const auto& p : pieces) {
      EXPECT_LE(TextLength(p, unit), 7u);
      EXPECT_EQ(TextLength(p, LengthUnit::kUtf16) * 2, TextLength(p, LengthUnit::kBytes))  // whole pairs only
          << "piece cut inside a sequence";
    }
    EXPECT_EQ(Joined(pieces), text);
  }
}

TEST(ChannelText, ManyWordsKeepEveryWordInOrder) {
  std::string text;
  for (int i = 0; i < 500; ++i) text += "word" + std::to_string(i) + (i % 37 == 0 ? "\n" : " ");
  auto pieces = SplitText(text, 100);
  for (const auto& p : pieces) EXPECT_LE(p.size(), 100u);
  EXPECT_EQ(WithoutSpace(Joined(pieces)), WithoutSpace(text));
}

TEST(ChannelText, AllowListIsExplicit) {
  EXPECT_FALSE(SenderAllowed({}, {"alice"}));
  EXPECT_TRUE(SenderAllowed({"*"}, {"anyone"}));
  EXPECT_TRUE(SenderAllowed({"Alice"}, {"alice"}));
  EXPECT_TRUE(SenderAllowed({"123"}, {"alice", "123"}));
  EXPECT_FALSE(SenderAllowed({"bob"}, {"alice", ""}));
  EXPECT_FALSE(SenderAllowed({""}, {""}));
}

TEST(ChannelText, StringListTakesStringsAndIntegers) {
  oc::json::value v = oc::json::array{"alice", 12345, -7, true, nullptr};
  EXPECT_EQ(StringList(&v), (std::vector<std::string>{"alice", "12345", "-7"}));
  oc::json::value not_list = "alice";
  EXPECT_TRUE(StringList(&not_list).empty());
  EXPECT_TRUE(StringList(nullptr).empty());
}

TEST(ChannelText, StripAddressForms) {
  EXPECT_EQ(StripAddress("pi: hello there", "pi"), "hello there");
  EXPECT_EQ(StripAddress("  PI, what now", "pi"), "what now");
  EXPECT_EQ(StripAddress("@pi do it", "pi"), "do it");
  EXPECT_EQ(StripAddress("pi:", "pi"), "");
  EXPECT_EQ(StripAddress("pipe: leak", "pi"), std::nullopt);
  EXPECT_EQ(StripAddress("pi is great", "pi"), std::nullopt);
  EXPECT_EQ(StripAddress("@pibot hi", "pi"), std::nullopt);
  EXPECT_EQ(StripAddress("hello", ""), std::nullopt);
}

TEST(ChannelText, MentionsNameAsAWholeWord) {
  EXPECT_TRUE(MentionsName("hey pi, how are you", "pi"));
  EXPECT_TRUE(MentionsName("ask @Pi about it", "pi"));
  EXPECT_TRUE(MentionsName("pi", "pi"));
  EXPECT_FALSE(MentionsName("the pipe is broken", "pi"));
  EXPECT_FALSE(MentionsName("pi_bot is not me", "pi"));
  EXPECT_FALSE(MentionsName("nothing", ""));
  EXPECT_TRUE(MentionsName("bot[1]: status?", "bot[1]"));
}

TEST(ChannelText, BackoffGrowsToTheCapWithJitterAndResets) {
  Backoff b(std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
  auto first = b.Next();
  EXPECT_GE(first.count(), 80);
  EXPECT_LE(first.count(), 120);
  auto second = b.Next();
  EXPECT_GE(second.count(), 160);
  EXPECT_LE(second.count(), 240);
  for (int i = 0; i < 20; ++i) EXPECT_LE(b.Next().count(), 1200);
  EXPECT_EQ(b.failures(), 22);
  b.Reset();
  EXPECT_LE(b.Next().count(), 120);
}

}  // namespace
}  // namespace openclawos::sdk
