#include "cron/schedule.h"

#include <gtest/gtest.h>

namespace oc::cron {
namespace {

using std::chrono::milliseconds;

TimeZone Berlin() {
  auto tz = TimeZone::Load("Europe/Berlin");
  EXPECT_TRUE(tz.ok());
  return tz.ok() ? *tz : TimeZone::Utc();
}

json::value Json(std::string_view text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : json::value();
}

TEST(CronEvery, ParsesUnitsAndCombinations) {
  EXPECT_EQ(*ParseEvery("30m"), milliseconds(30 * 60 * 1000));
  EXPECT_EQ(*ParseEvery("1h30m"), milliseconds(90 * 60 * 1000));
  EXPECT_EQ(*ParseEvery(" 1d12h "), milliseconds(36 * 3600 * 1000));
  EXPECT_EQ(*ParseEvery("1s"), milliseconds(1000));
  EXPECT_EQ(*ParseEvery("90s"), milliseconds(90000));
  EXPECT_EQ(*ParseEvery("3650d"), milliseconds(int64_t{3650} * 86400 * 1000));
}

TEST(CronEvery, RejectsBadIntervals) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"", "bad interval \"\": empty (expected e.g. 30m, 1h30m, 2d)"},
      {"30", "bad interval \"30\": missing unit after 30 (s, m, h or d)"},
      {"5x", "bad interval \"5x\": unknown unit 'x' (s, m, h or d)"},
      {"0s", "bad interval \"0s\": shorter than the minimum of 1s"},
      {"m", "bad interval \"m\": expected a number followed by s, m, h or d (e.g. 30m, 1h30m)"},
      {"1.5h", "bad interval \"1.5h\": unknown unit '.' (s, m, h or d)"},
      {"3651d", "bad interval \"3651d\": longer than 3650d"},
      {"999999999999d", "bad interval \"999999999999d\": longer than 3650d"},
      {"-5m", "bad interval \"-5m\": expected a number followed by s, m, h or d (e.g. 30m, 1h30m)"},
  };
  for (const Case& c : cases) {
    auto r = ParseEvery(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams);
    EXPECT_EQ(r.error().message, c.message);
  }
}

TEST(CronDateTime, ParsesOffsetsAndLocalTimes) {
  const TimeZone utc = TimeZone::Utc();
  EXPECT_EQ(*ParseDateTime("2026-03-01T09:00:00Z", utc), 1772355600000);
  EXPECT_EQ(*ParseDateTime("2026-03-01T10:00:00+01:00", utc), 1772355600000);
  EXPECT_EQ(*ParseDateTime("2026-03-01T04:00-0500", utc), 1772355600000);
  EXPECT_EQ(*ParseDateTime("2026-03-01 10:00+01", utc), 1772355600000);
  EXPECT_EQ(*ParseDateTime("2026-03-01T09:00:00.25Z", utc), 1772355600250);
  EXPECT_EQ(*ParseDateTime("2026-03-01t09:00:00.123456z", utc), 1772355600123);
  EXPECT_EQ(*ParseDateTime("2026-03-01", utc), 1772323200000);
  // Without an offset: wall time in the zone given.
  EXPECT_EQ(*ParseDateTime("2026-03-01T10:00", Berlin()), 1772355600000);
  EXPECT_EQ(*ParseDateTime("2026-03-29T02:30", Berlin()), 1774746000000);  // skipped: the gap's end
  EXPECT_EQ(*ParseDateTime("2026-10-25T02:30", Berlin()), 1792888200000);  // repeated: the first
  EXPECT_EQ(*ParseDateTime("2024-02-29T00:00Z", utc), 1709164800000);
  EXPECT_EQ(FormatUtc(1772355600000), "2026-03-01T09:00:00Z");
  EXPECT_EQ(FormatUtc(1772355600250), "2026-03-01T09:00:00.250Z");
}

TEST(CronDateTime, RejectsMalformed) {
  for (std::string_view bad : {"", "tomorrow", "2026-3-1", "2026-02-30T00:00Z", "2025-02-29", "2026-13-01",
                               "2026-03-01T25:00Z", "2026-03-01T09:60Z", "2026-03-01T09Z", "2026-03-01T09:00:00+1",
                               "2026-03-01T09:00:00+24:00", "2026-03-01T09:00:00Zjunk", "1969-12-31T00:00Z",
                               "2026-03-01T09:00:00.Z", "2026-03-01T09:00:61Z"}) {
    auto r = ParseDateTime(bad, TimeZone::Utc());
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().message.rfind("bad date-time \"", 0), 0u) << r.error().message;
  }
}

TEST(CronSchedule, ParsesTheThreeKinds) {
  const TimeZone berlin = Berlin();
  auto cron = ParseSchedule(Json(R"({"cron": " 0 9 * * 1-5 ", "tz": "America/New_York"})"), berlin);
  ASSERT_TRUE(cron.ok()) << cron.error().message;
  EXPECT_EQ(cron->kind, Schedule::Kind::kCron);
  EXPECT_EQ(cron->tz.name(), "America/New_York");
  EXPECT_TRUE(cron->tz_given);
  EXPECT_EQ(ScheduleToJson(*cron), Json(R"({"cron": "0 9 * * 1-5", "tz": "America/New_York"})"));

  auto local = ParseSchedule(Json(R"({"cron": "@daily"})"), berlin);
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->tz.name(), "Europe/Berlin");
  EXPECT_FALSE(local->tz_given);
  EXPECT_EQ(ScheduleToJson(*local), Json(R"({"cron": "@daily"})"));

  auto every = ParseSchedule(Json(R"({"every": "1h30m"})"), berlin);
  ASSERT_TRUE(every.ok());
  EXPECT_EQ(every->kind, Schedule::Kind::kEvery);
  EXPECT_EQ(every->every, milliseconds(5400000));
  EXPECT_EQ(ScheduleToJson(*every), Json(R"({"every": "1h30m"})"));

  auto at = ParseSchedule(Json(R"({"at": "2026-03-01T10:00"})"), berlin);  // local in the default zone
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(at->kind, Schedule::Kind::kAt);
  EXPECT_EQ(at->at_ms, 1772355600000);
  EXPECT_EQ(ScheduleToJson(*at), Json(R"({"at": "2026-03-01T09:00:00Z"})"));
  auto at_tz = ParseSchedule(Json(R"({"at": "2026-03-01T04:00", "tz": "America/New_York"})"), berlin);
  ASSERT_TRUE(at_tz.ok());
  EXPECT_EQ(at_tz->at_ms, 1772355600000);

  // The stored form parses back to the same schedule.
  for (const Schedule* s : {&*cron, &*local, &*every, &*at}) {
    auto again = ParseSchedule(ScheduleToJson(*s), berlin);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(ScheduleToJson(*again), ScheduleToJson(*s));
    EXPECT_EQ(NextRunMs(*again, 1772000000000, 1771000000000), NextRunMs(*s, 1772000000000, 1771000000000));
  }
}

TEST(CronSchedule, ErrorsNameTheKey) {
  struct Case {
    const char* json;
    const char* message;
    const char* path;
  };
  const Case cases[] = {
      {R"("0 9 * * *")", "schedule: expected an object with one of cron, every, at", "schedule"},
      {R"({})", "schedule: expected exactly one of cron, every, at", "schedule"},
      {R"({"cron": "@daily", "every": "1h"})", "schedule: expected exactly one of cron, every, at", "schedule"},
      {R"({"cron": "@daily", "when": 1})", "schedule.when: unknown key", "schedule.when"},
      {R"({"every": 30})", "schedule.every: expected a string", "schedule.every"},
      {R"({"every": "30x"})", "schedule.every: bad interval \"30x\": unknown unit 'x' (s, m, h or d)", "schedule.every"},
      {R"({"every": "1h", "tz": "UTC"})", "schedule.tz: not used with every", "schedule.tz"},
      {R"({"cron": "@daily", "tz": "Mars/Base"})", "schedule.tz: unknown time zone: Mars/Base", "schedule.tz"},
      {R"({"cron": "0 25 * * *"})",
       "schedule.cron: cron expression \"0 25 * * *\": hour field: 25 is out of range 0-23", "schedule.cron"},
      {R"({"at": "soon"})", "schedule.at: bad date-time \"soon\": expected YYYY-MM-DD", "schedule.at"},
  };
  for (const Case& c : cases) {
    auto r = ParseSchedule(Json(c.json), TimeZone::Utc());
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams);
    EXPECT_EQ(r.error().message, c.message);
    EXPECT_EQ(r.error().data.at("path"), c.path);
  }
}

TEST(CronSchedule, NextRunOfEachKind) {
  auto every = ParseSchedule(Json(R"({"every": "10s"})"), TimeZone::Utc());
  ASSERT_TRUE(every.ok());
  const int64_t anchor = 1000000;
  EXPECT_EQ(NextRunMs(*every, anchor, anchor), anchor + 10000);       // never the anchor itself
  EXPECT_EQ(NextRunMs(*every, anchor - 5, anchor), anchor + 10000);
  EXPECT_EQ(NextRunMs(*every, anchor + 9999, anchor), anchor + 10000);
  EXPECT_EQ(NextRunMs(*every, anchor + 10000, anchor), anchor + 20000);  // strictly after
  EXPECT_EQ(NextRunMs(*every, anchor + 123456, anchor), anchor + 130000);  // keeps the phase

  auto cron = ParseSchedule(Json(R"({"cron": "30 2 * * *", "tz": "Europe/Berlin"})"), TimeZone::Utc());
  ASSERT_TRUE(cron.ok());
  EXPECT_EQ(NextRunMs(*cron, 1774699200000, 0), 1774746000000);
  EXPECT_EQ(NextRunMs(*cron, 1774746000000 - 1, 0), 1774746000000);
  EXPECT_EQ(NextRunMs(*cron, 1774746000000, 0), 1774830600000);

  auto at = ParseSchedule(Json(R"({"at": "2026-03-01T09:00:00Z"})"), TimeZone::Utc());
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(NextRunMs(*at, 1772355599999, 0), 1772355600000);
  EXPECT_EQ(NextRunMs(*at, 1772355600000, 0), std::nullopt);
}

}  // namespace
}  // namespace oc::cron
