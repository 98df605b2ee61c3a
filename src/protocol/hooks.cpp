#include "protocol/hooks.h"

#include <utility>

namespace oc::protocol {
namespace {

constexpr HookSpec kHooks[] = {
    {"before_agent_start", HookKind::kIntercept}, {"llm_input", HookKind::kSubscribe},
    {"llm_output", HookKind::kSubscribe},         {"agent_end", HookKind::kSubscribe},
    {"before_compaction", HookKind::kSubscribe},  {"after_compaction", HookKind::kSubscribe},
    {"before_reset", HookKind::kSubscribe},       {"message_received", HookKind::kSubscribe},
    {"message_sending", HookKind::kIntercept},    {"message_sent", HookKind::kSubscribe},
    {"before_tool_call", HookKind::kIntercept},   {"after_tool_call", HookKind::kSubscribe},
    {"tool_result_persist", HookKind::kIntercept}, {"session_start", HookKind::kSubscribe},
    {"session_end", HookKind::kSubscribe},        {"gateway_start", HookKind::kSubscribe},
    {"gateway_stop", HookKind::kSubscribe},
};

constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
    {"agent_starting", "before_agent_start"},
    {"agent_completed", "agent_end"},
    {"tool_executing", "before_tool_call"},
    {"tool_completed", "after_tool_call"},
};

}  // namespace

std::span<const HookSpec> AllHooks() { return kHooks; }

const HookSpec* FindHook(std::string_view name) {
  for (const auto& [alias, target] : kAliases)
    if (alias == name) name = target;
  for (const auto& h : kHooks)
    if (h.name == name) return &h;
  return nullptr;
}

}  // namespace oc::protocol
