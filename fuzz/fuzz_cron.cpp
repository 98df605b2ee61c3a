// Fuzzes cron's text parsing (SPEC §13): the input as a cron expression, an interval, a date-time,
// a schedule (as JSON, and as the value of each schedule key), a POSIX TZ rule and a TZif file.
//
// Invariants checked:
//  - a parsed expression's next fire time (UTC) is after the start, lands on a second-0 wall time
//    the expression matches, and no matching minute lies between (checked when they are near);
//    in a DST zone the next fire time is still after the start;
//  - intervals are 1s..3650d; a parsed date-time formats back (FormatUtc) to the same instant;
//  - a parsed schedule's stored form parses back to the same stored form and next run;
//  - zones from TZ rules or TZif bytes give offsets within ±26h, and a wall time they resolve
//    uniquely reads back as the same wall time;
//  - every error is INVALID_PARAMS with a message.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/json.h"
#include "cron/cron_expr.h"
#include "cron/schedule.h"
#include "cron/time_zone.h"
#include "fuzz_check.h"

namespace {

using namespace oc::cron;
namespace json = boost::json;

constexpr int64_t kStart = 1767225600;  // 2026-01-01T00:00:00Z
constexpr int64_t kMaxOffset = 26 * 3600;

void CheckError(const oc::Error& e) {
  FUZZ_CHECK(e.code == oc::ErrorCode::kInvalidParams);
  FUZZ_CHECK(!e.message.empty());
}

bool Matches(const CronExpr& e, const LocalTime& t) {
  return e.minutes.test(static_cast<size_t>(t.minute)) && e.hours.test(static_cast<size_t>(t.hour)) &&
         e.MatchesDay(t.month, t.day, t.weekday);
}

void CheckExpr(std::string_view text, int64_t after, const TimeZone& dst_zone) {
  auto parsed = ParseCronExpr(text);
  if (!parsed.ok()) return CheckError(parsed.error());
  const CronExpr& e = *parsed;
  const TimeZone utc = TimeZone::Utc();
  auto next = NextFire(e, utc, after);
  if (next) {
    FUZZ_CHECK(*next > after);
    const LocalTime t = utc.ToLocal(*next);
    FUZZ_CHECK(t.second == 0);
    FUZZ_CHECK(Matches(e, t));
    if (*next - after <= 2 * 86400) {
      for (int64_t m = (after / 60 + 1) * 60; m < *next; m += 60) FUZZ_CHECK(!Matches(e, utc.ToLocal(m)));
    }
  }
  auto local = NextFire(e, dst_zone, after);
  if (local) FUZZ_CHECK(*local > after);
}

void CheckEvery(std::string_view text) {
  auto every = ParseEvery(text);
  if (!every.ok()) return CheckError(every.error());
  FUZZ_CHECK(every->count() >= 1000);
  FUZZ_CHECK(every->count() <= int64_t{3650} * 86400 * 1000);
}

void CheckDateTime(std::string_view text, const TimeZone& zone) {
  auto ms = ParseDateTime(text, zone);
  if (!ms.ok()) return CheckError(ms.error());
  auto again = ParseDateTime(FormatUtc(*ms), TimeZone::Utc());
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *ms);
}

void CheckSchedule(const json::value& v, const TimeZone& default_tz) {
  auto s = ParseSchedule(v, default_tz);
  if (!s.ok()) return CheckError(s.error());
  const json::value stored = ScheduleToJson(*s);
  auto again = ParseSchedule(stored, default_tz);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(ScheduleToJson(*again) == stored);
  FUZZ_CHECK(NextRunMs(*again, kStart * 1000, kStart * 1000 - 5) == NextRunMs(*s, kStart * 1000, kStart * 1000 - 5));
}

void CheckZone(const oc::Result<TimeZone>& zone) {
  if (!zone.ok()) return CheckError(zone.error());
  for (int64_t t : {int64_t{-4000000000}, int64_t{0}, kStart, kStart + 180 * 86400, int64_t{4200000000}}) {
    const int64_t offset = zone->OffsetAt(t);
    FUZZ_CHECK(offset >= -kMaxOffset && offset <= kMaxOffset);
    const LocalTime local = zone->ToLocal(t);
    const TimeZone::Resolved r = zone->Resolve(local);
    if (r.kind == TimeZone::Resolved::Kind::kUnique) FUZZ_CHECK(zone->ToLocal(r.first) == local);
    FUZZ_CHECK(r.first <= r.second);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static const TimeZone berlin_rule = *TimeZone::FromPosixRule("rule", "CET-1CEST,M3.5.0,M10.5.0/3");
  // Start somewhere within ~8 years, at a seconds value the input chooses.
  int64_t after = kStart;
  for (size_t i = 0; i < size && i < 4; ++i) after += int64_t{data[i]} << (8 * i);
  after = kStart + after % (8 * 366 * 86400);

  CheckExpr(input, after, berlin_rule);
  CheckEvery(input);
  CheckDateTime(input, TimeZone::Utc());
  CheckDateTime(input, berlin_rule);

  boost::system::error_code ec;
  json::value v = json::parse(input, ec);
  if (!ec) CheckSchedule(v, berlin_rule);
  for (const char* key : {"cron", "every", "at"}) CheckSchedule(json::object{{key, input}}, berlin_rule);

  CheckZone(TimeZone::FromPosixRule("fuzz", input));
  CheckZone(TimeZone::FromTzif("fuzz", input));
  return 0;
}
