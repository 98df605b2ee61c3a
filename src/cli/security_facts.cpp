#include "cli/security_facts.h"

#include <sys/stat.h>

#include "cli/cli_common.h"
#include "registry/capabilities.h"
#include "registry/packages.h"

// The vault and the sandbox probe are built by other parts of issue 8; src/cli/CMakeLists.txt
// defines these when their libraries are part of the build.
#if OC_HAVE_VAULT
#include "vault/vault.h"
#endif
#if OC_HAVE_SANDBOX_PROBE
#include "supervisor/sandbox.h"
#endif

namespace oc::cli::security {
namespace fs = std::filesystem;

namespace {

FileFacts Stat(std::string id, const fs::path& path, mode_t max_mode, std::string severity) {
  FileFacts f{std::move(id), path, false, 0, max_mode, std::move(severity)};
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    f.exists = true;
    f.mode = st.st_mode & 07777;
  }
  return f;
}

}  // namespace

std::vector<FileFacts> PrivateFiles(const config::Paths& paths) {
  fs::path db = paths.database;
  return {Stat("home", paths.home, 0700, "high"),
          Stat("config", paths.config_file, 0600, "high"),
          Stat("database", db, 0600, "high"),
          Stat("database-wal", db.string() + "-wal", 0600, "high"),
          Stat("database-shm", db.string() + "-shm", 0600, "high"),
          Stat("socket-dir", paths.socket.parent_path(), 0700, "medium"),
          Stat("socket", paths.socket, 0600, "medium"),
          Stat("vault-key", paths.home / "vault.key", 0600, "critical")};
}

std::vector<AppFacts> AppsOf(const config::Config& cfg, const config::Paths& paths) {
  std::vector<AppFacts> out;
  auto found = registry::DiscoverPackages(ShippedPackages(), paths.packages);
  for (const auto& pkg : found.packages) {
    auto app = cfg.app(pkg.manifest.id);
    std::optional<std::string_view> user;
    if (app.trust_level) user = *app.trust_level;
    registry::TrustLevel trust = registry::EffectiveTrust(pkg, user);
    registry::Grants grants = registry::ComputeGrants(pkg.manifest, trust, app.grants, app.denies);
    AppFacts a;
    a.id = pkg.manifest.id;
    a.trust = std::string(registry::TrustLevelName(trust));
    // SPEC §2: installed apps run unless disabled; shipped ones only when enabled (or their channel is).
    bool channel_on = false;
    for (const auto& ch : pkg.manifest.channels_provides) channel_on |= cfg.ChannelEnabled(ch);
    a.enabled = app.enabled.value_or(!pkg.shipped || channel_on);
    a.intercepts.assign(grants.hooks_intercept.begin(), grants.hooks_intercept.end());
    a.providers.assign(grants.providers.begin(), grants.providers.end());
    const json::value* sandboxed = app.raw.is_object() ? app.raw.get_object().if_contains("sandboxed") : nullptr;
    a.sandbox_disabled_by_user = trust >= registry::TrustLevel::kCommunity && sandboxed && sandboxed->is_bool() &&
                                 !sandboxed->get_bool();
    out.push_back(std::move(a));
  }
  return out;
}

SandboxFacts ProbeSandbox() {
  SandboxFacts f;
#if OC_HAVE_SANDBOX_PROBE
  supervisor::SandboxSupport s = supervisor::ProbeSandboxSupport();
  f.probed = true;
  f.landlock_abi = s.landlock_abi;
  f.seccomp = s.seccomp;
  f.network_namespace = s.network_namespace;
  f.detail = s.detail;
#endif
  return f;
}

VaultKeyFacts VaultKey([[maybe_unused]] const config::Paths& paths) {
  VaultKeyFacts k;
#if OC_HAVE_VAULT
  k.checked = true;
  vault::KeyOptions options;
  options.home = paths.home;
  options.create_if_missing = false;
  auto key = vault::LoadMasterKey(options);
  if (key.ok()) {
    k.found = true;
    k.source = key->source;
  } else if (key.error().code != ErrorCode::kNotFound) {
    k.error = key.error().message;
  }
#endif
  return k;
}

KeyringFacts ProbeKeyring() {
  KeyringFacts k;
#if OC_HAVE_VAULT
  vault::KeyringProbe probe = vault::ProbeKeyring(config::ProcessEnv());
  k.available = true;
  k.reachable = probe.reachable;
  k.detail = probe.detail;
#endif
  return k;
}

}  // namespace oc::cli::security
