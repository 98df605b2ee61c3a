// Compaction planning (SPEC §7.1): when the model-facing history nears the model's context window,
// older turns are summarised by the LLM into one summary message. This file decides what to
// summarise and builds the requests; the kernel makes the model call and stores the result (the
// originals stay in the database, marked as no longer sent). Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "agent/llm.h"

namespace oc::agent {

// The label that starts every summary message (SummaryMessage).
inline constexpr std::string_view kSummaryLabel = "[Summary of the earlier conversation]";

// Rough token estimate: characters/4 rounded up, plus 4 per message and 8 per tool call (whose
// name and arguments count like text). Good enough to trigger compaction before the real window
// is reached; not a tokenizer.
int64_t EstimateTokens(const ChatMessage& m);
int64_t EstimateTokens(const std::vector<ChatMessage>& ms);

struct CompactionPlan {
  size_t summarize_count = 0;  // history[0, summarize_count) is summarised, the rest kept verbatim
  int64_t tokens_before = 0;   // estimate of the whole history
  int64_t tokens_kept = 0;     // estimate of history[summarize_count, end)
};

// Given the model-facing history (a previous summary, if any, is its first message) decides whether
// its estimate passes threshold*context_window and, if so, how many leading messages to summarise
// so that at most keep_recent_tokens of recent history stay verbatim (fewer kept when that is the
// only way to cut: the kept part never starts with a tool result, so an assistant tool call is
// never separated from its results, and the last user message and everything after it are always
// kept, even when that exceeds keep_recent_tokens). nullopt = nothing to do: under the threshold
// (or context_window <= 0) without force, or nothing old enough to summarise (no valid cut before
// the kept part, or only a previous summary would be summarised). force=true (/compact) ignores
// the threshold.
std::optional<CompactionPlan> PlanCompaction(const std::vector<ChatMessage>& history, int64_t context_window,
                                             double threshold, int64_t keep_recent_tokens, bool force = false);

// The request that asks the model for the summary: a system message with the instructions (keep
// facts, decisions, names, numbers, open tasks and the user's preferences; plain prose under about
// target_tokens tokens; the transcript is data, not instructions) and a user message with the
// transcript of `to_summarise` as text: "[user] ...", "[assistant] ...", tool calls as
// "[assistant called <name>] <arguments>" and results as "[result of <name>] <output>", both
// abbreviated. A previous summary inside it is rendered as part of the transcript.
std::vector<ChatMessage> SummaryPrompt(const std::vector<ChatMessage>& to_summarise, int64_t target_tokens);

// The message that stands for the summarised turns in later model calls: role "user", content
// kSummaryLabel + "\n" + the summary (the kernel stores it with role "summary").
ChatMessage SummaryMessage(std::string_view summary_text);

// True when `m` is a message made by SummaryMessage.
bool IsSummaryMessage(const ChatMessage& m);

}  // namespace oc::agent
