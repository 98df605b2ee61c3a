// The durable message pipeline (SPEC §4.4, §7): inbound message → stored with its run → routed to
// an agent and session → run (serialised per session, agents.maxConcurrent overall) → reply stored
// with an outbox entry → message_sending chain → delivered to the channel's owner app →
// acknowledged → message_sent.
//
// Durability: agent.queue answers only after the message and its run are committed; a run's output
// (messages, outcome, outbox entry) is committed in one transaction; the outbox entry is marked
// delivered only after the app acknowledged it. So after a crash at any point, every acknowledged
// message is in history once, its run is resumed, and its reply is delivered (at least once; each
// delivery carries metadata.deliveryId so an app can drop a repeat, and the C++ SDK does).
// Threading: the kernel loop only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/http_client.h"
#include "agent/run_queue.h"
#include "agent/runtime_config.h"
#include "agent/skills.h"
#include "agent/workspace.h"
#include "common/async.h"
#include "config/config.h"
#include "cron/cron_service.h"
#include "memory/memory_service.h"
#include "tools/approvals.h"
#include "tools/builtin_tools.h"
#include "hooks/hook_bus.h"
#include "sessions/router.h"
#include "sessions/run_store.h"
#include "sessions/session_store.h"
#include "store/database.h"

namespace oc::kernel {

// What the pipeline needs from the rest of the kernel.
class PipelineHost {
 public:
  virtual ~PipelineHost() = default;
  // The final step of message_sending for `channel`: a handler that hands the delivery to the
  // channel's owner app; nullptr when no connected app owns the channel.
  virtual std::shared_ptr<hooks::HookHandler> DeliveryHandlerFor(const std::string& channel) = 0;
  // Tools registered by apps (tool.invoke).
  virtual std::vector<agent::ToolSpec> AppTools() = 0;
  virtual asio::awaitable<agent::ToolOutcome> InvokeAppTool(std::string name, json::value input,
                                                            agent::ToolContext context) = 0;
  // Control-plane event to every client (skipped when nobody listens).
  virtual void BroadcastEvent(std::string_view event, json::value payload) = 0;
};

class Pipeline : public agent::ToolHost {
 public:
  // Opens <home>/state.db (migrating it) and builds routing from the config. Runs a previous kernel
  // left queued or running are queued again at once (so they keep their order ahead of new
  // messages), but nothing executes until ResumePending().
  static Result<std::unique_ptr<Pipeline>> Open(asio::io_context& io, const config::Paths& paths,
                                                const config::Config& config, hooks::HookBus& bus,
                                                PipelineHost& host);
  ~Pipeline() override;

  void Reconfigure(const config::Config& config);
  // Starts executing runs (those recovered at Open first) and delivering the outbox. The kernel
  // calls it once the apps started at boot have settled, so their tools and channels are there.
  void ResumePending();
  // The channel's owner app is connected: its pending deliveries are due now.
  void ChannelAvailable(const std::string& channel);
  // Stops starting runs and deliveries (shutdown).
  void Stop();
  // Plugs in an agent implementation for `agent_id` (SPEC §8.1: an own agent through the C++
  // interface); runs of that agent use it instead of the default tool-loop agent. Null removes it.
  void RegisterAgent(const std::string& agent_id, std::shared_ptr<agent::Agent> agent);

  // IPC (SPEC §4.2); params already validated against the method table.
  Result<json::value> Queue(const json::object& params);
  Result<json::value> Dispatch(const json::object& params);
  Result<json::value> SessionGet(const json::object& params);
  // `channels`: only sessions of these channels are listed (nullopt = all).
  Result<json::value> SessionList(const json::object& params, const std::optional<std::set<std::string>>& channels);
  // The channel a session key or address belongs to ("" when unknown), for access checks.
  std::string ChannelOfKey(std::string_view key);

  // Chat commands (SPEC §7.1), answered by the kernel in the session's turn instead of the agent:
  // /new, /reset, /status, /compact, /model [ref], /help. Anything else (also other "/words") is
  // an ordinary message for the agent.
  struct ChatCommand {
    std::string name;  // "new", "reset", "status", "compact", "model", "help"
    std::string arg;   // the rest of the line, trimmed
  };
  static std::optional<ChatCommand> ParseChatCommand(std::string_view text);

  // Exec approvals (tools.exec.security "ask") waiting for a human.
  tools::ApprovalBroker& approvals() { return approvals_; }
  // Scheduled jobs (SPEC §13); control methods cron.* call it.
  cron::CronService& cron() { return *cron_; }
  // The worker pool for blocking work (file tools, extension callbacks).
  asio::thread_pool& workers() { return workers_; }

  // Control plane (docs/CONTROL-PLANE.md).
  // `agent`: StartAgentTurn queues the turn (or finds the run of a repeated idempotencyKey) and
  // returns at once; AwaitRun waits for its summary. AgentTurn does both.
  struct StartedTurn {
    int64_t run_id = 0;
    std::string session_key;
    std::string agent_id;
    std::chrono::milliseconds timeout{600000};  // params.timeoutMs
    bool repeated = false;  // an earlier call with the same idempotencyKey queued it
  };
  Result<StartedTurn> StartAgentTurn(const json::value& params);
  asio::awaitable<Result<json::value>> AgentTurn(json::value params);
  // The run's summary once it has finished; nullopt when `timeout` passes first.
  asio::awaitable<std::optional<json::value>> AwaitRun(int64_t run_id, std::chrono::milliseconds timeout);
  Result<json::value> SessionsList(const json::value& params);
  Result<json::value> SessionsGet(const json::value& params);
  Result<json::value> SessionsHistory(const json::value& params);
  Result<json::value> SessionsBranch(const json::value& params);
  Result<json::value> SessionsReset(const json::value& params);
  Result<json::value> SessionsDelete(const json::value& params);
  Result<json::value> OutboxList(const json::value& params);

  // agent::ToolHost: kernel tools (sessions_*, message, cron), built-in tools (files, exec,
  // web_fetch), then app and extension tools, filtered by agents.<id>.tools.allow/deny.
  std::vector<agent::ToolSpec> ToolsFor(const std::string& agent_id) override;
  asio::awaitable<agent::ToolOutcome> Invoke(std::string name, json::value input, agent::ToolContext context) override;

  store::Database& database() { return *db_; }

  // --- pipeline_memory.cpp ---
  // Long-term memory (SPEC §9); null when memory.enabled is false. The loop only.
  memory::MemoryService* memory() { return memory_.get(); }
  // A search hit as the control plane and the tools show it (`text`: the whole chunk too).
  static json::object HitJson(const memory::SearchHit& hit, bool whole_text);

  // --- pipeline_canvas.cpp ---
  // The agent's workspace directory (agents.<id>.workspace, resolved): the canvas is served from
  // its canvas/ subdirectory. Cached like the rest of the agent's settings; the loop only.
  std::filesystem::path WorkspaceOf(const std::string& agent_id);

 private:
  // --- pipeline_canvas.cpp ---
  // The `canvas` tool (SPEC §8.3): present/show/clear HTML on <workspace>/canvas/; every change is
  // broadcast as the control-plane event `canvas` {agentId, version, action, url, title?}.
  asio::awaitable<agent::ToolOutcome> CanvasTool(json::value input, agent::ToolContext context);
  std::map<std::string, int64_t> canvas_versions_;  // agent id → last version broadcast

  Pipeline(asio::io_context& io, config::Paths paths, hooks::HookBus& bus, PipelineHost& host,
           std::unique_ptr<store::Database> db);

  // runs
  asio::awaitable<void> ExecuteRun(int64_t run_id);
  // Runs a run unless the pipeline is gone by the time the coroutine starts; resolves the control
  // callers waiting for it on every way out.
  asio::awaitable<void> ExecuteRunChecked(std::shared_ptr<bool> alive, int64_t run_id);
  void RecoverRuns();
  std::vector<agent::ChatMessage> ModelHistory(int64_t session_id, int64_t run_id);
  void FinishRun(const sessions::RunRecord& run, const sessions::SessionEntry& session,
                 const agent::RunResult& result, int64_t started_ms);
  json::value RunSummary(int64_t run_id);
  agent::RunObserver ObserverFor(const sessions::RunRecord& run, const std::string& session_key);
  const agent::AgentSettings& SettingsFor(const std::string& agent_id);
  // The agent's settings with the model the session chose with /model (if any) first.
  agent::AgentSettings SettingsForSession(const std::string& agent_id, const sessions::SessionEntry& session);
  std::string AgentFor(std::string agent_id) const;
  // The full system prompt of a run: the agent's instructions, workspace bootstrap files, skills
  // and runtime facts (SPEC §8.1). Files are re-read at most every few seconds.
  std::string SystemPromptFor(const agent::AgentSettings& settings, const json::value& metadata, int64_t now_ms);
  // Re-reads the workspace files and skills on the worker pool when the cached ones are stale.
  asio::awaitable<void> RefreshPromptParts(agent::AgentSettings settings);
  // Creates every configured agent's workspace and its missing bootstrap files (start, reload).
  void PrepareWorkspaces();
  // Queues a run that no channel message started (control-plane `agent`, cron, heartbeat,
  // sessions_send): the message is stored as the session's user message. Returns the run id; when a
  // run with the same `idempotency` key exists, that run's id and nothing is queued.
  struct SyntheticRun {
    std::string session_key, agent_id, kind = "control", origin, message;
    std::optional<std::string> channel_id;
    std::optional<std::string> reply_address, idempotency;
    json::value metadata = json::object();
    bool fresh_session = false;  // end the active session with this key first (isolated cron runs)
  };
  Result<int64_t> QueueSynthetic(const SyntheticRun& spec);
  // Hands the run's summary to everyone waiting in AwaitRun.
  void AnswerWaiters(int64_t run_id);
  // chat commands (pipeline_commands.cpp)
  asio::awaitable<std::string> RunChatCommand(ChatCommand command, sessions::RunRecord run,
                                              sessions::SessionEntry session);
  std::string StatusText(const sessions::SessionEntry& session, const agent::AgentSettings& settings);
  // compaction (pipeline_compaction.cpp): summarises older turns when the history passes the
  // threshold (or always with force). Returns a one-line report, "" when nothing was compacted.
  asio::awaitable<Result<std::string>> Compact(sessions::SessionEntry session, agent::AgentSettings settings,
                                               int64_t run_id, bool force);
  struct ModelView {
    std::vector<agent::ChatMessage> messages;
    std::vector<int64_t> ids;   // the stored message behind each entry
    std::vector<int64_t> seqs;  // and its position in the session
  };
  ModelView ModelHistoryView(int64_t session_id, int64_t run_id);
  // kernel tools (pipeline_tools.cpp)
  static const std::vector<agent::ToolSpec>& KernelToolSpecs();
  asio::awaitable<agent::ToolOutcome> InvokeKernelTool(std::string name, json::value input, agent::ToolContext context);
  asio::awaitable<agent::ToolOutcome> SessionsSendTool(json::value input, agent::ToolContext context);
  int64_t SendDepthOf(const std::string& run_id);
  agent::ToolOutcome CronTool(const json::object& input, const agent::ToolContext& context);
  struct SessionScope;
  SessionScope ScopeOf(const agent::ToolContext& context);
  Result<sessions::SessionEntry> VisibleSession(const SessionScope& scope, const std::string& key);
  tools::BuiltinCall BuiltinCallFor(const agent::ToolContext& context);
  // cron and heartbeat (pipeline_cron.cpp)
  void FireCronJob(const cron::CronJob& job, std::string_view reason);
  void ConfigureCronAndHeartbeats();
  void ArmHeartbeat(const std::string& agent_id, std::chrono::milliseconds every);
  void RunHeartbeat(const std::string& agent_id);
  void AfterRun(const sessions::RunRecord& run, const agent::RunResult& result);
  // outbox
  void KickOutbox(std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  void DrainOutbox();
  asio::awaitable<void> Deliver(std::shared_ptr<bool> alive, sessions::OutboxEntry entry);
  void FinishDelivery(const sessions::OutboxEntry& entry, const hooks::HookBus::FinalOutcome& done,
                      const json::object& context);
  void RetryLater(const sessions::OutboxEntry& entry, const std::string& error, bool count);
  void OutboxStoreFailed(const Error& error);
  // sessions
  Result<std::optional<sessions::SessionEntry>> FindSession(std::string_view key);
  Result<sessions::SessionEntry> RequireSession(const json::value& params);
  void EndSession(const sessions::SessionEntry& s, std::string_view reason);

  asio::io_context& io_;
  config::Paths paths_;
  hooks::HookBus& bus_;
  PipelineHost& host_;
  std::unique_ptr<store::Database> db_;
  sessions::SessionStore sessions_;
  sessions::RunStore runs_;
  sessions::OutboxStore outbox_;
  json::value config_root_;
  sessions::Router router_;
  agent::HttpClient http_;
  std::shared_ptr<agent::ProviderSet> providers_;
  std::vector<std::shared_ptr<agent::ProviderSet>> retired_providers_;  // in-flight calls may use them
  std::map<std::string, agent::AgentSettings> settings_cache_;
  std::unique_ptr<agent::Agent> agent_;  // the default tool-loop agent
  std::map<std::string, std::shared_ptr<agent::Agent>> custom_agents_;
  std::unique_ptr<agent::RunQueue> queue_;
  asio::steady_timer outbox_timer_;
  bool outbox_timer_armed_ = false;
  std::set<int64_t> delivering_;                             // outbox ids in flight
  std::set<std::pair<std::string, std::string>> busy_targets_;  // (channel, target) in flight
  std::map<int64_t, int64_t> failed_waits_;  // outbox id → uncounted waits for its channel's app
  int64_t store_retry_at_ = 0;               // after a database error: no outbox work before this
  std::map<int64_t, std::vector<std::shared_ptr<Pending<json::value>>>> waiters_;  // run → control callers
  bool stopped_ = false;
  asio::thread_pool workers_{2};
  tools::ApprovalBroker approvals_;
  std::unique_ptr<tools::BuiltinTools> builtin_tools_;
  std::unique_ptr<cron::CronService> cron_;
  struct Heartbeat {
    std::unique_ptr<asio::steady_timer> timer;
    std::chrono::milliseconds every{0};
  };
  std::map<std::string, Heartbeat> heartbeats_;  // agent id → its heartbeat
  int64_t cron_fired_ = 0;
  struct PromptCache {
    int64_t built_at_ms = 0;
    std::vector<agent::PromptFile> bootstrap;
    std::vector<agent::Skill> skills;
  };
  std::map<std::string, PromptCache> prompt_cache_;  // agent id → workspace parts
  static PromptCache LoadPromptParts(const std::filesystem::path& workspace, const std::filesystem::path& home_skills);
  // --- pipeline_memory.cpp ---
  static bool MemoryEnabledIn(const json::value& root);
  static memory::MemorySettings MemorySettingsFrom(const json::value& root);
  std::vector<std::filesystem::path> MemoryWorkspaces();
  // Opens the memory service when memory.enabled (Open fails with its error: vec0.so missing...).
  Status OpenMemory();
  void ReconfigureMemory();
  bool MemoryToolsFor(const std::string& agent_id);
  static const std::vector<agent::ToolSpec>& MemoryToolSpecs();
  asio::awaitable<agent::ToolOutcome> InvokeMemoryTool(std::string name, json::value input, agent::ToolContext context);
  bool memory_started_ = false;  // Open() has opened memory; reloads may reconfigure it
  std::unique_ptr<memory::MemoryService> memory_;  // after workers_ and http_, which it uses
  std::vector<std::unique_ptr<memory::MemoryService>> retired_memory_;  // switched off by a reload
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace oc::kernel
