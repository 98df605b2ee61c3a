// System-prompt assembly: each section is built on its own, empty ones are dropped.
#include "common/text.h"
#include "agent/system_prompt.h"

#include <algorithm>
#include <string_view>

namespace oc::agent {
namespace {

constexpr size_t kMaxSkillDescriptionChars = 500;

// Control characters (line breaks included) become spaces and runs of spaces collapse, so text
// taken from a SKILL.md stays on its list line.
std::string OneLine(std::string_view s, size_t max_chars) {
  std::string out;
  for (char c : TrimAsciiSpace(s)) {
    bool space = static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == ' ';
    if (space) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  if (out.size() > max_chars) {
    size_t end = max_chars;
    while (end > 0 && (static_cast<unsigned char>(out[end]) & 0xC0) == 0x80) --end;
    out.resize(end);
    out += "...";
  }
  return out;
}

std::string WorkspaceSection(const PromptParts& parts) {
  std::string body;
  for (const auto& file : parts.bootstrap) {
    std::string_view content = TrimAsciiSpace(file.content);
    if (content.empty()) continue;
    body += "\n\n## " + file.name + "\n" + std::string(content);
  }
  std::string_view path = TrimAsciiSpace(parts.workspace);
  if (path.empty() && body.empty()) return {};
  std::string section = "# Workspace";
  if (!path.empty())
    section += "\nYour workspace is " + std::string(path) +
               ". File tools work inside it. The files below are loaded from it; edit them to update them.";
  return section + body;
}

bool Enabled(const PromptParts& parts, const std::string& name) {
  return parts.enabled_skills.empty() ||
         std::find(parts.enabled_skills.begin(), parts.enabled_skills.end(), name) != parts.enabled_skills.end();
}

std::string SkillsSection(const PromptParts& parts) {
  std::string lines;
  for (const auto& skill : parts.skills) {
    if (!skill.eligible || !Enabled(parts, skill.name)) continue;
    lines += "\n- " + OneLine(skill.name, 100) + " — " + OneLine(skill.description, kMaxSkillDescriptionChars) +
             " — " + OneLine(skill.path.string(), 4096);
  }
  if (lines.empty()) return {};
  return "# Skills\nBefore using a skill, read its SKILL.md with the `read` tool and follow it. Available skills:" +
         lines;
}

}  // namespace

std::string AssembleSystemPrompt(const PromptParts& parts) {
  std::string sections[] = {std::string(TrimAsciiSpace(parts.base_instructions)), std::string(TrimAsciiSpace(parts.agent_prompt)),
                            WorkspaceSection(parts), SkillsSection(parts),
                            std::string(TrimAsciiSpace(parts.runtime_facts))};
  std::string prompt;
  for (auto& section : sections) {
    if (section.empty()) continue;
    if (!prompt.empty()) prompt += "\n\n";
    prompt += section;
  }
  return prompt;
}

}  // namespace oc::agent
