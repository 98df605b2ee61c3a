// Chat commands (SPEC §7.1): /new, /reset, /status, /compact, /model, /help — answered by the
// kernel in the session's turn, never seen by the model.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <limits>

#include "agent/compaction.h"
#include "agent/model_catalog.h"
#include "common/text.h"
#include "kernel/pipeline.h"

namespace oc::kernel {
namespace {

constexpr std::string_view kHelp =
    "Commands:\n"
    "/new or /reset: start a new session (the old one is kept in the history)\n"
    "/status: this session: agent, model, messages, context use, tokens\n"
    "/compact: summarise older turns now to free context\n"
    "/model [provider/model]: show or set the model for this session (/model default undoes it)\n"
    "/help: this list";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string WithThousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

}  // namespace

std::optional<Pipeline::ChatCommand> Pipeline::ParseChatCommand(std::string_view text) {
  std::string_view t = Trim(text);
  if (t.size() < 2 || t.front() != '/') return std::nullopt;
  size_t end = 1;
  while (end < t.size() && !std::isspace(static_cast<unsigned char>(t[end]))) ++end;
  std::string name = AsciiLower(t.substr(1, end - 1));
  // "/status@MyBot" is how Telegram addresses a command to one bot in a group.
  if (auto at = name.find('@'); at != std::string::npos) name.resize(at);
  static constexpr std::string_view kNames[] = {"new", "reset", "status", "compact", "model", "help"};
  if (std::find(std::begin(kNames), std::end(kNames), name) == std::end(kNames)) return std::nullopt;
  return ChatCommand{std::move(name), std::string(Trim(t.substr(end)))};
}

asio::awaitable<std::string> Pipeline::RunChatCommand(ChatCommand command, sessions::RunRecord run,
                                                      sessions::SessionEntry session) {
  if (command.name == "help") co_return std::string(kHelp);
  if (command.name == "new" || command.name == "reset") {
    auto reset = SessionsReset(json::object{{"key", session.key}, {"reason", command.name}});
    if (!reset.ok()) co_return "Could not start a new session: " + reset.error().message;
    co_return "Started a new session. The previous conversation is kept in the history (" + session.key + ").";
  }
  agent::AgentSettings settings = SettingsForSession(run.agent_id, session);
  if (command.name == "status") co_return StatusText(session, settings);
  if (command.name == "compact") {
    auto report = co_await Compact(session, settings, run.id, true);
    if (!report.ok()) co_return "Compaction failed: " + report.error().message;
    co_return report->empty() ? std::string("Nothing to compact yet.") : *report;
  }
  // model
  if (command.arg.empty()) {
    std::string out = "Model: " + settings.models.front();
    if (settings.models.size() > 1) {
      out += "\nFallbacks:";
      for (size_t i = 1; i < settings.models.size(); ++i) out += " " + settings.models[i];
    }
    co_return out + "\nChange it with /model provider/model (/model default goes back to the agent's).";
  }
  json::object meta = session.metadata.is_object() ? session.metadata.as_object() : json::object();
  if (command.arg == "default" || command.arg == "reset") {
    meta.erase("model");
    if (Status st = sessions_.SetMetadata(session.id, meta); !st.ok()) co_return "Could not change the model: " + st.error().message;
    co_return "Back to the agent's model: " + SettingsFor(run.agent_id).models.front() + ".";
  }
  auto ref = agent::ParseModelRef(command.arg);
  if (!ref.ok() || ref->second.empty())
    co_return "\"" + command.arg + "\" is not a model ref; use provider/model, e.g. anthropic/claude-sonnet-4-5.";
  if (!providers_ || !providers_->Find(ref->first))
    co_return "Unknown provider \"" + ref->first + "\" (configure it under models.providers).";
  meta["model"] = command.arg;
  if (Status st = sessions_.SetMetadata(session.id, meta); !st.ok()) co_return "Could not change the model: " + st.error().message;
  co_return "Model for this session: " + command.arg + ".";
}

std::string Pipeline::StatusText(const sessions::SessionEntry& session, const agent::AgentSettings& settings) {
  auto info = agent::LookupModel(settings.models.front(), config_root_);
  ModelView view = ModelHistoryView(session.id, std::numeric_limits<int64_t>::max());
  agent::ChatMessage system{"system", SystemPromptFor(settings, json::object(), NowMs()), {}, {}, {}};
  int64_t context = agent::EstimateTokens(view.messages) + agent::EstimateTokens(system);
  auto counted = sessions_.CompactedCount(session.id);
  int64_t compacted = counted.ok() ? *counted : 0;
  int64_t tokens_in = 0, tokens_out = 0, runs = 0;
  (void)db_->Query("SELECT count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0) FROM runs "
                   "WHERE session_id = ?1",
                   {session.id}, [&](const store::Row& row) {
                     runs = row.Int(0);
                     tokens_in = row.Int(1);
                     tokens_out = row.Int(2);
                   });
  std::string out = "Session: " + session.key + "\nAgent: " + settings.id + "\nModel: " + settings.models.front();
  out += "\nMessages: " + std::to_string(session.message_count);
  if (compacted > 0) out += " (" + std::to_string(compacted) + " compacted into a summary)";
  out += "\nContext: ~" + WithThousands(context) + " of " + WithThousands(info.context_window) + " tokens (" +
         std::to_string(info.context_window > 0 ? context * 100 / info.context_window : 0) + "%)";
  if (settings.compaction.enabled)
    out += ", compacts at " + std::to_string(static_cast<int>(settings.compaction.threshold * 100)) + "%";
  out += "\nTokens used: " + WithThousands(tokens_in) + " in, " + WithThousands(tokens_out) + " out over " +
         std::to_string(runs) + " run(s)";
  out += "\nWorkspace: " + settings.workspace.string();
  return out;
}

}  // namespace oc::kernel
