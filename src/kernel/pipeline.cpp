// The durable message pipeline: inbound queueing, runs, and the outbox.
#include "kernel/pipeline.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/compaction.h"
#include "agent/heartbeat.h"
#include "kernel/pipeline_params.h"

namespace oc::kernel {
using internal::BadParam;
using internal::IsSessionKey;
using internal::OptStr;
using internal::Str;
namespace {

constexpr int64_t kHistoryLimit = 200;        // messages sent to the model until compaction exists
constexpr int64_t kMaxDeliveryAttempts = 50;  // then the entry is marked failed
constexpr int64_t kMaxBackoffMs = 60000;
constexpr auto kDeliveryTimeout = std::chrono::seconds(30);

int64_t BackoffMs(int64_t attempts) {
  int64_t delay = 1000;
  for (int64_t i = 0; i < attempts && delay < kMaxBackoffMs; ++i) delay *= 2;
  return std::min(delay, kMaxBackoffMs);
}

std::vector<sessions::ToolCallRecord> ToRecords(const std::vector<agent::ToolCall>& calls) {
  std::vector<sessions::ToolCallRecord> out;
  for (const auto& c : calls) out.push_back({c.id, c.name, c.arguments});
  return out;
}

// What the person who wrote is told when their run failed: the first line of the reason, capped.
std::string FailureNotice(const std::string& error) {
  std::string reason = error.substr(0, error.find('\n'));
  if (reason.size() > 200) reason = reason.substr(0, 200) + "...";
  return "Sorry, I could not answer that (" + (reason.empty() ? std::string("unknown error") : reason) + ").";
}

}  // namespace

Result<std::unique_ptr<Pipeline>> Pipeline::Open(asio::io_context& io, const config::Paths& paths,
                                                 const config::Config& config, hooks::HookBus& bus,
                                                 PipelineHost& host) {
  store::DatabaseOptions options;
  if (const auto* d = config.Find("storage.durability"); d && d->is_string() && d->as_string() == "power")
    options.durability = store::Durability::kPower;
  if (const auto* b = config.Find("storage.busyTimeoutMs"); b && b->is_int64())
    options.busy_timeout_ms = static_cast<int>(b->as_int64());
  auto db = store::Database::Open(paths.database, options);
  if (!db.ok()) return MakeError(db.error().code, "state database " + paths.database.string() + ": " + db.error().message);
  std::unique_ptr<Pipeline> p(new Pipeline(io, paths, bus, host, std::move(db).value()));
  auto router = sessions::Router::FromConfig(config.root());
  if (!router.ok()) return router.error();
  p->router_ = std::move(router).value();
  p->Reconfigure(config);
  if (auto memory = p->OpenMemory(); !memory.ok()) return memory.error();
  p->memory_started_ = true;
  p->RecoverRuns();
  return p;
}

Pipeline::Pipeline(asio::io_context& io, config::Paths paths, hooks::HookBus& bus, PipelineHost& host,
                   std::unique_ptr<store::Database> db)
    : io_(io),
      paths_(std::move(paths)),
      bus_(bus),
      host_(host),
      db_(std::move(db)),
      sessions_(*db_),
      runs_(*db_),
      outbox_(*db_),
      http_(io.get_executor()),
      outbox_timer_(io),
      approvals_(io.get_executor()) {
  builtin_tools_ = std::make_unique<tools::BuiltinTools>(io.get_executor(), workers_, http_, approvals_);
  cron_ = std::make_unique<cron::CronService>(io.get_executor(), *db_, [this](const cron::CronJob& job, std::string_view reason) {
    FireCronJob(job, reason);
  });
  agent_ = agent::MakeLlmAgent(bus_, *this, [this](const std::string& name) -> agent::Provider* {
    return providers_ ? providers_->Find(name) : nullptr;
  });
  queue_ = std::make_unique<agent::RunQueue>(io.get_executor(), 4, [this, alive = alive_](int64_t run_id) {
    return ExecuteRunChecked(alive, run_id);
  });
  queue_->Pause();  // until ResumePending()
}

Pipeline::~Pipeline() {
  *alive_ = false;
  if (memory_) memory_->Stop();
  memory_.reset();
  retired_memory_.clear();
  queue_.reset();
  heartbeats_.clear();
  cron_.reset();
}

void Pipeline::Reconfigure(const config::Config& config) {
  config_root_ = config.root();
  if (auto router = sessions::Router::FromConfig(config_root_); router.ok()) router_ = std::move(router).value();
  else spdlog::error("routing config rejected, keeping the previous routes: {}", router.error().message);
  if (providers_) retired_providers_.push_back(providers_);
  providers_ = std::make_shared<agent::ProviderSet>(http_, agent::ProvidersFromConfig(config_root_, config::ProcessEnv()));
  settings_cache_.clear();
  int max_concurrent = 4;
  if (const auto* m = config.Find("agents.maxConcurrent"); m && m->is_int64()) max_concurrent = static_cast<int>(m->as_int64());
  queue_->SetMaxConcurrent(max_concurrent);
  prompt_cache_.clear();
  PrepareWorkspaces();
  ConfigureCronAndHeartbeats();
  if (memory_started_) ReconfigureMemory();
}

void Pipeline::RecoverRuns() {
  auto pending = runs_.RecoverPending();
  if (!pending.ok()) {
    spdlog::error("run queue: cannot read pending runs: {}", pending.error().message);
    return;
  }
  if (!pending->empty()) spdlog::info("run queue: {} run(s) left by the previous kernel will resume", pending->size());
  for (const auto& run : *pending) queue_->Enqueue(run.id, run.session_id);
}

void Pipeline::ResumePending() {
  queue_->Resume();
  KickOutbox();
  cron_->Start();  // catches up jobs missed while the kernel was down
}

void Pipeline::ChannelAvailable(const std::string& channel) {
  if (Status s = outbox_.MakeChannelDue(channel, NowMs()); !s.ok())
    spdlog::warn("outbox: {}", s.error().message);
  KickOutbox();
}

void Pipeline::Stop() {
  stopped_ = true;
  queue_->Pause();
  outbox_timer_.cancel();
  cron_->Stop();
  heartbeats_.clear();
  approvals_.DenyAll("the gateway is shutting down");
  if (memory_) memory_->Stop();
}

void Pipeline::RegisterAgent(const std::string& agent_id, std::shared_ptr<agent::Agent> agent) {
  if (agent) custom_agents_[agent_id] = std::move(agent);
  else custom_agents_.erase(agent_id);
}

std::string Pipeline::AgentFor(std::string agent_id) const {
  if (agent::AgentExists(config_root_, agent_id) || custom_agents_.count(agent_id)) return agent_id;
  spdlog::warn("agent {} is not configured; using the default agent", agent_id);
  return "default";
}

const agent::AgentSettings& Pipeline::SettingsFor(const std::string& agent_id) {
  auto it = settings_cache_.find(agent_id);
  if (it == settings_cache_.end())
    it = settings_cache_.emplace(agent_id, agent::AgentSettingsFromConfig(config_root_, agent_id, paths_.home)).first;
  return it->second;
}

agent::AgentSettings Pipeline::SettingsForSession(const std::string& agent_id, const sessions::SessionEntry& session) {
  agent::AgentSettings settings = SettingsFor(agent_id);
  const auto* meta = session.metadata.if_object();
  const json::value* model = meta ? meta->if_contains("model") : nullptr;
  if (model && model->is_string()) {  // chosen with /model for this session: first, then the fallbacks
    std::string ref(model->as_string());
    std::erase(settings.models, ref);
    settings.models.insert(settings.models.begin(), ref);
  }
  return settings;
}

// ---------------------------------------------------------------------------------------------
// Inbound

Result<json::value> Pipeline::Queue(const json::object& params) {
  std::string address = Str(params, "sessionKey");
  std::string text = Str(params, "text");
  json::value metadata = params.contains("metadata") ? params.at("metadata") : json::value(json::object());
  auto inbound = sessions::Inbound::FromQueueParams(address, text, metadata);
  if (!inbound.ok()) return inbound.error();
  sessions::Route route = router_.Resolve(*inbound);
  route.agent_id = AgentFor(route.agent_id);
  // A platform message id makes a repeated agent.queue (an app retrying after a dropped
  // connection) a no-op that answers with the run already queued.
  std::optional<std::string> idempotency;
  if (const auto* m = metadata.if_object(); m && m->contains("messageId")) {
    const json::value& id = m->at("messageId");
    // JSON-encoded so that no (address, id) pair can spell another's key.
    idempotency = "in:" + json::serialize(json::array{json::value(address), id});
    auto existing = runs_.FindByIdempotencyKey(*idempotency);
    if (!existing.ok()) return existing.error();
    if (*existing)
      return json::object{{"runId", std::to_string((*existing)->id)}, {"queued", true}, {"duplicate", true},
                          {"sessionKey", route.session_key}};
  }
  json::object reply_meta;
  if (const auto* m = metadata.if_object()) {
    for (std::string_view k : {"messageId", "chatType", "accountId", "groupId", "from"})
      if (auto it = m->find(k); it != m->end()) reply_meta[k] = it->value();
  }
  bool created = false;
  sessions::SessionEntry session;
  int64_t run_id = 0;
  Status st = db_->InTransaction([&]() -> Status {
    sessions::SessionSpec spec{route.session_key, route.agent_id, route.kind, inbound->channel,
                               inbound->account_id.empty() ? std::nullopt : std::optional(inbound->account_id), address};
    OC_ASSIGN(session, sessions_.GetOrCreate(spec, &created));
    sessions::NewMessage msg;
    msg.role = "user";
    msg.content = text;
    msg.address = address;
    if (!inbound->from.empty()) msg.sender = inbound->from;
    msg.metadata = metadata;
    OC_ASSIGN(sessions::StoredMessage stored, sessions_.Append(session.id, msg));
    sessions::NewRun run{session.id, route.agent_id, stored.id, "channel", address, reply_meta, idempotency};
    OC_ASSIGN(run_id, runs_.Create(run));
    return sessions_.AttachRun(stored.id, run_id);
  });
  if (!st.ok()) return st.error();
  json::object context{{"agentId", route.agent_id}, {"sessionKey", route.session_key}, {"channelId", inbound->channel}};
  if (!inbound->account_id.empty()) context["accountId"] = inbound->account_id;
  if (created)
    bus_.Emit("session_start", json::object{{"sessionKey", route.session_key}, {"agentId", route.agent_id},
                                            {"channelId", inbound->channel}}, context);
  json::object received{{"sessionKey", route.session_key}, {"content", text}, {"channelId", inbound->channel},
                        {"address", address}, {"metadata", metadata}};
  if (!inbound->from.empty()) received["from"] = inbound->from;
  bus_.Emit("message_received", std::move(received), context);
  queue_->Enqueue(run_id, session.id);
  return json::object{{"runId", std::to_string(run_id)}, {"queued", true}, {"sessionKey", route.session_key}};
}

Result<json::value> Pipeline::Dispatch(const json::object& params) {
  std::string key = Str(params, "sessionKey");
  std::string address = key;
  std::optional<sessions::SessionEntry> session;
  if (IsSessionKey(key)) {
    auto found = sessions_.Get(key);
    if (!found.ok()) return found.error();
    if (!*found) return MakeError(ErrorCode::kNotFound, "no session " + key);
    if (!(*found)->last_address) return MakeError(ErrorCode::kNotFound, "session " + key + " has no conversation address yet");
    session = **found;
    address = *session->last_address;
  } else if (auto found = FindSession(key); found.ok() && *found) {
    session = **found;
  }
  auto parts = sessions::ParseAddress(address);
  if (!parts.ok()) return BadParam("params.sessionKey", parts.error().message);
  json::value metadata = params.contains("metadata") ? params.at("metadata") : json::value(json::object());
  int64_t id = 0;
  Status st = db_->InTransaction([&]() -> Status {
    sessions::NewOutboxEntry e{parts->first, parts->second, Str(params, "content"), metadata,
                               session ? std::optional(session->id) : std::nullopt, std::nullopt, "dispatch"};
    OC_ASSIGN(id, outbox_.Enqueue(e));
    if (session) {
      sessions::NewMessage msg;
      msg.role = "assistant";
      msg.content = Str(params, "content");
      msg.metadata = json::object{{"dispatch", true}, {"address", address}};
      OC_ASSIGN(sessions::StoredMessage ignored, sessions_.Append(session->id, msg));
      (void)ignored;
    }
    return Status::Ok();
  });
  if (!st.ok()) return st.error();
  KickOutbox();
  return json::object{{"dispatchId", std::to_string(id)}, {"queued", true}};
}

// ---------------------------------------------------------------------------------------------
// Runs

namespace {
// {runId, sessionKey, idempotencyKey?} of every `agent` event; the key as the caller gave it.
json::object EventBase(const sessions::RunRecord& run, const std::string& session_key) {
  json::object base{{"runId", std::to_string(run.id)}, {"sessionKey", session_key}};
  if (run.idempotency_key && run.idempotency_key->rfind("ctl:", 0) == 0)
    base["idempotencyKey"] = run.idempotency_key->substr(4);
  return base;
}
json::object AgentEvent(json::object base, std::string_view stream, json::object data) {
  base["stream"] = stream;
  base["data"] = std::move(data);
  return base;
}
}  // namespace

asio::awaitable<void> Pipeline::ExecuteRunChecked(std::shared_ptr<bool> alive, int64_t run_id) {
  if (!*alive) co_return;
  // A run starts on a later turn of the loop, never inside the call that queued it: the queuing
  // side (the `agent` method's acknowledgement with the run id) answers before the run's first event.
  co_await asio::post(io_, asio::use_awaitable);
  if (!*alive) co_return;
  std::string failure;
  try {
    co_await ExecuteRun(run_id);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!*alive) co_return;
  if (!failure.empty()) spdlog::error("run {}: {}", run_id, failure);
  // Normally FinishRun answered them; a run that could not finish (a store error, shutdown) still
  // owes its callers an answer: its current state.
  AnswerWaiters(run_id);
}

void Pipeline::AnswerWaiters(int64_t run_id) {
  auto it = waiters_.find(run_id);
  if (it == waiters_.end()) return;
  json::value summary = RunSummary(run_id);
  auto waiting = std::move(it->second);
  waiters_.erase(it);
  for (auto& w : waiting) w->Set(summary);
}

asio::awaitable<std::optional<json::value>> Pipeline::AwaitRun(int64_t run_id, std::chrono::milliseconds timeout) {
  json::value summary = RunSummary(run_id);
  std::string status(summary.as_object().at("status").as_string());
  if (status == "ok" || status == "error") co_return summary;
  auto waiter = std::make_shared<Pending<json::value>>(io_.get_executor());
  waiters_[run_id].push_back(waiter);
  auto done = co_await waiter->Wait(timeout);
  if (!done) co_return std::nullopt;
  co_return std::optional<json::value>(std::move(*done));
}

// The history sent to the model for run `run_id`: the summary of compacted turns first (if any),
// then the last kHistoryLimit messages not compacted, without chat commands and their answers,
// without the inbound messages of runs queued behind this one (they arrived during an earlier run
// and get their own turn), this run's own message last, and never starting with a tool result whose
// call was cut off. Runs of a session execute in id order, so "behind" is "a larger run id".
Pipeline::ModelView Pipeline::ModelHistoryView(int64_t session_id, int64_t run_id) {
  ModelView view;
  auto history = sessions_.ModelWindow(session_id, kHistoryLimit);
  if (!history.ok()) return view;
  size_t first = 0;
  while (first < history->size() && (*history)[first].role == "tool") ++first;
  view.messages.reserve(history->size() - first + 1);
  auto add = [&view](agent::ChatMessage m, const sessions::StoredMessage& from) {
    view.messages.push_back(std::move(m));
    view.ids.push_back(from.id);
    view.seqs.push_back(from.seq);
  };
  // The summary stands for everything before it, however long ago it was written.
  if (auto summary = sessions_.LatestSummary(session_id); summary.ok() && *summary)
    add(agent::SummaryMessage((*summary)->content), **summary);
  std::optional<std::pair<agent::ChatMessage, sessions::StoredMessage>> own;
  for (size_t i = first; i < history->size(); ++i) {
    auto& m = (*history)[i];
    if (m.role == "system" || m.role == "command" || m.role == "summary") continue;
    bool inbound = m.role == "user" && m.run_id;
    if (inbound && *m.run_id > run_id) continue;
    if (m.role == "user" && ParseChatCommand(m.content)) continue;
    agent::ChatMessage c;
    c.role = m.role;
    c.content = std::move(m.content);
    for (auto& t : m.tool_calls) c.tool_calls.push_back({std::move(t.id), std::move(t.name), std::move(t.arguments)});
    c.tool_call_id = m.tool_call_id.value_or("");
    c.name = m.tool_name.value_or("");
    if (inbound && *m.run_id == run_id) own.emplace(std::move(c), m);
    else add(std::move(c), m);
  }
  if (own) add(std::move(own->first), own->second);
  return view;
}

std::vector<agent::ChatMessage> Pipeline::ModelHistory(int64_t session_id, int64_t run_id) {
  return ModelHistoryView(session_id, run_id).messages;
}

agent::RunObserver Pipeline::ObserverFor(const sessions::RunRecord& run, const std::string& session_key) {
  agent::RunObserver obs;
  json::object base = EventBase(run, session_key);
  auto emit = [this, base](std::string_view stream, json::object data) {
    json::object e = base;
    e["stream"] = stream;
    e["data"] = std::move(data);
    host_.BroadcastEvent("agent", std::move(e));
  };
  obs.on_text = [emit](std::string_view delta) { emit("assistant", json::object{{"delta", delta}}); };
  obs.on_attempt = [emit](const std::string& model) { emit("lifecycle", json::object{{"phase", "attempt"}, {"model", model}}); };
  obs.on_tool_call = [emit](const agent::ToolCall& c) {
    emit("tool", json::object{{"phase", "start"}, {"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
  };
  obs.on_tool_result = [emit](const agent::ToolCall& c, const agent::ToolOutcome& o) {
    emit("tool", json::object{{"phase", "result"}, {"id", c.id}, {"name", c.name}, {"output", o.output}, {"isError", o.is_error}});
  };
  return obs;
}

// (Locals that live across a co_await are declared at function scope: g++ 12 has mis-destroyed
// block-scoped ones.)
asio::awaitable<void> Pipeline::ExecuteRun(int64_t run_id) {
  auto alive = alive_;
  auto loaded = runs_.Get(run_id);
  if (!loaded.ok() || !*loaded) co_return;
  sessions::RunRecord run = **loaded;
  if (run.status != "queued" || stopped_) co_return;
  auto session_found = sessions_.GetById(run.session_id);
  if (!session_found.ok() || !*session_found) co_return;
  sessions::SessionEntry session = **session_found;
  int64_t started = NowMs();
  if (Status s = runs_.MarkRunning(run_id, started); !s.ok()) {
    spdlog::error("run {}: {}", run_id, s.error().message);
    co_return;
  }
  json::object context{{"agentId", run.agent_id}, {"sessionKey", session.key}};
  if (session.channel_id) context["channelId"] = *session.channel_id;
  host_.BroadcastEvent("agent", AgentEvent(EventBase(run, session.key), "lifecycle", json::object{{"phase", "start"}}));

  std::string inbound_text;
  json::value inbound_metadata = json::object();
  if (run.message_id) {
    if (auto m = sessions_.GetMessage(*run.message_id); m.ok() && *m) {
      inbound_text = (*m)->content;
      inbound_metadata = (*m)->metadata;
    }
  }
  agent::RunResult result;
  // Chat commands are the kernel's, in the session's turn (so /reset waits for the run before it).
  std::optional<ChatCommand> command;
  if (run.origin != "heartbeat") command = ParseChatCommand(inbound_text);
  if (command) {
    result.text = co_await RunChatCommand(std::move(*command), run, session);
    if (!*alive || stopped_) co_return;
    result.success = true;
    result.produced.push_back(agent::ChatMessage{"command", result.text, {}, {}, {}});
    FinishRun(run, session, result, started);
    co_return;
  }
  agent::AgentSettings settings = SettingsForSession(run.agent_id, session);
  bool custom_agent = custom_agents_.count(run.agent_id) > 0;
  if (!custom_agent && settings.compaction.enabled) {
    auto compacted = co_await Compact(session, settings, run_id, false);
    if (!*alive) co_return;
    if (!compacted.ok()) spdlog::warn("run {}: compaction failed, sending the history as it is: {}", run_id, compacted.error().message);
  }
  agent::RunInput input;
  input.run_id = std::to_string(run_id);
  input.session_key = session.key;
  input.history = ModelHistory(session.id, run_id);
  input.metadata = inbound_metadata;
  std::string text = input.history.empty() ? std::string() : input.history.back().content;
  json::object gate_data{{"sessionKey", session.key}, {"agentId", run.agent_id}, {"input", text},
                         {"metadata", input.metadata}};
  hooks::InterceptOutcome gate = co_await bus_.RunIntercept("before_agent_start", std::move(gate_data), context);
  if (!*alive) co_return;
  // A plugged-in agent is held for the whole run even if it is replaced meanwhile.
  std::shared_ptr<agent::Agent> custom;
  if (gate.blocked) {
    result.error = "blocked by " + gate.blocked_by + (gate.reason.empty() ? "" : ": " + gate.reason);
    result.blocked = true;
  } else {
    if (const auto* d = gate.data.if_object(); d && d->contains("input") && d->at("input").is_string() &&
                                               !input.history.empty())
      input.history.back().content = std::string(d->at("input").as_string());
    co_await RefreshPromptParts(settings);
    if (!*alive) co_return;
    settings.system_prompt = SystemPromptFor(settings, input.metadata, started);
    if (auto it = custom_agents_.find(run.agent_id); it != custom_agents_.end()) custom = it->second;
  }
  if (!gate.blocked) {
    agent::Agent& runner = custom ? *custom : *agent_;
    result = co_await runner.Run(settings, std::move(input), ObserverFor(run, session.key));
    if (!*alive) co_return;
  }
  // A run cut short by shutdown (its tools' apps are stopping) is not stored: it stays `running`
  // and the next kernel runs it again.
  if (stopped_) co_return;
  FinishRun(run, session, result, started);
}

void Pipeline::FinishRun(const sessions::RunRecord& run, const sessions::SessionEntry& session,
                         const agent::RunResult& result, int64_t started_ms) {
  int64_t now = NowMs();
  sessions::RunOutcome outcome;
  outcome.success = result.success;
  json::array attempts;
  for (const auto& a : result.attempts) attempts.push_back(a.ToJson());
  outcome.attempts = std::move(attempts);
  if (!result.model.empty()) outcome.model = result.model;
  if (!result.success) outcome.error = result.error;
  outcome.tokens_in = result.usage.input;
  outcome.tokens_out = result.usage.output;
  outcome.finished_at = now;
  bool queued_reply = false;
  // A heartbeat with nothing to report is neither delivered nor kept in the model's view.
  bool quiet_heartbeat = run.origin == "heartbeat" && result.success && agent::IsHeartbeatOk(result.text);
  std::vector<int64_t> stored_ids;
  if (run.message_id) stored_ids.push_back(*run.message_id);
  Status st = db_->InTransaction([&]() -> Status {
    for (size_t i = 0; i < result.produced.size(); ++i) {
      const auto& m = result.produced[i];
      sessions::NewMessage msg;
      msg.role = m.role;
      msg.content = m.content;
      msg.tool_calls = ToRecords(m.tool_calls);
      if (!m.tool_call_id.empty()) msg.tool_call_id = m.tool_call_id;
      if (!m.name.empty()) msg.tool_name = m.name;
      msg.run_id = run.id;
      if (i < result.usage_per_message.size() && m.role == "assistant") {
        msg.tokens_in = result.usage_per_message[i].input;
        msg.tokens_out = result.usage_per_message[i].output;
      }
      OC_ASSIGN(sessions::StoredMessage stored, sessions_.Append(session.id, msg));
      stored_ids.push_back(stored.id);
    }
    if (quiet_heartbeat) OC_TRY(sessions_.MarkCompacted(session.id, stored_ids).status());
    OC_TRY(runs_.Finish(run.id, outcome));
    // A failed run still answers the person who wrote (not stored in history: it is not the
    // model's); a run an interceptor blocked says nothing.
    // A failed heartbeat is logged, not pushed at the user every interval.
    std::string reply = quiet_heartbeat || (run.origin == "heartbeat" && !result.success) ? std::string()
                        : result.success ? result.text
                        : result.blocked ? std::string()
                                         : FailureNotice(result.error);
    if (run.reply_address && !reply.empty()) {
      OC_ASSIGN(auto parts, sessions::ParseAddress(*run.reply_address));
      json::object meta = run.reply_metadata.is_object() ? run.reply_metadata.as_object() : json::object();
      meta["sessionKey"] = session.key;
      meta["runId"] = std::to_string(run.id);
      if (!result.success) meta["error"] = true;
      sessions::NewOutboxEntry e{parts.first, parts.second, reply, std::move(meta), session.id, run.id, "reply"};
      OC_ASSIGN(int64_t ignored_id, outbox_.Enqueue(e));
      (void)ignored_id;
      queued_reply = true;
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    spdlog::error("run {}: storing the outcome failed ({}); it will run again on restart", run.id, st.error().message);
    return;
  }
  if (!result.success) spdlog::warn("run {} ({}) failed: {}", run.id, session.key, result.error);
  json::object end{{"sessionKey", session.key}, {"agentId", run.agent_id}, {"runId", std::to_string(run.id)},
                   {"success", result.success}, {"duration", now - started_ms},
                   {"tokenUsage", json::object{{"input", result.usage.input}, {"output", result.usage.output}}}};
  if (!result.success) end["error"] = result.error;
  bus_.Emit("agent_end", std::move(end), json::object{{"agentId", run.agent_id}, {"sessionKey", session.key}});
  host_.BroadcastEvent("agent", AgentEvent(EventBase(run, session.key), "lifecycle",
                                           json::object{{"phase", result.success ? "end" : "error"}}));
  AnswerWaiters(run.id);
  AfterRun(run, result);
  if (queued_reply) KickOutbox();
}

// {runId, sessionKey, status: queued|running|ok|error, text, model, usage, error?, attempts}
json::value Pipeline::RunSummary(int64_t run_id) {
  auto run = runs_.Get(run_id);
  if (!run.ok() || !*run) return json::object{{"runId", std::to_string(run_id)}, {"status", "unknown"}};
  const auto& r = **run;
  std::string key;
  if (auto s = sessions_.GetById(r.session_id); s.ok() && *s) key = (*s)->key;
  auto text = db_->QueryText(
      "SELECT content FROM messages WHERE session_id = ?1 AND run_id = ?2 AND role IN ('assistant', 'command') "
      "ORDER BY seq DESC LIMIT 1",
      {r.session_id, r.id});
  std::string status = r.status == "done" ? "ok" : r.status == "failed" ? "error" : r.status;
  json::object out{{"runId", std::to_string(r.id)}, {"sessionKey", key}, {"status", status},
                   {"text", text.ok() && *text ? **text : std::string()},
                   {"usage", json::object{{"input", r.tokens_in.value_or(0)}, {"output", r.tokens_out.value_or(0)}}},
                   {"attempts", r.attempts}};
  if (r.model) out["model"] = *r.model;
  if (r.error) out["error"] = *r.error;
  if (r.duration_ms) out["durationMs"] = *r.duration_ms;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Outbox

void Pipeline::KickOutbox(std::chrono::milliseconds delay) {
  if (stopped_) return;
  auto when = std::chrono::steady_clock::now() + delay;
  if (outbox_timer_armed_ && outbox_timer_.expiry() <= when) return;
  outbox_timer_armed_ = true;
  outbox_timer_.expires_at(when);
  auto alive = alive_;
  outbox_timer_.async_wait([this, alive](boost::system::error_code ec) {
    if (ec || !*alive) return;
    outbox_timer_armed_ = false;
    DrainOutbox();
  });
}

// Starts the oldest due delivery of every conversation that has none in flight (one at a time per
// conversation keeps replies in order), then sleeps until the next entry is due. A store that
// fails is retried every few seconds rather than in a loop.
void Pipeline::DrainOutbox() {
  if (stopped_) return;
  int64_t now = NowMs();
  if (now < store_retry_at_) {
    KickOutbox(std::chrono::milliseconds(store_retry_at_ - now));
    return;
  }
  auto due = outbox_.Due(now, 256);
  if (!due.ok()) {
    OutboxStoreFailed(due.error());
    return;
  }
  for (auto& e : *due) {
    if (delivering_.count(e.id)) continue;
    auto target = std::make_pair(e.channel_id, e.target);
    if (busy_targets_.count(target)) continue;
    delivering_.insert(e.id);
    busy_targets_.insert(target);
    auto alive = alive_;
    asio::co_spawn(io_, Deliver(alive, std::move(e)), asio::detached);
  }
  auto next = outbox_.NextDueAt();
  if (!next.ok()) {
    OutboxStoreFailed(next.error());
    return;
  }
  if (!*next) return;
  int64_t wait = **next - NowMs();
  if (wait <= 0 && !delivering_.empty()) return;  // a finishing delivery drains again
  KickOutbox(std::chrono::milliseconds(std::max<int64_t>(wait, 0)));
}

void Pipeline::OutboxStoreFailed(const Error& error) {
  spdlog::error("outbox: the database failed ({}); retrying in 5 s", error.message);
  store_retry_at_ = NowMs() + 5000;
  KickOutbox(std::chrono::seconds(5));
}

// `count`: an attempt that reached the app (or timed out there) counts towards giving up; waiting
// for a channel whose app is not connected does not — those replies wait as long as it takes.
void Pipeline::RetryLater(const sessions::OutboxEntry& e, const std::string& error, bool count) {
  if (count && e.attempts + 1 >= kMaxDeliveryAttempts) {
    spdlog::error("outbox {}: giving up after {} attempts: {}", e.id, e.attempts + 1, error);
    if (Status s = outbox_.MarkFailed(e.id, error); !s.ok()) OutboxStoreFailed(s.error());
    return;
  }
  int64_t delay = BackoffMs(count ? e.attempts : std::min<int64_t>(e.attempts + failed_waits_[e.id]++, 6));
  spdlog::info("outbox {}: delivery to {}:{} deferred {} ms: {}", e.id, e.channel_id, e.target, delay, error);
  Status s = count ? outbox_.Reschedule(e.id, NowMs() + delay, error) : outbox_.Defer(e.id, NowMs() + delay, error);
  if (!s.ok()) OutboxStoreFailed(s.error());
}

namespace {

// Hands the delivery to the owner app with the entry's own channel, target and deliveryId, whatever
// an interceptor made of them: interceptors may rewrite the content, never the destination.
class PinnedDelivery : public hooks::HookHandler {
 public:
  PinnedDelivery(std::shared_ptr<hooks::HookHandler> inner, json::object pinned)
      : inner_(std::move(inner)), pinned_(std::move(pinned)) {}
  const std::string& owner() const override { return inner_->owner(); }
  int trust_rank() const override { return inner_->trust_rank(); }
  void Deliver(const hooks::HookEvent& event) override {
    hooks::HookEvent fixed = event;
    if (!fixed.data.is_object()) fixed.data = json::object();
    json::object& d = fixed.data.as_object();
    json::object meta = d.contains("metadata") && d.at("metadata").is_object() ? d.at("metadata").as_object() : json::object();
    for (const auto& [k, v] : pinned_) {
      if (k == "deliveryId") meta[k] = v;
      else d[k] = v;
    }
    d["metadata"] = std::move(meta);
    inner_->Deliver(fixed);
  }

 private:
  std::shared_ptr<hooks::HookHandler> inner_;
  json::object pinned_;
};

}  // namespace

asio::awaitable<void> Pipeline::Deliver(std::shared_ptr<bool> alive, sessions::OutboxEntry e) {
  if (!*alive) co_return;
  auto target = std::make_pair(e.channel_id, e.target);
  json::object context{{"channelId", e.channel_id}};
  if (const auto* m = e.metadata.if_object(); m && m->contains("sessionKey")) context["sessionKey"] = m->at("sessionKey");
  std::shared_ptr<hooks::HookHandler> owner = host_.DeliveryHandlerFor(e.channel_id);
  hooks::HookBus::FinalOutcome done;
  std::string failure;
  if (owner) {
    json::object meta = e.metadata.is_object() ? e.metadata.as_object() : json::object();
    meta["deliveryId"] = std::to_string(e.id);
    json::object data{{"channelId", e.channel_id}, {"target", e.target}, {"content", e.content},
                      {"metadata", std::move(meta)}};
    json::object pinned{{"channelId", e.channel_id}, {"target", e.target}, {"deliveryId", std::to_string(e.id)}};
    auto final_step = std::make_shared<PinnedDelivery>(owner, std::move(pinned));
    try {
      done = co_await bus_.RunInterceptThen("message_sending", std::move(data), context, final_step, kDeliveryTimeout);
    } catch (const std::exception& ex) {
      failure = std::string("delivery failed: ") + ex.what();
    }
    if (!*alive) co_return;
  }
  if (!owner) RetryLater(e, "no connected app owns channel " + e.channel_id, false);
  else if (!failure.empty()) RetryLater(e, failure, true);
  else FinishDelivery(e, done, context);
  delivering_.erase(e.id);
  busy_targets_.erase(target);
  KickOutbox();
}

void Pipeline::FinishDelivery(const sessions::OutboxEntry& e, const hooks::HookBus::FinalOutcome& done,
                              const json::object& context) {
  failed_waits_.erase(e.id);
  if (done.outcome.blocked) {
    spdlog::info("outbox {}: blocked by {}: {}", e.id, done.outcome.blocked_by, done.outcome.reason);
    Status s = outbox_.MarkBlocked(e.id, "blocked by " + done.outcome.blocked_by +
                                             (done.outcome.reason.empty() ? "" : ": " + done.outcome.reason));
    if (!s.ok()) OutboxStoreFailed(s.error());
    return;
  }
  const json::object* ack = done.final_result ? done.final_result->if_object() : nullptr;
  const json::value* delivered = ack ? ack->if_contains("delivered") : nullptr;
  if (!delivered || !delivered->is_bool() || !delivered->as_bool()) {
    std::string why = !done.final_result ? "the channel app did not acknowledge in time"
                      : ack && ack->contains("error")
                          ? "the channel app reported: " + (ack->at("error").is_string() ? std::string(ack->at("error").as_string())
                                                                                          : json::serialize(ack->at("error")))
                          : "unexpected acknowledgement " + json::serialize(*done.final_result);
    RetryLater(e, why, true);
    return;
  }
  std::optional<std::string> platform_id;
  if (const auto* pm = ack->if_contains("messageId"); pm && pm->is_string()) platform_id = std::string(pm->as_string());
  int64_t at = NowMs();
  if (Status s = outbox_.MarkDelivered(e.id, at, platform_id); !s.ok()) {
    OutboxStoreFailed(s.error());
    return;
  }
  const json::object* final_data = done.outcome.data.if_object();
  json::value content = final_data && final_data->contains("content") ? final_data->at("content") : json::value(e.content);
  bus_.Emit("message_sent", json::object{{"channelId", e.channel_id}, {"target", e.target}, {"content", content},
                                         {"deliveredAt", at}},
            context);
}

// ---------------------------------------------------------------------------------------------
// Tools

std::vector<agent::ToolSpec> Pipeline::ToolsFor(const std::string& agent_id) {
  std::vector<agent::ToolSpec> tools = KernelToolSpecs();
  const auto& builtin = tools::BuiltinTools::Specs();
  tools.insert(tools.end(), builtin.begin(), builtin.end());
  if (MemoryToolsFor(agent_id)) tools.insert(tools.end(), MemoryToolSpecs().begin(), MemoryToolSpecs().end());
  std::set<std::string> names;
  for (const auto& t : tools) names.insert(t.name);
  for (auto& t : host_.AppTools())  // a package cannot shadow a built-in tool
    if (names.insert(t.name).second) tools.push_back(std::move(t));
  std::set<std::string> allow, deny;
  for (std::string_view list : {"allow", "deny"}) {
    for (std::string_view id : {std::string_view(agent_id), std::string_view("default")}) {
      const json::value* v = FindPath(config_root_, "agents." + std::string(id) + ".tools." + std::string(list));
      if (!v || !v->is_array()) continue;
      for (const auto& s : v->as_array())
        if (s.is_string()) (list == "allow" ? allow : deny).insert(std::string(s.as_string()));
      break;  // the agent's own list replaces the default agent's
    }
  }
  std::erase_if(tools, [&](const agent::ToolSpec& t) {
    return deny.count(t.name) || (!allow.empty() && !allow.count(t.name) && !allow.count("*"));
  });
  return tools;
}

asio::awaitable<agent::ToolOutcome> Pipeline::Invoke(std::string name, json::value input, agent::ToolContext context) {
  bool available = false;  // decided before awaiting: no temporaries across the co_await
  for (const auto& t : ToolsFor(context.agent_id)) available = available || t.name == name;
  if (!available) co_return agent::ToolOutcome{"error: no tool named " + name + " is available to this agent", true};
  bool kernel_tool = false;
  for (const auto& t : KernelToolSpecs()) kernel_tool = kernel_tool || t.name == name;
  if (kernel_tool) co_return co_await InvokeKernelTool(std::move(name), std::move(input), std::move(context));
  bool memory_tool = false;
  for (const auto& t : MemoryToolSpecs()) memory_tool = memory_tool || t.name == name;
  if (memory_tool) co_return co_await InvokeMemoryTool(std::move(name), std::move(input), std::move(context));
  if (tools::BuiltinTools::Has(name)) {
    tools::BuiltinCall call = BuiltinCallFor(context);
    // The skills under <home>/skills are listed in the prompt with their paths: `read` may open
    // them (confined to that directory as it is to the workspace), nothing else may.
    if (name == "read" && input.is_object()) {
      const json::value* path = input.as_object().if_contains("path");
      std::filesystem::path home_skills = paths_.home / "skills";
      if (path && path->is_string()) {
        std::filesystem::path wanted = std::filesystem::path(std::string(path->as_string())).lexically_normal();
        auto rel = wanted.lexically_relative(home_skills);
        if (wanted.is_absolute() && !rel.empty() && *rel.begin() != "..") call.workspace = home_skills;
      }
    }
    co_return co_await builtin_tools_->Invoke(std::move(name), std::move(input), std::move(call));
  }
  co_return co_await host_.InvokeAppTool(std::move(name), std::move(input), std::move(context));
}

}  // namespace oc::kernel
