// Runs nobody typed (SPEC §13): scheduled jobs, heartbeat turns from HEARTBEAT.md, and messages one
// session sends another. Each becomes a user message and a run of its session, exactly like a
// channel message, so it is durable and serialised with the session's other runs.
#include <spdlog/spdlog.h>

#include "agent/heartbeat.h"
#include "kernel/pipeline.h"
#include "kernel/pipeline_params.h"

namespace oc::kernel {
using internal::IsSessionKey;
namespace {

constexpr std::string_view kCronIdempotencyPrefix = "cron:";

std::string StrAt(const json::value& root, std::string_view path) {
  const json::value* v = FindPath(root, path);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

Result<int64_t> Pipeline::QueueSynthetic(const SyntheticRun& spec) {
  if (spec.idempotency) {
    auto existing = runs_.FindByIdempotencyKey(*spec.idempotency);
    if (!existing.ok()) return existing.error();
    if (*existing) return (*existing)->id;
  }
  bool created = false;
  std::optional<sessions::SessionEntry> ended;
  int64_t run_id = 0, session_id = 0;
  Status st = db_->InTransaction([&]() -> Status {
    if (spec.fresh_session) {
      OC_ASSIGN(auto current, sessions_.Get(spec.session_key));
      if (current) {
        OC_ASSIGN(ended, sessions_.End(spec.session_key, "new " + spec.origin + " run"));
      }
    }
    sessions::SessionSpec s{spec.session_key, spec.agent_id, spec.kind, spec.channel_id, {}, {}};
    OC_ASSIGN(sessions::SessionEntry session, sessions_.GetOrCreate(s, &created));
    session_id = session.id;
    sessions::NewMessage msg;
    msg.role = "user";
    msg.content = spec.message;
    msg.metadata = spec.metadata;
    OC_ASSIGN(sessions::StoredMessage stored, sessions_.Append(session.id, msg));
    sessions::NewRun run{session.id, spec.agent_id, stored.id, spec.origin, spec.reply_address, nullptr, spec.idempotency};
    OC_ASSIGN(run_id, runs_.Create(run));
    return sessions_.AttachRun(stored.id, run_id);
  });
  if (!st.ok()) return st.error();
  json::object context{{"agentId", spec.agent_id}, {"sessionKey", spec.session_key}};
  if (ended) EndSession(*ended, ended->end_reason.value_or(spec.origin));
  if (created)
    bus_.Emit("session_start", json::object{{"sessionKey", spec.session_key}, {"agentId", spec.agent_id}}, context);
  queue_->Enqueue(run_id, session_id);
  return run_id;
}

// A due job becomes a run: "isolated" → a fresh session per run (the previous one ends, its history
// stays), "main" → the agent's main session, anything else → that session key.
void Pipeline::FireCronJob(const cron::CronJob& job, std::string_view reason) {
  if (stopped_) return;
  SyntheticRun spec;
  spec.agent_id = AgentFor(job.agent_id);
  spec.origin = "cron";
  spec.message = job.message;
  spec.metadata = json::object{{"cron", json::object{{"jobId", job.id}, {"name", job.name}, {"reason", reason}}}};
  if (job.session == "isolated" || job.session.empty()) {
    spec.session_key = "agent:" + spec.agent_id + ":cron:" + job.id;
    spec.kind = "cron";
    spec.fresh_session = true;
  } else if (job.session == "main") {
    spec.session_key = sessions::MainSessionKey(spec.agent_id);
  } else if (IsSessionKey(job.session)) {
    spec.session_key = job.session;
  } else {
    // A conversation address ("telegram:123") is routed like a message from there would be.
    auto inbound = sessions::Inbound::FromQueueParams(job.session, job.message, json::object());
    if (!inbound.ok()) {
      cron_->RecordResult(job.id, false, "session " + job.session + ": " + inbound.error().message);
      return;
    }
    sessions::Route route = router_.Resolve(*inbound);
    spec.session_key = route.session_key;
    spec.agent_id = AgentFor(route.agent_id);
    spec.kind = route.kind;
    spec.channel_id = inbound->channel;
  }
  if (job.deliver) spec.reply_address = job.deliver->first + ":" + job.deliver->second;
  // Unique per firing (a manual run and the schedule may fire in the same millisecond).
  spec.idempotency = std::string(kCronIdempotencyPrefix) + job.id + ":" + std::to_string(NowMs()) + "." +
                     std::to_string(++cron_fired_);
  auto run = QueueSynthetic(spec);
  if (!run.ok()) {
    spdlog::error("cron job {} ({}): could not queue its run: {}", job.id, job.name, run.error().message);
    cron_->RecordResult(job.id, false, run.error().message);
    return;
  }
  spdlog::info("cron job {} ({}) fired ({}): run {}", job.id, job.name, reason, *run);
}

void Pipeline::AfterRun(const sessions::RunRecord& run, const agent::RunResult& result) {
  if (run.origin != "cron" || !run.idempotency_key || run.idempotency_key->rfind(kCronIdempotencyPrefix, 0) != 0)
    return;
  std::string rest = run.idempotency_key->substr(kCronIdempotencyPrefix.size());
  std::string job_id = rest.substr(0, rest.rfind(':'));
  cron_->RecordResult(job_id, result.success, result.success ? std::string_view() : std::string_view(result.error));
}

void Pipeline::ConfigureCronAndHeartbeats() {
  const json::value* enabled = FindPath(config_root_, "cron.enabled");
  cron::TimeZone tz = cron::TimeZone::Utc();
  if (std::string name = StrAt(config_root_, "cron.defaultTimeZone"); !name.empty()) {
    auto loaded = cron::TimeZone::Load(name);
    if (loaded.ok()) tz = *loaded;
    else spdlog::error("cron.defaultTimeZone: {} (using UTC)", loaded.error().message);
  }
  cron_->Configure(!(enabled && enabled->is_bool() && !enabled->as_bool()), tz);

  std::set<std::string> wanted;
  if (const json::value* agents = FindPath(config_root_, "agents"); agents && agents->is_object()) {
    for (const auto& [id, v] : agents->as_object()) {
      if (!v.is_object()) continue;
      // Only the agent's own heartbeat: agents.default's is not inherited by the others.
      std::string every = StrAt(v, "heartbeat.every");
      if (every.empty()) continue;
      auto interval = cron::ParseEvery(every);
      if (!interval.ok()) {
        spdlog::error("agents.{}.heartbeat.every: {}", std::string(id), interval.error().message);
        continue;
      }
      wanted.insert(std::string(id));
      auto& beat = heartbeats_[std::string(id)];
      // A reload that keeps the interval keeps the timer: frequent reloads must not postpone it.
      if (beat.timer && beat.every == *interval) continue;
      beat.timer = std::make_unique<asio::steady_timer>(io_);
      beat.every = *interval;
      ArmHeartbeat(std::string(id), *interval);
    }
  }
  std::erase_if(heartbeats_, [&](const auto& entry) { return !wanted.count(entry.first); });
}

void Pipeline::ArmHeartbeat(const std::string& agent_id, std::chrono::milliseconds every) {
  auto it = heartbeats_.find(agent_id);
  if (it == heartbeats_.end() || stopped_) return;
  it->second.timer->expires_after(every);
  it->second.timer->async_wait([this, alive = alive_, agent_id, every](boost::system::error_code ec) {
    if (ec || !*alive || stopped_) return;
    RunHeartbeat(agent_id);
    ArmHeartbeat(agent_id, every);
  });
}

void Pipeline::RunHeartbeat(const std::string& agent_id) {
  const agent::AgentSettings& settings = SettingsFor(agent_id);
  std::optional<std::string> prompt = agent::HeartbeatPrompt(settings.workspace);
  if (!prompt) {
    spdlog::debug("agent {}: heartbeat skipped (HEARTBEAT.md missing or empty)", agent_id);
    return;
  }
  const json::value* own_config = FindPath(config_root_, "agents." + agent_id);
  if (!own_config) return;  // removed by a reload meanwhile
  const json::value& own = *own_config;
  SyntheticRun spec;
  spec.agent_id = agent_id;
  spec.origin = "heartbeat";
  spec.message = *prompt;
  spec.metadata = json::object{{"heartbeat", true}};
  std::string session = StrAt(own, "heartbeat.session");
  spec.session_key = session.empty() || session == "main" ? sessions::MainSessionKey(agent_id) : session;
  std::string channel = StrAt(own, "heartbeat.deliver.channel"), to = StrAt(own, "heartbeat.deliver.to");
  if (!channel.empty() && !to.empty()) {
    spec.reply_address = channel + ":" + to;
  } else if (auto s = sessions_.Get(spec.session_key); s.ok() && *s && (*s)->last_address) {
    spec.reply_address = *(*s)->last_address;  // where the user last talked in that session
  }
  if (auto run = QueueSynthetic(spec); !run.ok())
    spdlog::error("agent {}: heartbeat run not queued: {}", agent_id, run.error().message);
}

}  // namespace oc::kernel
