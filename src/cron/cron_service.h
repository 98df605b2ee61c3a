// The scheduler (SPEC §13): fires persisted jobs on the kernel loop and serves the cron.*
// control-plane methods (docs/CONTROL-PLANE.md, "Cron").
//
// Contract in brief:
// - At most once per due time: a job's next_run_at is advanced in the database BEFORE FireFn is
//   called, so a kernel that crashes during the run does not fire it again on restart (the run
//   itself is the pipeline's durable record). The price: a crash between that write and the
//   pipeline queueing the run loses that one run.
// - Catch-up: Start() fires each enabled job whose next_run_at passed while the kernel was down
//   ONCE (reason "catch-up") however many runs were missed; its next run is then computed from now.
//   Runs missed while the timer was late (a suspended machine, a wall clock jump) are likewise
//   fired once ("schedule") and the schedule continues from now.
// - One-shots (`at`): next_run_at becomes NULL when they fire; they stay listed (with lastRunAt
//   and lastStatus) until removed, so their outcome can be seen.
// - Disabled jobs never fire on schedule, and have no next run; re-enabling computes the next run
//   from now (no catch-up). Configure(false, …) stops all firing; jobs overdue when it is turned
//   back on are rescheduled from now, not fired. cron.run fires a job even when it, or cron, is
//   disabled (an explicit request); it does not move the job's schedule.
// - Time: one steady timer armed for the earliest next_run_at, at most kMaxSleep ahead; when it
//   fires, due jobs are read against the wall clock (NowMs()), so wall-clock jumps are noticed
//   within kMaxSleep. The timer re-arms after every change.
// - Schedules without tz use the default zone of Configure(); when it changes, the next runs of
//   those jobs are recomputed.
// - FireFn is called synchronously on the loop, after the database write; it may call
//   RecordResult (also synchronously). Database errors are logged and answered as errors; they
//   never throw.
// - Threading: everything on `loop`'s thread. Stop() (or destruction) cancels the timer; a handler
//   already queued does nothing afterwards.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"
#include "cron/cron_store.h"
#include "cron/schedule.h"
#include "cron/time_zone.h"
#include "store/database.h"

namespace oc::cron {

namespace asio = boost::asio;

class CronService {
 public:
  // The kernel turns the job into an agent run (isolated session / main / key, optional delivery)
  // and later reports the outcome with RecordResult. `reason`: "schedule" | "catch-up" | "manual".
  using FireFn = std::function<void(const CronJob& job, std::string_view reason)>;

  // The longest the timer sleeps before re-reading the wall clock.
  static constexpr std::chrono::seconds kMaxSleep{30};

  CronService(asio::any_io_executor loop, store::Database& db, FireFn fire);
  ~CronService();
  CronService(const CronService&) = delete;
  CronService& operator=(const CronService&) = delete;

  // Whether jobs fire, and the zone of schedules without tz (cron.enabled, cron.defaultTimeZone).
  // May be called before Start() and at any time after (config reload).
  void Configure(bool enabled, TimeZone default_tz);
  // Catches up (see above), then arms the timer. Call once.
  void Start();
  // Cancels the timer; nothing fires afterwards (until Start() again).
  void Stop();

  // cron.list {agentId?} → {enabled, defaultTimeZone, jobs: [CronJob]}
  Result<json::value> List(const json::value& params);
  // cron.add {schedule, message, name?, agentId?="default", session?="isolated", deliver?
  // {channel, to}, enabled?=true, id?} → {job}. kInvalidParams (data.path names the field) on any
  // bad field, also an `at` that is not in the future; kConflict for a taken id.
  Result<json::value> Add(const json::value& params);
  // cron.update {id, name?, schedule?, message?, agentId?, session?, deliver? (null removes it),
  // enabled?} → {job}. A new schedule or re-enabling recomputes the next run from now. kNotFound.
  Result<json::value> Update(const json::value& params);
  // cron.remove {id} → {ok, id}. kNotFound.
  Result<json::value> Remove(const json::value& params);
  // cron.run {id} → {ok, job}: fires it now with reason "manual". kNotFound.
  Result<json::value> RunNow(const json::value& params);
  // The outcome of a fired job's run; a job removed meanwhile is ignored.
  void RecordResult(const std::string& job_id, bool ok, std::string_view error);

  // The next run of `job`'s schedule strictly after `after_ms` (with the current default zone);
  // nullopt when there is none or the stored schedule is unreadable.
  std::optional<int64_t> NextRunOf(const CronJob& job, int64_t after_ms) const;

 private:
  struct Alive {
    bool value = true;
  };

  // Fires every due job once (reason given), then re-arms.
  void FireDue(std::string_view reason);
  // Persists the firing, then calls fire_. false when the job is gone; errors are logged too.
  Result<bool> Fire(const CronJob& job, std::string_view reason, std::optional<int64_t> next_run_at);
  // next_run_at from now for enabled jobs whose next run is missing, or overdue (`overdue`), or
  // follows the default zone (`default_zone`). Used when cron is (re)enabled or the zone changes.
  void Reschedule(bool overdue, bool default_zone);
  void Arm();
  void OnTimer();
  Result<json::value> JobAnswer(std::string_view id);

  asio::any_io_executor loop_;
  CronStore store_;
  FireFn fire_;
  asio::steady_timer timer_;
  bool enabled_ = true;
  bool started_ = false;
  TimeZone default_tz_ = TimeZone::Utc();
  std::shared_ptr<Alive> alive_ = std::make_shared<Alive>();
};

}  // namespace oc::cron
