#include "config/config.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "config/config_internal.h"
#include "protocol/hooks.h"

namespace oc::config {
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Environment and paths

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

EnvLookup MapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

namespace {

std::optional<std::string> NonEmpty(const EnvLookup& env, std::string_view name) {
  auto v = env(name);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

fs::path UserHome(const EnvLookup& env) {
  if (auto home = NonEmpty(env, "HOME")) return *home;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(getuid(), &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_dir)
    return found->pw_dir;
  return "/";
}

fs::path Absolute(const fs::path& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  return (ec ? p : abs).lexically_normal();
}

}  // namespace

Paths ResolvePaths(const EnvLookup& env) {
  Paths p;
  if (auto home = NonEmpty(env, "OPENCLAWOS_HOME"))
    p.home = Absolute(*home);
  else
    p.home = Absolute(UserHome(env) / ".openclawos");
  p.config_file = p.home / "config.json";
  p.database = p.home / "state.db";
  p.workspace = p.home / "workspace";
  p.packages = p.home / "packages";
  p.logs = p.home / "logs";
  if (auto socket = NonEmpty(env, "OPENCLAWOS_SOCKET"))
    p.socket = Absolute(*socket);
  else if (auto runtime = NonEmpty(env, "XDG_RUNTIME_DIR"))
    p.socket = Absolute(fs::path(*runtime) / "openclawos" / "kernel.sock");
  else
    p.socket = fs::path("/tmp") / ("openclawos-" + std::to_string(getuid())) / "kernel.sock";
  return p;
}

// ---------------------------------------------------------------------------------------------
// Secrets

bool IsSecretKey(std::string_view key) {
  std::string norm;
  for (char c : key) {
    if (c == '_' || c == '-') continue;
    norm += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  static constexpr std::string_view kSuffixes[] = {"token", "password", "passwd",
                                                   "secret", "apikey", "privatekey"};
  return std::any_of(std::begin(kSuffixes), std::end(kSuffixes),
                     [&](std::string_view s) { return std::string_view(norm).ends_with(s); });
}

namespace {

bool IsSecretRef(const json::value& v) { return v.is_object() && v.get_object().contains("$secret"); }

}  // namespace

json::value RedactSecrets(const json::value& v) {
  if (IsSecretRef(v)) return json::string(kRedacted);
  if (const auto* o = v.if_object()) {
    json::object out;
    for (const auto& [key, child] : *o) {
      if (IsSecretKey(key) && !child.is_null())
        out[key] = kRedacted;
      else
        out[key] = RedactSecrets(child);
    }
    return out;
  }
  if (const auto* a = v.if_array()) {
    json::array out;
    for (const auto& child : *a) out.push_back(RedactSecrets(child));
    return out;
  }
  return v;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Typed reads of a validated root (types are guaranteed by the schema; defaults are applied, the
// fallbacks only matter for keys without a default).

const json::object* ObjectAt(const json::value& root, std::string_view dotted) {
  const auto* v = FindPath(root, dotted);
  return v ? v->if_object() : nullptr;
}

int64_t IntOr(const json::object* o, std::string_view key, int64_t fallback) {
  if (!o) return fallback;
  return GetInt(*o, key).value_or(fallback);
}

double NumberOr(const json::object* o, std::string_view key, double fallback) {
  const auto* v = o ? o->if_contains(key) : nullptr;
  if (!v) return fallback;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return fallback;
}

bool BoolOr(const json::object* o, std::string_view key, bool fallback) {
  if (!o) return fallback;
  return GetBool(*o, key).value_or(fallback);
}

std::string StringOr(const json::object* o, std::string_view key, std::string_view fallback) {
  if (!o) return std::string(fallback);
  return std::string(GetString(*o, key).value_or(fallback));
}

std::vector<std::string> StringsAt(const json::object* o, std::string_view key) {
  std::vector<std::string> out;
  const auto* a = o ? GetArray(*o, key) : nullptr;
  if (!a) return out;
  for (const auto& v : *a)
    if (v.is_string()) out.emplace_back(v.get_string());
  return out;
}

// A secret-capable field: a plain string goes to `plain`, {"$secret": NAME} to `vault_name`.
void ReadSecret(const json::object* o, std::string_view key, std::string& plain, std::string& vault_name) {
  const auto* v = o ? o->if_contains(key) : nullptr;
  if (!v) return;
  if (v->is_string()) plain = v->get_string();
  if (IsSecretRef(*v)) {
    if (auto name = GetString(v->get_object(), "$secret")) vault_name = *name;
  }
}

}  // namespace

namespace internal {

Result<std::optional<std::string>> ReadConfigFile(const fs::path& file) {
  constexpr off_t kMaxConfigBytes = 16 << 20;
  auto fail = [&](const std::string& why) { return ConfigErrors({{"", file.string() + ": " + why}}); };
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return fail(std::string("cannot open: ") + std::strerror(errno));
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > kMaxConfigBytes) {
    ::close(fd);
    return fail(S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file of at most 16 MiB");
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  int read_errno = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) read_errno = errno;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (read_errno != 0) return fail(std::string("cannot read: ") + std::strerror(read_errno));
  text.resize(got);  // the file shrank while we read: take what is there
  return std::optional<std::string>(std::move(text));
}

}  // namespace internal

// ---------------------------------------------------------------------------------------------
// Config

Result<Config> Config::FromText(std::string_view text, const EnvLookup& env) {
  return internal::ParseConfigText(text, env, {});
}

Result<Config> Config::Load(const fs::path& file, const EnvLookup& env) {
  OC_ASSIGN(auto text, internal::ReadConfigFile(file));
  if (!text) return internal::ParseConfigText("{}", env, {});  // no file: all defaults
  return internal::ParseConfigText(*text, env, {}, file.string());
}

Config Config::Defaults() {
  auto c = internal::ParseConfigText("{}", MapEnv({}), {});
  assert(c.ok());  // the schema's defaults are valid by construction (tested)
  return std::move(c).value();
}

const json::value* Config::Find(std::string_view dotted) const { return FindPath(root_, dotted); }

json::value Config::Redacted(std::string_view dotted) const {
  const auto* v = Find(dotted);
  if (!v) return nullptr;
  if (!dotted.empty() && !v->is_null()) {
    for (const auto& segment : SplitPath(dotted))
      if (IsSecretKey(segment)) return json::string(kRedacted);
  }
  return RedactSecrets(*v);
}

GatewaySettings Config::gateway() const {
  GatewaySettings g;
  const auto* gw = ObjectAt(root_, "gateway");
  g.host = StringOr(gw, "host", g.host);
  g.port = static_cast<uint16_t>(IntOr(gw, "port", g.port));
  const auto* auth = ObjectAt(root_, "gateway.auth");
  ReadSecret(auth, "token", g.auth_token, g.auth_token_secret);
  ReadSecret(auth, "password", g.auth_password, g.auth_password_secret);
  g.max_body_bytes = static_cast<size_t>(IntOr(gw, "maxBodyBytes", static_cast<int64_t>(g.max_body_bytes)));
  g.max_ws_frame_bytes =
      static_cast<size_t>(IntOr(gw, "maxWsFrameBytes", static_cast<int64_t>(g.max_ws_frame_bytes)));
  g.cors_origins = StringsAt(ObjectAt(root_, "gateway.cors"), "origins");
  const auto* rl = ObjectAt(root_, "gateway.rateLimit");
  g.rate_limit.enabled = BoolOr(rl, "enabled", g.rate_limit.enabled);
  g.rate_limit.window_ms = IntOr(rl, "windowMs", g.rate_limit.window_ms);
  g.rate_limit.max_requests = IntOr(rl, "maxRequests", g.rate_limit.max_requests);
  const auto* hooks = ObjectAt(root_, "gateway.webhooks");
  ReadSecret(hooks, "token", g.webhook_token, g.webhook_token_secret);
  g.webhook_agent_id = StringOr(hooks, "agentId", g.webhook_agent_id);
  g.tick_interval_ms = IntOr(gw, "tickIntervalMs", g.tick_interval_ms);
  g.control_ui_enabled = BoolOr(ObjectAt(root_, "gateway.controlUi"), "enabled", g.control_ui_enabled);
  return g;
}

SupervisorSettings Config::supervisor() const {
  SupervisorSettings s;
  const auto* o = ObjectAt(root_, "apps.supervisor");
  s.start_timeout_ms = IntOr(o, "startTimeout", s.start_timeout_ms);
  s.heartbeat_interval_ms = IntOr(o, "heartbeatInterval", s.heartbeat_interval_ms);
  s.heartbeat_timeout_ms = IntOr(o, "heartbeatTimeout", s.heartbeat_timeout_ms);
  s.restart_delay_ms = IntOr(o, "restartDelay", s.restart_delay_ms);
  s.backoff_multiplier = NumberOr(o, "backoffMultiplier", s.backoff_multiplier);
  s.max_restart_delay_ms = IntOr(o, "maxRestartDelay", s.max_restart_delay_ms);
  s.max_restarts = static_cast<int>(IntOr(o, "maxRestarts", s.max_restarts));
  s.restart_window_ms = IntOr(o, "restartWindow", s.restart_window_ms);
  s.shutdown_timeout_ms = IntOr(o, "shutdownTimeout", s.shutdown_timeout_ms);
  s.kill_grace_ms = IntOr(o, "killGrace", s.kill_grace_ms);
  return s;
}

IpcSettings Config::ipc() const {
  IpcSettings s;
  const auto* o = ObjectAt(root_, "ipc");
  s.max_frame_bytes = static_cast<size_t>(IntOr(o, "maxFrameBytes", static_cast<int64_t>(s.max_frame_bytes)));
  s.allow_external_apps = BoolOr(o, "allowExternalApps", s.allow_external_apps);
  s.resume_window_ms = IntOr(o, "resumeWindowMs", s.resume_window_ms);
  s.request_timeout_ms = IntOr(o, "requestTimeoutMs", s.request_timeout_ms);
  return s;
}

HookSettings Config::hooks() const {
  HookSettings s;
  const auto* o = ObjectAt(root_, "hooks");
  s.intercept_timeout_ms = IntOr(o, "interceptTimeoutMs", s.intercept_timeout_ms);
  for (const auto& name : StringsAt(o, "failClosed")) {
    const auto* hook = protocol::FindHook(name);
    std::string canonical = hook ? std::string(hook->name) : name;
    if (std::find(s.fail_closed.begin(), s.fail_closed.end(), canonical) == s.fail_closed.end())
      s.fail_closed.push_back(std::move(canonical));
  }
  s.order = StringsAt(o, "order");
  return s;
}

LoggingSettings Config::logging() const {
  LoggingSettings s;
  const auto* o = ObjectAt(root_, "logging");
  s.level = StringOr(o, "level", s.level);
  s.max_file_bytes = static_cast<size_t>(IntOr(o, "maxFileBytes", static_cast<int64_t>(s.max_file_bytes)));
  s.max_files = static_cast<int>(IntOr(o, "maxFiles", s.max_files));
  return s;
}

AppSettings Config::app(std::string_view app_id) const {
  AppSettings s;
  const auto* apps = ObjectAt(root_, "apps");
  if (!apps || app_id == "supervisor") return s;
  const auto* v = apps->if_contains(app_id);
  if (!v || !v->is_object()) return s;
  const auto& o = v->get_object();
  s.enabled = GetBool(o, "enabled");
  if (auto trust = GetString(o, "trustLevel")) s.trust_level = std::string(*trust);
  s.grants = StringsAt(&o, "grants");
  s.denies = StringsAt(&o, "denies");
  if (const auto* env = GetObject(o, "env")) {
    for (const auto& [name, value] : *env) {
      std::string plain, vault_name;
      ReadSecret(env, name, plain, vault_name);
      if (!vault_name.empty())
        s.env_secrets[std::string(name)] = vault_name;
      else if (value.is_string())
        s.env[std::string(name)] = plain;
    }
  }
  s.raw = *v;
  return s;
}

bool Config::ChannelEnabled(std::string_view channel) const {
  const auto* channels = ObjectAt(root_, "channels");
  const auto* v = channels ? channels->if_contains(channel) : nullptr;
  const auto* o = v ? v->if_object() : nullptr;
  return o && GetBool(*o, "enabled").value_or(false);
}

}  // namespace oc::config
