// The kernel's side of the credential vault (SPEC §12, §5.2): opening the vault at start, resolving
// {"$secret": NAME} for the subsystems (the written config stays the one users see), handing
// secrets to apps only through the variables their manifest lists in resources.env, and keeping the
// process-wide redaction list (common/redact.h) up to date.
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "audit/audit.h"
#include "common/redact.h"
#include "kernel/kernel.h"

namespace oc::kernel {
namespace {

// apps.* and channels.* are app sections: their secrets go to the app's process at spawn (and a
// missing one stops that app only, not the kernel).
bool AppSectionPath(std::string_view path) { return path.starts_with("apps.") || path.starts_with("channels."); }

std::string AddHint(std::string_view name) {
  return "; add it with `openclaw vault set " + std::string(name) + "`";
}

// Plain string values of secret-looking keys (botToken, apiKey, password, ...) anywhere in `v`.
void CollectSecretKeyValues(const json::value& v, std::vector<std::string>& out) {
  if (const json::object* o = v.if_object()) {
    for (const auto& [key, sub] : *o) {
      // The "$secret" key of a reference holds a secret's name, which is not secret.
      if (sub.is_string() && key != "$secret" && config::IsSecretKey(key)) out.emplace_back(sub.get_string());
      CollectSecretKeyValues(sub, out);
    }
  } else if (const json::array* a = v.if_array()) {
    for (const auto& sub : *a) CollectSecretKeyValues(sub, out);
  }
}

Error ConfigError(std::string message) {
  return MakeError(ErrorCode::kInvalidParams, std::move(message), json::object{{"configError", true}});
}

}  // namespace

Status Kernel::TryOpenVault(bool create) {
  if (vault_) return {};
  if (!vault_db_) {
    auto db = store::Database::Open(options_.paths.database);
    if (!db.ok()) return MakeError(db.error().code, "state database " + options_.paths.database.string() + ": " + db.error().message);
    vault_db_ = std::move(db).value();
  }
  auto exists = vault::Vault::Exists(*vault_db_);
  if (!exists.ok()) return exists.error();
  std::vector<std::string> warnings;
  auto key = vault::LoadMasterKey({options_.paths.home, config::ProcessEnv(), create && !*exists}, &warnings);
  for (const auto& w : warnings) spdlog::warn("vault: {}", w);
  if (!key.ok()) {
    if (key.error().code == ErrorCode::kNotFound && !*exists) {
      vault_problem_ = "no vault yet (no secret was ever stored; add one with `openclaw vault set NAME`)";
      return MakeError(ErrorCode::kNotFound, vault_problem_);
    }
    vault_problem_ = key.error().message;
    if (*exists) (void)audit::Record(*vault_db_, {"vault.open_failed", "kernel", "", "failed", {}});
    return key.error();
  }
  auto opened = vault::Vault::Open(*vault_db_, std::move(key).value());
  if (!opened.ok()) {
    vault_problem_ = opened.error().message;
    (void)audit::Record(*vault_db_, {"vault.open_failed", "kernel", "", "failed", {}});
    return opened.error();
  }
  vault_ = std::move(opened).value();
  vault_problem_.clear();
  return {};
}

Result<std::string> Kernel::LookupSecret(std::string_view name) const {
  if (!vault_)
    return MakeError(ErrorCode::kUnauthorized,
                     "secret \"" + std::string(name) + "\" cannot be read: " +
                         (vault_problem_.empty() ? std::string("the vault is not open") : vault_problem_));
  auto value = vault_->Get(name);
  if (!value.ok() && value.error().code == ErrorCode::kNotFound)
    return MakeError(ErrorCode::kNotFound, "no secret \"" + std::string(name) + "\" in the vault" + AddHint(name));
  return value;
}

Result<config::Config> Kernel::ResolveConfig(const config::Config& written) {
  auto resolved = written.WithSecretsResolved([this](std::string_view name) { return LookupSecret(name); },
                                              AppSectionPath);
  if (!resolved.ok()) return ConfigError(resolved.error().message);
  return resolved;
}

Status Kernel::OpenVault() {
  const bool needed = !config::FindSecretRefs(config_.root()).empty();
  if (Status s = TryOpenVault(needed); !s.ok()) {
    if (needed)
      return ConfigError("the config references vault secrets but the vault cannot be opened: " + s.error().message);
    if (s.error().code != ErrorCode::kNotFound)
      spdlog::warn("vault not opened ({}); no config value needs it", s.error().message);
  }
  auto resolved = ResolveConfig(config_);
  if (!resolved.ok()) return resolved.error();
  resolved_ = std::move(resolved).value();
  RefreshRedaction();
  return {};
}

void Kernel::RefreshRedaction() {
  std::vector<std::string> values;
  if (vault_) {
    if (auto all = vault_->All(); all.ok()) {
      for (auto& [name, value] : *all) values.push_back(std::move(value));
    } else {
      spdlog::warn("vault: cannot read the secrets for redaction: {}", all.error().message);
    }
  }
  CollectSecretKeyValues(config_.root(), values);
  // Values handed to apps (x-env keys, vault secrets) are added by AddAppEnv when a spec is built.
  size_t added = AddSecretValues(values);
  // Wipe our copies: the redaction list keeps its own.
  for (auto& v : values) std::fill(v.begin(), v.end(), '\0');
  if (added) spdlog::debug("redaction list: {} new value(s), {} in all", added, SecretValueCount());
}

std::optional<std::string> Kernel::AddAppEnv(const registry::Package& pkg,
                                             std::map<std::string, std::string>& env) const {
  const std::string& id = pkg.manifest.id;
  auto app = config_.app(id);
  std::map<std::string, std::string> from_config;
  std::map<std::string, config::SecretRef> config_secrets;
  AddConfigEnv(pkg, from_config, config_secrets);
  const auto trust = TrustOf(pkg);
  // A vault secret named like the variable is handed to apps the user trusts (core/verified);
  // community/untrusted apps only get what the config names explicitly.
  const bool by_name = vault_ && (trust == registry::TrustLevel::kCore || trust == registry::TrustLevel::kVerified);
  std::optional<std::string> problem;
  auto audit_get = [&](const std::string& name, std::string_view outcome, const std::string& path) {
    store::Database* db = pipeline_ ? &pipeline_->database() : vault_db_.get();
    if (db) (void)audit::Record(*db, {"vault.get", "kernel", name, std::string(outcome), {{"app", id}, {"path", path}}});
  };
  for (const auto& var : pkg.manifest.env) {
    std::optional<config::SecretRef> ref;
    if (auto it = app.env.find(var); it != app.env.end()) {
      env[var] = it->second;
    } else if (auto s = app.env_secrets.find(var); s != app.env_secrets.end()) {
      ref = config::SecretRef{JoinPath(JoinPath("apps." + id, "env"), var), s->second};
    } else if (auto c = from_config.find(var); c != from_config.end()) {
      env[var] = c->second;
      AddSecretValue(c->second);
    } else if (auto cs = config_secrets.find(var); cs != config_secrets.end()) {
      ref = cs->second;
    } else if (by_name && vault::IsValidSecretName(var) && vault_->Get(var).ok()) {
      ref = config::SecretRef{"resources.env " + var, var};
    } else if (const char* v = std::getenv(var.c_str())) {
      env[var] = v;
    }
    if (!ref) continue;
    auto value = LookupSecret(ref->name);
    if (!value.ok()) {
      audit_get(ref->name, "failed", ref->path);
      if (!problem) {
        problem = value.error().code == ErrorCode::kNotFound
                      ? "vault: no secret \"" + ref->name + "\" (" + ref->path + ")" + AddHint(ref->name)
                      : "vault: " + value.error().message + " (" + ref->path + ")";
      }
      continue;
    }
    audit_get(ref->name, "ok", ref->path);
    AddSecretValue(*value);
    env[var] = std::move(value).value();
  }
  return problem;
}

void Kernel::RetryAppsMissingSecrets() {
  if (!supervisor_) return;
  for (const auto& pkg : packages_) {
    if (pkg.manifest.type != registry::PackageType::kApp) continue;
    auto st = supervisor_->Get(pkg.manifest.id);
    if (!st || st->state != supervisor::AppState::kError || !st->last_error || st->last_error->rfind("vault:", 0) != 0)
      continue;
    auto spec = BuildSpec(pkg);
    if (!spec.ok() || spec->unstartable) continue;
    supervisor_->Add(std::move(spec).value());
    if (AppEnabled(pkg)) (void)supervisor_->Start(pkg.manifest.id);
  }
}

void Kernel::RegisterVaultMethods() {
  // Called by `openclaw vault set|rm|rotate` after a change (best effort), and by operators.
  control_->AddMethod("vault.reload", [this](const gateway::ClientInfo&, json::value) -> asio::awaitable<Result<json::value>> {
    bool was_open = vault_ != nullptr;
    if (vault_) {
      // Rotation changes the key: reopen from the key's source so the new key is used.
      vault_.reset();
    }
    Status s = TryOpenVault(false);
    if (!s.ok() && (was_open || s.error().code != ErrorCode::kNotFound))
      spdlog::warn("vault.reload: vault not opened: {}", s.error().message);
    RefreshRedaction();
    RetryAppsMissingSecrets();
    co_return json::object{{"open", vault_ != nullptr}, {"redacted", SecretValueCount()}};
  });
}

}  // namespace oc::kernel
