#include <gtest/gtest.h>

#include <limits>
#include <sstream>

#include "exposition.h"
#include "stats.h"

namespace oc::diagnostics {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(ExpositionTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue(R"(a\b"c)" "\nd"), R"(a\\b\"c\nd)");
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeHelp("x\\y\n\"q\""), "x\\\\y\\n\"q\"");  // quotes stay as they are in HELP
}

TEST(ExpositionTest, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(2.5), "2.5");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatValue(1700000000.5), "1700000000.5");
}

TEST(ExpositionTest, ValidatesNames) {
  EXPECT_TRUE(ValidMetricName("openclaw_app_up"));
  EXPECT_TRUE(ValidMetricName("a:b_c1"));
  EXPECT_FALSE(ValidMetricName("1abc"));
  EXPECT_FALSE(ValidMetricName("a-b"));
  EXPECT_FALSE(ValidMetricName(""));
  EXPECT_TRUE(ValidLabelName("agent"));
  EXPECT_FALSE(ValidLabelName("a:b"));
  EXPECT_FALSE(ValidLabelName("__reserved"));
}

TEST(ExpositionTest, RendersCountersAndGaugesWithLabels) {
  MetricFamily runs{"x_runs_total", "Runs\nby agent.", MetricType::kCounter, {}};
  runs.Add({{"agent", "main"}, {"result", "success"}}, 3);
  runs.Add({{"agent", "we\"ird\\"}, {"result", "error"}}, 1);
  MetricFamily start{"x_start_time_seconds", "Start.", MetricType::kGauge, {}};
  start.Add({}, 12.5);
  EXPECT_EQ(RenderExposition({runs, start}),
            "# HELP x_runs_total Runs\\nby agent.\n"
            "# TYPE x_runs_total counter\n"
            "x_runs_total{agent=\"main\",result=\"success\"} 3\n"
            "x_runs_total{agent=\"we\\\"ird\\\\\",result=\"error\"} 1\n"
            "# HELP x_start_time_seconds Start.\n"
            "# TYPE x_start_time_seconds gauge\n"
            "x_start_time_seconds 12.5\n");
}

TEST(ExpositionTest, SkipsInvalidNamesInsteadOfBreakingTheScrape) {
  MetricFamily bad{"bad-name", "x", MetricType::kGauge, {}};
  bad.Add({}, 1);
  MetricFamily good{"good", "x", MetricType::kGauge, {}};
  good.Add({{"bad-label", "v"}}, 1);
  good.Add({{"ok", "v"}}, 2);
  EXPECT_EQ(RenderExposition({bad, good}), "# HELP good x\n# TYPE good gauge\ngood{ok=\"v\"} 2\n");
}

TEST(HistogramTest, BucketsAreCumulativeAndEndWithInf) {
  Histogram h({1, 0.5, 2});  // unsorted on purpose
  for (double v : {0.1, 0.5, 0.7, 2.0, 9.0}) h.Observe(v);
  EXPECT_EQ(h.count(), 5u);
  EXPECT_DOUBLE_EQ(h.sum(), 12.3);
  MetricFamily f{"lat_seconds", "Latency.", MetricType::kHistogram, {}};
  AppendHistogram(f, {{"agent", "a"}}, h);
  EXPECT_EQ(RenderExposition({f}),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{agent=\"a\",le=\"0.5\"} 2\n"  // 0.5 counts as <= 0.5
            "lat_seconds_bucket{agent=\"a\",le=\"1\"} 3\n"
            "lat_seconds_bucket{agent=\"a\",le=\"2\"} 4\n"
            "lat_seconds_bucket{agent=\"a\",le=\"+Inf\"} 5\n"
            "lat_seconds_sum{agent=\"a\"} 12.3\n"
            "lat_seconds_count{agent=\"a\"} 5\n");
}

TEST(RunRecordTest, ReadsAgentEndData) {
  auto r = RunRecordFromAgentEnd(
      json::parse(R"({"sessionKey":"s","agentId":"main","runId":"7","success":false,"error":"boom",
                      "duration":1500,"tokenUsage":{"input":10,"output":4}})"),
      99);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->agent_id, "main");
  EXPECT_EQ(r->run_id, "7");
  EXPECT_FALSE(r->success);
  EXPECT_EQ(r->error, "boom");
  EXPECT_DOUBLE_EQ(r->duration_ms, 1500);
  EXPECT_EQ(r->tokens_in, 10);
  EXPECT_EQ(r->tokens_out, 4);
  EXPECT_EQ(r->ended_at_ms, 99);

  auto minimal = RunRecordFromAgentEnd(json::parse(R"({"success":true})"), 1);
  ASSERT_TRUE(minimal.ok());
  EXPECT_EQ(minimal->agent_id, "unknown");
  EXPECT_EQ(minimal->tokens_in, 0);
  EXPECT_EQ(minimal->error, "");

  EXPECT_EQ(RunRecordFromAgentEnd(json::parse("[]"), 1).error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(RunRecordFromAgentEnd(json::parse(R"({"success":"yes"})"), 1).error().code, ErrorCode::kInvalidParams);
}

RunRecord MakeRun(std::string agent, bool ok, double ms, int64_t in = 0, int64_t out = 0) {
  RunRecord r;
  r.agent_id = std::move(agent);
  r.run_id = "r";
  r.success = ok;
  r.error = ok ? "" : "model failed";
  r.duration_ms = ms;
  r.tokens_in = in;
  r.tokens_out = out;
  return r;
}

TEST(RunStatsTest, CountsPerAgentAndKeepsARecentWindow) {
  RunStats s(4);
  EXPECT_FALSE(s.RecentPercentileMs(0.5));
  EXPECT_EQ(s.RecentErrorRate(), 0);
  s.Record(MakeRun("a", true, 100, 5, 2));
  s.Record(MakeRun("a", false, 900));
  s.Record(MakeRun("b", true, 300, 1, 1));
  s.Record(MakeRun("b", true, 200));
  s.Record(MakeRun("b", true, 400));  // pushes the first run out of the window
  EXPECT_EQ(s.total_runs(), 5u);
  EXPECT_EQ(s.total_errors(), 1u);
  EXPECT_EQ(s.agents().at("a").success, 1u);
  EXPECT_EQ(s.agents().at("a").error, 1u);
  EXPECT_EQ(s.agents().at("a").tokens_in, 5);
  EXPECT_EQ(s.agents().at("b").duration_seconds.count(), 3u);
  ASSERT_EQ(s.recent().size(), 4u);
  EXPECT_DOUBLE_EQ(*s.RecentPercentileMs(0.5), 300);   // of 200 300 400 900: rank 2
  EXPECT_DOUBLE_EQ(*s.RecentPercentileMs(0.95), 900);  // rank 4
  EXPECT_DOUBLE_EQ(s.RecentErrorRate(), 0.25);
  ASSERT_TRUE(s.last_error());
  EXPECT_EQ(s.last_error()->agent_id, "a");
}

const char* kAppsList = R"({"apps":[
  {"id":"@openclawos/diagnostics","enabled":true,"status":{"state":"ready","restartCount":0,
   "resourceUsage":{"memoryRss":4096,"cpuPercent":1.5}}},
  {"id":"test-channel-alpha","enabled":true,"status":{"state":"starting","restartCount":2,"lastError":"exited with signal 9"}},
  {"id":"idle","enabled":false,"status":{"state":"stopped","restartCount":0}},
  {"id":"skill-x","enabled":true},
  "junk"]})";

TEST(AppsTest, ReadsAppsListAndRejectsOtherShapes) {
  auto apps = AppsFromList(json::parse(kAppsList));
  ASSERT_TRUE(apps.ok());
  ASSERT_EQ(apps->size(), 4u);
  EXPECT_EQ((*apps)[0].memory_rss_bytes, 4096);
  EXPECT_EQ((*apps)[1].restart_count, 2);
  EXPECT_EQ((*apps)[1].last_error, "exited with signal 9");
  EXPECT_FALSE((*apps)[3].supervised);
  EXPECT_FALSE(AppsFromList(json::parse(R"({"apps":{}})")).ok());
  EXPECT_FALSE(AppsFromList(json::parse("null")).ok());
}

Snapshot MakeSnapshot(const RunStats& runs, bool with_apps) {
  Snapshot s;
  s.runs = &runs;
  if (with_apps) s.apps = *AppsFromList(json::parse(kAppsList));
  else s.apps_error = "FORBIDDEN";
  s.start_time_seconds = 1000;
  s.now_ms = 1060000;
  return s;
}

TEST(ReportTest, FamiliesCoverRunsAppsAndStartTime) {
  RunStats runs;
  runs.Record(MakeRun("main", true, 250, 7, 3));
  runs.Record(MakeRun("main", false, 50));
  std::string text = RenderExposition(BuildFamilies(MakeSnapshot(runs, true)));
  for (const char* expected : {
           "openclaw_agent_runs_total{agent=\"main\",result=\"success\"} 1\n",
           "openclaw_agent_runs_total{agent=\"main\",result=\"error\"} 1\n",
           "openclaw_agent_tokens_total{agent=\"main\",direction=\"input\"} 7\n",
           "openclaw_agent_tokens_total{agent=\"main\",direction=\"output\"} 3\n",
           "openclaw_agent_run_duration_seconds_bucket{agent=\"main\",le=\"0.05\"} 1\n",
           "openclaw_agent_run_duration_seconds_bucket{agent=\"main\",le=\"0.25\"} 2\n",
           "openclaw_agent_run_duration_seconds_count{agent=\"main\"} 2\n",
           "openclaw_agent_run_duration_seconds_sum{agent=\"main\"} 0.3\n",
           "openclaw_app_up{app=\"@openclawos/diagnostics\"} 1\n",
           "openclaw_app_up{app=\"test-channel-alpha\"} 0\n",
           "openclaw_app_state{app=\"test-channel-alpha\",state=\"starting\"} 1\n",
           "openclaw_app_state{app=\"test-channel-alpha\",state=\"ready\"} 0\n",
           "openclaw_app_restarts_total{app=\"test-channel-alpha\"} 2\n",
           "openclaw_app_memory_rss_bytes{app=\"@openclawos/diagnostics\"} 4096\n",
           "openclaw_diagnostics_apps_list_up 1\n",
           "openclaw_diagnostics_start_time_seconds 1000\n",
           "# TYPE openclaw_agent_run_duration_seconds histogram\n",
           "# TYPE openclaw_app_restarts_total counter\n"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\nin\n" << text;
  }
  EXPECT_EQ(text.find("skill-x"), std::string::npos);  // not supervised: no app series
  EXPECT_EQ(text.find("memory_rss_bytes{app=\"test-channel-alpha\""), std::string::npos);
  for (const auto& line : Lines(text)) EXPECT_FALSE(line.empty());

  std::string without_apps = RenderExposition(BuildFamilies(MakeSnapshot(runs, false)));
  EXPECT_EQ(without_apps.find("openclaw_app_up"), std::string::npos);
  EXPECT_NE(without_apps.find("openclaw_diagnostics_apps_list_up 0\n"), std::string::npos);
}

TEST(ReportTest, StatusAndHealthNameWhatIsWrong) {
  RunStats runs;
  runs.Record(MakeRun("main", true, 1000, 10, 5));
  runs.Record(MakeRun("main", false, 3000));
  json::value status = StatusJson(MakeSnapshot(runs, true));
  EXPECT_EQ(status.at("healthy"), false);
  EXPECT_EQ(status.at("runs").at("total").as_uint64(), 2u);
  EXPECT_EQ(status.at("runs").at("error").as_uint64(), 1u);
  EXPECT_DOUBLE_EQ(status.at("runs").at("errorRate").as_double(), 0.5);
  EXPECT_EQ(status.at("runs").at("tokens").at("input").as_int64(), 10);
  EXPECT_DOUBLE_EQ(status.at("latency").at("p50Ms").as_double(), 1000);
  EXPECT_DOUBLE_EQ(status.at("latency").at("p95Ms").as_double(), 3000);
  EXPECT_EQ(status.at("appsNotReady"), json::parse(R"(["test-channel-alpha"])"));  // "idle" is disabled
  EXPECT_EQ(status.at("restartsTotal").as_int64(), 2);
  EXPECT_EQ(status.at("lastError").at("error"), "model failed");
  EXPECT_DOUBLE_EQ(status.at("uptimeSeconds").as_double(), 60);

  std::string health = HealthText(MakeSnapshot(runs, true));
  EXPECT_NE(health.find("DEGRADED"), std::string::npos) << health;
  EXPECT_NE(health.find("not ready: test-channel-alpha (starting: exited with signal 9)"), std::string::npos) << health;
  EXPECT_NE(health.find("Restarts: test-channel-alpha 2"), std::string::npos) << health;
  EXPECT_NE(health.find("p50 1.000 s, p95 3.000 s"), std::string::npos) << health;
  EXPECT_NE(health.find("errors 1 (recent error rate 50.0%)"), std::string::npos) << health;

  std::string unknown = HealthText(MakeSnapshot(runs, false));
  EXPECT_NE(unknown.find("Apps: unknown (FORBIDDEN)"), std::string::npos) << unknown;
  EXPECT_EQ(StatusJson(MakeSnapshot(runs, false)).at("appsError"), "FORBIDDEN");

  RunStats healthy_runs;
  healthy_runs.Record(MakeRun("main", true, 10));
  Snapshot ok = MakeSnapshot(healthy_runs, true);
  ok.apps->erase(ok.apps->begin() + 1);  // without the starting app
  EXPECT_EQ(StatusJson(ok).at("healthy"), true);
  EXPECT_NE(HealthText(ok).find("OpenClawOS health: OK\n"), std::string::npos);
  RunStats none;
  EXPECT_NE(HealthText(MakeSnapshot(none, true)).find("Latency: no runs yet"), std::string::npos);
}

}  // namespace
}  // namespace oc::diagnostics
