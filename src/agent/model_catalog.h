// What the runtime knows about models (SPEC §8.2): context-window sizes and output limits, used by
// compaction (the threshold is a share of the window) and to fill max_tokens where a wire format
// requires it. Unknown models get their provider's default, and `models.catalog.<ref>` in the
// config can add or correct entries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"

namespace oc::agent {

struct ModelInfo {
  std::string ref;             // "provider/model"
  int64_t context_window = 0;  // tokens the model reads at most
  int64_t max_output = 0;      // tokens it writes at most per answer
  bool known = false;          // false: a provider default
};

// Looks `ref` up: the config's models.catalog.<ref> {contextWindow, maxOutput} first, then the
// built-in table (exact name, then the longest known prefix, so dated snapshots such as
// "gpt-4o-2024-08-06" match "gpt-4o"), then the provider's default.
ModelInfo LookupModel(std::string_view ref, const json::value& config_root = json::value());

}  // namespace oc::agent
