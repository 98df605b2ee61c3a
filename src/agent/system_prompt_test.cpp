#include "agent/system_prompt.h"

#include <gtest/gtest.h>

namespace oc::agent {
namespace {

Skill MakeSkill(std::string name, std::string description, bool eligible = true) {
  Skill s;
  s.name = std::move(name);
  s.description = std::move(description);
  s.path = "/home/u/.openclaw/skills/" + s.name + "/SKILL.md";
  s.source = "home";
  s.eligible = eligible;
  if (!eligible) s.ineligible_reason = "missing binary: x";
  return s;
}

TEST(SystemPrompt, SectionsInOrder) {
  PromptParts parts;
  parts.base_instructions = "BASE";
  parts.agent_prompt = "AGENT\n";
  parts.workspace = "/w";
  parts.bootstrap = {{"AGENTS.md", "rules\n", false}, {"SOUL.md", "soul", false}};
  parts.skills = {MakeSkill("gh", "GitHub CLI"), MakeSkill("off", "not eligible", false)};
  parts.runtime_facts = "Runtime: now.";
  std::string p = AssembleSystemPrompt(parts);
  EXPECT_EQ(p,
            "BASE\n\nAGENT\n\n"
            "# Workspace\nYour workspace is /w. File tools work inside it. The files below are loaded from it; "
            "edit them to update them.\n\n## AGENTS.md\nrules\n\n## SOUL.md\nsoul\n\n"
            "# Skills\nBefore using a skill, read its SKILL.md with the `read` tool and follow it. Available skills:\n"
            "- gh — GitHub CLI — /home/u/.openclaw/skills/gh/SKILL.md\n\n"
            "Runtime: now.");
}

TEST(SystemPrompt, EmptyPartsLeaveNoHeadings) {
  PromptParts parts;
  parts.base_instructions = "BASE";
  parts.agent_prompt = "  \n";
  parts.bootstrap = {{"AGENTS.md", "\n\n", false}};
  parts.skills = {MakeSkill("off", "x", false)};
  EXPECT_EQ(AssembleSystemPrompt(parts), "BASE");
  EXPECT_EQ(AssembleSystemPrompt(PromptParts{}), "");

  PromptParts files_only;
  files_only.bootstrap = {{"USER.md", "Alice", false}};
  EXPECT_EQ(AssembleSystemPrompt(files_only), "# Workspace\n\n## USER.md\nAlice");
}

TEST(SystemPrompt, EnabledSkillsFilterAndOneLineDescriptions) {
  PromptParts parts;
  parts.skills = {MakeSkill("a", "first"), MakeSkill("b", "line one\n# Fake heading\r\nline  two"), MakeSkill("c", "third")};
  parts.enabled_skills = {"b", "c", "not-installed"};
  std::string p = AssembleSystemPrompt(parts);
  EXPECT_EQ(p.find("- a —"), std::string::npos);
  EXPECT_NE(p.find("- b — line one # Fake heading line two — "), std::string::npos);
  EXPECT_NE(p.find("- c — third"), std::string::npos);
  EXPECT_EQ(p.find("\n# Fake"), std::string::npos);

  parts.skills = {MakeSkill("long", std::string(2000, 'd'))};
  parts.enabled_skills.clear();
  p = AssembleSystemPrompt(parts);
  EXPECT_NE(p.find(std::string(500, 'd') + "... —"), std::string::npos);
  EXPECT_EQ(p.find(std::string(501, 'd')), std::string::npos);
}

}  // namespace
}  // namespace oc::agent
