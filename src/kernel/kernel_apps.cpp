// Packages and the apps the kernel runs: discovery, enablement, trust, environment, start order.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "kernel/kernel.h"

namespace oc::kernel {
namespace fs = std::filesystem;

void Kernel::LoadPackages() {
  auto found = registry::DiscoverPackages(options_.shipped_packages, options_.paths.packages);
  for (const auto& problem : found.problems) spdlog::warn("package skipped: {}", problem);
  packages_ = std::move(found.packages);
  spdlog::info("{} package(s) found", packages_.size());
}

const registry::Package* Kernel::FindPackage(std::string_view id) const {
  for (const auto& p : packages_)
    if (p.manifest.id == id) return &p;
  return nullptr;
}

// SPEC §2: an installed app is enabled unless apps.<id>.enabled is false; a shipped channel app
// starts when channels.<channel>.enabled is true, any other shipped app when apps.<id>.enabled is.
bool Kernel::AppEnabled(const registry::Package& pkg) const {
  auto app = config_.app(pkg.manifest.id);
  if (!pkg.shipped) return app.enabled.value_or(true);
  for (const auto& channel : pkg.manifest.channels_provides)
    if (config_.ChannelEnabled(channel)) return app.enabled.value_or(true);
  return app.enabled.value_or(false);
}

registry::TrustLevel Kernel::TrustOf(const registry::Package& pkg, bool external) const {
  auto app = config_.app(pkg.manifest.id);
  std::optional<std::string_view> user;
  if (app.trust_level) user = *app.trust_level;
  return registry::EffectiveTrust(pkg, user, external);
}

registry::Grants Kernel::GrantsOf(const registry::Package& pkg, bool external) const {
  auto app = config_.app(pkg.manifest.id);
  return registry::ComputeGrants(pkg.manifest, TrustOf(pkg, external), app.grants, app.denies);
}

namespace {
// A resources.fs path of the manifest: "~" and "~/x" are under HOME, relative paths under the
// package directory.
fs::path ResolveFsPath(const std::string& entry, const fs::path& package_dir, const std::string& home) {
  if (entry == "~" || entry.rfind("~/", 0) == 0) {
    if (home.empty()) return {};  // no HOME: the entry names nothing
    return (fs::path(home) / entry.substr(entry.size() > 1 ? 2 : 1)).lexically_normal();
  }
  fs::path p(entry);
  return (p.is_absolute() ? p : package_dir / p).lexically_normal();
}

// SPEC §3: the sandbox is on for community/untrusted apps; for core/verified only when the
// manifest asks (security.sandboxed). apps.<id>.sandboxed (bool) is the user's explicit override.
bool SandboxWanted(const registry::Package& pkg, registry::TrustLevel trust, const json::value& app_raw) {
  if (const json::object* o = app_raw.if_object())
    if (auto forced = GetBool(*o, "sandboxed")) return *forced;
  return trust == registry::TrustLevel::kCommunity || trust == registry::TrustLevel::kUntrusted ||
         pkg.manifest.sandboxed;
}
}  // namespace

// SPEC §5.2: the environment is built, not inherited. SPEC §5.5: the sandbox.
Result<supervisor::AppSpec> Kernel::BuildSpec(const registry::Package& pkg) const {
  supervisor::AppSpec spec;
  spec.id = pkg.manifest.id;
  spec.dir = pkg.dir;
  spec.executable = fs::weakly_canonical(pkg.dir / pkg.manifest.main);
  // Component-wise containment (a string prefix would accept ".../foo-evil" for ".../foo").
  const fs::path root = fs::weakly_canonical(pkg.dir);
  auto [root_end, exe_it] = std::mismatch(root.begin(), root.end(), spec.executable.begin(), spec.executable.end());
  if (root_end != root.end() || exe_it == spec.executable.end())
    return MakeError(ErrorCode::kForbidden, "main escapes the package directory (symlink?)");
  for (const char* name : {"PATH", "HOME", "LANG", "TZ"})
    if (const char* v = std::getenv(name)) spec.env[name] = v;
  if (!spec.env.count("PATH")) spec.env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  // resources.env: apps.<id>.env, the vault, the kernel's environment (kernel_vault.cpp).
  std::optional<std::string> env_problem = AddAppEnv(pkg, spec.env);
  OC_ASSIGN(fs::path data_dir, AppDataDir(pkg));
  spec.env["OPENCLAWOS_APP_DATA"] = data_dir.string();
  spec.unstartable = AppConfigProblem(pkg);
  spec.sandbox.enabled = SandboxWanted(pkg, TrustOf(pkg), config_.app(pkg.manifest.id).raw);
  if (spec.sandbox.enabled) {
    const std::string home = spec.env.count("HOME") ? spec.env["HOME"] : std::string();
    for (const auto& entry : pkg.manifest.fs_read)
      if (auto p = ResolveFsPath(entry, pkg.dir, home); !p.empty()) spec.sandbox.read_paths.push_back(p);
    for (const auto& entry : pkg.manifest.fs_write)
      if (auto p = ResolveFsPath(entry, pkg.dir, home); !p.empty()) spec.sandbox.write_paths.push_back(p);
    spec.sandbox.write_paths.push_back(data_dir);
    spec.sandbox.network = !pkg.manifest.network_hosts.empty();
    spec.sandbox.tmp_dir = data_dir / "tmp";
  }
  if (!spec.unstartable) spec.unstartable = std::move(env_problem);
  spec.limits.max_memory_bytes = pkg.manifest.limits.max_memory_bytes;
  spec.limits.cpu_shares = pkg.manifest.limits.cpu_shares;
  spec.limits.max_fds = pkg.manifest.limits.max_fds;
  std::string log_name = pkg.manifest.id;
  for (char& c : log_name)
    if (c == '/') c = '_';
  spec.log_file = options_.paths.logs / "apps" / (log_name + ".log");
  return spec;
}

namespace {
// The packages a StartOrder error names: those with a missing dependency, or those in a cycle.
std::set<std::string> Offenders(const Error& e) {
  std::set<std::string> out;
  const auto* data = e.data.if_object();
  if (!data) return out;
  if (const auto* missing = GetArray(*data, "missing"))
    for (const auto& m : *missing)
      if (auto id = m.is_object() ? GetString(m.as_object(), "package") : std::nullopt) out.emplace(*id);
  if (const auto* cycle = GetArray(*data, "cycle"))
    for (const auto& id : *cycle)
      if (id.is_string()) out.emplace(id.as_string());
  return out;
}
}  // namespace

// Apps in dependency order. Dependencies of every package type count, so all packages are ordered
// and the result filtered to apps. A package with a missing dependency or in a cycle is left out
// (and so is whatever depends on it); the others still start.
std::vector<std::string> Kernel::StartOrder() const {
  std::vector<registry::Package> candidates = packages_;
  auto order = registry::StartOrder(candidates);
  while (!order.ok()) {
    spdlog::error("app dependencies: {}", order.error().message);
    auto offenders = Offenders(order.error());
    size_t before = candidates.size();
    std::erase_if(candidates, [&](const registry::Package& p) { return offenders.count(p.manifest.id) > 0; });
    if (candidates.size() == before) return {};
    order = registry::StartOrder(candidates);
  }
  std::vector<std::string> apps;
  for (const auto& id : *order)
    if (const auto* p = FindPackage(id); p && p->manifest.type == registry::PackageType::kApp) apps.push_back(id);
  return apps;
}

void Kernel::StartEnabledApps() {
  auto order = StartOrder();
  std::set<std::string> startable(order.begin(), order.end());
  for (const auto& pkg : packages_) {  // every app is supervised, so it shows in apps.list
    if (pkg.manifest.type != registry::PackageType::kApp) continue;
    auto spec = BuildSpec(pkg);
    if (!spec.ok()) {
      spdlog::error("app {}: {}", pkg.manifest.id, spec.error().message);
      continue;
    }
    supervisor_->Add(std::move(spec).value());
    if (!startable.count(pkg.manifest.id))
      spdlog::error("app {} not started: its dependencies cannot be satisfied", pkg.manifest.id);
  }
  for (const auto& id : order) {
    const auto* pkg = FindPackage(id);
    if (!pkg || !supervisor_->Has(id) || !AppEnabled(*pkg)) continue;
    if (Status s = supervisor_->Start(id); !s.ok()) spdlog::error("app {}: {}", id, s.error().message);
  }
}

json::value Kernel::AppSummary(const registry::Package& pkg) const {
  json::object o;
  o["id"] = pkg.manifest.id;
  o["name"] = pkg.manifest.name;
  o["version"] = pkg.manifest.version;
  o["type"] = registry::PackageTypeName(pkg.manifest.type);
  o["shipped"] = pkg.shipped;
  o["enabled"] = AppEnabled(pkg);
  o["trustLevel"] = registry::TrustLevelName(TrustOf(pkg));
  o["dir"] = pkg.dir.string();
  if (supervisor_) {
    if (auto st = supervisor_->Get(pkg.manifest.id)) o["status"] = st->ToJson();
  }
  if (pkg.manifest.type == registry::PackageType::kSkill || pkg.manifest.type == registry::PackageType::kExtension) {
    json::object in_process{{"loaded", false}};
    if (extensions_) {
      auto loaded = extensions_->Loaded();
      in_process["loaded"] = std::find(loaded.begin(), loaded.end(), pkg.manifest.id) != loaded.end();
    }
    if (auto it = extension_errors_.find(pkg.manifest.id); it != extension_errors_.end()) in_process["error"] = it->second;
    o["inProcess"] = std::move(in_process);
  }
  return o;
}

}  // namespace oc::kernel
