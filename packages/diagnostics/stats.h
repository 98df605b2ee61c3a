// What the diagnostics app counts and how it reports it. Pure (no I/O): the app feeds `agent_end`
// hook data and the kernel's apps.list answer in, and gets metric families, the status JSON and the
// health text out. Counters live in the process: they start at zero when the app (re)starts, which
// Prometheus' rate()/increase() handle as a counter reset.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "exposition.h"

namespace oc::diagnostics {

// One finished agent run, from the `agent_end` hook's data {sessionKey, agentId, runId, success,
// error?, duration (ms), tokenUsage? {input, output}}.
struct RunRecord {
  std::string agent_id;
  std::string run_id;
  bool success = false;
  std::string error;      // "" on success
  double duration_ms = 0;
  int64_t tokens_in = 0;  // 0 when the run reported no tokenUsage
  int64_t tokens_out = 0;
  int64_t ended_at_ms = 0;
};

// INVALID_PARAMS when `data` is not an object or lacks a boolean `success`; other fields missing or
// of the wrong type read as empty/zero (agentId "" becomes "unknown").
Result<RunRecord> RunRecordFromAgentEnd(const json::value& data, int64_t now_ms);

// Upper bounds (seconds) of openclaw_agent_run_duration_seconds.
std::vector<double> DefaultLatencyBuckets();

struct AgentTotals {
  uint64_t success = 0;
  uint64_t error = 0;
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
  Histogram duration_seconds{DefaultLatencyBuckets()};
};

// Aggregates runs: totals per agent, and the last `recent_capacity` runs for percentiles and the
// recent error rate. Not thread-safe (the app has one thread).
class RunStats {
 public:
  explicit RunStats(size_t recent_capacity = 100) : recent_capacity_(recent_capacity) {}
  void Record(const RunRecord& run);

  const std::map<std::string, AgentTotals>& agents() const { return agents_; }
  const std::deque<RunRecord>& recent() const { return recent_; }
  uint64_t total_runs() const;
  uint64_t total_errors() const;
  const std::optional<RunRecord>& last_error() const { return last_error_; }
  // Nearest-rank percentile (0 < q <= 1) of the recent runs' durations in ms; nullopt when none.
  std::optional<double> RecentPercentileMs(double q) const;
  // Errors / runs among the recent runs; 0 when none.
  double RecentErrorRate() const;

 private:
  size_t recent_capacity_;
  std::map<std::string, AgentTotals> agents_;
  std::deque<RunRecord> recent_;
  std::optional<RunRecord> last_error_;
};

// One app as the kernel's apps.list reports it.
struct AppSnapshot {
  std::string id;
  bool enabled = false;
  bool supervised = false;  // has a status (apps; not skills/extensions)
  std::string state;        // stopped|starting|ready|stopping|error ("" when not supervised)
  int64_t restart_count = 0;
  std::optional<int64_t> memory_rss_bytes;
  std::string last_error;
};

// The apps of an apps.list result {apps: [...]}; INVALID_PARAMS when `apps` is not an array.
Result<std::vector<AppSnapshot>> AppsFromList(const json::value& apps_list_result);

// Everything one report is made of.
struct Snapshot {
  const RunStats* runs = nullptr;
  // Nullopt when apps.list failed; `apps_error` then says why.
  std::optional<std::vector<AppSnapshot>> apps;
  std::string apps_error;
  double start_time_seconds = 0;  // the app's start, Unix time
  int64_t now_ms = 0;
};

// The metric families of /metrics (see docs/APP-DIAGNOSTICS.md for the list).
std::vector<MetricFamily> BuildFamilies(const Snapshot& snapshot);
// diagnostics.status: {healthy, startedAt, uptimeSeconds, runs {...}, latency {...}, tokens {...},
// lastError?, apps [...], appsNotReady [...], restartsTotal, appsError?}.
json::value StatusJson(const Snapshot& snapshot);
// diagnostics_health: a few lines of plain text for the agent.
std::string HealthText(const Snapshot& snapshot);

}  // namespace oc::diagnostics
