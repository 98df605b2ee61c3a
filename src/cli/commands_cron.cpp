// `openclaw cron list|add|rm|run` (SPEC §13, §15): clients of the running kernel's cron.* methods
// (docs/CONTROL-PLANE.md). Parameters the kernel rejects (a bad expression, an unknown zone) exit
// 2 like other usage errors.
#include <algorithm>
#include <ctime>
#include <iostream>
#include <optional>
#include <vector>

#include "cli/cli_common.h"
#include "cli/commands.h"

namespace oc::cli {
namespace {

std::string LocalTimeText(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M %Z", &tm);
  return buf;
}

std::string Field(const json::object& o, std::string_view key) { return Str(o.if_contains(key)); }

// "cron 0 9 * * 1-5 (Europe/Berlin)", "every 30m", "at 2026-03-01T08:00:00Z".
std::string ScheduleText(const json::value* schedule) {
  const json::object* s = schedule ? schedule->if_object() : nullptr;
  if (!s) return "?";
  if (auto cron = GetString(*s, "cron")) {
    std::string text = "cron " + std::string(*cron);
    if (auto tz = GetString(*s, "tz")) text += " (" + std::string(*tz) + ")";
    return text;
  }
  if (auto every = GetString(*s, "every")) return "every " + std::string(*every);
  if (auto at = GetString(*s, "at")) return "at " + std::string(*at);
  return "?";
}

std::string NextRunText(const json::object& job) {
  if (GetBool(job, "enabled") == false) return "disabled";
  auto next = GetInt(job, "nextRunAt");
  return next ? LocalTimeText(*next) : "-";
}

std::string LastText(const json::object& job) {
  auto status = GetString(job, "lastStatus");
  if (!status) return "never";
  std::string text(*status);
  if (auto last = GetInt(job, "lastRunAt")) text += " " + LocalTimeText(*last);
  if (auto error = GetString(job, "lastError")) {
    std::string e(*error);
    if (e.size() > 60) e = e.substr(0, 60) + "...";
    std::replace(e.begin(), e.end(), '\n', ' ');
    text += ": " + e;
  }
  return text;
}

// Left-aligned columns two spaces apart (the last one unpadded).
int Usage(std::string_view message) {
  std::cerr << "openclaw: cron add: " << message << "\n";
  return kUsage;
}

// Call() with the kernel's INVALID_PARAMS counted as a usage error.
Result<json::value> CallCron(std::string_view method, json::value params, int* rc) {
  auto r = Call(method, std::move(params), rc);
  if (!r.ok() && r.error().code == ErrorCode::kInvalidParams) *rc = kUsage;
  return r;
}

Result<json::object> AddParams(const Options& o) {
  const int kinds = int{!o.cron_expr.empty()} + int{!o.every.empty()} + int{!o.at_time.empty()};
  if (kinds != 1) return MakeError(ErrorCode::kInvalidParams, "give exactly one of --cron, --every, --at");
  if (!o.tz.empty() && !o.every.empty()) return MakeError(ErrorCode::kInvalidParams, "--tz goes with --cron or --at");
  if (o.deliver_channel.empty() != o.deliver_to.empty())
    return MakeError(ErrorCode::kInvalidParams, "--deliver-channel and --deliver-to go together");
  json::object schedule;
  if (!o.cron_expr.empty()) schedule["cron"] = o.cron_expr;
  if (!o.every.empty()) schedule["every"] = o.every;
  if (!o.at_time.empty()) schedule["at"] = o.at_time;
  if (!o.tz.empty()) schedule["tz"] = o.tz;
  json::object params{{"schedule", std::move(schedule)}, {"message", o.message}};
  if (!o.name.empty()) params["name"] = o.name;
  if (!o.id.empty()) params["id"] = o.id;
  if (!o.agent.empty()) params["agentId"] = o.agent;
  if (!o.session.empty()) params["session"] = o.session;
  if (!o.deliver_channel.empty())
    params["deliver"] = json::object{{"channel", o.deliver_channel}, {"to", o.deliver_to}};
  if (o.disabled) params["enabled"] = false;
  return params;
}

}  // namespace

int CmdCronList(const Options& o) {
  json::object params;
  if (!o.agent.empty()) params["agentId"] = o.agent;
  int rc = kOk;
  auto r = CallCron("cron.list", std::move(params), &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  const json::object* answer = r->if_object();
  const json::value* jobs = answer ? answer->if_contains("jobs") : nullptr;
  if (answer && GetBool(*answer, "enabled") == false) std::cout << "(cron is disabled in the config: nothing fires)\n";
  if (!jobs || !jobs->is_array() || jobs->as_array().empty()) {
    std::cout << "no cron jobs\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows{{"ID", "NAME", "SCHEDULE", "NEXT RUN", "LAST"}};
  for (const auto& v : jobs->as_array()) {
    if (!v.is_object()) continue;
    const json::object& job = v.as_object();
    rows.push_back({Field(job, "id"), Field(job, "name"), ScheduleText(job.if_contains("schedule")), NextRunText(job),
                    LastText(job)});
  }
  PrintTable(rows);
  return kOk;
}

int CmdCronAdd(const Options& o) {
  auto params = AddParams(o);
  if (!params.ok()) return Usage(params.error().message);
  int rc = kOk;
  auto r = CallCron("cron.add", std::move(params).value(), &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  const json::value* job = r->is_object() ? r->as_object().if_contains("job") : nullptr;
  if (!job || !job->is_object()) {
    PrintJson(*r);
    return kOk;
  }
  const json::object& j = job->as_object();
  std::cout << "added " << Field(j, "id") << " (" << Field(j, "name") << "), " << ScheduleText(j.if_contains("schedule"))
            << (GetBool(j, "enabled") == false ? "; disabled" : "; next run " + NextRunText(j)) << "\n";
  return kOk;
}

int CmdCronRemove(const Options& o) {
  int rc = kOk;
  auto r = CallCron("cron.remove", json::object{{"id", o.id}}, &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  std::cout << "removed " << o.id << "\n";
  return kOk;
}

int CmdCronRun(const Options& o) {
  int rc = kOk;
  auto r = CallCron("cron.run", json::object{{"id", o.id}}, &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  const json::value* job = r->is_object() ? r->as_object().if_contains("job") : nullptr;
  std::cout << "started " << o.id;
  if (job && job->is_object()) std::cout << " (run " << Field(job->as_object(), "runCount") << ")";
  std::cout << "; see `openclaw cron list` for its outcome\n";
  return kOk;
}

}  // namespace oc::cli
