#include "cron/cron_store.h"

#include <utility>

namespace oc::cron {
namespace {

using store::OptParam;
using store::Row;

constexpr std::string_view kSelectJobs =
    "SELECT id, name, schedule, agent_id, session, message, deliver, enabled, next_run_at, last_run_at, "
    "last_status, last_error, run_count, created_at, updated_at FROM cron_jobs ";

// A damaged JSON column reads as null rather than failing the whole listing.
json::value ParseColumn(const std::string& text) {
  auto parsed = ParseJson(text);
  return parsed.ok() ? std::move(parsed).value() : json::value(nullptr);
}

CronJob ReadJob(const Row& row) {
  CronJob job;
  job.id = row.Text(0);
  job.name = row.Text(1);
  job.schedule = ParseColumn(row.Text(2));
  job.agent_id = row.Text(3);
  job.session = row.Text(4);
  job.message = row.Text(5);
  if (auto deliver = row.OptText(6)) {
    json::value d = ParseColumn(*deliver);
    if (const json::object* o = d.if_object()) {
      auto channel = GetString(*o, "channel");
      auto to = GetString(*o, "to");
      if (channel && to) job.deliver = std::make_pair(std::string(*channel), std::string(*to));
    }
  }
  job.enabled = row.Int(7) != 0;
  job.next_run_at = row.OptInt(8);
  job.last_run_at = row.OptInt(9);
  job.last_status = row.Text(10);
  job.last_error = row.Text(11);
  job.run_count = row.Int(12);
  job.created_at = row.Int(13);
  job.updated_at = row.Int(14);
  return job;
}

std::optional<std::string> DeliverColumn(const CronJob& job) {
  if (!job.deliver) return std::nullopt;
  return json::serialize(json::object{{"channel", job.deliver->first}, {"to", job.deliver->second}});
}

std::optional<std::string> NonEmpty(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

Result<std::vector<CronJob>> QueryJobs(store::Database& db, std::string_view sql,
                                       std::initializer_list<store::Param> params) {
  std::vector<CronJob> jobs;
  auto rows = db.Query(sql, params, [&](const Row& row) { jobs.push_back(ReadJob(row)); });
  if (!rows.ok()) return rows.error();
  return jobs;
}

}  // namespace

json::value CronJob::ToJson() const {
  json::object o;
  o["id"] = id;
  o["name"] = name;
  o["schedule"] = schedule;
  o["agentId"] = agent_id;
  o["session"] = session;
  o["message"] = message;
  if (deliver) o["deliver"] = json::object{{"channel", deliver->first}, {"to", deliver->second}};
  o["enabled"] = enabled;
  if (next_run_at) o["nextRunAt"] = *next_run_at;
  if (last_run_at) o["lastRunAt"] = *last_run_at;
  if (!last_status.empty()) o["lastStatus"] = last_status;
  if (!last_error.empty()) o["lastError"] = last_error;
  o["runCount"] = run_count;
  o["createdAt"] = created_at;
  o["updatedAt"] = updated_at;
  return o;
}

Status CronStore::Insert(const CronJob& job) {
  const std::string schedule = json::serialize(job.schedule);
  const std::optional<std::string> deliver = DeliverColumn(job);
  const std::optional<std::string> last_status = NonEmpty(job.last_status), last_error = NonEmpty(job.last_error);
  Status st = db_.Run(
      "INSERT INTO cron_jobs (id, name, schedule, agent_id, session, message, deliver, enabled, next_run_at, "
      "last_run_at, last_status, last_error, run_count, created_at, updated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
      {job.id, job.name, schedule, job.agent_id, job.session, job.message, OptParam(deliver),
       int64_t{job.enabled ? 1 : 0}, OptParam(job.next_run_at), OptParam(job.last_run_at), OptParam(last_status),
       OptParam(last_error), job.run_count, job.created_at, job.updated_at});
  if (!st.ok() && st.error().code == ErrorCode::kConflict)
    return MakeError(ErrorCode::kConflict, "cron job " + job.id + " exists");
  return st;
}

Result<std::optional<CronJob>> CronStore::Get(std::string_view id) {
  static const std::string sql = std::string(kSelectJobs) + "WHERE id = ?1";
  auto jobs = QueryJobs(db_, sql, {id});
  if (!jobs.ok()) return jobs.error();
  if (jobs->empty()) return std::optional<CronJob>();
  return std::optional<CronJob>(std::move(jobs->front()));
}

Result<std::vector<CronJob>> CronStore::List() {
  static const std::string sql = std::string(kSelectJobs) + "ORDER BY created_at, id";
  return QueryJobs(db_, sql, {});
}

Result<std::vector<CronJob>> CronStore::Due(int64_t now_ms) {
  static const std::string sql = std::string(kSelectJobs) +
                                 "WHERE enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= ?1 "
                                 "ORDER BY next_run_at, id";
  return QueryJobs(db_, sql, {now_ms});
}

Result<std::optional<int64_t>> CronStore::EarliestNextRun() {
  return db_.QueryInt("SELECT MIN(next_run_at) FROM cron_jobs WHERE enabled = 1 AND next_run_at IS NOT NULL");
}

Result<bool> CronStore::Save(const CronJob& job) {
  const std::string schedule = json::serialize(job.schedule);
  const std::optional<std::string> deliver = DeliverColumn(job);
  const std::optional<std::string> last_status = NonEmpty(job.last_status), last_error = NonEmpty(job.last_error);
  auto changed = db_.Update(
      "UPDATE cron_jobs SET name = ?2, schedule = ?3, agent_id = ?4, session = ?5, message = ?6, deliver = ?7, "
      "enabled = ?8, next_run_at = ?9, last_run_at = ?10, last_status = ?11, last_error = ?12, run_count = ?13, "
      "updated_at = ?14 WHERE id = ?1",
      {job.id, job.name, schedule, job.agent_id, job.session, job.message, OptParam(deliver),
       int64_t{job.enabled ? 1 : 0}, OptParam(job.next_run_at), OptParam(job.last_run_at), OptParam(last_status),
       OptParam(last_error), job.run_count, job.updated_at});
  if (!changed.ok()) return changed.error();
  return *changed > 0;
}

Result<bool> CronStore::MarkFired(std::string_view id, int64_t fired_at, std::optional<int64_t> next_run_at) {
  auto changed = db_.Update(
      "UPDATE cron_jobs SET last_run_at = ?2, run_count = run_count + 1, last_status = 'running', "
      "last_error = NULL, next_run_at = ?3, updated_at = ?2 WHERE id = ?1",
      {id, fired_at, OptParam(next_run_at)});
  if (!changed.ok()) return changed.error();
  return *changed > 0;
}

Result<bool> CronStore::RecordResult(std::string_view id, bool ok, std::string_view error, int64_t now_ms) {
  const std::string_view status = ok ? "ok" : "error";
  store::Param error_param = nullptr;
  if (!ok && !error.empty()) error_param = error;
  auto changed = db_.Update("UPDATE cron_jobs SET last_status = ?2, last_error = ?3, updated_at = ?4 WHERE id = ?1",
                            {id, status, error_param, now_ms});
  if (!changed.ok()) return changed.error();
  return *changed > 0;
}

Result<bool> CronStore::Remove(std::string_view id) {
  auto changed = db_.Update("DELETE FROM cron_jobs WHERE id = ?1", {id});
  if (!changed.ok()) return changed.error();
  return *changed > 0;
}

}  // namespace oc::cron
