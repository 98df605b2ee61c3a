// Compaction (SPEC §7.1): when a session's history passes agents.<id>.compaction.threshold of the
// model's context window, the older turns are summarised by the model into one "summary" message.
// The originals stay in the database (marked compacted) and are no longer sent.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/compaction.h"
#include "agent/model_catalog.h"
#include "kernel/pipeline.h"

namespace oc::kernel {

asio::awaitable<Result<std::string>> Pipeline::Compact(sessions::SessionEntry session, agent::AgentSettings settings,
                                                       int64_t run_id, bool force) {
  auto alive = alive_;
  co_await RefreshPromptParts(settings);
  if (!*alive) co_return MakeError(ErrorCode::kInternalError, "the pipeline stopped");
  ModelView view = ModelHistoryView(session.id, run_id);
  agent::ModelInfo info = agent::LookupModel(settings.models.front(), config_root_);
  agent::ChatMessage system{"system", SystemPromptFor(settings, json::object(), NowMs()), {}, {}, {}};
  // The system prompt is sent with every call: the history gets what it leaves of the window.
  int64_t budget = std::max<int64_t>(info.context_window - agent::EstimateTokens(system), 1024);
  // /compact asks for room now: everything before the latest exchange is summarised.
  int64_t keep_recent = force ? 0 : settings.compaction.keep_recent_tokens;
  auto plan = agent::PlanCompaction(view.messages, budget, settings.compaction.threshold, keep_recent, force);
  if (!plan || plan->summarize_count == 0) co_return std::string();
  const size_t count = plan->summarize_count;
  std::vector<agent::ChatMessage> old_turns(view.messages.begin(), view.messages.begin() + static_cast<std::ptrdiff_t>(count));
  std::vector<int64_t> old_ids(view.ids.begin(), view.ids.begin() + static_cast<std::ptrdiff_t>(count));
  // The kept part is in seq order except the run's own message, which goes last: take the minimum.
  const int64_t first_kept_seq = *std::min_element(view.seqs.begin() + static_cast<std::ptrdiff_t>(count), view.seqs.end());
  json::object context{{"agentId", session.agent_id}, {"sessionKey", session.key}};
  bus_.Emit("before_compaction",
            json::object{{"sessionKey", session.key}, {"agentId", session.agent_id},
                         {"messageCount", count}, {"tokensBefore", plan->tokens_before}, {"forced", force}},
            context);

  agent::LlmRequest request;
  request.stream = false;
  const int64_t target_tokens = std::clamp<int64_t>(budget / 10, 256, 4000);
  request.messages = agent::SummaryPrompt(old_turns, target_tokens);
  auto providers = providers_;  // the set in use now, even if a reload replaces it meanwhile
  agent::ProviderLookup lookup = [providers](const std::string& name) { return providers->Find(name); };
  agent::TextSink no_streaming;  // named: no braced temporaries inside a co_await (g++ 12)
  agent::FailoverResult answer =
      co_await agent::CompleteWithFailover(settings.models, std::move(request), lookup, settings.retry, no_streaming);
  if (!*alive) co_return MakeError(ErrorCode::kInternalError, "the pipeline stopped");
  if (!answer.response.ok()) co_return answer.response.error();
  if (answer.response->text.empty())
    co_return MakeError(ErrorCode::kInternalError, "the model returned an empty summary");

  const std::string summary_text = answer.response->text;
  agent::ChatMessage summary = agent::SummaryMessage(summary_text);
  int64_t tokens_after = agent::EstimateTokens(summary) + (plan->tokens_before - agent::EstimateTokens(old_turns));
  Status st = db_->InTransaction([&]() -> Status {
    sessions::NewMessage m;
    m.role = "summary";
    m.content = summary_text;
    m.run_id = run_id;
    m.tokens_in = answer.response->usage.input;
    m.tokens_out = answer.response->usage.output;
    m.metadata = json::object{{"compaction", json::object{{"messages", count},
                                                          {"tokensBefore", plan->tokens_before},
                                                          {"tokensAfter", tokens_after},
                                                          {"model", answer.model},
                                                          {"forced", force}}}};
    OC_ASSIGN(sessions::StoredMessage stored, sessions_.Append(session.id, m));
    (void)stored;
    OC_TRY(sessions_.MarkCompacted(session.id, old_ids).status());
    // Older messages the model no longer saw (beyond its window, chat commands) go too, so none
    // of them resurfaces later; a message queued for a later run always comes after the cut.
    return sessions_.MarkCompactedBefore(session.id, first_kept_seq).status();
  });
  if (!st.ok()) co_return st.error();
  spdlog::info("session {}: compacted {} messages (~{} -> ~{} tokens)", session.key, count, plan->tokens_before,
               tokens_after);
  bus_.Emit("after_compaction",
            json::object{{"sessionKey", session.key}, {"agentId", session.agent_id}, {"messageCount", count},
                         {"tokensBefore", plan->tokens_before}, {"tokensAfter", tokens_after},
                         {"model", answer.model}},
            context);
  co_return "Compacted " + std::to_string(count) + " messages into a summary (~" +
      std::to_string(plan->tokens_before) + " -> ~" + std::to_string(tokens_after) + " tokens).";
}

}  // namespace oc::kernel
