#include "agent/model_catalog.h"

#include <array>

namespace oc::agent {
namespace {

struct Entry {
  std::string_view provider;  // "" = any provider serving this model name
  std::string_view model;     // exact name or prefix
  int64_t context_window;
  int64_t max_output;
};

// Published limits of common models (a prefix matches dated snapshots and variants).
constexpr std::array kCatalog{
    Entry{"", "gpt-4o-mini", 128000, 16384},
    Entry{"", "gpt-4o", 128000, 16384},
    Entry{"", "gpt-4.1-mini", 1047576, 32768},
    Entry{"", "gpt-4.1", 1047576, 32768},
    Entry{"", "gpt-5", 400000, 128000},
    Entry{"", "o3", 200000, 100000},
    Entry{"", "o4-mini", 200000, 100000},
    Entry{"", "claude-opus-4", 200000, 32000},
    Entry{"", "claude-sonnet-4", 200000, 64000},
    Entry{"", "claude-haiku-4", 200000, 64000},
    Entry{"", "claude-3-5-haiku", 200000, 8192},
    Entry{"", "gemini-2.5-pro", 1048576, 65536},
    Entry{"", "gemini-2.5-flash", 1048576, 65536},
    Entry{"", "gemini-2.0-flash", 1048576, 8192},
    Entry{"", "llama3.2", 131072, 4096},
    Entry{"", "llama3.1", 131072, 4096},
    Entry{"", "qwen2.5", 32768, 8192},
    Entry{"", "mistral", 32768, 4096},
};

ModelInfo ProviderDefault(std::string_view provider) {
  if (provider == "anthropic") return {{}, 200000, 8192, false};
  if (provider == "gemini") return {{}, 1048576, 8192, false};
  if (provider == "ollama") return {{}, 8192, 2048, false};  // Ollama's own default num_ctx is small
  return {{}, 128000, 4096, false};
}

std::optional<ModelInfo> FromConfig(std::string_view ref, const json::value& root) {
  const auto* models = root.is_object() ? root.as_object().if_contains("models") : nullptr;
  const auto* catalog = models && models->is_object() ? models->as_object().if_contains("catalog") : nullptr;
  const auto* entry = catalog && catalog->is_object() ? catalog->as_object().if_contains(ref) : nullptr;
  if (!entry || !entry->is_object()) return std::nullopt;
  ModelInfo info;
  const auto& o = entry->as_object();
  if (const auto* w = o.if_contains("contextWindow"); w && w->is_int64()) info.context_window = w->as_int64();
  if (const auto* m = o.if_contains("maxOutput"); m && m->is_int64()) info.max_output = m->as_int64();
  info.known = true;
  return info;
}

}  // namespace

ModelInfo LookupModel(std::string_view ref, const json::value& config_root) {
  size_t slash = ref.find('/');
  std::string_view provider = slash == std::string_view::npos ? std::string_view() : ref.substr(0, slash);
  std::string_view model = slash == std::string_view::npos ? ref : ref.substr(slash + 1);
  ModelInfo info = ProviderDefault(provider);
  const Entry* best = nullptr;
  for (const Entry& e : kCatalog) {
    if (!e.provider.empty() && e.provider != provider) continue;
    if (model.substr(0, e.model.size()) != e.model) continue;
    if (!best || e.model.size() > best->model.size()) best = &e;
  }
  if (best) info = {{}, best->context_window, best->max_output, true};
  if (auto configured = FromConfig(ref, config_root)) {
    if (configured->context_window > 0) info.context_window = configured->context_window;
    if (configured->max_output > 0) info.max_output = configured->max_output;
    info.known = true;
  }
  info.ref = std::string(ref);
  return info;
}

}  // namespace oc::agent
