#include "hooks/intercept_answer.h"

#include <gtest/gtest.h>

namespace oc::hooks {
namespace {

using Action = InterceptAnswer::Action;

json::value J(std::string_view s) { return ParseJson(s).value(); }

const json::value kOriginal = J(R"({"content":"hi","target":"u1","metadata":{},"count":1})");

TEST(InterceptAnswer, ExplicitActions) {
  EXPECT_EQ(InterpretInterceptAnswer(J(R"({"action":"continue"})"), kOriginal).action, Action::kContinue);

  auto block = InterpretInterceptAnswer(J(R"({"action":"block","reason":"spam"})"), kOriginal);
  EXPECT_EQ(block.action, Action::kBlock);
  EXPECT_EQ(block.reason, "spam");
  EXPECT_EQ(InterpretInterceptAnswer(J(R"({"action":"block"})"), kOriginal).reason, "");

  auto modify = InterpretInterceptAnswer(
      J(R"({"action":"modify","data":{"content":"hey","target":"u1","metadata":{},"count":2.5,"extra":[1]}})"),
      kOriginal);
  ASSERT_EQ(modify.action, Action::kModify) << modify.reason;
  EXPECT_EQ(modify.data.at("content"), "hey");
  EXPECT_EQ(modify.data.at("extra"), J("[1]"));  // new fields are allowed; 1 → 2.5 is still a number
}

TEST(InterceptAnswer, Shorthands) {
  auto modify = InterpretInterceptAnswer(J(R"({"content":"x","target":"u1","metadata":{"a":1},"count":1})"),
                                         kOriginal);
  ASSERT_EQ(modify.action, Action::kModify) << modify.reason;
  EXPECT_EQ(modify.data.at("metadata"), J(R"({"a":1})"));

  auto block = InterpretInterceptAnswer(nullptr, kOriginal);
  EXPECT_EQ(block.action, Action::kBlock);
  EXPECT_EQ(block.reason, "");
}

TEST(InterceptAnswer, PartialModificationIsValid) {
  auto modify = InterpretInterceptAnswer(J(R"({"action":"modify","data":{"content":"only this"}})"), kOriginal);
  ASSERT_EQ(modify.action, Action::kModify) << modify.reason;
  EXPECT_EQ(modify.data, J(R"({"content":"only this"})"));
}

TEST(InterceptAnswer, InvalidAnswersSayWhy) {
  struct Case {
    const char* result;
    const char* why;
  } cases[] = {
      {R"("continue")", "result must be an object or null, got string"},
      {"[1]", "got array"},
      {"true", "got boolean"},
      {R"({"action":5})", "action must be a string"},
      {R"({"action":"drop"})", "unknown action: drop"},
      {R"({"action":"modify"})", "modify without data"},
      {R"({"action":"modify","data":"x"})", "modified data must be an object, got string"},
      {R"({"action":"modify","data":{"content":5,"target":"u1","metadata":{},"count":1}})",
       "field content changed from string to number"},
      {R"({"content":"x","target":"u1","metadata":[],"count":1})", "field metadata changed from object to array"},
  };
  for (const auto& c : cases) {
    auto answer = InterpretInterceptAnswer(J(c.result), kOriginal);
    EXPECT_EQ(answer.action, Action::kInvalid) << c.result;
    EXPECT_NE(answer.reason.find(c.why), std::string::npos) << c.result << " → " << answer.reason;
  }
}

TEST(InterceptAnswer, ValidateAgainstNonObjectOriginalOnlyNeedsAnObject) {
  EXPECT_TRUE(ValidateModifiedData(J(R"({"a":1})"), nullptr).ok());
  auto status = ValidateModifiedData(J("3"), nullptr);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kInvalidParams);
}

}  // namespace
}  // namespace oc::hooks
