#include "common/json.h"

#include <gtest/gtest.h>

namespace oc {
namespace {

TEST(Json, LenientAcceptsCommentsAndTrailingCommas) {
  auto v = ParseLenientJson("{ // comment\n \"a\": [1, 2,], /* block */ \"b\": true, }");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->at("a").as_array().size(), 2u);
  EXPECT_TRUE(v->at("b").as_bool());
}

TEST(Json, StrictRejectsComments) {
  auto v = ParseJson("{\"a\":1 // no\n}");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidRequest);
}

TEST(Json, FindPathKeepsScopedIdsWhole) {
  auto v = ParseJson(R"({"apps":{"@openclawos/diag":{"env":{"X":"1"}}}})");
  ASSERT_TRUE(v.ok());
  const auto* x = FindPath(*v, "apps.@openclawos/diag.env.X");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->as_string(), "1");
  EXPECT_EQ(FindPath(*v, "apps.missing"), nullptr);
  EXPECT_EQ(SplitPath("a.@s/n.b"), (std::vector<std::string>{"a", "@s/n", "b"}));
}

TEST(Json, GetIntRefusesOutOfRangeDoubles) {
  auto v = ParseJson(R"({"a":1e300,"b":-1e300,"c":42.0,"d":4.5})");
  ASSERT_TRUE(v.ok());
  const auto& o = v->as_object();
  EXPECT_FALSE(GetInt(o, "a").has_value());
  EXPECT_FALSE(GetInt(o, "b").has_value());
  EXPECT_EQ(GetInt(o, "c"), 42);
  EXPECT_FALSE(GetInt(o, "d").has_value());
}

TEST(Json, ErrorRoundTrip) {
  Error e = MakeError(ErrorCode::kInvalidParams, "bad", json::object{{"path", "params.x"}});
  Error back = Error::FromJson(e.ToJson());
  EXPECT_EQ(back.code, ErrorCode::kInvalidParams);
  EXPECT_EQ(back.message, "bad");
  EXPECT_EQ(back.data.at("path").as_string(), "params.x");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kHookNotSubscribed), "HOOK_NOT_SUBSCRIBED");
  EXPECT_FALSE(ErrorCodeFromName("NOPE").has_value());
}

}  // namespace
}  // namespace oc
