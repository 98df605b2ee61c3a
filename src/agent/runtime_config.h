// Agent and provider settings derived from the config (SPEC §8.1, §8.2).
//
// Providers: built-in defaults, each overridable by models.providers.<name> {api, baseUrl, apiKey}:
//   openai      openai-completions  https://api.openai.com/v1      $OPENAI_API_KEY
//   openrouter  openai-completions  https://openrouter.ai/api/v1   $OPENROUTER_API_KEY
//   ollama      openai-completions  $OLLAMA_HOST/v1 (default http://127.0.0.1:11434/v1)
//   anthropic   anthropic-messages  https://api.anthropic.com      $ANTHROPIC_API_KEY
//   gemini      gemini              https://generativelanguage.googleapis.com  $GEMINI_API_KEY
// Every API of SPEC §8.2 has a client: openai-completions, anthropic-messages, gemini, ollama.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "agent/agent.h"
#include "agent/http_client.h"
#include "common/json.h"

namespace oc::agent {

inline constexpr std::string_view kDefaultModel = "openai/gpt-4o-mini";
inline constexpr std::string_view kBaseInstructions =
    "You are a personal AI assistant running in OpenClawOS. Answer the user helpfully and concisely. "
    "Use the available tools when they help; never invent tool results.";

struct ProviderConfig {
  std::string name;
  std::string api;
  std::string base_url;
  std::string api_key;
};

using EnvFn = std::function<std::optional<std::string>(std::string_view)>;

std::map<std::string, ProviderConfig> ProvidersFromConfig(const json::value& root, const EnvFn& env);

// agents.<id> merged over agents.default for unset keys; the models list is model + fallbackModels
// (kDefaultModel when none). system_prompt = base instructions + the agent's systemPrompt and the
// contents of systemPromptFile (relative to `home`; unreadable files are logged and skipped).
AgentSettings AgentSettingsFromConfig(const json::value& root, std::string_view agent_id,
                                      const std::filesystem::path& home);
// True when agents.<id> is configured (or id is "default", which always exists).
bool AgentExists(const json::value& root, std::string_view agent_id);

// Facts appended to the system prompt of one run: date and time (UTC), channel, sender.
std::string RuntimeFacts(const json::value& metadata, int64_t now_ms);

// Provider instances for the configured providers, created on first use.
class ProviderSet {
 public:
  ProviderSet(HttpClient& http, std::map<std::string, ProviderConfig> configs)
      : http_(http), configs_(std::move(configs)) {}
  // nullptr when the name is unknown or its API has no client.
  Provider* Find(const std::string& name);

 private:
  HttpClient& http_;
  std::map<std::string, ProviderConfig> configs_;
  std::map<std::string, std::unique_ptr<Provider>> instances_;
};

}  // namespace oc::agent
