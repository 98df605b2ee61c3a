// SKILL.md skills (SPEC §8.4): directories with a SKILL.md under <workspace>/skills/ and
// <home>/skills/. The system prompt lists the eligible ones by name, description and path; the model
// reads the file itself when it needs the skill.
//
// The front-matter parser (skills.cpp, library oc_skill_text) has no I/O and no Asio so the fuzz
// build can instrument it; discovery (skill_discovery.cpp, oc_llm) does the file system work.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace oc::agent {

struct SkillFrontMatter {
  std::string name, description;
  std::vector<std::string> bins, env;    // all required
  std::vector<std::string> any_bins;     // at least one required (when non-empty)
  std::vector<std::string> os;           // allowed platforms ("linux", "darwin", ...); empty = any
};

// Parses the YAML front matter between the first two `---` lines of a SKILL.md (the first line must
// be `---`; a UTF-8 BOM and CRLF line ends are accepted). Supported YAML subset: plain, quoted
// ("..." with escapes, '...') and block (| >) scalars, block and flow lists, nested maps, comments,
// and `metadata` given as a JSON object on one or several lines, as OpenClaw skills do:
//   metadata: {"openclaw":{"requires":{"bins":["gh"]}}}
// Requirements are read from metadata.requires, metadata.openclaw.requires and
// metadata.openclawos.requires ({bins[], anyBins[], env[], os[]}; `os` is also accepted beside
// `requires`) and merged; a single string stands for a one-element list. Unknown keys are ignored.
// Errors (kInvalidParams, message "line N: ...", data {line}): no front matter or no closing
// `---`, missing or empty name or description, malformed structure (bad indentation, tabs in
// indentation, unclosed quotes or brackets, duplicate keys, nesting deeper than 32, requirement
// lists that are not lists of strings). Never crashes or hangs; time is linear in the input.
Result<SkillFrontMatter> ParseSkillFrontMatter(std::string_view text);

struct Skill {
  std::string name, description;
  std::filesystem::path path;     // absolute path of SKILL.md
  std::string source;             // "workspace" | "home" (the label given with its root)
  bool eligible = true;
  std::string ineligible_reason;  // "missing binary: gh", "missing env: GITHUB_TOKEN", "os: darwin"
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;

// The platform name skills' `os` lists are compared with: "linux", "darwin" or "unknown".
std::string_view CurrentOsName();

// Scans <root>/*/SKILL.md of each root in order (pass workspace skills first, then <home>/skills,
// each with its source label); directories are visited in name order. A name seen earlier wins
// (workspace overrides home). Requirements: every `bins` entry and one of `anyBins` must be an
// executable file in a directory of $PATH (read through `env`); every `env` variable must be set and
// non-empty; `os`, when given, must include CurrentOsName(). Several failures are joined with "; ".
// A SKILL.md that cannot be read or parsed is logged (spdlog warning) and listed as ineligible
// under its directory's name with the error as the reason. Missing roots are skipped.
// Blocking file I/O: call at start/reload or from a worker, never on the kernel loop per message.
std::vector<Skill> DiscoverSkills(const std::vector<std::pair<std::filesystem::path, std::string>>& roots,
                                  const EnvLookup& env);

}  // namespace oc::agent
