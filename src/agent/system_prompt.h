// System-prompt assembly (SPEC §8.1): base instructions, the agent's prompt, the workspace and its
// bootstrap files, the eligible SKILL.md skills (SPEC §8.4) and the runtime facts of the run.
#pragma once

#include <string>
#include <vector>

#include "agent/skills.h"
#include "agent/workspace.h"

namespace oc::agent {

struct PromptParts {
  std::string base_instructions;            // kBaseInstructions (runtime_config.h)
  std::string agent_prompt;                 // systemPrompt + systemPromptFile contents
  std::vector<PromptFile> bootstrap;        // ReadBootstrapFiles()
  std::vector<Skill> skills;                // DiscoverSkills(); only eligible ones are listed
  std::vector<std::string> enabled_skills;  // agents.<id>.skills; empty = all eligible
  std::string workspace;                    // path shown to the model
  std::string runtime_facts;                // RuntimeFacts()
};

// Sections, separated by blank lines, in this order:
//   base instructions
//   agent prompt
//   "# Workspace": one line naming the workspace path, then each bootstrap file under "## <name>"
//   "# Skills": one line telling the model to read a skill's SKILL.md with the `read` tool before
//               using it, then "- <name> — <description> — <path>" per listed skill
//   runtime facts
// Empty (whitespace-only) parts leave nothing behind, headings included: no "# Workspace" without
// a path or a non-empty file, no "# Skills" without a listed skill. Skill names and descriptions
// come from files, so they are flattened to one line each (descriptions capped at 500 characters)
// and cannot forge headings. The result ends without a trailing newline.
std::string AssembleSystemPrompt(const PromptParts& parts);

}  // namespace oc::agent
