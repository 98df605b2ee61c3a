#include "agent/compaction.h"

#include <gtest/gtest.h>

namespace oc::agent {
namespace {

// A message of exactly `tokens` estimated tokens (4 overhead + content).
ChatMessage Msg(std::string role, int64_t tokens) {
  ChatMessage m;
  m.role = std::move(role);
  m.content = std::string(static_cast<size_t>((tokens - 4) * 4), 'x');
  return m;
}

ChatMessage CallTool(int64_t tokens) {
  ChatMessage m = Msg("assistant", tokens - 10);
  m.tool_calls.push_back({"c1", "read", "{}"});  // 8 + ceil(8 chars / 4) = 10 tokens
  return m;
}

TEST(Compaction, TokenEstimate) {
  ChatMessage m;
  m.role = "user";
  EXPECT_EQ(EstimateTokens(m), 4);
  m.content = "hello";  // 5 chars → 2
  EXPECT_EQ(EstimateTokens(m), 6);
  m.tool_calls.push_back({"id", "exec", R"({"cmd":"ls"})"});  // 2+4+12 = 18 chars → 5, +8
  EXPECT_EQ(EstimateTokens(m), 19);
  EXPECT_EQ(EstimateTokens(std::vector<ChatMessage>{m, m}), 38);
  EXPECT_EQ(EstimateTokens(std::vector<ChatMessage>{}), 0);
}

TEST(Compaction, UnderThresholdOrEmptyIsNothingToDo) {
  std::vector<ChatMessage> h = {Msg("user", 100), Msg("assistant", 100), Msg("user", 100)};
  EXPECT_FALSE(PlanCompaction(h, 1000, 0.8, 50).has_value());       // 300 <= 800
  EXPECT_FALSE(PlanCompaction(h, 375, 0.8, 50).has_value());        // 300 <= 300: not past it
  EXPECT_TRUE(PlanCompaction(h, 374, 0.8, 50).has_value());
  EXPECT_FALSE(PlanCompaction(h, 0, 0.8, 50).has_value());          // unknown window
  EXPECT_FALSE(PlanCompaction({}, 10, 0.5, 1, true).has_value());
}

TEST(Compaction, KeepsRecentTokensAndCountsThem) {
  std::vector<ChatMessage> h = {Msg("user", 100), Msg("assistant", 100), Msg("user", 100),
                                Msg("assistant", 100), Msg("user", 100), Msg("assistant", 100)};
  auto plan = PlanCompaction(h, 500, 0.8, 250);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->tokens_before, 600);
  EXPECT_EQ(plan->summarize_count, 4u);  // keeps the last 200 tokens (300 would exceed 250)
  EXPECT_EQ(plan->tokens_kept, 200);
}

TEST(Compaction, AlwaysKeepsTheLastUserMessage) {
  std::vector<ChatMessage> h = {Msg("user", 100), Msg("assistant", 100), Msg("user", 500), Msg("assistant", 300)};
  auto plan = PlanCompaction(h, 500, 0.5, 10);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->summarize_count, 2u);  // more than keep_recent stays: the last user turn is never cut
  EXPECT_EQ(plan->tokens_kept, 800);
}

TEST(Compaction, NeverSplitsAToolCallFromItsResults) {
  std::vector<ChatMessage> h = {Msg("user", 100), CallTool(100), Msg("tool", 100), Msg("tool", 100),
                                Msg("assistant", 100), Msg("user", 10), Msg("assistant", 10)};
  // Keeping 320 tokens would start the kept part at a tool result (index 2): the cut moves to index 4.
  auto plan = PlanCompaction(h, 100, 0.5, 320);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->summarize_count, 4u);
  EXPECT_EQ(h[plan->summarize_count].role, "assistant");
  // A history whose only cut points fall inside a tool exchange after the last user message.
  std::vector<ChatMessage> tail = {Msg("user", 100), CallTool(100), Msg("tool", 1000)};
  EXPECT_FALSE(PlanCompaction(tail, 100, 0.5, 10).has_value());
}

TEST(Compaction, TinyHistoriesHaveNothingOldEnough) {
  EXPECT_FALSE(PlanCompaction({Msg("user", 5000)}, 100, 0.5, 10).has_value());
  EXPECT_FALSE(PlanCompaction({Msg("user", 5000)}, 100, 0.5, 10, true).has_value());
  // Only a previous summary before the last user message: re-summarising it gains nothing.
  std::vector<ChatMessage> h = {SummaryMessage(std::string(4000, 's')), Msg("user", 100)};
  EXPECT_FALSE(PlanCompaction(h, 100, 0.5, 10).has_value());
  h.insert(h.begin() + 1, Msg("assistant", 100));
  auto plan = PlanCompaction(h, 100, 0.5, 10);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->summarize_count, 2u);  // the old summary is folded into the new one
}

TEST(Compaction, ForceIgnoresTheThreshold) {
  std::vector<ChatMessage> h = {Msg("user", 10), Msg("assistant", 10), Msg("user", 10), Msg("assistant", 10)};
  EXPECT_FALSE(PlanCompaction(h, 100000, 0.8, 15).has_value());
  auto plan = PlanCompaction(h, 100000, 0.8, 15, true);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->summarize_count, 2u);
  // With everything fitting keep_recent_tokens, force still summarises the oldest turn.
  plan = PlanCompaction(h, 100000, 0.8, 1000000, true);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->summarize_count, 1u);
}

TEST(Compaction, SummaryPromptRendersTheTranscript) {
  ChatMessage call = Msg("assistant", 4);
  call.content = "Let me look.";
  call.tool_calls.push_back({"c1", "read", R"({"path":"notes.md"})"});
  ChatMessage result;
  result.role = "tool";
  result.name = "read";
  result.tool_call_id = "c1";
  result.content = std::string(5000, 'r');
  ChatMessage user;
  user.role = "user";
  user.content = "I prefer Postgres.";
  auto prompt = SummaryPrompt({SummaryMessage("Earlier: Alice likes tea."), user, call, result}, 777);
  ASSERT_EQ(prompt.size(), 2u);
  EXPECT_EQ(prompt[0].role, "system");
  EXPECT_NE(prompt[0].content.find("777 tokens"), std::string::npos);
  EXPECT_NE(prompt[0].content.find("preferences"), std::string::npos);
  EXPECT_EQ(prompt[1].role, "user");
  const std::string& t = prompt[1].content;
  EXPECT_NE(t.find("[earlier summary] Earlier: Alice likes tea.\n\n[user] I prefer Postgres.\n\n"
                   "[assistant] Let me look.\n[assistant called read] {\"path\":\"notes.md\"}\n\n[result of read] rrr"),
            std::string::npos);
  EXPECT_NE(t.find("... (4000 more characters)"), std::string::npos);
  EXPECT_LT(t.size(), 1500u);
}

TEST(Compaction, SummaryMessageIsLabelled) {
  ChatMessage m = SummaryMessage("We agreed on X.");
  EXPECT_EQ(m.role, "user");
  EXPECT_EQ(m.content, "[Summary of the earlier conversation]\nWe agreed on X.");
  EXPECT_TRUE(IsSummaryMessage(m));
  ChatMessage plain;
  plain.role = "user";
  plain.content = "[Summary of the earlier conversation]";
  EXPECT_FALSE(IsSummaryMessage(plain));
}

}  // namespace
}  // namespace oc::agent
