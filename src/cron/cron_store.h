// Scheduled jobs in state.db (SPEC §13), table cron_jobs (migration v2). Records only: deciding
// when a job runs is cron_service.h's job. Times are ms since the epoch.
// Errors: kConflict (duplicate id), kInternalError (SQLite); a job that is gone is nullopt / false,
// not an error. Threading: the kernel loop (store::Database's rule).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "store/database.h"

namespace oc::cron {

struct CronJob {
  std::string id;    // "job-<16 hex>" unless the caller chose one
  std::string name;
  json::value schedule;  // the stored form (schedule.h ScheduleToJson)
  std::string agent_id;
  std::string session;  // "isolated" | "main" | a session key
  std::string message;
  std::optional<std::pair<std::string, std::string>> deliver;  // {channel, to}
  bool enabled = true;
  std::optional<int64_t> next_run_at;  // nullopt: nothing to run (disabled, or a finished one-shot)
  std::optional<int64_t> last_run_at;  // when it last fired
  std::string last_status;             // "" (never ran) | running | ok | error
  std::string last_error;
  int64_t run_count = 0;  // times it fired
  int64_t created_at = 0;
  int64_t updated_at = 0;

  // {id, name, schedule, agentId, session, message, deliver? {channel, to}, enabled, nextRunAt?,
  //  lastRunAt?, lastStatus?, lastError?, runCount, createdAt, updatedAt}
  json::value ToJson() const;
};

class CronStore {
 public:
  explicit CronStore(store::Database& db) : db_(db) {}

  // Inserts the job as given (all fields). kConflict "cron job <id> exists" on a duplicate id.
  Status Insert(const CronJob& job);
  Result<std::optional<CronJob>> Get(std::string_view id);
  // Every job, oldest first (created_at, then id).
  Result<std::vector<CronJob>> List();
  // Enabled jobs whose next_run_at <= now_ms, earliest first.
  Result<std::vector<CronJob>> Due(int64_t now_ms);
  // The earliest next_run_at of an enabled job; nullopt when nothing is scheduled.
  Result<std::optional<int64_t>> EarliestNextRun();
  // Writes every field but id and created_at (updated_at as given). false when the job is gone.
  Result<bool> Save(const CronJob& job);
  // One firing, before the run starts: last_run_at = fired_at, run_count + 1, last_status
  // "running", last_error cleared, next_run_at = next. false when the job is gone.
  Result<bool> MarkFired(std::string_view id, int64_t fired_at, std::optional<int64_t> next_run_at);
  // The run's outcome: last_status ok|error, last_error. false when the job is gone.
  Result<bool> RecordResult(std::string_view id, bool ok, std::string_view error, int64_t now_ms);
  // false when there was no such job.
  Result<bool> Remove(std::string_view id);

 private:
  store::Database& db_;
};

}  // namespace oc::cron
