#include "cron/cron_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "cron/cron_params.h"

namespace oc::cron {
namespace {

constexpr size_t kMaxMessageBytes = 100000;

// The job's fields from add/update params, applied onto `job`. `adding`: schedule and message
// are required. Returns the parsed schedule when the params carried one.
Result<std::optional<Schedule>> ApplyFields(const json::object& p, const TimeZone& default_tz, bool adding,
                                            CronJob& job) {
  OC_ASSIGN(auto name, OptionalString(p, "name", StringRule{200, true, false}));
  OC_ASSIGN(auto message, OptionalString(p, "message", StringRule{kMaxMessageBytes, false, false}));
  OC_ASSIGN(auto agent, OptionalString(p, "agentId", StringRule{128, true, true}));
  OC_ASSIGN(auto session, OptionalSession(p));
  OC_ASSIGN(auto deliver, OptionalDeliver(p));
  OC_ASSIGN(auto enabled, OptionalBool(p, "enabled"));
  std::optional<Schedule> schedule;
  if (const json::value* v = p.if_contains("schedule")) {
    OC_ASSIGN(schedule, ParseSchedule(*v, default_tz));
  } else if (adding) {
    return ParamError("schedule", "required ({cron, tz?}, {every} or {at})");
  }
  if (adding && !message) return ParamError("message", "required");
  if (message) job.message = std::move(*message);
  if (name) job.name = std::move(*name);
  if (agent) job.agent_id = std::move(*agent);
  if (session) job.session = std::move(*session);
  if (deliver) job.deliver = std::move(*deliver);
  if (enabled) job.enabled = *enabled;
  if (schedule) job.schedule = ScheduleToJson(*schedule);
  return schedule;
}

// A new or changed schedule must have a run ahead of it.
Status CheckRunsAhead(const Schedule& s, std::optional<int64_t> next) {
  if (next) return Status::Ok();
  if (s.kind == Schedule::Kind::kAt) return ParamError("schedule.at", FormatUtc(s.at_ms) + " is not in the future");
  return ParamError("schedule.cron", "the expression matches no time within 8 years");
}

Result<std::string> RequiredId(const json::object& p) {
  OC_ASSIGN(auto id, OptionalString(p, "id", StringRule{64, true, true}));
  if (!id) return ParamError("id", "required");
  return std::move(*id);
}

Error NoSuchJob(std::string_view id) {
  return MakeError(ErrorCode::kNotFound, "no cron job " + std::string(id), json::object{{"id", id}});
}

}  // namespace

CronService::CronService(asio::any_io_executor loop, store::Database& db, FireFn fire)
    : loop_(loop), store_(db), fire_(std::move(fire)), timer_(loop) {}

CronService::~CronService() {
  alive_->value = false;
  timer_.cancel();
}

void CronService::Configure(bool enabled, TimeZone default_tz) {
  const bool zone_changed = default_tz.name() != default_tz_.name();
  const bool turned_on = enabled && !enabled_;
  enabled_ = enabled;
  default_tz_ = std::move(default_tz);
  if (!started_) return;
  if (turned_on || zone_changed) Reschedule(turned_on, zone_changed);
  Arm();
}

void CronService::Start() {
  started_ = true;
  if (enabled_) {
    FireDue("catch-up");
    Reschedule(false, true);
  }
  Arm();
}

void CronService::Stop() {
  started_ = false;
  timer_.cancel();
}

std::optional<int64_t> CronService::NextRunOf(const CronJob& job, int64_t after_ms) const {
  auto schedule = ParseSchedule(job.schedule, default_tz_);
  if (!schedule.ok()) return std::nullopt;
  return NextRunMs(*schedule, after_ms, job.created_at);
}

Result<bool> CronService::Fire(const CronJob& job, std::string_view reason, std::optional<int64_t> next_run_at) {
  const int64_t now = NowMs();
  // Persisted before the run starts: at most once per due time (see the header).
  auto marked = store_.MarkFired(job.id, now, next_run_at);
  if (!marked.ok()) {
    spdlog::error("cron job {}: not fired, the database failed: {}", job.id, marked.error().message);
    return marked.error();
  }
  if (!*marked) return false;  // removed meanwhile
  CronJob fired = job;
  fired.last_run_at = now;
  fired.run_count += 1;
  fired.next_run_at = next_run_at;
  fired.last_status = "running";
  fired.last_error.clear();
  fired.updated_at = now;
  spdlog::debug("cron job {} ({}) fires ({})", job.id, job.name, reason);
  fire_(fired, reason);
  return true;
}

void CronService::FireDue(std::string_view reason) {
  const int64_t now = NowMs();
  auto due = store_.Due(now);
  if (!due.ok()) {
    spdlog::error("cron: reading due jobs failed: {}", due.error().message);
    return;
  }
  for (const CronJob& job : *due) {
    auto schedule = ParseSchedule(job.schedule, default_tz_);
    if (!schedule.ok()) {
      // Unreadable (damaged row, a time zone gone from the system): park it with the reason.
      CronJob parked = job;
      parked.next_run_at.reset();
      parked.last_status = "error";
      parked.last_error = "unreadable schedule: " + schedule.error().message;
      parked.updated_at = now;
      spdlog::error("cron job {}: {}", job.id, parked.last_error);
      if (auto saved = store_.Save(parked); !saved.ok()) spdlog::error("cron job {}: {}", job.id, saved.error().message);
      continue;
    }
    // Runs missed in between are not repeated: the schedule continues from now.
    (void)Fire(job, reason, NextRunMs(*schedule, now, job.created_at));  // errors are logged
  }
}

void CronService::Reschedule(bool overdue, bool default_zone) {
  const int64_t now = NowMs();
  auto jobs = store_.List();
  if (!jobs.ok()) {
    spdlog::error("cron: listing jobs failed: {}", jobs.error().message);
    return;
  }
  for (CronJob& job : *jobs) {
    if (!job.enabled) continue;
    const json::object* s = job.schedule.if_object();
    const bool follows_default_zone = s && s->contains("cron") && !s->contains("tz");
    const bool wanted = !job.next_run_at || (overdue && *job.next_run_at <= now) ||
                        (default_zone && follows_default_zone);
    if (!wanted) continue;
    std::optional<int64_t> next = NextRunOf(job, now);
    if (next == job.next_run_at) continue;
    job.next_run_at = next;
    job.updated_at = now;
    if (auto saved = store_.Save(job); !saved.ok()) spdlog::error("cron job {}: {}", job.id, saved.error().message);
  }
}

void CronService::Arm() {
  if (!started_ || !enabled_) {
    timer_.cancel();
    return;
  }
  auto earliest = store_.EarliestNextRun();
  std::chrono::milliseconds wait = kMaxSleep;
  if (!earliest.ok()) {
    spdlog::error("cron: reading the next run failed: {} (retrying)", earliest.error().message);
  } else if (!*earliest) {
    timer_.cancel();  // nothing scheduled; every change re-arms
    return;
  } else {
    wait = std::chrono::milliseconds(std::clamp<int64_t>(**earliest - NowMs(), 0, kMaxSleep.count() * 1000));
  }
  timer_.expires_after(wait);
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !alive->value) return;
    OnTimer();
  });
}

void CronService::OnTimer() {
  if (!started_ || !enabled_) return;
  FireDue("schedule");
  Arm();
}

Result<json::value> CronService::JobAnswer(std::string_view id) {
  OC_ASSIGN(auto job, store_.Get(id));
  if (!job) return NoSuchJob(id);
  return json::value(json::object{{"job", job->ToJson()}});
}

Result<json::value> CronService::List(const json::value& params) {
  OC_ASSIGN(const json::object* p, ParamObject(params, {"agentId"}));
  OC_ASSIGN(auto agent, OptionalString(*p, "agentId", StringRule{128, true, true}));
  OC_ASSIGN(auto jobs, store_.List());
  json::array listed;
  for (const CronJob& job : jobs)
    if (!agent || job.agent_id == *agent) listed.push_back(job.ToJson());
  return json::value(json::object{{"enabled", enabled_}, {"defaultTimeZone", default_tz_.name()},
                                  {"jobs", std::move(listed)}});
}

Result<json::value> CronService::Add(const json::value& params) {
  OC_ASSIGN(const json::object* p,
            ParamObject(params, {"id", "name", "schedule", "message", "agentId", "session", "deliver", "enabled"}));
  const int64_t now = NowMs();
  CronJob job;
  job.agent_id = "default";
  job.session = "isolated";
  OC_ASSIGN(auto id, OptionalString(*p, "id", StringRule{64, true, true}));
  if (id) OC_TRY(CheckJobId("id", *id));
  OC_ASSIGN(std::optional<Schedule> schedule, ApplyFields(*p, default_tz_, true, job));
  const std::optional<int64_t> next = NextRunMs(*schedule, now, now);
  OC_TRY(CheckRunsAhead(*schedule, next));
  job.id = id ? *id : NewJobId();
  if (job.name.empty()) job.name = DefaultJobName(job.message);
  if (job.name.empty()) job.name = job.id;
  job.next_run_at = job.enabled ? next : std::nullopt;
  job.created_at = job.updated_at = now;
  Status inserted = store_.Insert(job);
  if (!inserted.ok() && !id && inserted.error().code == ErrorCode::kConflict) {
    job.id = NewJobId();  // a generated id collided: astronomically rare, one more try
    inserted = store_.Insert(job);
  }
  OC_TRY(inserted);
  spdlog::info("cron job {} ({}) added, next run {}", job.id, job.name,
               job.next_run_at ? FormatUtc(*job.next_run_at) : std::string("none"));
  Arm();
  return json::value(json::object{{"job", job.ToJson()}});
}

Result<json::value> CronService::Update(const json::value& params) {
  OC_ASSIGN(const json::object* p,
            ParamObject(params, {"id", "name", "schedule", "message", "agentId", "session", "deliver", "enabled"}));
  OC_ASSIGN(std::string id, RequiredId(*p));
  OC_ASSIGN(auto found, store_.Get(id));
  if (!found) return NoSuchJob(id);
  CronJob job = std::move(*found);
  const bool was_enabled = job.enabled;
  const int64_t now = NowMs();
  OC_ASSIGN(std::optional<Schedule> schedule, ApplyFields(*p, default_tz_, false, job));
  if (schedule) OC_TRY(CheckRunsAhead(*schedule, NextRunMs(*schedule, now, job.created_at)));
  if (!job.enabled) {
    job.next_run_at.reset();
  } else if (schedule || !was_enabled) {
    job.next_run_at = NextRunOf(job, now);
  }
  job.updated_at = now;
  OC_ASSIGN(bool saved, store_.Save(job));
  if (!saved) return NoSuchJob(id);
  Arm();
  return json::value(json::object{{"job", job.ToJson()}});
}

Result<json::value> CronService::Remove(const json::value& params) {
  OC_ASSIGN(const json::object* p, ParamObject(params, {"id"}));
  OC_ASSIGN(std::string id, RequiredId(*p));
  OC_ASSIGN(bool removed, store_.Remove(id));
  if (!removed) return NoSuchJob(id);
  spdlog::info("cron job {} removed", id);
  Arm();
  return json::value(json::object{{"ok", true}, {"id", id}});
}

Result<json::value> CronService::RunNow(const json::value& params) {
  OC_ASSIGN(const json::object* p, ParamObject(params, {"id"}));
  OC_ASSIGN(std::string id, RequiredId(*p));
  OC_ASSIGN(auto job, store_.Get(id));
  if (!job) return NoSuchJob(id);
  OC_ASSIGN(bool fired, Fire(*job, "manual", job->next_run_at));  // the schedule stays where it was
  if (!fired) return NoSuchJob(id);
  OC_ASSIGN(json::value answer, JobAnswer(id));
  answer.as_object()["ok"] = true;
  return answer;
}

void CronService::RecordResult(const std::string& job_id, bool ok, std::string_view error) {
  auto recorded = store_.RecordResult(job_id, ok, error, NowMs());
  if (!recorded.ok()) {
    spdlog::error("cron job {}: recording its result failed: {}", job_id, recorded.error().message);
  } else if (!*recorded) {
    spdlog::debug("cron job {}: result for a removed job ignored", job_id);
  }
}

}  // namespace oc::cron
