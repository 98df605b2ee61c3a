#include <spdlog/spdlog.h>

#include <ctime>
#include <fstream>
#include <sstream>

#include "agent/anthropic_provider.h"
#include "agent/gemini_provider.h"
#include "agent/ollama_provider.h"
#include "agent/openai_provider.h"
#include "agent/runtime_config.h"

namespace oc::agent {
namespace {

const json::object* ObjectAt(const json::value& root, std::initializer_list<std::string_view> path) {
  const json::value* v = &root;
  for (auto key : path) {
    const auto* o = v->if_object();
    if (!o) return nullptr;
    auto it = o->find(key);
    if (it == o->end()) return nullptr;
    v = &it->value();
  }
  return v->if_object();
}

std::string StringOr(const json::object* o, std::string_view key, std::string fallback) {
  if (!o) return fallback;
  auto it = o->find(key);
  if (it == o->end() || !it->value().is_string()) return fallback;
  return std::string(it->value().as_string());
}

// A key of agents.<id>, falling back to agents.default.
const json::value* AgentKey(const json::value& root, std::string_view agent_id, std::string_view key) {
  for (std::string_view id : {agent_id, std::string_view("default")}) {
    if (const auto* a = ObjectAt(root, {"agents", id})) {
      if (auto it = a->find(key); it != a->end() && !it->value().is_null()) return &it->value();
    }
  }
  return nullptr;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::map<std::string, ProviderConfig> ProvidersFromConfig(const json::value& root, const EnvFn& env) {
  auto from_env = [&](std::string_view name) { return env ? env(name).value_or("") : std::string(); };
  std::string ollama = from_env("OLLAMA_HOST");
  if (ollama.empty()) ollama = "http://127.0.0.1:11434";
  if (ollama.find("://") == std::string::npos) ollama = "http://" + ollama;
  std::map<std::string, ProviderConfig> out{
      {"openai", {"openai", "openai-completions", "https://api.openai.com/v1", from_env("OPENAI_API_KEY")}},
      {"openrouter", {"openrouter", "openai-completions", "https://openrouter.ai/api/v1", from_env("OPENROUTER_API_KEY")}},
      {"ollama", {"ollama", "ollama", ollama, ""}},
      {"anthropic", {"anthropic", "anthropic-messages", "https://api.anthropic.com", from_env("ANTHROPIC_API_KEY")}},
      {"gemini", {"gemini", "gemini", "https://generativelanguage.googleapis.com", from_env("GEMINI_API_KEY")}},
  };
  if (const auto* providers = ObjectAt(root, {"models", "providers"})) {
    for (const auto& [name, value] : *providers) {
      const auto* p = value.if_object();
      if (!p) continue;
      ProviderConfig& c = out[std::string(name)];
      c.name = std::string(name);
      c.api = StringOr(p, "api", c.api.empty() ? "openai-completions" : c.api);
      c.base_url = StringOr(p, "baseUrl", c.base_url);
      if (auto it = p->find("apiKey"); it != p->end()) {
        if (it->value().is_string()) c.api_key = std::string(it->value().as_string());
        else spdlog::warn("models.providers.{}.apiKey: an unresolved vault reference (the kernel resolves them before this point); ignored", name);
      }
    }
  }
  return out;
}

bool AgentExists(const json::value& root, std::string_view agent_id) {
  return agent_id == "default" || ObjectAt(root, {"agents", agent_id}) != nullptr;
}

AgentSettings AgentSettingsFromConfig(const json::value& root, std::string_view agent_id,
                                      const std::filesystem::path& home) {
  AgentSettings s;
  s.id = std::string(agent_id);
  if (const auto* m = AgentKey(root, agent_id, "model"); m && m->is_string()) s.models.emplace_back(m->as_string());
  if (const auto* f = AgentKey(root, agent_id, "fallbackModels"); f && f->is_array()) {
    for (const auto& v : f->as_array())
      if (v.is_string()) s.models.emplace_back(v.as_string());
  }
  if (s.models.empty()) s.models.emplace_back(kDefaultModel);
  if (const auto* t = AgentKey(root, agent_id, "maxTurns"); t && t->is_int64()) s.max_turns = static_cast<int>(t->as_int64());
  if (const auto* tools = ObjectAt(root, {"tools"})) {
    if (auto it = tools->find("maxResultChars"); it != tools->end() && it->value().is_int64())
      s.max_tool_result_chars = static_cast<size_t>(it->value().as_int64());
  }
  if (const auto* models = ObjectAt(root, {"models"})) {
    if (auto it = models->find("requestTimeoutMs"); it != models->end() && it->value().is_int64())
      s.retry.call_timeout = std::chrono::milliseconds(it->value().as_int64());
    if (auto it = models->find("maxRetries"); it != models->end() && it->value().is_int64())
      s.retry.max_retries = static_cast<int>(it->value().as_int64());
    if (auto it = models->find("retryBaseDelayMs"); it != models->end() && it->value().is_int64())
      s.retry.base_delay = std::chrono::milliseconds(it->value().as_int64());
  }
  std::string prompt(kBaseInstructions);
  if (const auto* p = AgentKey(root, agent_id, "systemPrompt"); p && p->is_string() && !p->as_string().empty())
    prompt += "\n\n" + std::string(p->as_string());
  if (const auto* f = AgentKey(root, agent_id, "systemPromptFile"); f && f->is_string()) {
    std::filesystem::path file(std::string(f->as_string()));
    if (file.is_relative()) file = home / file;
    std::string text = ReadFile(file);
    if (text.empty()) spdlog::warn("agent {}: systemPromptFile {} is missing or empty", agent_id, file.string());
    else prompt += "\n\n" + text;
  }
  s.system_prompt = std::move(prompt);
  if (const auto* w = AgentKey(root, agent_id, "workspace"); w && w->is_string() && !w->as_string().empty()) {
    s.workspace = std::filesystem::path(std::string(w->as_string()));
    if (s.workspace.is_relative()) s.workspace = home / s.workspace;
  } else {
    s.workspace = home / (agent_id == "default" ? std::string("workspace") : "workspace-" + std::string(agent_id));
  }
  if (const auto* k = AgentKey(root, agent_id, "skills"); k && k->is_array())
    for (const auto& v : k->as_array())
      if (v.is_string()) s.skills.emplace_back(v.as_string());
  if (const auto* c = AgentKey(root, agent_id, "compaction"); c && c->is_object()) {
    const auto& o = c->as_object();
    if (auto it = o.find("strategy"); it != o.end() && it->value().is_string())
      s.compaction.enabled = it->value().as_string() != "off";
    if (auto it = o.find("threshold"); it != o.end() && it->value().is_number())
      s.compaction.threshold = it->value().to_number<double>();
    if (auto it = o.find("keepRecentTokens"); it != o.end() && it->value().is_int64())
      s.compaction.keep_recent_tokens = it->value().as_int64();
  }
  return s;
}

// A value chosen by people on the platform (a display name): one line, no control characters,
// capped, quoted — so it cannot pose as instructions in the system prompt.
static std::string Quoted(std::string_view text) {
  std::string out = "\"";
  size_t kept = 0;
  for (unsigned char c : text) {
    if (kept >= 64) {
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f) c = ' ';
    if (c == '"') out += '\\';
    out += static_cast<char>(c);
    ++kept;
  }
  return out + "\"";
}

std::string RuntimeFacts(const json::value& metadata, int64_t now_ms) {
  std::time_t t = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC (%A)", &tm);
  std::string facts = "Runtime: current time " + std::string(when) + ".";
  if (const auto* m = metadata.if_object()) {
    if (auto c = m->find("channelId"); c != m->end() && c->value().is_string())
      facts += " Channel: " + Quoted(c->value().as_string()) + ".";
    if (auto n = m->find("senderName"); n != m->end() && n->value().is_string())
      facts += " Sender: " + Quoted(n->value().as_string()) + ".";
    else if (auto f = m->find("from"); f != m->end() && f->value().is_string())
      facts += " Sender: " + Quoted(f->value().as_string()) + ".";
    if (auto ct = m->find("chatType"); ct != m->end() && ct->value().is_string())
      facts += " Chat: " + Quoted(ct->value().as_string()) + ".";
  }
  return facts;
}

Provider* ProviderSet::Find(const std::string& name) {
  if (auto it = instances_.find(name); it != instances_.end()) return it->second.get();
  auto c = configs_.find(name);
  if (c == configs_.end()) return nullptr;
  const ProviderConfig& cfg = c->second;
  std::unique_ptr<Provider> made;
  if (cfg.api == "openai-completions") made = MakeOpenAiProvider(http_, OpenAiSettings{cfg.name, cfg.base_url, cfg.api_key});
  else if (cfg.api == "anthropic-messages") made = MakeAnthropicProvider(http_, AnthropicSettings{cfg.name, cfg.base_url, cfg.api_key});
  else if (cfg.api == "gemini") made = MakeGeminiProvider(http_, GeminiSettings{cfg.name, cfg.base_url, cfg.api_key});
  else if (cfg.api == "ollama") made = MakeOllamaProvider(http_, OllamaSettings{cfg.name, cfg.base_url, cfg.api_key});
  if (!made) return nullptr;
  auto [it, _] = instances_.emplace(name, std::move(made));
  return it->second.get();
}

}  // namespace oc::agent
