#include "cron/cron_expr.h"

#include <gtest/gtest.h>

#include <vector>

namespace oc::cron {
namespace {

CronExpr Expr(std::string_view text) {
  auto e = ParseCronExpr(text);
  EXPECT_TRUE(e.ok()) << text << ": " << (e.ok() ? "" : e.error().message);
  return e.ok() ? *e : CronExpr{};
}

TimeZone Zone(std::string_view name) {
  auto tz = TimeZone::Load(name);
  EXPECT_TRUE(tz.ok()) << name;
  return tz.ok() ? *tz : TimeZone::Utc();
}

std::optional<int64_t> Next(std::string_view expr, std::string_view zone, int64_t after) {
  return NextFire(Expr(expr), zone == "UTC" ? TimeZone::Utc() : Zone(zone), after);
}

// The next `n` fire times after `after`.
std::vector<int64_t> Fires(std::string_view expr, std::string_view zone, int64_t after, int n) {
  CronExpr e = Expr(expr);
  TimeZone tz = Zone(zone);
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) {
    auto next = NextFire(e, tz, after);
    if (!next) break;
    out.push_back(*next);
    after = *next;
  }
  return out;
}

TEST(CronExprParse, FieldsListsRangesAndSteps) {
  CronExpr e = Expr("*/15 0-6/2 1,15 jan-MAR Mon-fri");
  EXPECT_EQ(e.minutes.count(), 4u);
  EXPECT_TRUE(e.minutes.test(0) && e.minutes.test(15) && e.minutes.test(30) && e.minutes.test(45));
  EXPECT_EQ(e.hours.to_ulong(), 0b1010101ul);
  EXPECT_EQ(e.days_of_month.count(), 2u);
  EXPECT_TRUE(e.days_of_month.test(1) && e.days_of_month.test(15));
  EXPECT_EQ(e.months.to_ulong(), 0b1110ul);
  EXPECT_EQ(e.days_of_week.to_ulong(), 0b0111110ul);
  EXPECT_TRUE(e.wildcard_time);
  EXPECT_FALSE(e.dom_star);
  EXPECT_FALSE(e.dow_star);

  CronExpr a = Expr("  5/20\t3 * * 5-7 ");
  EXPECT_EQ(a.minutes.count(), 3u);
  EXPECT_TRUE(a.minutes.test(5) && a.minutes.test(25) && a.minutes.test(45));
  EXPECT_EQ(a.days_of_week.to_ulong(), 0b1100001ul);  // fri, sat, and 7 = sunday
  EXPECT_FALSE(a.wildcard_time);
  EXPECT_TRUE(a.dom_star);
  EXPECT_EQ(Expr("0 0 * * 7").days_of_week.to_ulong(), 1ul);
  EXPECT_EQ(Expr("0 0 * * SUN").days_of_week.to_ulong(), 1ul);
  EXPECT_TRUE(Expr("0 0 */2 * *").dom_star);  // Vixie: a field starting with '*' is unrestricted
}

TEST(CronExprParse, Macros) {
  auto same = [](std::string_view a, std::string_view b) {
    CronExpr x = Expr(a), y = Expr(b);
    EXPECT_EQ(x.minutes, y.minutes) << a;
    EXPECT_EQ(x.hours, y.hours) << a;
    EXPECT_EQ(x.days_of_month, y.days_of_month) << a;
    EXPECT_EQ(x.months, y.months) << a;
    EXPECT_EQ(x.days_of_week, y.days_of_week) << a;
  };
  same("@daily", "0 0 * * *");
  same("@midnight", "0 0 * * *");
  same("@hourly", "0 * * * *");
  same("@weekly", "0 0 * * 0");
  same("@monthly", "0 0 1 * *");
  same("@yearly", "0 0 1 1 *");
  same("@annually", "0 0 1 1 *");
}

TEST(CronExprParse, ErrorsNameTheFieldAndTheToken) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"61 * * * *", "cron expression \"61 * * * *\": minute field: 61 is out of range 0-59"},
      {"* 24 * * *", "cron expression \"* 24 * * *\": hour field: 24 is out of range 0-23"},
      {"* * 0 * *", "cron expression \"* * 0 * *\": day-of-month field: 0 is out of range 1-31"},
      {"* * * 13 *", "cron expression \"* * * 13 *\": month field: 13 is out of range 1-12"},
      {"* * * * 8", "cron expression \"* * * * 8\": day-of-week field: 8 is out of range 0-7"},
      {"* * * foo *", "cron expression \"* * * foo *\": month field: bad token \"foo\""},
      {"* * * * mon-xyz", "cron expression \"* * * * mon-xyz\": day-of-week field: bad token \"xyz\""},
      {"*/0 * * * *", "cron expression \"*/0 * * * *\": minute field: step 0 is out of range 1-60"},
      {"*/x * * * *", "cron expression \"*/x * * * *\": minute field: bad step \"x\""},
      {"5-1 * * * *", "cron expression \"5-1 * * * *\": minute field: range 5-1 runs backwards"},
      {"1,,2 * * * *", "cron expression \"1,,2 * * * *\": minute field: empty list element"},
      {"-5 * * * *", "cron expression \"-5 * * * *\": minute field: missing value"},
      {"* * * *",
       "cron expression \"* * * *\": expected 5 fields (minute hour day-of-month month day-of-week), got 4"},
      {"0 * * * * *",
       "cron expression \"0 * * * * *\": expected 5 fields (minute hour day-of-month month day-of-week), got 6"},
      {"", "cron expression \"\": expected 5 fields (minute hour day-of-month month day-of-week), got 0"},
      {"@reboot", "cron expression \"@reboot\": unknown macro \"@reboot\""},
      {"1.5 * * * *", "cron expression \"1.5 * * * *\": minute field: bad token \"1.5\""},
  };
  for (const Case& c : cases) {
    auto e = ParseCronExpr(c.text);
    ASSERT_FALSE(e.ok()) << c.text;
    EXPECT_EQ(e.error().code, ErrorCode::kInvalidParams);
    EXPECT_EQ(e.error().message, c.message);
  }
  EXPECT_FALSE(ParseCronExpr(std::string(2000, '*')).ok());
}

TEST(CronNextFire, WeekdaysInUtc) {
  // Friday 2026-03-06 10:00Z → Monday 09:00Z.
  EXPECT_EQ(Next("0 9 * * 1-5", "UTC", 1772791200), 1773046800);
  EXPECT_EQ(Next("* * * * *", "UTC", 1772791200), 1772791260);     // strictly after
  EXPECT_EQ(Next("* * * * *", "UTC", 1772791230), 1772791260);
  EXPECT_EQ(Next("0 0 1 1 *", "UTC", 1772791200), 1798761600);     // 2027-01-01
}

TEST(CronNextFire, LeapDaysAndImpossibleDates) {
  EXPECT_EQ(Next("0 0 29 2 *", "UTC", 1709251200), 1835395200);    // 2024-03-01 → 2028-02-29
  EXPECT_EQ(Next("0 0 29 2 *", "UTC", 3981398400), 4233686400);    // 2096 → 2104: 2100 is no leap year
  EXPECT_EQ(Next("0 0 30 2 *", "UTC", 1709251200), std::nullopt);
  EXPECT_EQ(Next("0 0 31 4,6,9,11 *", "UTC", 1709251200), std::nullopt);
  EXPECT_EQ(Next("0 0 31 * *", "UTC", 1772323200), 1774915200);    // 2026-03-31
}

TEST(CronNextFire, DayOfMonthOrDayOfWeek) {
  // Both restricted: the 10th OR any Friday. 2026-03-01 is a Sunday.
  EXPECT_EQ(Fires("0 0 10 * 5", "UTC", 1772323200, 3), (std::vector<int64_t>{1772755200, 1773100800, 1773360000}));
  // dom starts with '*': both must match (days 1, 6, 11, ... that are Fridays).
  EXPECT_EQ(Fires("0 0 */5 * 5", "UTC", 1772323200, 2), (std::vector<int64_t>{1772755200, 1777593600}));
  // Only dom restricted: just the 10th.
  EXPECT_EQ(Next("0 0 10 * *", "UTC", 1772323200), 1773100800);
}

TEST(CronNextFire, BerlinSpringForward) {
  // 02:30 does not exist on 2026-03-29: a fixed-time job fires at 03:00 CEST (01:00Z), then
  // normally the next day.
  EXPECT_EQ(Fires("30 2 * * *", "Europe/Berlin", 1774699200, 2), (std::vector<int64_t>{1774746000, 1774830600}));
  // Several skipped times fire once.
  EXPECT_EQ(Fires("0,15,30 2 * * *", "Europe/Berlin", 1774699200, 2), (std::vector<int64_t>{1774746000, 1774830600 - 1800}));
  // A wildcard job skips the missing hour: 01:30 CET (00:30Z), then 03:30 CEST (01:30Z).
  EXPECT_EQ(Fires("30 * * * *", "Europe/Berlin", 1774742400, 2), (std::vector<int64_t>{1774744200, 1774747800}));
}

TEST(CronNextFire, BerlinFallBack) {
  // 02:30 happens twice on 2026-10-25: a fixed-time job fires at the first one only.
  EXPECT_EQ(Fires("30 2 * * *", "Europe/Berlin", 1792843200, 2), (std::vector<int64_t>{1792888200, 1792978200}));
  // A wildcard job fires in both passes: every 60 minutes of real time.
  EXPECT_EQ(Fires("30 * * * *", "Europe/Berlin", 1792886400, 3),
            (std::vector<int64_t>{1792888200, 1792891800, 1792895400}));
  std::vector<int64_t> quarter = Fires("*/15 * * * *", "Europe/Berlin", 1792879200, 20);  // from 22:00Z
  ASSERT_EQ(quarter.size(), 20u);
  for (size_t i = 0; i < quarter.size(); ++i) EXPECT_EQ(quarter[i], 1792879200 + 900 * int64_t(i + 1));
}

TEST(CronNextFire, NewYorkTransitions) {
  EXPECT_EQ(Next("30 2 * * *", "America/New_York", 1772884800), 1772953200);  // gap → 03:00 EDT
  EXPECT_EQ(Fires("30 1 * * *", "America/New_York", 1793448000, 2), (std::vector<int64_t>{1793511000, 1793601000}));
  EXPECT_EQ(Next("@daily", "America/New_York", 1782907200), 1782964800);  // midnight EDT = 04:00Z
}

TEST(CronNextFire, LordHoweHalfHourShift) {
  // 02:15 is skipped on 2026-10-04 (02:00 → 02:30): fires at 02:30 LHDT = 15:30Z the day before.
  EXPECT_EQ(Next("15 2 * * *", "Australia/Lord_Howe", 1790985600), 1791041400);
  // 01:45 happens twice on 2026-04-05: once for a fixed job, twice for a wildcard one.
  EXPECT_EQ(Next("45 1 * * *", "Australia/Lord_Howe", 1775260800), 1775313900);
  EXPECT_EQ(Next("45 1 * * *", "Australia/Lord_Howe", 1775313900), 1775313900 + 86400 + 1800);
  EXPECT_EQ(Fires("45 * * * *", "Australia/Lord_Howe", 1775310000, 3),
            (std::vector<int64_t>{1775310300, 1775313900, 1775315700}));
}

TEST(CronNextFire, SamoaSkippedDay) {
  // 2011-12-30 never happened in Apia: noon that day becomes the first instant of the 31st.
  EXPECT_EQ(Fires("0 12 * * *", "Pacific/Apia", 1325199600, 2), (std::vector<int64_t>{1325239200, 1325282400}));
}

}  // namespace
}  // namespace oc::cron
