// What an app is given besides its grants: its config section checked against the manifest's
// configSchema (defaults filled in for config.get), secrets handed through the environment, a private
// data directory, and — for core/verified apps — the supervisor's view of every app (apps.list).
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "common/json_schema.h"
#include "kernel/kernel.h"

namespace oc::kernel {
namespace fs = std::filesystem;

namespace {

// Keys of apps.<id> that the kernel reads itself (config_schema.cpp AppSchema); the rest is the app's.
constexpr std::string_view kKernelAppKeys[] = {"enabled", "trustLevel", "grants", "denies", "env", "sandboxed"};

// Every property path of `schema` whose property carries "x-env": "VAR", as (dotted path, VAR).
void CollectEnvKeys(const json::value& schema, const std::string& prefix,
                    std::vector<std::pair<std::string, std::string>>& out) {
  const json::object* o = schema.if_object();
  if (!o) return;
  const json::object* props = GetObject(*o, "properties");
  if (!props) return;
  for (const auto& [key, sub] : *props) {
    std::string path = prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
    if (const json::object* so = sub.if_object())
      if (auto var = GetString(*so, "x-env")) out.emplace_back(path, std::string(*var));
    CollectEnvKeys(sub, path, out);
  }
}

std::string SectionPath(const registry::Package& pkg) {
  if (!pkg.manifest.channels_provides.empty()) return "channels." + pkg.manifest.channels_provides.front();
  return "apps." + pkg.manifest.id;
}

}  // namespace

json::value Kernel::AppConfigSection(const registry::Package& pkg) const {
  if (!pkg.manifest.channels_provides.empty()) {
    const json::value* v = config_.Find("channels." + pkg.manifest.channels_provides.front());
    return v ? *v : json::value(nullptr);
  }
  json::value section = config_.app(pkg.manifest.id).raw;
  if (json::object* o = section.if_object())
    for (std::string_view k : kKernelAppKeys) o->erase(k);
  return section;
}

std::optional<std::string> Kernel::AppConfigProblem(const registry::Package& pkg) const {
  if (!pkg.manifest.config_schema.is_object()) return std::nullopt;
  json::value section = AppConfigSection(pkg);
  if (section.is_null()) section = json::object();
  auto violations = ValidateSchema(pkg.manifest.config_schema, section, SectionPath(pkg));
  if (violations.empty()) return std::nullopt;
  std::string text = "config:";
  for (size_t i = 0; i < violations.size() && i < 5; ++i)
    text += (i ? "; " : " ") + violations[i].path + ": " + violations[i].message;
  if (violations.size() > 5) text += "; and " + std::to_string(violations.size() - 5) + " more";
  return text;
}

void Kernel::AddConfigEnv(const registry::Package& pkg, std::map<std::string, std::string>& env,
                          std::map<std::string, config::SecretRef>& secrets) const {
  std::vector<std::pair<std::string, std::string>> keys;
  CollectEnvKeys(pkg.manifest.config_schema, "", keys);
  if (keys.empty()) return;
  json::value section = AppConfigSection(pkg);
  for (const auto& [path, var] : keys) {
    if (std::find(pkg.manifest.env.begin(), pkg.manifest.env.end(), var) == pkg.manifest.env.end()) {
      spdlog::warn("app {}: configSchema {} names x-env {} that resources.env does not list; not passed",
                   pkg.manifest.id, path, var);
      continue;
    }
    const json::value* v = FindPath(section, path);
    if (v && v->is_string() && !v->as_string().empty()) {
      env[var] = std::string(v->as_string());
    } else if (auto refs = v ? config::FindSecretRefs(*v, JoinPath(SectionPath(pkg), path)) : std::vector<config::SecretRef>{};
               refs.size() == 1 && refs.front().path == JoinPath(SectionPath(pkg), path)) {
      secrets[var] = std::move(refs.front());  // {"$secret": NAME}: resolved at spawn
    }
  }
}

Result<fs::path> Kernel::AppDataDir(const registry::Package& pkg) const {
  std::string name = pkg.manifest.id;
  for (char& c : name)
    if (c == '/') c = '_';
  fs::path dir = options_.paths.home / "apps" / name;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return MakeError(ErrorCode::kInternalError, "cannot create " + dir.string() + ": " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0)
    return MakeError(ErrorCode::kInternalError, "cannot chmod " + dir.string());
  return dir;
}

json::value Kernel::WithSchemaDefaults(const registry::Package& pkg, const json::value& section) const {
  if (!pkg.manifest.config_schema.is_object()) return section;
  json::value filled = section.is_null() ? json::value(json::object()) : section;
  if (!filled.is_object()) return section;  // a wrong type is reported by AppConfigProblem
  ApplySchemaDefaults(pkg.manifest.config_schema, filled);
  return filled;
}

Result<json::value> Kernel::AppsListForApp(const AppSession& s) const {
  auto trust = TrustOf(s.package, s.external);
  if (trust != registry::TrustLevel::kCore && trust != registry::TrustLevel::kVerified)
    return MakeError(ErrorCode::kForbidden, "apps.list is for core and verified apps; " + s.app_id + " is " +
                                                std::string(registry::TrustLevelName(trust)));
  json::array apps;
  for (const auto& p : packages_) apps.push_back(AppSummary(p));
  return json::object{{"apps", std::move(apps)}};
}

}  // namespace oc::kernel
