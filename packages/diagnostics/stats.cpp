#include "stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace oc::diagnostics {

namespace {

// A degraded report when more than this share of the recent runs failed.
constexpr double kDegradedErrorRate = 0.25;
constexpr const char* kStates[] = {"stopped", "starting", "ready", "stopping", "error"};

int64_t IntOr(const json::object& o, std::string_view key, int64_t fallback) {
  const json::value* v = o.if_contains(key);
  if (!v) return fallback;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->as_double());
  return fallback;
}

std::string StrOr(const json::object& o, std::string_view key, std::string fallback = {}) {
  auto s = GetString(o, key);
  return s ? std::string(*s) : fallback;
}

bool NotReady(const AppSnapshot& a) {
  return a.supervised && (a.state == "error" || (a.enabled && a.state != "ready"));
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

void AddRunFamilies(std::vector<MetricFamily>& out, const RunStats& runs) {
  MetricFamily total{"openclaw_agent_runs_total", "Agent runs finished since the diagnostics app started, by agent and result.",
                     MetricType::kCounter, {}};
  MetricFamily tokens{"openclaw_agent_tokens_total", "Model tokens used by agent runs, by agent and direction (input, output).",
                      MetricType::kCounter, {}};
  MetricFamily duration{"openclaw_agent_run_duration_seconds", "Wall-clock duration of agent runs.", MetricType::kHistogram, {}};
  for (const auto& [agent, t] : runs.agents()) {
    total.Add({{"agent", agent}, {"result", "success"}}, static_cast<double>(t.success));
    total.Add({{"agent", agent}, {"result", "error"}}, static_cast<double>(t.error));
    tokens.Add({{"agent", agent}, {"direction", "input"}}, static_cast<double>(t.tokens_in));
    tokens.Add({{"agent", agent}, {"direction", "output"}}, static_cast<double>(t.tokens_out));
    AppendHistogram(duration, {{"agent", agent}}, t.duration_seconds);
  }
  out.push_back(std::move(total));
  out.push_back(std::move(duration));
  out.push_back(std::move(tokens));
}

void AddAppFamilies(std::vector<MetricFamily>& out, const std::vector<AppSnapshot>& apps) {
  MetricFamily up{"openclaw_app_up", "1 when the app is ready (registered and serving), else 0.", MetricType::kGauge, {}};
  MetricFamily state{"openclaw_app_state", "The app's supervisor state: 1 for the current state, 0 for the others.",
                     MetricType::kGauge, {}};
  MetricFamily restarts{"openclaw_app_restarts_total", "Restarts of the app by the kernel's supervisor.", MetricType::kCounter, {}};
  MetricFamily rss{"openclaw_app_memory_rss_bytes", "Resident memory of the app's process.", MetricType::kGauge, {}};
  for (const auto& a : apps) {
    if (!a.supervised) continue;
    up.Add({{"app", a.id}}, a.state == "ready" ? 1 : 0);
    for (const char* s : kStates) state.Add({{"app", a.id}, {"state", s}}, a.state == s ? 1 : 0);
    restarts.Add({{"app", a.id}}, static_cast<double>(a.restart_count));
    if (a.memory_rss_bytes) rss.Add({{"app", a.id}}, static_cast<double>(*a.memory_rss_bytes));
  }
  out.push_back(std::move(up));
  out.push_back(std::move(state));
  out.push_back(std::move(restarts));
  out.push_back(std::move(rss));
}

json::object RunsJson(const RunStats& runs) {
  json::object by_agent;
  int64_t in = 0, out = 0;
  for (const auto& [agent, t] : runs.agents()) {
    by_agent[agent] = json::object{{"success", t.success}, {"error", t.error}, {"tokensIn", t.tokens_in},
                                   {"tokensOut", t.tokens_out}};
    in += t.tokens_in;
    out += t.tokens_out;
  }
  uint64_t total = runs.total_runs();
  double rate = total ? static_cast<double>(runs.total_errors()) / static_cast<double>(total) : 0.0;
  return json::object{{"total", total}, {"success", total - runs.total_errors()}, {"error", runs.total_errors()},
                      {"errorRate", rate}, {"recentErrorRate", runs.RecentErrorRate()},
                      {"byAgent", std::move(by_agent)}, {"tokens", json::object{{"input", in}, {"output", out}}}};
}

json::value OptionalMs(std::optional<double> v) { return v ? json::value(*v) : json::value(nullptr); }

}  // namespace

Result<RunRecord> RunRecordFromAgentEnd(const json::value& data, int64_t now_ms) {
  const json::object* o = data.if_object();
  if (!o) return MakeError(ErrorCode::kInvalidParams, "agent_end data is not an object");
  auto success = GetBool(*o, "success");
  if (!success) return MakeError(ErrorCode::kInvalidParams, "agent_end data has no boolean success");
  RunRecord r;
  r.agent_id = StrOr(*o, "agentId");
  if (r.agent_id.empty()) r.agent_id = "unknown";
  r.run_id = StrOr(*o, "runId");
  r.success = *success;
  r.error = r.success ? std::string() : StrOr(*o, "error", "unknown error");
  if (const json::value* d = o->if_contains("duration"); d && d->is_number())
    r.duration_ms = std::max(0.0, d->to_number<double>());
  if (const json::object* usage = GetObject(*o, "tokenUsage")) {
    r.tokens_in = std::max<int64_t>(0, IntOr(*usage, "input", 0));
    r.tokens_out = std::max<int64_t>(0, IntOr(*usage, "output", 0));
  }
  r.ended_at_ms = now_ms;
  return r;
}

std::vector<double> DefaultLatencyBuckets() { return {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}; }

void RunStats::Record(const RunRecord& run) {
  AgentTotals& t = agents_[run.agent_id];
  ++(run.success ? t.success : t.error);
  t.tokens_in += run.tokens_in;
  t.tokens_out += run.tokens_out;
  t.duration_seconds.Observe(run.duration_ms / 1000.0);
  recent_.push_back(run);
  while (recent_.size() > recent_capacity_) recent_.pop_front();
  if (!run.success) last_error_ = run;
}

uint64_t RunStats::total_runs() const {
  uint64_t n = 0;
  for (const auto& [agent, t] : agents_) n += t.success + t.error;
  return n;
}

uint64_t RunStats::total_errors() const {
  uint64_t n = 0;
  for (const auto& [agent, t] : agents_) n += t.error;
  return n;
}

std::optional<double> RunStats::RecentPercentileMs(double q) const {
  if (recent_.empty() || q <= 0 || q > 1) return std::nullopt;
  std::vector<double> d;
  d.reserve(recent_.size());
  for (const auto& r : recent_) d.push_back(r.duration_ms);
  std::sort(d.begin(), d.end());
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(d.size())));  // nearest rank, 1-based
  return d[std::clamp<size_t>(rank, 1, d.size()) - 1];
}

double RunStats::RecentErrorRate() const {
  if (recent_.empty()) return 0;
  auto errors = std::count_if(recent_.begin(), recent_.end(), [](const RunRecord& r) { return !r.success; });
  return static_cast<double>(errors) / static_cast<double>(recent_.size());
}

Result<std::vector<AppSnapshot>> AppsFromList(const json::value& apps_list_result) {
  const json::value* list = apps_list_result.is_object() ? apps_list_result.as_object().if_contains("apps") : nullptr;
  if (!list || !list->is_array()) return MakeError(ErrorCode::kInvalidParams, "apps.list answered no apps array");
  std::vector<AppSnapshot> apps;
  for (const auto& v : list->as_array()) {
    const json::object* o = v.if_object();
    if (!o) continue;
    AppSnapshot a;
    a.id = StrOr(*o, "id");
    if (a.id.empty()) continue;
    a.enabled = GetBool(*o, "enabled").value_or(false);
    if (const json::object* st = GetObject(*o, "status")) {
      a.supervised = true;
      a.state = StrOr(*st, "state", "stopped");
      a.restart_count = IntOr(*st, "restartCount", 0);
      a.last_error = StrOr(*st, "lastError");
      if (const json::object* usage = GetObject(*st, "resourceUsage"); usage && usage->contains("memoryRss"))
        a.memory_rss_bytes = IntOr(*usage, "memoryRss", 0);
    }
    apps.push_back(std::move(a));
  }
  return apps;
}

std::vector<MetricFamily> BuildFamilies(const Snapshot& snapshot) {
  std::vector<MetricFamily> out;
  if (snapshot.runs) AddRunFamilies(out, *snapshot.runs);
  if (snapshot.apps) AddAppFamilies(out, *snapshot.apps);
  MetricFamily apps_ok{"openclaw_diagnostics_apps_list_up",
                       "1 when the kernel answered apps.list for this scrape (the openclaw_app_* series are present), else 0.",
                       MetricType::kGauge, {}};
  apps_ok.Add({}, snapshot.apps ? 1 : 0);
  out.push_back(std::move(apps_ok));
  MetricFamily start{"openclaw_diagnostics_start_time_seconds",
                     "Unix time the diagnostics app started; its counters count from then.", MetricType::kGauge, {}};
  start.Add({}, snapshot.start_time_seconds);
  out.push_back(std::move(start));
  return out;
}

json::value StatusJson(const Snapshot& snapshot) {
  static const RunStats kNoRuns;
  const RunStats& runs = snapshot.runs ? *snapshot.runs : kNoRuns;
  json::object out;
  out["startedAt"] = static_cast<int64_t>(snapshot.start_time_seconds * 1000);
  out["uptimeSeconds"] = std::max(0.0, snapshot.now_ms / 1000.0 - snapshot.start_time_seconds);
  out["runs"] = RunsJson(runs);
  out["latency"] = json::object{{"recentRuns", runs.recent().size()},
                                {"p50Ms", OptionalMs(runs.RecentPercentileMs(0.5))},
                                {"p95Ms", OptionalMs(runs.RecentPercentileMs(0.95))}};
  if (const auto& e = runs.last_error())
    out["lastError"] = json::object{{"agentId", e->agent_id}, {"runId", e->run_id}, {"error", e->error}, {"at", e->ended_at_ms}};
  json::array apps, not_ready;
  int64_t restarts = 0;
  if (snapshot.apps) {
    for (const auto& a : *snapshot.apps) {
      if (!a.supervised) continue;
      json::object j{{"id", a.id}, {"enabled", a.enabled}, {"state", a.state}, {"restartCount", a.restart_count}};
      if (a.memory_rss_bytes) j["memoryRss"] = *a.memory_rss_bytes;
      if (!a.last_error.empty()) j["lastError"] = a.last_error;
      if (NotReady(a)) not_ready.push_back(json::value(a.id));
      restarts += a.restart_count;
      apps.push_back(std::move(j));
    }
  } else {
    out["appsError"] = snapshot.apps_error;
  }
  out["healthy"] = snapshot.apps.has_value() && not_ready.empty() && runs.RecentErrorRate() <= kDegradedErrorRate;
  out["apps"] = std::move(apps);
  out["appsNotReady"] = std::move(not_ready);
  out["restartsTotal"] = restarts;
  return out;
}

std::string HealthText(const Snapshot& snapshot) {
  json::value status = StatusJson(snapshot);
  const json::object& s = status.as_object();
  std::string out = std::string("OpenClawOS health: ") + (s.at("healthy").as_bool() ? "OK" : "DEGRADED") + "\n";
  if (!snapshot.apps) {
    out += "Apps: unknown (" + snapshot.apps_error + ")\n";
  } else {
    std::string bad, restarted;
    for (const auto& a : *snapshot.apps) {
      if (NotReady(a))
        bad += (bad.empty() ? "" : ", ") + a.id + " (" + a.state + (a.last_error.empty() ? "" : ": " + a.last_error) + ")";
      if (a.restart_count > 0) restarted += (restarted.empty() ? "" : ", ") + a.id + " " + std::to_string(a.restart_count);
    }
    out += "Apps: " + std::to_string(s.at("apps").as_array().size()) + " supervised; not ready: " +
           (bad.empty() ? "none" : bad) + "\n";
    out += "Restarts: " + (restarted.empty() ? std::string("none") : restarted) + "\n";
  }
  const json::object& runs = s.at("runs").as_object();
  const json::object& latency = s.at("latency").as_object();
  out += "Agent runs since " + Fixed(s.at("uptimeSeconds").as_double(), 0) + " s ago: " +
         std::to_string(runs.at("total").as_uint64()) + ", errors " + std::to_string(runs.at("error").as_uint64()) +
         " (recent error rate " + Fixed(runs.at("recentErrorRate").as_double() * 100, 1) + "%)\n";
  if (latency.at("p50Ms").is_null()) {
    out += "Latency: no runs yet\n";
  } else {
    out += "Latency of the last " + std::to_string(latency.at("recentRuns").as_uint64()) + " runs: p50 " +
           Fixed(latency.at("p50Ms").as_double() / 1000, 3) + " s, p95 " + Fixed(latency.at("p95Ms").as_double() / 1000, 3) +
           " s\n";
  }
  const json::object& tokens = runs.at("tokens").as_object();
  out += "Tokens: input " + std::to_string(tokens.at("input").as_int64()) + ", output " +
         std::to_string(tokens.at("output").as_int64()) + "\n";
  if (const auto* e = s.if_contains("lastError"))
    out += "Last error: agent " + std::string(e->at("agentId").as_string()) + ", run " + std::string(e->at("runId").as_string()) +
           ": " + std::string(e->at("error").as_string()) + "\n";
  return out;
}

}  // namespace oc::diagnostics
