// The kernel's configuration (SPEC §2, §14): where state lives, the JSON schema of config.json, and
// a validated, immutable snapshot of it with typed accessors for the subsystems.
//
// Contract in brief:
// - A Config only exists if it is valid: Load/FromText either return a Config whose root() passed
//   ConfigSchema() plus the cross-field checks, or an error listing every problem found.
// - A Config is an immutable value: copy it freely, read it from any thread. Reload = Load again and
//   swap the snapshot (an invalid file leaves the caller's old snapshot untouched).
// - "${VAR}" substitution yields strings only; {"$secret": NAME} objects are kept as they are in
//   root() (the vault resolves them) and are never shown by Redacted().
// - Keys are documented in docs/CONFIG.md (a test checks that every schema key is listed there).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace oc::config {

// Lookup of environment variables; tests pass a map, the kernel passes getenv.
// Must return nullopt for an unset variable (an empty value is a set variable).
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
// Reads the process environment (getenv). Safe as long as nobody calls setenv concurrently.
EnvLookup ProcessEnv();
// A lookup over a fixed map, for tests and for callers that build an environment.
EnvLookup MapEnv(std::map<std::string, std::string> vars);

// Where the kernel keeps its state (SPEC §2). Paths are absolute and lexically normal.
struct Paths {
  std::filesystem::path home;         // $OPENCLAWOS_HOME, else $HOME/.openclawos
  std::filesystem::path config_file;  // <home>/config.json
  std::filesystem::path database;     // <home>/state.db
  std::filesystem::path workspace;    // <home>/workspace
  std::filesystem::path packages;     // <home>/packages
  std::filesystem::path logs;         // <home>/logs
  std::filesystem::path socket;       // $OPENCLAWOS_SOCKET, else $XDG_RUNTIME_DIR/openclawos/kernel.sock,
                                      // else /tmp/openclawos-<uid>/kernel.sock
};
// Pure computation: creates nothing on disk. Empty variables count as unset. Without $HOME the
// home directory comes from the password database (then "/" as a last resort).
Paths ResolvePaths(const EnvLookup& env);

// The JSON schema of the whole config: types, enums, ranges, `description` for every key and a
// `default` for every key that has one. Maps keyed by the user (apps.<id>, agents.<id>,
// channels.<channel>, ...) use additionalProperties and carry "x-keyName" ("<id>") for docs/UI.
// Built once, immutable, safe to read from any thread.
const json::value& ConfigSchema();

// True for keys whose values are secrets: case-insensitive, ignoring '_' and '-', the key is or ends
// with token, password, passwd, secret, apikey or privatekey ("botToken", "OPENAI_API_KEY",
// "sasl.password"). Plural forms such as "maxTokens" are not secrets.
bool IsSecretKey(std::string_view key);
// The text that replaces secrets in Redacted() output.
inline constexpr std::string_view kRedacted = "[redacted]";
// A copy of `v` with secrets replaced by "[redacted]" (the rules of Config::Redacted), for subtrees
// taken by other means, e.g. AppSettings::raw of an app whose id contains '.'.
json::value RedactSecrets(const json::value& v);

// A {"$secret": NAME} reference found in a config tree.
struct SecretRef {
  std::string path;  // dotted, e.g. "gateway.auth.token", "apps.@x/y.env.API_KEY"
  std::string name;  // the vault name
};
// Every {"$secret": NAME} object inside `v` (in document order); paths are prefixed with `base`.
std::vector<SecretRef> FindSecretRefs(const json::value& v, std::string_view base = {});

struct RateLimitSettings {
  bool enabled = true;
  int64_t window_ms = 60000;  // per-client fixed window
  int64_t max_requests = 600; // requests per window before 429
};

struct GatewaySettings {
  std::string host = "127.0.0.1";
  uint16_t port = 18789;
  // Plain values from the config (after ${VAR} substitution); empty when unset.
  std::string auth_token;
  std::string auth_password;
  // Vault names when the config says {"$secret": NAME} instead of a plain string; the gateway must
  // resolve them (and must not treat the credential as absent).
  std::string auth_token_secret;
  std::string auth_password_secret;
  size_t max_body_bytes = 1 << 20;
  size_t max_ws_frame_bytes = 1 << 20;
  std::vector<std::string> cors_origins;
  RateLimitSettings rate_limit;
  // gateway.webhooks: /hooks/* answer 404 while no token is set.
  std::string webhook_token, webhook_token_secret;
  std::string webhook_agent_id = "default";
  bool control_ui_enabled = true;
  int64_t tick_interval_ms = 30000;

  bool auth_configured() const {
    return !auth_token.empty() || !auth_password.empty() || !auth_token_secret.empty() ||
           !auth_password_secret.empty();
  }
};

struct SupervisorSettings {  // all ms; defaults from SPEC §5 (apps.supervisor.*)
  int64_t start_timeout_ms = 10000, heartbeat_interval_ms = 30000, heartbeat_timeout_ms = 90000,
          restart_delay_ms = 1000;
  double backoff_multiplier = 2;
  int64_t max_restart_delay_ms = 60000;
  int max_restarts = 5;
  int64_t restart_window_ms = 300000;
  int64_t shutdown_timeout_ms = 5000;
  int64_t kill_grace_ms = 2000;
};

struct IpcSettings {
  size_t max_frame_bytes = 1 << 20;
  bool allow_external_apps = false;
  int64_t resume_window_ms = 10000;
  int64_t request_timeout_ms = 30000;
};

struct HookSettings {
  int64_t intercept_timeout_ms = 5000;
  std::vector<std::string> fail_closed;  // canonical hook names (aliases resolved)
  std::vector<std::string> order;        // package ids, first = called first within a trust level
};

struct LoggingSettings {
  std::string level = "info";  // trace|debug|info|warn|error
  size_t max_file_bytes = 10 << 20;
  int max_files = 5;
};

// apps.<id>. Absent keys stay unset so callers can apply the SPEC §2/§3 rules (an installed app is
// enabled unless enabled:false; a shipped one only if enabled:true; trust defaults differ too).
struct AppSettings {
  std::optional<bool> enabled;
  std::optional<std::string> trust_level;  // core|verified|community|untrusted
  std::vector<std::string> grants;
  std::vector<std::string> denies;
  std::map<std::string, std::string> env;          // plain values
  std::map<std::string, std::string> env_secrets;  // variable -> vault name ({"$secret": NAME})
  json::value raw;  // the whole apps.<id> object (app-specific keys included) or null
};

class Config {
 public:
  // Reads the file (a missing file means "all defaults"; an unreadable or unparseable one is an
  // error), substitutes "${VAR}" inside strings from env (a missing variable is an error naming the
  // path and the variable; "$${" is a literal "${"), applies env overrides (OPENCLAW_HOST ->
  // gateway.host, OPENCLAW_PORT -> gateway.port; empty values are ignored), applies defaults,
  // validates against ConfigSchema() and the cross-field rules.
  // On failure: Error{kInvalidParams, "<N> config error(s)", data: {"path": <first path>,
  // "errors": [{"path", "message"}, ...]}} listing EVERY problem ("" path = the file itself).
  static Result<Config> Load(const std::filesystem::path& file, const EnvLookup& env);
  static Result<Config> FromText(std::string_view text, const EnvLookup& env);  // same rules
  // All defaults, no environment. Never fails.
  static Config Defaults();

  const json::value& root() const { return root_; }  // the effective config (defaults applied)
  // FindPath on root(): "gateway.port", "apps.@openclawos/diagnostics.env"; nullptr when absent.
  const json::value* Find(std::string_view dotted) const;
  // A copy of the value at `dotted` (root when empty; null when absent) with secrets removed: the
  // value of any key for which IsSecretKey() holds and any {"$secret": NAME} object, at any depth,
  // become "[redacted]" (null values stay null: nothing to hide). If a segment of `dotted` itself is
  // a secret key, the whole result is "[redacted]".
  json::value Redacted(std::string_view dotted = {}) const;

  GatewaySettings gateway() const;
  SupervisorSettings supervisor() const;
  IpcSettings ipc() const;
  HookSettings hooks() const;
  LoggingSettings logging() const;
  // apps.<id>; defaults (all unset, raw null) when absent. "supervisor" is not an app id.
  AppSettings app(std::string_view app_id) const;
  // channels.<channel>.enabled == true.
  bool ChannelEnabled(std::string_view channel) const;

  // --- secrets (issue 8; config_secrets.cpp) ---
  // A copy of this config in which every {"$secret": NAME} object is replaced by the secret's value
  // (a string), for the subsystems that consume values; the original keeps its references, so keep it
  // for display (Redacted(), config.get). References at a path for which `skip(path)` is true are left
  // as written (the kernel resolves apps.* and channels.* per app, at spawn). The copy is not
  // validated again: a string is valid wherever a reference is (the schema's Secret shape).
  // Error: kNotFound (or the lookup's code) "<path>: <lookup message>" for the first reference that
  // does not resolve, with data {path, secret, errors: [{path, secret, message}, ...]} listing all.
  using SecretLookup = std::function<Result<std::string>(std::string_view name)>;
  Result<Config> WithSecretsResolved(const SecretLookup& lookup,
                                     const std::function<bool(std::string_view path)>& skip = {}) const;

 private:
  explicit Config(json::value root) : root_(std::move(root)) {}
  friend struct ConfigBuilder;

  json::value root_;
};

}  // namespace oc::config
