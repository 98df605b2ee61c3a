#include "agent/skills.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>

namespace oc::agent {
namespace {

namespace fs = std::filesystem;

SkillFrontMatter Parse(std::string_view text) {
  auto r = ParseSkillFrontMatter(text);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : SkillFrontMatter{};
}

std::string ErrorOf(std::string_view text) {
  auto r = ParseSkillFrontMatter(text);
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams);
  return r.error().message;
}

using Strings = std::vector<std::string>;

TEST(SkillsFrontMatter, ScalarsQuotesAndComments) {
  auto fm = Parse(
      "---\n"
      "name: github   # the CLI skill\n"
      "description: \"Use the gh CLI: issues, PRs \\\"and\\\" runs\"\n"
      "homepage: https://example.invalid/#anchor\n"
      "---\n"
      "# Body\nIgnored: [ not: yaml\n");
  EXPECT_EQ(fm.name, "github");
  EXPECT_EQ(fm.description, "Use the gh CLI: issues, PRs \"and\" runs");
  EXPECT_TRUE(fm.bins.empty());

  fm = Parse("\xEF\xBB\xBF---\r\nname: 'it''s'\r\ndescription: Don't panic # comment\r\n---\r\n");
  EXPECT_EQ(fm.name, "it's");
  EXPECT_EQ(fm.description, "Don't panic");
}

TEST(SkillsFrontMatter, ColonsInPlainDescriptionAndFoldedContinuation) {
  auto fm = Parse("---\nname: weather\ndescription: Forecasts: today, tomorrow\n  and the week ahead.\n---\n");
  EXPECT_EQ(fm.description, "Forecasts: today, tomorrow and the week ahead.");
}

TEST(SkillsFrontMatter, BlockScalars) {
  auto fm = Parse("---\nname: notes\ndescription: |\n  Line one\n  Line two\n\nmetadata: {}\n---\n");
  EXPECT_EQ(fm.description, "Line one\nLine two");  // trimmed of the clip newline
  fm = Parse("---\nname: notes\ndescription: >-\n  Folded\n  text # not a comment\n---\n");
  EXPECT_EQ(fm.description, "Folded text # not a comment");
}

TEST(SkillsFrontMatter, SingleLineJsonMetadataAsOpenClawWritesIt) {
  auto fm = Parse(
      "---\nname: github\ndescription: GitHub via gh\n"
      "metadata: {\"openclaw\":{\"emoji\":\"🐙\",\"requires\":{\"bins\":[\"gh\"],\"env\":[\"GITHUB_TOKEN\"]},"
      "\"os\":[\"darwin\",\"linux\"]}}\n---\n");
  EXPECT_EQ(fm.bins, Strings{"gh"});
  EXPECT_EQ(fm.env, Strings{"GITHUB_TOKEN"});
  EXPECT_EQ(fm.os, (Strings{"darwin", "linux"}));
}

TEST(SkillsFrontMatter, MultiLineJsonMetadataWithTrailingCommas) {
  auto fm = Parse(
      "---\n"
      "name: tmux\n"
      "description: Drive tmux sessions.\n"
      "metadata:\n"
      "  {\n"
      "    \"openclaw\":\n"
      "      {\n"
      "        \"emoji\": \"#\",\n"
      "        \"requires\": { \"anyBins\": [\"tmux\", \"screen\"] },\n"
      "      },\n"
      "  }\n"
      "---\n");
  EXPECT_EQ(fm.any_bins, (Strings{"tmux", "screen"}));
}

TEST(SkillsFrontMatter, BlockMapsListsAndAllThreeRequirementPlacesMerge) {
  auto fm = Parse(
      "---\n"
      "name: deploy\n"
      "description: Deploys things\n"
      "metadata:\n"
      "  requires:\n"
      "    bins:\n"
      "    - kubectl\n"
      "    - helm\n"
      "    env: KUBECONFIG\n"
      "  openclaw:\n"
      "    requires: {bins: [helm, jq], anyBins: [docker, podman]}\n"
      "  openclawos:\n"
      "    requires:\n"
      "      env:\n"
      "        - DEPLOY_TOKEN\n"
      "    os: [linux]\n"
      "---\n");
  EXPECT_EQ(fm.bins, (Strings{"kubectl", "helm", "jq"}));
  EXPECT_EQ(fm.any_bins, (Strings{"docker", "podman"}));
  EXPECT_EQ(fm.env, (Strings{"KUBECONFIG", "DEPLOY_TOKEN"}));
  EXPECT_EQ(fm.os, Strings{"linux"});
}

TEST(SkillsFrontMatter, ListsAtTheIndentOfTheirKeyAndNestedLists) {
  auto fm = Parse(
      "---\n"
      "name: x\n"
      "description: y\n"
      "tags:\n"
      "- - nested\n"
      "  - list\n"
      "- plain\n"
      "metadata:\n"
      "  requires:\n"
      "    bins:\n"
      "    - a\n"
      "    -   b   # spaced\n"
      "    env:\n"
      "    - E\n"
      "  os:\n"
      "  - linux\n"
      "---\n");
  EXPECT_EQ(fm.bins, (Strings{"a", "b"}));
  EXPECT_EQ(fm.env, Strings{"E"});
  EXPECT_EQ(fm.os, Strings{"linux"});
}

TEST(SkillsFrontMatter, SequenceOfMapsAndMetadataAsQuotedJsonString) {
  auto fm = Parse(
      "---\nname: a\ndescription: b\n"
      "install:\n  - id: brew\n    kind: brew\n  - id: apt\n    bins: [x]\n"
      "metadata: '{\"openclaw\":{\"requires\":{\"bins\":[\"ffmpeg\"]}}}'\n---\n");
  EXPECT_EQ(fm.bins, Strings{"ffmpeg"});
}

TEST(SkillsFrontMatter, MissingOrUnclosedFrontMatter) {
  EXPECT_NE(ErrorOf("").find("line 1: no front matter"), std::string::npos);
  EXPECT_NE(ErrorOf("# Title\n---\nname: x\n---\n").find("no front matter"), std::string::npos);
  EXPECT_NE(ErrorOf("---\nname: x\ndescription: y\n").find("not closed"), std::string::npos);
  EXPECT_NE(ErrorOf("---\n---\n").find("empty front matter"), std::string::npos);
}

TEST(SkillsFrontMatter, MissingNameOrDescriptionNamesTheField) {
  EXPECT_EQ(ErrorOf("---\ndescription: y\n---\n"), "line 1: front matter has no `name`");
  EXPECT_EQ(ErrorOf("---\nname: x\n---\n"), "line 1: front matter has no `description`");
  EXPECT_EQ(ErrorOf("---\nname: x\ndescription:\n---\n"), "line 3: front matter has no `description`");
  EXPECT_EQ(ErrorOf("---\nname: \"  \"\ndescription: y\n---\n"), "line 2: `name` is empty");
  EXPECT_EQ(ErrorOf("---\nname: [a, b]\ndescription: y\n---\n"), "line 2: `name` must be text");
}

TEST(SkillsFrontMatter, MalformedStructureErrors) {
  EXPECT_EQ(ErrorOf("---\nname: x\ndescription: y\nname: z\n---\n"), "line 4: duplicate key `name`");
  EXPECT_EQ(ErrorOf("---\nname: x\n\tdescription: y\n---\n"), "line 3: tab in indentation");
  EXPECT_EQ(ErrorOf("---\nname: \"x\ndescription: y\n---\n"), "line 2: unclosed or malformed quoted string");
  EXPECT_EQ(ErrorOf("---\nname: x\ndescription: y\nmetadata: {\"a\": [1,\n---\n"), "line 4: unclosed flow collection");
  EXPECT_EQ(ErrorOf("---\nname: x\njust text\ndescription: y\n---\n"), "line 3: expected `key: value`");
  EXPECT_EQ(ErrorOf("---\n- a\n- b\n---\n"), "line 2: front matter must be a map of `key: value` lines");
  EXPECT_EQ(ErrorOf("---\nname: x\ndescription: y\nmetadata:\n    a: 1\n  b: 2\n---\n"), "line 6: unexpected indentation");
  EXPECT_EQ(ErrorOf("---\nname: x\ndescription: y\nmetadata: {requires: {bins: {gh: 1}}}\n---\n"),
            "line 4: `metadata.requires.bins` must be a list of strings");
  EXPECT_EQ(ErrorOf("---\nname: x\ndescription: y\nmetadata: [a]\n---\n"), "line 4: `metadata` must be a map");
  EXPECT_EQ(ErrorOf("---\nname: x\ndescription: y\nmetadata: {a: [b, c] d}\n---\n"),
            "line 4: expected ',' or '}' in a flow map");
  auto r = ParseSkillFrontMatter("---\nname: x\ndescription: y\nname: z\n---\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().data.at("line").as_int64(), 4);
}

TEST(SkillsFrontMatter, DeepNestingIsRefusedNotOverflowed) {
  std::string deep = "---\nname: x\ndescription: y\nmetadata: " + std::string(5000, '[') + std::string(5000, ']') + "\n---\n";
  EXPECT_NE(ErrorOf(deep).find("nesting deeper"), std::string::npos);
  std::string block = "---\nname: x\ndescription: y\nmetadata:\n";
  for (int i = 1; i < 200; ++i) block += std::string(static_cast<size_t>(i), ' ') + "k:\n";
  block += "---\n";
  EXPECT_NE(ErrorOf(block).find("nesting deeper"), std::string::npos);
}

// ---- Discovery ----

class SkillsDiscovery : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("oc-skills-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "bin");
    MakeExecutable(root_ / "bin" / "gh");
    std::ofstream(root_ / "bin" / "not-exec") << "data";
  }
  void TearDown() override { fs::remove_all(root_); }

  static void MakeExecutable(const fs::path& p) {
    std::ofstream(p) << "#!/bin/sh\n";
    ::chmod(p.c_str(), 0755);
  }
  void WriteSkill(const std::string& root, const std::string& dir, const std::string& front) {
    fs::create_directories(root_ / root / dir);
    std::ofstream(root_ / root / dir / "SKILL.md") << "---\n" << front << "---\n# Instructions\n";
  }
  EnvLookup Env(std::map<std::string, std::string> vars) {
    vars.emplace("PATH", "/nonexistent:" + (root_ / "bin").string());
    return [vars](std::string_view name) -> std::optional<std::string> {
      auto it = vars.find(std::string(name));
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
  }
  std::vector<Skill> Discover(const EnvLookup& env) {
    return DiscoverSkills({{root_ / "ws", "workspace"}, {root_ / "home", "home"}}, env);
  }

  fs::path root_;
};

TEST_F(SkillsDiscovery, BothRootsInOrderAndWorkspaceOverridesHome) {
  WriteSkill("ws", "b-notes", "name: notes\ndescription: workspace notes\n");
  WriteSkill("ws", "a-todo", "name: todo\ndescription: todo list\n");
  WriteSkill("home", "notes", "name: notes\ndescription: home notes\n");
  WriteSkill("home", "weather", "name: weather\ndescription: forecasts\n");
  fs::create_directories(root_ / "home" / "empty-dir");  // no SKILL.md: not a skill
  auto skills = Discover(Env({}));
  ASSERT_EQ(skills.size(), 3u);
  EXPECT_EQ(skills[0].name, "todo");
  EXPECT_EQ(skills[1].name, "notes");
  EXPECT_EQ(skills[1].description, "workspace notes");
  EXPECT_EQ(skills[1].source, "workspace");
  EXPECT_EQ(skills[2].name, "weather");
  EXPECT_EQ(skills[2].source, "home");
  EXPECT_TRUE(skills[2].path.is_absolute());
  EXPECT_EQ(skills[2].path, root_ / "home" / "weather" / "SKILL.md");
  for (const auto& s : skills) EXPECT_TRUE(s.eligible) << s.name << ": " << s.ineligible_reason;
}

TEST_F(SkillsDiscovery, EligibilityByBinaryEnvAndOs) {
  WriteSkill("ws", "gh", "name: gh\ndescription: d\nmetadata: {\"openclaw\":{\"requires\":{\"bins\":[\"gh\"]}}}\n");
  WriteSkill("ws", "jq", "name: jq\ndescription: d\nmetadata: {\"requires\":{\"bins\":[\"jq-missing\"]}}\n");
  WriteSkill("ws", "noexec", "name: noexec\ndescription: d\nmetadata: {\"requires\":{\"bins\":[\"not-exec\"]}}\n");
  WriteSkill("ws", "any", "name: any\ndescription: d\nmetadata: {\"requires\":{\"anyBins\":[\"nope\",\"gh\"]}}\n");
  WriteSkill("ws", "token", "name: token\ndescription: d\nmetadata: {\"requires\":{\"env\":[\"GITHUB_TOKEN\"]}}\n");
  WriteSkill("ws", "mac", "name: mac\ndescription: d\nmetadata: {\"openclaw\":{\"os\":[\"darwin\"]}}\n");
  WriteSkill("ws", "both", "name: both\ndescription: d\nmetadata: {\"requires\":{\"bins\":[\"zz\"],\"env\":[\"E\"]}}\n");
  std::map<std::string, Skill> by_name;
  for (auto& s : Discover(Env({{"E", ""}}))) by_name[s.name] = s;
  EXPECT_TRUE(by_name.at("gh").eligible);
  EXPECT_TRUE(by_name.at("any").eligible);
  EXPECT_FALSE(by_name.at("jq").eligible);
  EXPECT_EQ(by_name.at("jq").ineligible_reason, "missing binary: jq-missing");
  EXPECT_EQ(by_name.at("noexec").ineligible_reason, "missing binary: not-exec");
  EXPECT_EQ(by_name.at("token").ineligible_reason, "missing env: GITHUB_TOKEN");
  EXPECT_EQ(by_name.at("mac").ineligible_reason, "os: darwin");
  EXPECT_EQ(by_name.at("both").ineligible_reason, "missing binary: zz; missing env: E");  // empty counts as unset

  for (auto& s : Discover(Env({{"GITHUB_TOKEN", "t"}})))
    if (s.name == "token") {
      EXPECT_TRUE(s.eligible);
    }
}

TEST_F(SkillsDiscovery, UnparseableSkillIsListedIneligibleUnderItsDirectoryName) {
  fs::create_directories(root_ / "ws" / "broken");
  std::ofstream(root_ / "ws" / "broken" / "SKILL.md") << "no front matter here\n";
  WriteSkill("home", "broken", "name: broken\ndescription: the home copy\n");
  WriteSkill("home", "fine", "name: fine\ndescription: ok\n");
  auto skills = Discover(Env({}));
  ASSERT_EQ(skills.size(), 2u);
  EXPECT_EQ(skills[0].name, "broken");
  EXPECT_EQ(skills[0].source, "workspace");
  EXPECT_FALSE(skills[0].eligible);
  EXPECT_NE(skills[0].ineligible_reason.find("no front matter"), std::string::npos);
  EXPECT_EQ(skills[1].name, "fine");
}

TEST_F(SkillsDiscovery, MissingRootsGiveNothing) {
  EXPECT_TRUE(DiscoverSkills({{root_ / "nope", "workspace"}}, Env({})).empty());
  EXPECT_TRUE(DiscoverSkills({}, nullptr).empty());
}

}  // namespace
}  // namespace oc::agent
