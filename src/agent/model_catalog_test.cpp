#include "agent/model_catalog.h"

#include <gtest/gtest.h>

namespace oc::agent {
namespace {

TEST(ModelCatalog, KnownModelsPrefixesAndDefaults) {
  EXPECT_EQ(LookupModel("openai/gpt-4o").context_window, 128000);
  // the longest prefix wins: gpt-4o-mini is not read as gpt-4o
  EXPECT_EQ(LookupModel("openai/gpt-4o-mini-2024-07-18").max_output, 16384);
  EXPECT_TRUE(LookupModel("openai/gpt-4o-2024-08-06").known);
  EXPECT_EQ(LookupModel("anthropic/claude-sonnet-4-5").context_window, 200000);
  EXPECT_EQ(LookupModel("openrouter/gpt-4.1-mini").context_window, 1047576);
  ModelInfo unknown = LookupModel("ollama/some-local-model");
  EXPECT_FALSE(unknown.known);
  EXPECT_EQ(unknown.context_window, 8192);
  EXPECT_EQ(unknown.ref, "ollama/some-local-model");
}

TEST(ModelCatalog, ConfigAddsAndCorrectsEntries) {
  json::value root = json::parse(R"({"models":{"catalog":{
      "local/my-model":{"contextWindow":32768,"maxOutput":2048},
      "openai/gpt-4o":{"contextWindow":64000}}}})");
  ModelInfo mine = LookupModel("local/my-model", root);
  EXPECT_TRUE(mine.known);
  EXPECT_EQ(mine.context_window, 32768);
  EXPECT_EQ(mine.max_output, 2048);
  ModelInfo corrected = LookupModel("openai/gpt-4o", root);
  EXPECT_EQ(corrected.context_window, 64000);
  EXPECT_EQ(corrected.max_output, 16384);  // kept from the built-in entry
}

}  // namespace
}  // namespace oc::agent
