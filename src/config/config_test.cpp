#include "config/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "config/config_file.h"
#include "config/config_internal.h"

namespace oc::config {
namespace {

namespace fs = std::filesystem;

EnvLookup NoEnv() { return MapEnv({}); }

json::value RedactedValue() { return json::string(kRedacted); }

Config MustLoad(std::string_view text, const EnvLookup& env = NoEnv()) {
  auto c = Config::FromText(text, env);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : json::serialize(c.error().ToJson()));
  return c.ok() ? std::move(c).value() : Config::Defaults();
}

// The {path, message} pairs of a config error, in order.
std::vector<std::pair<std::string, std::string>> ErrorsOf(const Error& e) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto* data = e.data.if_object();
  const auto* list = data ? GetArray(*data, "errors") : nullptr;
  if (!list) return out;
  for (const auto& item : *list)
    out.emplace_back(item.at("path").as_string(), item.at("message").as_string());
  return out;
}

std::vector<std::pair<std::string, std::string>> LoadErrors(std::string_view text,
                                                            const EnvLookup& env = NoEnv()) {
  auto c = Config::FromText(text, env);
  EXPECT_FALSE(c.ok()) << "expected config errors for: " << text;
  if (c.ok()) return {};
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidParams);
  auto errors = ErrorsOf(c.error());
  EXPECT_EQ(c.error().message, std::to_string(errors.size()) + " config error(s)");
  return errors;
}

std::set<std::string> PathsOf(const std::vector<std::pair<std::string, std::string>>& errors) {
  std::set<std::string> out;
  for (const auto& [path, _] : errors) out.insert(path);
  return out;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "oc-config-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void WriteFile(const fs::path& p, std::string_view text) {
  std::ofstream(p, std::ios::binary) << text;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ------------------------------------------------------------------------------------------------
// Defaults

TEST(ConfigDefaults, EveryDocumentedDefault) {
  Config c = Config::Defaults();
  auto expect = [&](std::string_view path, const json::value& want) {
    const auto* v = c.Find(path);
    ASSERT_NE(v, nullptr) << path;
    EXPECT_EQ(*v, want) << path;
  };
  expect("gateway.host", "127.0.0.1");
  expect("gateway.port", 18789);
  expect("gateway.maxBodyBytes", 1048576);
  expect("gateway.maxWsFrameBytes", 1048576);
  expect("gateway.cors.origins", json::array());
  expect("gateway.rateLimit.enabled", true);
  expect("gateway.rateLimit.windowMs", 60000);
  expect("gateway.rateLimit.maxRequests", 600);
  expect("apps.supervisor.startTimeout", 10000);
  expect("apps.supervisor.heartbeatInterval", 30000);
  expect("apps.supervisor.heartbeatTimeout", 90000);
  expect("apps.supervisor.restartDelay", 1000);
  expect("apps.supervisor.backoffMultiplier", 2);
  expect("apps.supervisor.maxRestartDelay", 60000);
  expect("apps.supervisor.maxRestarts", 5);
  expect("apps.supervisor.restartWindow", 300000);
  expect("apps.supervisor.shutdownTimeout", 5000);
  expect("apps.supervisor.killGrace", 2000);
  expect("ipc.maxFrameBytes", 1048576);
  expect("ipc.allowExternalApps", false);
  expect("ipc.resumeWindowMs", 10000);
  expect("ipc.requestTimeoutMs", 30000);
  expect("hooks.interceptTimeoutMs", 5000);
  expect("hooks.failClosed", json::array());
  expect("hooks.order", json::array());
  expect("logging.level", "info");
  expect("logging.maxFileBytes", 10485760);
  expect("logging.maxFiles", 5);
  expect("agents.maxConcurrent", 4);
  expect("memory.embedding.provider", "local");
  expect("memory.search.vectorWeight", 0.7);
  expect("memory.search.textWeight", 0.3);
  expect("session.scope", "identity");
  expect("storage.durability", "crash");
  expect("storage.busyTimeoutMs", 5000);
  expect("models.requestTimeoutMs", 120000);
  expect("models.maxRetries", 2);
  expect("models.retryBaseDelayMs", 500);
  // Objects with nothing defaulted inside are not invented.
  EXPECT_EQ(c.Find("gateway.auth"), nullptr);
  EXPECT_EQ(c.Find("channels"), nullptr);
  EXPECT_EQ(c.Find("models.providers"), nullptr);
  EXPECT_EQ(c.Find("agents.default"), nullptr);
}

TEST(ConfigDefaults, SettingsStructsMatchSpecDefaults) {
  Config c = Config::Defaults();
  auto g = c.gateway();
  EXPECT_EQ(g.host, "127.0.0.1");
  EXPECT_EQ(g.port, 18789);
  EXPECT_FALSE(g.auth_configured());
  EXPECT_EQ(g.max_body_bytes, 1u << 20);
  EXPECT_EQ(g.max_ws_frame_bytes, 1u << 20);
  EXPECT_TRUE(g.cors_origins.empty());
  EXPECT_TRUE(g.rate_limit.enabled);
  auto s = c.supervisor();
  EXPECT_EQ(s.start_timeout_ms, 10000);
  EXPECT_EQ(s.heartbeat_interval_ms, 30000);
  EXPECT_EQ(s.heartbeat_timeout_ms, 90000);
  EXPECT_EQ(s.restart_delay_ms, 1000);
  EXPECT_EQ(s.backoff_multiplier, 2.0);
  EXPECT_EQ(s.max_restart_delay_ms, 60000);
  EXPECT_EQ(s.max_restarts, 5);
  EXPECT_EQ(s.restart_window_ms, 300000);
  EXPECT_EQ(s.shutdown_timeout_ms, 5000);
  EXPECT_EQ(s.kill_grace_ms, 2000);
  auto i = c.ipc();
  EXPECT_EQ(i.max_frame_bytes, 1u << 20);
  EXPECT_FALSE(i.allow_external_apps);
  EXPECT_EQ(i.resume_window_ms, 10000);
  EXPECT_EQ(i.request_timeout_ms, 30000);
  auto h = c.hooks();
  EXPECT_EQ(h.intercept_timeout_ms, 5000);
  EXPECT_TRUE(h.fail_closed.empty());
  EXPECT_TRUE(h.order.empty());
  EXPECT_EQ(c.logging().level, "info");
  EXPECT_EQ(c.logging().max_files, 5);
  EXPECT_FALSE(c.ChannelEnabled("telegram"));
}

TEST(ConfigDefaults, MissingFileAndEmptyTextMeanDefaults) {
  TempDir dir;
  auto missing = Config::Load(dir.path() / "nope.json", NoEnv());
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->root(), Config::Defaults().root());
  EXPECT_EQ(MustLoad(" \n\t").root(), Config::Defaults().root());
  EXPECT_EQ(MustLoad("{}").root(), Config::Defaults().root());
}

TEST(ConfigDefaults, SchemaDefaultsAreValidAgainstTheSchema) {
  // Every default must itself satisfy the key's schema, or Defaults() could not exist.
  EXPECT_TRUE(ValidateSchema(ConfigSchema(), Config::Defaults().root()).empty());
}

// ------------------------------------------------------------------------------------------------
// Parsing

TEST(ConfigParse, CommentsAndTrailingCommas) {
  Config c = MustLoad(R"({
    // the gateway
    "gateway": { "port": 9000, /* block */ "cors": { "origins": ["http://a",], }, },
  })");
  EXPECT_EQ(c.gateway().port, 9000);
  EXPECT_EQ(c.gateway().cors_origins, std::vector<std::string>{"http://a"});
}

TEST(ConfigParse, SyntaxErrorHasLineAndColumn) {
  auto errors = LoadErrors("{\n  \"gateway\": {\n    \"port\": 80 80\n  }\n}");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].first, "");
  EXPECT_NE(errors[0].second.find("line 3"), std::string::npos) << errors[0].second;
}

TEST(ConfigParse, RootMustBeAnObject) {
  auto errors = LoadErrors("[1, 2]");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].second.find("must be a JSON object"), std::string::npos);
}

TEST(ConfigParse, UnreadableFileIsAnError) {
  TempDir dir;
  auto c = Config::Load(dir.path(), NoEnv());  // a directory
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidParams);
  auto errors = ErrorsOf(c.error());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].second.find(dir.path().string()), std::string::npos);

  WriteFile(dir.path() / "bad.json", "{\"gateway\": ");
  auto bad = Config::Load(dir.path() / "bad.json", NoEnv());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(ErrorsOf(bad.error())[0].second.find("bad.json: line 1"), std::string::npos);
}

TEST(ConfigParse, PermissionDeniedIsAnError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  TempDir dir;
  fs::path file = dir.path() / "config.json";
  WriteFile(file, "{}");
  fs::permissions(file, fs::perms::none);
  auto c = Config::Load(file, NoEnv());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(ErrorsOf(c.error()).at(0).second.find("cannot open"), std::string::npos);
  EXPECT_FALSE(SetValue(file, "logging.level", "warn").ok());
}

TEST(ConfigParse, LoadReadsTheFile) {
  TempDir dir;
  WriteFile(dir.path() / "config.json", R"({"logging": {"level": "debug"}})");
  auto c = Config::Load(dir.path() / "config.json", NoEnv());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->logging().level, "debug");
}

// ------------------------------------------------------------------------------------------------
// ${VAR} substitution and env overrides

TEST(ConfigEnv, SubstitutesVariablesInStrings) {
  auto env = MapEnv({{"TOK", "s3cret"}, {"HOST", "example.org"}, {"EMPTY", ""}});
  Config c = MustLoad(R"({
    "gateway": {"auth": {"token": "${TOK}"}, "cors": {"origins": ["https://${HOST}:8443", "x$y"]}},
    "apps": {"a": {"env": {"LIT": "$${NOT_A_VAR} and $${TOK}", "E": "[${EMPTY}]"}}}
  })", env);
  EXPECT_EQ(c.gateway().auth_token, "s3cret");
  EXPECT_EQ(c.gateway().cors_origins, (std::vector<std::string>{"https://example.org:8443", "x$y"}));
  EXPECT_EQ(c.app("a").env.at("LIT"), "${NOT_A_VAR} and ${TOK}");
  EXPECT_EQ(c.app("a").env.at("E"), "[]");
}

TEST(ConfigEnv, MissingVariableNamesPathAndVariable) {
  auto errors = LoadErrors(R"({
    "channels": {"telegram": {"botToken": "${TELEGRAM_TOKEN}"}},
    "gateway": {"auth": {"password": "${PW}"}}
  })");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].first, "channels.telegram.botToken");
  EXPECT_NE(errors[0].second.find("TELEGRAM_TOKEN"), std::string::npos);
  EXPECT_EQ(errors[1].first, "gateway.auth.password");
  EXPECT_NE(errors[1].second.find("PW"), std::string::npos);
}

TEST(ConfigEnv, MalformedReferencesAreErrors) {
  auto errors = LoadErrors(R"({"gateway": {"host": "${OPEN", "cors": {"origins": ["${1BAD}"]}}})");
  EXPECT_EQ(PathsOf(errors), (std::set<std::string>{"gateway.host", "gateway.cors.origins[0]"}));
}

TEST(ConfigEnv, HostAndPortOverridesWinOverTheFile) {
  auto env = MapEnv({{"OPENCLAW_HOST", "0.0.0.0"}, {"OPENCLAW_PORT", "9999"}});
  Config c = MustLoad(R"({"gateway": {"host": "127.0.0.1", "port": 1234, "auth": {"token": "t"}}})", env);
  EXPECT_EQ(c.gateway().host, "0.0.0.0");
  EXPECT_EQ(c.gateway().port, 9999);
  Config d = MustLoad("{}", env);  // no gateway section in the file at all
  EXPECT_EQ(d.gateway().port, 9999);
  Config e = MustLoad("{}", MapEnv({{"OPENCLAW_HOST", ""}, {"OPENCLAW_PORT", ""}}));
  EXPECT_EQ(e.gateway().host, "127.0.0.1");
  EXPECT_EQ(e.gateway().port, 18789);
}

TEST(ConfigEnv, BadPortOverrideIsAnError) {
  for (std::string bad : {"abc", "0", "65536", "80x", "-1"}) {
    auto errors = LoadErrors("{}", MapEnv({{"OPENCLAW_PORT", bad}}));
    ASSERT_EQ(errors.size(), 1u) << bad;
    EXPECT_EQ(errors[0].first, "gateway.port");
    EXPECT_NE(errors[0].second.find("OPENCLAW_PORT"), std::string::npos);
  }
}

// ------------------------------------------------------------------------------------------------
// Validation

TEST(ConfigValidate, ListsEveryError) {
  auto errors = LoadErrors(R"({
    "gateway": {"port": 70000},
    "logging": {"level": "loud"},
    "ipc": {"allowExternalApps": "yes"}
  })");
  EXPECT_EQ(PathsOf(errors),
            (std::set<std::string>{"gateway.port", "logging.level", "ipc.allowExternalApps"}));
  EXPECT_EQ(errors.size(), 3u);
}

TEST(ConfigValidate, ErrorDataCarriesFirstPath) {
  auto c = Config::FromText(R"({"gateway": {"port": 0}})", NoEnv());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "1 config error(s)");
  EXPECT_EQ(c.error().data.at("path"), "gateway.port");
}

TEST(ConfigValidate, UnknownSectionWithSuggestion) {
  auto errors = LoadErrors(R"({"gateways": {}, "frobnicate": 1})");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].first, "gateways");
  EXPECT_EQ(errors[0].second, "unknown config section (did you mean \"gateway\"?)");
  EXPECT_EQ(errors[1].first, "frobnicate");
  EXPECT_EQ(errors[1].second, "unknown config section");
}

TEST(ConfigValidate, UnknownKeyInStrictSection) {
  auto errors = LoadErrors(R"({"gateway": {"prot": 1}, "apps": {"supervisor": {"killgrace": 1}}})");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].first, "gateway.prot");
  EXPECT_EQ(errors[0].second, "unknown key (did you mean \"port\"?)");
  EXPECT_EQ(errors[1].first, "apps.supervisor.killgrace");
  EXPECT_NE(errors[1].second.find("killGrace"), std::string::npos);
}

TEST(ConfigValidate, WrongTypes) {
  auto errors = LoadErrors(R"({
    "gateway": {"port": "18789", "cors": {"origins": "*"}},
    "hooks": {"failClosed": "message_sending", "interceptTimeoutMs": 1.5},
    "agents": {"maxConcurrent": 0},
    "session": {"scope": "global"},
    "channels": {"irc": {"enabled": "true"}},
    "apps": {"@x/y": {"trustLevel": "admin", "grants": [1]}},
    "bindings": {"agentId": "a"}
  })");
  EXPECT_EQ(PathsOf(errors),
            (std::set<std::string>{"gateway.port", "gateway.cors.origins", "hooks.failClosed",
                                   "hooks.interceptTimeoutMs", "agents.maxConcurrent", "session.scope",
                                   "channels.irc.enabled", "apps.@x/y.trustLevel", "apps.@x/y.grants[0]",
                                   "bindings"}));
}

TEST(ConfigValidate, PortRange) {
  EXPECT_EQ(PathsOf(LoadErrors(R"({"gateway": {"port": 0}})")), std::set<std::string>{"gateway.port"});
  EXPECT_EQ(MustLoad(R"({"gateway": {"port": 65535}})").gateway().port, 65535);
  EXPECT_EQ(MustLoad(R"({"gateway": {"port": 1}})").gateway().port, 1);
}

TEST(ConfigValidate, SecretReferencesAcceptedWhereSecretsGo) {
  Config c = MustLoad(R"({
    "gateway": {"auth": {"token": {"$secret": "gateway-token"}}},
    "models": {"providers": {"anthropic": {"api": "anthropic-messages", "apiKey": {"$secret": "ak"}}}},
    "channels": {"telegram": {"enabled": true, "botToken": {"$secret": "tg"}}}
  })");
  auto g = c.gateway();
  EXPECT_EQ(g.auth_token, "");
  EXPECT_EQ(g.auth_token_secret, "gateway-token");
  EXPECT_TRUE(g.auth_configured());
  // Kept as written in root(): the vault resolves it later.
  EXPECT_EQ(*c.Find("models.providers.anthropic.apiKey"), (json::object{{"$secret", "ak"}}));
  EXPECT_TRUE(c.ChannelEnabled("telegram"));
  // A malformed reference is not a secret.
  auto errors = LoadErrors(R"({"gateway": {"auth": {"token": {"$secret": ""}, "password": {"x": 1}}}})");
  EXPECT_EQ(PathsOf(errors), (std::set<std::string>{"gateway.auth.token.$secret",
                                                    "gateway.auth.password.$secret",
                                                    "gateway.auth.password.x"}));
}

// A reference the kernel's schema does not know (a channel app's own key): found by its shape.
TEST(ConfigValidate, EveryVaultReferenceNeedsASecretName) {
  const std::string message = "a vault reference needs a secret name: {\"$secret\": \"NAME\"}";
  auto errors = LoadErrors(R"({"channels": {"irc": {"extra": {"nick": {"$secret": ""}},
                                                     "list": [1, {"$secret": 7}]}}})");
  EXPECT_EQ(errors, (std::vector<std::pair<std::string, std::string>>{
                        {"channels.irc.extra.nick.$secret", message}, {"channels.irc.list[1].$secret", message}}));
  // Where the schema knows a secret field it reports the bad name itself; no second error.
  errors = LoadErrors(R"({"channels": {"irc": {"sasl": {"password": {"$secret": ""}}}}})");
  EXPECT_EQ(PathsOf(errors), (std::set<std::string>{"channels.irc.sasl.password.$secret"}));
  for (const auto& [path, text] : errors) EXPECT_NE(text, message);
  MustLoad(R"({"channels": {"irc": {"extra": {"nick": {"$secret": "irc-nick"}}}}})");
}

TEST(ConfigValidate, CrossFieldRules) {
  auto errors = LoadErrors(R"({
    "apps": {
      "supervisor": {"heartbeatInterval": 100000, "restartDelay": 70000},
      "Bad App": {},
      "ok-app": {"env": {"OPENCLAWOS_APP_ID": "x", "1X": "y"}}
    },
    "hooks": {"failClosed": ["message_sending", "tool_executing", "message_received", "nope"]},
    "bindings": [{"agentId": "a", "match": {"bodyRegex": "("}}],
    "identities": {"alice": ["telegram:1"], "bob": ["irc:bob", "telegram:1"]}
  })");
  EXPECT_EQ(PathsOf(errors),
            (std::set<std::string>{"apps.supervisor.heartbeatTimeout", "apps.supervisor.restartDelay",
                                   "apps.Bad App", "apps.ok-app.env.OPENCLAWOS_APP_ID", "apps.ok-app.env.1X",
                                   "hooks.failClosed[2]", "hooks.failClosed[3]",
                                   "bindings[0].match.bodyRegex", "identities.bob[1]"}));
  EXPECT_EQ(errors.size(), 9u);
}

TEST(ConfigValidate, HookAliasesAreCanonicalised) {
  Config c = MustLoad(R"({"hooks": {"failClosed": ["tool_executing", "before_tool_call", "message_sending"],
                                   "order": ["@openclawos/diagnostics", "plain"]}})");
  EXPECT_EQ(c.hooks().fail_closed, (std::vector<std::string>{"before_tool_call", "message_sending"}));
  EXPECT_EQ(c.hooks().order, (std::vector<std::string>{"@openclawos/diagnostics", "plain"}));
  EXPECT_EQ(PathsOf(LoadErrors(R"({"hooks": {"order": ["Not An Id"]}})")),
            std::set<std::string>{"hooks.order[0]"});
}

TEST(ConfigValidate, OpenSectionsAcceptExtensions) {
  Config c = MustLoad(R"({
    "agents": {"default": {"model": "anthropic/claude-opus-4-6", "futureKey": 1},
               "coder": {"model": "openai/gpt-5.1"}},
    "channels": {"matrix": {"enabled": true, "homeserver": "https://m.org"}},
    "security": {"anything": true}, "storage": {}, "cron": {"enabled": false},
    "tools": {"exec": {"security": "allowlist", "allowlist": ["git *"]}},
    "apps": {"@openclawos/diagnostics": {"metricsPath": "/metrics"}}
  })");
  EXPECT_EQ(*c.Find("agents.coder.maxTurns"), 100);  // defaults reach user-keyed entries too
  EXPECT_TRUE(c.ChannelEnabled("matrix"));
  EXPECT_EQ(PathsOf(LoadErrors(R"({"tools": {"exec": {"security": "yolo"}}})")),
            std::set<std::string>{"tools.exec.security"});
}

// ------------------------------------------------------------------------------------------------
// Secrets

TEST(ConfigSecrets, IsSecretKey) {
  for (auto key : {"token", "botToken", "password", "apiKey", "api_key", "OPENAI_API_KEY", "GITHUB_TOKEN",
                   "clientSecret", "secret", "privateKey", "PASSWD", "access-token"})
    EXPECT_TRUE(IsSecretKey(key)) << key;
  for (auto key : {"maxTokens", "tokenUsage", "host", "port", "passwordFile", "secrets", "user", ""})
    EXPECT_FALSE(IsSecretKey(key)) << key;
}

TEST(ConfigSecrets, RedactedHidesSecretsAtAnyDepth) {
  Config c = MustLoad(R"({
    "gateway": {"auth": {"token": "t0k", "password": {"$secret": "gw"}}},
    "channels": {"irc": {"nick": "pi", "sasl": {"user": "pi", "password": "pw"}},
                 "telegram": {"botToken": "123:abc", "accounts": [{"name": "a", "botToken": "x"}]}},
    "models": {"providers": {"openai": {"baseUrl": "https://api", "apiKey": "sk-1"}}},
    "apps": {"@openclawos/diagnostics": {"env": {"GITHUB_TOKEN": "g", "MODE": "fast",
                                                 "OTHER": {"$secret": "v"}}}},
    "agents": {"default": {"maxTurns": 7}}
  })");
  json::value all = c.Redacted();
  std::string text = json::serialize(all);
  for (auto leaked : {"t0k", "\"gw\"", "\"pw\"", "123:abc", "\"x\"", "sk-1", "\"g\"", "$secret"})
    EXPECT_EQ(text.find(leaked), std::string::npos) << leaked << " leaked in " << text;
  EXPECT_EQ(all.at("gateway").at("auth").at("token"), RedactedValue());
  EXPECT_EQ(all.at("gateway").at("auth").at("password"), RedactedValue());
  EXPECT_EQ(all.at("channels").at("irc").at("sasl").at("password"), RedactedValue());
  EXPECT_EQ(all.at("channels").at("telegram").at("accounts").at(0).at("botToken"), RedactedValue());
  // Non-secrets stay.
  EXPECT_EQ(all.at("channels").at("irc").at("nick"), "pi");
  EXPECT_EQ(all.at("models").at("providers").at("openai").at("baseUrl"), "https://api");
  EXPECT_EQ(all.at("agents").at("default").at("maxTurns"), 7);
  EXPECT_EQ(all.at("apps").at("@openclawos/diagnostics").at("env").at("MODE"), "fast");
  // A sub-path, a path that is itself a secret, and a missing path.
  EXPECT_EQ(c.Redacted("apps.@openclawos/diagnostics.env"),
            (json::object{{"GITHUB_TOKEN", kRedacted}, {"MODE", "fast"}, {"OTHER", kRedacted}}));
  EXPECT_EQ(c.Redacted("gateway.auth.token"), RedactedValue());
  EXPECT_EQ(c.Redacted("channels.irc.sasl"), (json::object{{"user", "pi"}, {"password", kRedacted}}));
  EXPECT_TRUE(c.Redacted("no.such.key").is_null());
  // root() itself is untouched.
  EXPECT_EQ(*c.Find("gateway.auth.token"), "t0k");
}

// ------------------------------------------------------------------------------------------------
// Apps

TEST(ConfigApps, ScopedAppSettings) {
  Config c = MustLoad(R"({"apps": {
    "supervisor": {"maxRestarts": 9, "backoffMultiplier": 1.5},
    "@openclawos/diagnostics": {"enabled": true, "trustLevel": "verified",
      "grants": ["hooks.intercepts"], "denies": ["tools.provides"],
      "env": {"LEVEL": "2", "API_TOKEN": {"$secret": "diag-token"}}, "port": 9100}}})");
  AppSettings a = c.app("@openclawos/diagnostics");
  EXPECT_EQ(a.enabled, true);
  EXPECT_EQ(a.trust_level, "verified");
  EXPECT_EQ(a.grants, std::vector<std::string>{"hooks.intercepts"});
  EXPECT_EQ(a.denies, std::vector<std::string>{"tools.provides"});
  EXPECT_EQ(a.env, (std::map<std::string, std::string>{{"LEVEL", "2"}}));
  EXPECT_EQ(a.env_secrets, (std::map<std::string, std::string>{{"API_TOKEN", "diag-token"}}));
  EXPECT_EQ(a.raw.at("port"), 9100);
  EXPECT_EQ(*c.Find("apps.@openclawos/diagnostics.trustLevel"), "verified");
  EXPECT_EQ(c.supervisor().max_restarts, 9);
  EXPECT_EQ(c.supervisor().backoff_multiplier, 1.5);
  EXPECT_EQ(c.supervisor().kill_grace_ms, 2000);  // others keep their defaults

  AppSettings absent = c.app("@openclawos/irc");
  EXPECT_FALSE(absent.enabled.has_value());
  EXPECT_FALSE(absent.trust_level.has_value());
  EXPECT_TRUE(absent.grants.empty());
  EXPECT_TRUE(absent.raw.is_null());
  EXPECT_TRUE(c.app("supervisor").raw.is_null());  // the supervisor block is not an app
}

TEST(ConfigApps, AppIdsWithDotsAreLookedUpWhole) {
  Config c = MustLoad(R"({"apps": {"com.example.bot": {"enabled": false, "apiKey": "k"}}})");
  AppSettings a = c.app("com.example.bot");
  EXPECT_EQ(a.enabled, false);
  // FindPath cannot address such an id; RedactSecrets works on the subtree directly.
  EXPECT_EQ(RedactSecrets(a.raw), (json::object{{"enabled", false}, {"apiKey", kRedacted}}));
}

// ------------------------------------------------------------------------------------------------
// Paths

TEST(ConfigPaths, Precedence) {
  Paths p = ResolvePaths(MapEnv({{"HOME", "/home/u"}}));
  EXPECT_EQ(p.home, "/home/u/.openclawos");
  EXPECT_EQ(p.config_file, "/home/u/.openclawos/config.json");
  EXPECT_EQ(p.database, "/home/u/.openclawos/state.db");
  EXPECT_EQ(p.workspace, "/home/u/.openclawos/workspace");
  EXPECT_EQ(p.packages, "/home/u/.openclawos/packages");
  EXPECT_EQ(p.logs, "/home/u/.openclawos/logs");
  EXPECT_EQ(p.socket, "/tmp/openclawos-" + std::to_string(getuid()) + "/kernel.sock");

  p = ResolvePaths(MapEnv({{"HOME", "/home/u"}, {"OPENCLAWOS_HOME", "/srv/oc/"}, {"XDG_RUNTIME_DIR", "/run/user/7"}}));
  EXPECT_EQ(p.home, "/srv/oc/");  // lexically normal keeps the trailing separator
  EXPECT_EQ(p.config_file, "/srv/oc/config.json");
  EXPECT_EQ(p.socket, "/run/user/7/openclawos/kernel.sock");

  p = ResolvePaths(MapEnv({{"HOME", "/home/u"}, {"XDG_RUNTIME_DIR", "/run/user/7"},
                           {"OPENCLAWOS_SOCKET", "/x/k.sock"}, {"OPENCLAWOS_HOME", ""}}));
  EXPECT_EQ(p.home, "/home/u/.openclawos");  // empty = unset
  EXPECT_EQ(p.socket, "/x/k.sock");

  p = ResolvePaths(MapEnv({{"OPENCLAWOS_HOME", "rel/home"}}));
  EXPECT_TRUE(p.home.is_absolute());
  EXPECT_EQ(p.home, fs::current_path() / "rel/home");
  EXPECT_FALSE(ResolvePaths(MapEnv({})).home.empty());  // no HOME: password database
}

// ------------------------------------------------------------------------------------------------
// SetValue

TEST(ConfigFile, SetValueRoundTrip) {
  TempDir dir;
  fs::path file = dir.path() / "config.json";
  WriteFile(file, "{\n  // comment, lost on rewrite\n  \"gateway\": {\"host\": \"127.0.0.1\",},\n}\n");
  ASSERT_TRUE(SetValue(file, "gateway.port", 9000).ok());
  ASSERT_TRUE(SetValue(file, "apps.@openclawos/diagnostics.enabled", true).ok());
  ASSERT_TRUE(SetValue(file, "channels.telegram.botToken", json::object{{"$secret", "tg"}}).ok());
  auto c = Config::Load(file, NoEnv());
  ASSERT_TRUE(c.ok()) << json::serialize(c.error().ToJson());
  EXPECT_EQ(c->gateway().port, 9000);
  EXPECT_EQ(c->gateway().host, "127.0.0.1");
  EXPECT_EQ(c->app("@openclawos/diagnostics").enabled, true);
  std::string text = ReadFile(file);
  EXPECT_EQ(text.find("comment"), std::string::npos);
  EXPECT_LT(text.find("\"host\""), text.find("\"port\""));  // key order kept
  struct stat st{};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);  // no temp left
}

TEST(ConfigFile, SetValueRefusesInvalidResultAndLeavesFileUnchanged) {
  TempDir dir;
  fs::path file = dir.path() / "config.json";
  const std::string original = "{\"gateway\": {\"port\": 1234}} // keep me\n";
  WriteFile(file, original);
  auto bad = SetValue(file, "gateway.port", 70000);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(ErrorsOf(bad.error()).at(0).first, "gateway.port");
  EXPECT_FALSE(SetValue(file, "gatewya.port", 1).ok());         // unknown section
  EXPECT_FALSE(SetValue(file, "gateway.port.deep", 1).ok());    // through a non-object
  EXPECT_FALSE(SetValue(file, "", 1).ok());
  EXPECT_FALSE(SetValue(file, "gateway..port", 1).ok());
  EXPECT_EQ(ReadFile(file), original);

  EXPECT_FALSE(SetValue(dir.path(), "logging.level", "warn").ok());  // a directory, not a file
  EXPECT_TRUE(fs::is_directory(dir.path()));

  WriteFile(file, "{ not json");
  auto unparseable = SetValue(file, "gateway.port", 1);
  ASSERT_FALSE(unparseable.ok());
  EXPECT_EQ(ReadFile(file), "{ not json");
}

TEST(ConfigFile, SetValueCreatesMissingFileAndKeepsUnsetVariables) {
  TempDir dir;
  fs::path file = dir.path() / "home" / "config.json";
  ASSERT_TRUE(SetValue(file, "channels.telegram.botToken", "${OC_TEST_SURELY_UNSET_VAR}").ok());
  ASSERT_TRUE(SetValue(file, "channels.telegram.enabled", true).ok());
  auto raw = ParseJson(ReadFile(file));
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->at("channels").at("telegram").at("botToken"), "${OC_TEST_SURELY_UNSET_VAR}");
  // The kernel, which does not have the variable either, reports it.
  auto c = Config::Load(file, NoEnv());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(ErrorsOf(c.error()).at(0).first, "channels.telegram.botToken");
}

TEST(ConfigFile, SetValueFollowsSymlink) {
  TempDir dir;
  fs::path real = dir.path() / "real.json";
  fs::path link = dir.path() / "config.json";
  WriteFile(real, "{}");
  fs::create_symlink("real.json", link);
  ASSERT_TRUE(SetValue(link, "logging.level", "warn").ok());
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_NE(ReadFile(real).find("warn"), std::string::npos);
}

TEST(ConfigFile, PrettyJsonRoundTrips) {
  auto v = ParseJson(R"({"a":[1,{"b":"x\"y"},[]],"c":{},"d":null,"e":1.5})").value();
  auto back = ParseJson(internal::PrettyJson(v));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, v);
  EXPECT_EQ(internal::PrettyJson(json::object{{"k", 1}}), "{\n  \"k\": 1\n}\n");
}

// ------------------------------------------------------------------------------------------------
// docs/CONFIG.md lists every key of the schema.

// Dotted keys of the schema; maps appear as "<id>" etc. Keys of a fixed map entry that every entry
// has (channels.irc.enabled = channels.<channel>.enabled) are documented once, under the map.
void CollectKeys(const json::value& schema, const std::string& path, std::vector<std::string>& out,
                 const json::object* inherited = nullptr) {
  const auto* s = schema.if_object();
  if (!s) return;
  if (!path.empty()) out.push_back(path);
  const auto* additional = s->if_contains("additionalProperties");
  const json::object* item = additional ? additional->if_object() : nullptr;
  const json::object* item_props = item ? GetObject(*item, "properties") : nullptr;
  if (const auto* props = GetObject(*s, "properties")) {
    for (const auto& [key, sub] : *props) {
      if (key == "$secret") continue;  // part of the secret-reference shape, not a config key
      if (inherited && inherited->contains(key)) continue;
      CollectKeys(sub, JoinPath(path, key), out, item_props);
    }
  }
  if (item) {
    auto name = GetString(*s, "x-keyName");
    EXPECT_TRUE(name.has_value()) << path << ": maps need x-keyName";
    CollectKeys(*additional, JoinPath(path, name.value_or("<key>")), out);
  }
  if (const auto* items = s->if_contains("items"); items && GetObject(items->as_object(), "properties"))
    CollectKeys(*items, path + "[]", out);
}

TEST(ConfigDocs, EveryKeyIsDocumented) {
  std::string docs = ReadFile(fs::path(OC_SOURCE_DIR) / "docs" / "CONFIG.md");
  ASSERT_FALSE(docs.empty());
  std::vector<std::string> keys;
  CollectKeys(ConfigSchema(), "", keys);
  EXPECT_GT(keys.size(), 80u);
  for (const auto& key : keys) EXPECT_NE(docs.find("`" + key + "`"), std::string::npos) << key;
}

}  // namespace
}  // namespace oc::config
