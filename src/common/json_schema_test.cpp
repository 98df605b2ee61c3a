#include "common/json_schema.h"

#include <gtest/gtest.h>

namespace oc {
namespace {

json::value J(std::string_view s) { return ParseJson(s).value(); }

TEST(JsonSchema, ReportsEveryViolationWithPath) {
  auto schema = J(R"({"type":"object","required":["name"],"additionalProperties":false,
    "properties":{"port":{"type":"integer","minimum":1,"maximum":65535},
                  "mode":{"enum":["a","b"]},
                  "tags":{"type":"array","items":{"type":"string","pattern":"^[a-z]+$"}}}})");
  auto v = ValidateSchema(schema, J(R"({"port":70000,"mode":"c","tags":["ok","BAD",3],"x":1})"), "cfg");
  std::vector<std::string> paths;
  for (auto& e : v) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"cfg.name", "cfg.port", "cfg.mode", "cfg.tags[1]",
                                             "cfg.tags[2]", "cfg.x"}));
}

TEST(JsonSchema, TypeUnionsAndIntegers) {
  auto schema = J(R"({"type":["integer","null"]})");
  EXPECT_TRUE(ValidateSchema(schema, J("3")).empty());
  EXPECT_TRUE(ValidateSchema(schema, J("3.0")).empty());
  EXPECT_TRUE(ValidateSchema(schema, J("null")).empty());
  EXPECT_EQ(ValidateSchema(schema, J("3.5")).size(), 1u);
  EXPECT_EQ(ValidateSchema(schema, J("\"x\"")).front().message, "expected integer or null, got string");
  // Whole numbers beyond 64 bits are not integers here (the readers take int64; fuzz_config).
  EXPECT_EQ(ValidateSchema(schema, J("5e124")).size(), 1u);
  EXPECT_EQ(ValidateSchema(schema, J("-1e19")).size(), 1u);
  EXPECT_TRUE(ValidateSchema(schema, J("-9.2e18")).empty());
}

TEST(JsonSchema, StringLengthCountsCodePoints) {
  auto schema = J(R"({"type":"string","minLength":2,"maxLength":2})");
  EXPECT_TRUE(ValidateSchema(schema, J("\"\u00e9\u00e9\"")).empty());
  EXPECT_EQ(ValidateSchema(schema, J("\"abc\"")).size(), 1u);
}

TEST(JsonSchema, DefaultsFillMissingOnly) {
  auto schema = J(R"({"type":"object","properties":{
     "gateway":{"type":"object","properties":{"port":{"default":18789},"host":{"default":"127.0.0.1"}}},
     "flag":{"default":true}}})");
  auto v = J(R"({"gateway":{"port":1}})");
  ApplySchemaDefaults(schema, v);
  EXPECT_EQ(v.at("gateway").at("port").as_int64(), 1);
  EXPECT_EQ(v.at("gateway").at("host").as_string(), "127.0.0.1");
  EXPECT_TRUE(v.at("flag").as_bool());
}

TEST(JsonSchema, ViolationBecomesInvalidParamsWithPath) {
  Error e = ViolationsToError({{"params.events[0]", "expected string, got integer"}});
  EXPECT_EQ(e.code, ErrorCode::kInvalidParams);
  EXPECT_EQ(e.data.at("path").as_string(), "params.events[0]");
}

}  // namespace
}  // namespace oc
