// The hook table (SPEC §6), declared once: names, kinds and aliases.
#pragma once

#include <span>
#include <string_view>

namespace oc::protocol {

enum class HookKind { kSubscribe, kIntercept };

struct HookSpec {
  std::string_view name;
  HookKind kind;
};

std::span<const HookSpec> AllHooks();
// Resolves a name or an alias (agent_starting → before_agent_start, ...); nullptr if unknown.
const HookSpec* FindHook(std::string_view name_or_alias);

}  // namespace oc::protocol
