// Finding SKILL.md skills on disk and deciding which ones the model may use (SPEC §8.4).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "agent/skills.h"

namespace oc::agent {
namespace {

namespace fs = std::filesystem;

// A SKILL.md bigger than this is not a skill description; reading stops there (the front matter
// is at the top).
constexpr std::streamsize kMaxSkillFileBytes = 256 * 1024;

bool IsExecutableFile(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

bool BinaryOnPath(const std::string& bin, const std::string& path_var) {
  if (bin.find('/') != std::string::npos) return IsExecutableFile(bin);
  size_t pos = 0;
  while (pos <= path_var.size()) {
    size_t end = path_var.find(':', pos);
    if (end == std::string::npos) end = path_var.size();
    std::string dir = path_var.substr(pos, end - pos);
    if (!dir.empty() && IsExecutableFile(fs::path(dir) / bin)) return true;
    pos = end + 1;
  }
  return false;
}

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

// Empty when the skill can be used here; otherwise every unmet requirement.
std::string UnmetRequirements(const SkillFrontMatter& fm, const EnvLookup& env) {
  std::string path_var = env ? env("PATH").value_or("") : "";
  std::vector<std::string> reasons;
  for (const auto& bin : fm.bins)
    if (!BinaryOnPath(bin, path_var)) reasons.push_back("missing binary: " + bin);
  if (!fm.any_bins.empty() &&
      std::none_of(fm.any_bins.begin(), fm.any_bins.end(), [&](const std::string& b) { return BinaryOnPath(b, path_var); }))
    reasons.push_back("missing binary: one of " + Join(fm.any_bins, ", "));
  for (const auto& var : fm.env) {
    auto value = env ? env(var) : std::nullopt;
    if (!value || value->empty()) reasons.push_back("missing env: " + var);
  }
  if (!fm.os.empty() && std::find(fm.os.begin(), fm.os.end(), CurrentOsName()) == fm.os.end())
    reasons.push_back("os: " + Join(fm.os, ", "));
  return Join(reasons, "; ");
}

Result<std::string> ReadSkillFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kInternalError, "cannot read " + file.string());
  std::string text(static_cast<size_t>(kMaxSkillFileBytes), '\0');
  in.read(text.data(), kMaxSkillFileBytes);
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

// Subdirectories of `root` that hold a SKILL.md, in name order.
std::vector<fs::path> SkillDirs(const fs::path& root) {
  std::vector<fs::path> dirs;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return dirs;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code file_ec;
    if (it->is_directory(file_ec) && fs::is_regular_file(it->path() / "SKILL.md", file_ec)) dirs.push_back(it->path());
  }
  if (ec) spdlog::warn("skills: cannot list {}: {}", root.string(), ec.message());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

Skill LoadSkill(const fs::path& dir, const std::string& source, const EnvLookup& env) {
  Skill skill;
  std::error_code ec;
  skill.path = fs::absolute(dir / "SKILL.md", ec).lexically_normal();
  if (ec) skill.path = dir / "SKILL.md";
  skill.source = source;
  skill.name = dir.filename().string();
  auto text = ReadSkillFile(skill.path);
  auto fm = text.ok() ? ParseSkillFrontMatter(*text) : Result<SkillFrontMatter>(text.error());
  if (!fm.ok()) {
    spdlog::warn("skills: skipping {}: {}", skill.path.string(), fm.error().message);
    skill.eligible = false;
    skill.ineligible_reason = fm.error().message;
    return skill;
  }
  skill.name = fm->name;
  skill.description = fm->description;
  skill.ineligible_reason = UnmetRequirements(*fm, env);
  skill.eligible = skill.ineligible_reason.empty();
  return skill;
}

}  // namespace

std::string_view CurrentOsName() {
#if defined(__linux__)
  return "linux";
#elif defined(__APPLE__)
  return "darwin";
#else
  return "unknown";
#endif
}

std::vector<Skill> DiscoverSkills(const std::vector<std::pair<std::filesystem::path, std::string>>& roots,
                                  const EnvLookup& env) {
  std::vector<Skill> skills;
  std::set<std::string> seen;
  for (const auto& [root, source] : roots) {
    for (const auto& dir : SkillDirs(root)) {
      Skill skill = LoadSkill(dir, source, env);
      if (!seen.insert(skill.name).second) continue;  // an earlier root already has this name
      skills.push_back(std::move(skill));
    }
  }
  return skills;
}

}  // namespace oc::agent
