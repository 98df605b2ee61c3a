// ConfigSchema(): the schema of config.json, built once from small typed builders so that shared
// shapes (secrets, agents, channels) are written once. Sections this project fully owns are strict
// (unknown keys are errors: typos are caught); sections that later subsystems extend are open.
#include <initializer_list>
#include <optional>

#include "config/config.h"

namespace oc::config {
namespace {

using Props = std::initializer_list<std::pair<std::string_view, json::value>>;

constexpr int64_t kMaxMs = 7LL * 24 * 3600 * 1000;  // a week: keeps arithmetic far from overflow
constexpr int64_t kMaxBytes = 1LL << 30;
// SPEC §3: `@scope/name` or `name`; lowercase letters, digits, '-', '_', '.'.
constexpr std::string_view kPackageIdPattern = "^(@[a-z0-9._-]+/)?[a-z0-9._-]+$";

json::object Described(std::string_view type, std::string_view desc) {
  return {{"type", type}, {"description", desc}};
}

json::value Int(std::string_view desc, int64_t min, int64_t max, std::optional<int64_t> def = {}) {
  auto o = Described("integer", desc);
  o["minimum"] = min;
  o["maximum"] = max;
  if (def) o["default"] = *def;
  return o;
}

json::value Ms(std::string_view desc, int64_t min, std::optional<int64_t> def) {
  return Int(desc, min, kMaxMs, def);
}

// Whole numbers are stored as integers so that messages and `config get` print "2", not "2E0".
json::value NumberValue(double d) {
  if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  return d;
}

json::value Number(std::string_view desc, double min, double max, std::optional<double> def = {}) {
  auto o = Described("number", desc);
  o["minimum"] = NumberValue(min);
  o["maximum"] = NumberValue(max);
  if (def) o["default"] = NumberValue(*def);
  return o;
}

json::value Bool(std::string_view desc, std::optional<bool> def = {}) {
  auto o = Described("boolean", desc);
  if (def) o["default"] = *def;
  return o;
}

json::value Str(std::string_view desc, std::optional<std::string_view> def = {}) {
  auto o = Described("string", desc);
  o["minLength"] = 1;
  if (def) o["default"] = *def;
  return o;
}

json::value Enum(std::string_view desc, std::initializer_list<std::string_view> options,
                 std::optional<std::string_view> def = {}) {
  auto o = Described("string", desc);
  json::array values;
  for (auto opt : options) values.emplace_back(opt);
  o["enum"] = std::move(values);
  if (def) o["default"] = *def;
  return o;
}

json::value List(std::string_view desc, json::value item, bool empty_default = false) {
  auto o = Described("array", desc);
  o["items"] = std::move(item);
  if (empty_default) o["default"] = json::array();
  return o;
}

json::value Strings(std::string_view desc, bool empty_default = false) {
  return List(desc, {{"type", "string"}}, empty_default);
}

// A plain string or a vault reference {"$secret": NAME} (SPEC §12).
json::value Secret(std::string_view desc) {
  json::object secret_name{{"type", "string"}, {"minLength", 1}, {"pattern", "^[A-Za-z0-9_.:/-]+$"}};
  return json::object{{"type", json::array{"string", "object"}},
                      {"description", desc},
                      {"properties", json::object{{"$secret", std::move(secret_name)}}},
                      {"required", json::array{"$secret"}},
                      {"additionalProperties", false}};
}

json::value Section(std::string_view desc, Props props, bool strict) {
  auto o = Described("object", desc);
  json::object p;
  for (const auto& [k, v] : props) p[k] = v;
  o["properties"] = std::move(p);
  if (strict) o["additionalProperties"] = false;
  return o;
}

// An object keyed by the user (apps.<id>, agents.<id>, ...): every value has `item`'s shape;
// `fixed` are reserved keys with their own shape (apps.supervisor, agents.maxConcurrent).
json::value Map(std::string_view desc, std::string_view key_name, json::value item, Props fixed = {}) {
  auto o = Described("object", desc);
  o["x-keyName"] = key_name;
  if (fixed.size() != 0) {
    json::object p;
    for (const auto& [k, v] : fixed) p[k] = v;
    o["properties"] = std::move(p);
  }
  o["additionalProperties"] = std::move(item);
  return o;
}

json::value GatewaySchema() {
  return Section("HTTP + WebSocket server (SPEC §11).", {
      {"host", Str("Bind address. Env OPENCLAW_HOST overrides.", "127.0.0.1")},
      {"port", Int("TCP port. Env OPENCLAW_PORT overrides.", 1, 65535, 18789)},
      {"auth", Section("Credentials clients must present.", {
           {"token", Secret("Shared token (connect auth.token or Authorization: Bearer).")},
           {"password", Secret("Password (connect auth.password or Authorization: Bearer).")}}, true)},
      {"maxBodyBytes", Int("Largest HTTP request body.", 1024, kMaxBytes, 1 << 20)},
      {"maxWsFrameBytes", Int("Largest WebSocket frame.", 1024, kMaxBytes, 1 << 20)},
      {"cors", Section("Cross-origin requests.", {
           {"origins", Strings("Allowed Origin values (exact match; \"*\" allows any).", true)}}, true)},
      {"rateLimit", Section("Per-client request limit; over it the gateway answers 429.", {
           {"enabled", Bool("Enforce the limit.", true)},
           {"windowMs", Ms("Window length.", 1000, 60000)},
           {"maxRequests", Int("Requests allowed per client per window.", 1, 1000000, 600)}}, true)},
      {"tickIntervalMs", Ms("Period of the control plane's tick event.", 100, 30000)},
      {"webhooks", Section("POST /hooks/agent and /hooks/wake (off while no token is set).", {
           {"token", Secret("Token webhook callers present (Authorization: Bearer or X-OpenClaw-Token).")},
           {"agentId", Str("Agent that webhook turns go to.", "default")}}, true)},
      {"controlUi", Section("The web dashboard served at /.", {
           {"enabled", Bool("Serve the Control UI.", true)}}, true)},
  }, true);
}

json::value SupervisorSchema() {
  return Section("App supervision (SPEC §5); all durations in ms.", {
      {"startTimeout", Ms("Time from spawn to app.ready before the app is killed.", 1, 10000)},
      {"heartbeatInterval", Ms("Heartbeat period asked of apps.", 1, 30000)},
      {"heartbeatTimeout", Ms("Silence after which an app is unhealthy and restarted.", 1, 90000)},
      {"restartDelay", Ms("Delay before the first restart after a crash.", 0, 1000)},
      {"backoffMultiplier", Number("Factor applied to the delay per consecutive failure.", 1, 100, 2)},
      {"maxRestartDelay", Ms("Cap on the restart delay.", 0, 60000)},
      {"maxRestarts", Int("Restarts allowed within restartWindow before state error.", 0, 1000000, 5)},
      {"restartWindow", Ms("Window in which restarts are counted.", 1, 300000)},
      {"shutdownTimeout", Ms("Wait after app:shutdown before SIGTERM.", 0, 5000)},
      {"killGrace", Ms("Wait after SIGTERM before SIGKILL.", 0, 2000)},
  }, true);
}

json::value AppSchema() {
  json::object env_map = Described("object", "Values for variables the manifest lists in resources.env.");
  env_map["x-keyName"] = "<VAR>";
  env_map["additionalProperties"] = Secret("Value of the variable (or a vault reference).");
  return Section("Per-app settings; other keys are the app's own settings (manifest configSchema).", {
      {"enabled", Bool("Start the app (installed apps default to on, shipped apps to off).")},
      {"trustLevel", Enum("Trust the user grants (ceiling: the manifest's claim).",
                          {"core", "verified", "community", "untrusted"})},
      {"grants", Strings("Capabilities granted beyond the trust level's policy.")},
      {"denies", Strings("Capabilities withdrawn.")},
      {"sandboxed", Bool("Force the process sandbox on or off (absent: on for community/untrusted apps, "
                         "otherwise as the manifest's security.sandboxed asks).")},
      {"env", std::move(env_map)},
  }, false);
}

json::value AppsSchema() {
  return Map("Apps by package id, plus the supervisor block.", "<id>", AppSchema(),
             {{"supervisor", SupervisorSchema()}});
}

json::value IpcSchema() {
  return Section("Kernel <-> app protocol (SPEC §4).", {
      {"maxFrameBytes", Int("Longest JSONL line accepted.", 1024, kMaxBytes, 1 << 20)},
      {"allowExternalApps", Bool("Let processes the kernel did not spawn register.", false)},
      {"resumeWindowMs", Ms("How long a dropped app may resume with its token.", 0, 10000)},
      {"requestTimeoutMs", Ms("Timeout of requests the kernel sends to apps.", 1, 30000)},
  }, true);
}

json::value HooksSchema() {
  json::object app_id{{"type", "string"}, {"pattern", kPackageIdPattern}};
  return Section("Hook bus (SPEC §6).", {
      {"interceptTimeoutMs", Ms("Time an interceptor has to answer hook.result.", 1, 5000)},
      {"failClosed", Strings("Intercept hooks for which a timeout blocks instead of continuing.", true)},
      {"order", List("Package ids: interceptor order within a trust level.", app_id, true)},
  }, true);
}

json::value LoggingSchema() {
  return Section("Kernel and app logs under <home>/logs.", {
      {"level", Enum("Minimum level written.", {"trace", "debug", "info", "warn", "error"}, "info")},
      {"maxFileBytes", Int("Size at which a log file is rotated.", 4096, kMaxBytes, 10 << 20)},
      {"maxFiles", Int("Rotated files kept per log.", 1, 1000, 5)},
  }, true);
}

json::value AgentSchema() {
  return Section("An agent (SPEC §8.1).", {
      {"model", Str("Model ref provider/model.")},
      {"fallbackModels", Strings("Model refs tried in order when the model fails.")},
      {"systemPrompt", Str("Agent instructions.")},
      {"systemPromptFile", Str("File with the agent instructions.")},
      {"skills", Strings("Skills enabled for the agent.")},
      {"tools", Section("Tool policy.", {{"allow", Strings("Tools allowed (default all).")},
                                         {"deny", Strings("Tools denied.")}}, false)},
      {"maxTurns", Int("Model calls per run before it stops.", 1, 100000, 100)},
      {"compaction", Section("History compaction.", {
           {"strategy", Enum("summarize: older turns become one LLM summary; off: never compact.",
                             {"summarize", "off"}, "summarize")},
           {"threshold", Number("Share of the context window that triggers compaction.", 0.1, 1, 0.8)},
           {"keepRecentTokens", Int("Recent history kept verbatim after compaction.", 0, 10000000, 8000)}}, false)},
      {"memoryEnabled", Bool("Give the agent long-term memory tools.")},
      {"workspace", Str("Workspace directory (default <home>/workspace).")},
      {"heartbeat", Section("Periodic turn from HEARTBEAT.md.", {
           {"every", Str("Interval such as \"30m\".")},
           {"session", Str("Session of the heartbeat turn: \"main\" (default) or a session key.")},
           {"deliver", Section("Where a reply other than HEARTBEAT_OK goes.", {
                {"channel", Str("Channel id.")}, {"to", Str("Conversation on that channel.")}}, false)}}, false)},
  }, false);
}

json::value AgentsSchema() {
  return Map("Agents by id; agents.default is the default agent.", "<id>", AgentSchema(),
             {{"maxConcurrent", Int("Runs executing at once across sessions.", 1, 1000, 4)}});
}

json::value ModelsSchema() {
  auto provider = Section("An LLM provider endpoint.", {
      {"api", Enum("Wire format.", {"anthropic-messages", "openai-completions", "gemini", "ollama"})},
      {"baseUrl", Str("Endpoint base URL.")},
      {"apiKey", Secret("API key (or a vault reference).")}}, false);
  return Section("LLM providers (SPEC §8.2).", {
      {"providers", Map("Providers by name.", "<name>", std::move(provider))},
      {"requestTimeoutMs", Ms("Time one model call may take, connect to last byte.", 1, 120000)},
      {"maxRetries", Int("Retries per model on 429, 5xx and timeouts before the next model.", 0, 20, 2)},
      {"retryBaseDelayMs", Ms("First retry delay; doubles per retry (Retry-After wins).", 0, 500)},
      {"catalog", Map("Model limits by ref, adding to or correcting the built-in catalogue.", "<ref>",
                      Section("One model.", {
                          {"contextWindow", Int("Tokens the model reads at most.", 1, 100000000)},
                          {"maxOutput", Int("Tokens it writes at most per answer.", 1, 100000000)}}, true))}}, false);
}

// Keys every channel takes (SPEC §16) plus the platform's own.
json::value ChannelSchema(std::string_view desc, Props extra) {
  json::object props{
      {"enabled", Bool("Start the channel app (default false).")},
      {"agentId", Str("Agent that answers on this channel.")},
      {"accounts", json::object{{"type", json::array{"object", "array"}},
                                {"description", "Several accounts on one platform."}}},
      {"allowFrom", List("Senders allowed to talk to the agent (empty: nobody; \"*\": anyone).",
                         {{"type", json::array{"string", "integer"}}}, false)},
      {"requireMention", Bool("In groups, answer only when mentioned.")}};
  for (const auto& [k, v] : extra) props[k] = v;
  return json::object{{"type", "object"}, {"description", desc}, {"properties", std::move(props)}};
}

json::value ChannelsSchema() {
  return Map("Messaging channels by id; the object is handed to the owning app.", "<channel>",
             ChannelSchema("A channel.", {}),
             {{"irc", ChannelSchema("IRC.", {
                   {"server", Str("Server host.")}, {"port", Int("Server port.", 1, 65535)},
                   {"tls", Bool("Use TLS.")}, {"nick", Str("Nickname.")},
                   {"realname", Str("Real name.")}, {"channels", Strings("Channels to join.")},
                   {"password", Secret("Server password (PASS).")},
                   {"sasl", Section("SASL login.", {{"user", Str("Account.")},
                                                    {"password", Secret("Password.")}}, false)},
                   {"floodBurst", Int("Lines sent at once before flood control paces them.", 1, 100)},
                   {"floodDelayMs", Ms("Pause between paced lines (default 700).", 0, std::nullopt)}})},
              {"xmpp", ChannelSchema("XMPP.", {
                   {"jid", Str("Account JID.")}, {"password", Secret("Password.")},
                   {"host", Str("Server host (default from the JID).")},
                   {"port", Int("Server port.", 1, 65535)}, {"rooms", Strings("MUC rooms to join.")},
                   {"tls", Enum("TLS: required (default), trust (any certificate), or disabled (loopback tests only).",
                                {"required", "trust", "disabled"})}})},
              {"telegram", ChannelSchema("Telegram.", {
                   {"botToken", Secret("Bot token.")},
                   {"apiBaseUrl", Str("Bot API base URL (default the public Bot API).")},
                   {"pollTimeoutSec", Int("Long-polling timeout of getUpdates, in seconds (default 30).", 1, 50)},
                   {"parseMode", Enum("How replies are formatted (default MarkdownV2).", {"MarkdownV2", "none"})}})}});
}

json::value MemorySchema() {
  return Section("Long-term memory (SPEC §9).", {
      {"enabled", Bool("Long-term memory: indexing, the memory tools and memory.search (default true).", true)},
      {"vecExtension", Str("Path of sqlite-vec's vec0.so (default $OPENCLAWOS_VEC0, else <install>/lib/vec0.so).")},
      {"watch", Bool("Re-index workspace memory files when they change (inotify).", true)},
      {"embedding", Section("Embedding provider.", {
           {"provider", Enum("Embedder.", {"openai", "gemini", "ollama", "local"}, "local")},
           {"model", Str("Embedding model (default: the provider's).")},
           {"baseUrl", Str("Endpoint base URL (default: the provider's).")},
           {"apiKey", Secret("API key (openai, gemini; or a vault reference).")},
           {"dimensions", Int("Vector size (local: default 384; openai/gemini: requested size).", 0, 8192)},
           {"batchSize", Int("Texts per embedding request.", 1, 2048, 64)},
           {"maxRetries", Int("Retries on 429, 5xx and timeouts.", 0, 20, 2)},
           {"timeoutMs", Ms("Time one embedding request may take.", 1, 60000)}}, false)},
      {"chunking", Section("How memory files are cut into chunks.", {
           {"tokens", Int("Chunk size in tokens (about 4 characters each).", 32, 8192, 400)},
           {"overlap", Int("Tokens repeated from the previous chunk.", 0, 4096, 80)}}, false)},
      {"search", Section("Hybrid search.", {
           {"vectorWeight", Number("Weight of vector similarity.", 0, 1, 0.7)},
           {"textWeight", Number("Weight of BM25.", 0, 1, 0.3)},
           {"topK", Int("Results returned.", 1, 1000, 6)},
           {"minScore", Number("Results below this score are dropped.", 0, 1, 0.15)},
           {"candidates", Int("Candidates taken from each side before merging (default max(4*topK, 20)).", 1, 10000)},
           {"mmr", Section("Maximal marginal relevance: diverse results.", {
                {"enabled", Bool("Re-rank for diversity (default false).", false)},
                {"lambda", Number("Relevance against diversity (1 = relevance only).", 0, 1, 0.7)}}, false)}}, false)},
  }, false);
}

json::value BindingsSchema() {
  auto match = Section("Conditions; all given must hold.", {
      {"channel", Str("Channel id.")}, {"accountId", Str("Account on the channel.")},
      {"peer", Str("Sender.")}, {"group", Str("Group id.")},
      {"chatType", Enum("Chat type.", {"direct", "group"})},
      {"senderDomain", Str("Domain of the sender's address.")},
      {"bodyRegex", Str("RE2 pattern the message text must match.")}}, true);
  auto binding = Section("A binding.", {{"agentId", Str("Agent to route to.")},
                                        {"match", std::move(match)}}, false);
  binding.as_object()["required"] = json::array{"agentId"};
  return List("Routing rules (SPEC §7.3): most specific match wins.", std::move(binding));
}

json::value ToolsSchema() {
  return Section("Built-in tools (SPEC §8.3).", {
      {"maxResultChars", Int("Cap on a tool result passed to the model.", 1, 100000000)},
      {"exec", Section("The exec tool.", {
           {"security", Enum("Policy.", {"deny", "allowlist", "ask", "full"}, "ask")},
           {"allowlist", Strings("Command patterns allowed under allowlist.")},
           {"timeoutMs", Ms("Command timeout.", 1, 60000)},
           {"maxOutputChars", Int("Cap on captured output.", 1, 100000000, 100000)},
           {"approvalTimeoutMs", Ms("Time an ask-policy approval may wait before it counts as denied.", 1, 120000)}}, false)},
      {"webFetch", Section("The web_fetch tool.", {
           {"maxBytes", Int("Largest response body read.", 1, 100000000, 2000000)},
           {"timeoutMs", Ms("Time one fetch may take.", 1, 20000)},
           {"allowPrivateNetwork", Bool("Allow loopback, private and link-local addresses (default false).")}}, false)},
      {"files", Section("The file tools (read, write, edit, ls, grep).", {
           {"maxReadBytes", Int("Largest file read or edited.", 1, 1000000000, 10000000)}}, false)},
  }, false);
}

json::value BuildSchema() {
  json::object address{{"type", "string"}, {"pattern", "^[^:]+:.+$"}};
  return Section("OpenClawOS config.json", {
      {"gateway", GatewaySchema()},
      {"agents", AgentsSchema()},
      {"models", ModelsSchema()},
      {"channels", ChannelsSchema()},
      {"apps", AppsSchema()},
      {"memory", MemorySchema()},
      {"security", Described("object", "Security policy (reserved for later use).")},
      {"session", Section("Sessions (SPEC §7.1).", {
           {"scope", Enum("Session per identity or per conversation address.",
                          {"identity", "conversation"}, "identity")}}, false)},
      {"bindings", BindingsSchema()},
      {"identities", Map("People: name -> conversation addresses \"<channel>:<id>\".", "<name>",
                         List("Addresses of this person.", std::move(address)))},
      {"hooks", HooksSchema()},
      {"cron", Section("Scheduled jobs (SPEC §13).", {
           {"enabled", Bool("Run scheduled jobs (default true).")},
           {"defaultTimeZone", Str("IANA time zone for cron expressions without tz (default UTC).")}}, false)},
      {"ipc", IpcSchema()},
      {"storage", Section("The state database <home>/state.db.", {
           {"durability", Enum("crash: commits survive a process crash; power: also a power loss (slower).",
                               {"crash", "power"}, "crash")},
           {"busyTimeoutMs", Ms("How long a write waits for a lock held by another process.", 0, 5000)}}, true)},
      {"logging", LoggingSchema()},
      {"tools", ToolsSchema()},
  }, true);
}

}  // namespace

const json::value& ConfigSchema() {
  static const json::value schema = BuildSchema();  // thread-safe static init
  return schema;
}

}  // namespace oc::config
