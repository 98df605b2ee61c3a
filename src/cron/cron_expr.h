// Cron expressions (SPEC §13): "m h dom mon dow", evaluated in a time zone's wall time.
//
// Syntax, per field: `*`, a value, `a-b`, `*/n`, `a-b/n`, `a/n` (= a to the field's end, step n),
// and comma-separated lists of these. Month names jan..dec and day names sun..sat (any case;
// also in ranges: mon-fri); day of week 0..7 with both 0 and 7 = Sunday. Macros: @yearly
// (@annually), @monthly, @weekly, @daily (@midnight), @hourly. Ranges must not run backwards.
// Errors are kInvalidParams naming the field and the bad token, e.g.
//   cron expression "61 * * * *": minute field: 61 is out of range 0-59
//
// Matching days (Vixie cron): when both day of month and day of week are restricted, a day
// matches if EITHER matches ("0 0 1,15 * mon" = the 1st, the 15th and every Monday); when one of
// them starts with `*` (also `*/2`), only the other one counts.
//
// Daylight saving time, also as in Vixie cron:
// - Jobs with a fixed time (neither minute nor hour field starts with `*`): a wall time the clock
//   skips (spring forward) fires at the first instant after the gap (30 2 * * * in Berlin on the
//   last Sunday of March fires at 03:00 CEST); a wall time that happens twice (fall back) fires
//   once, at its first occurrence.
// - Wildcard jobs (minute or hour starts with `*`, e.g. "*/15 * * * *"): they follow elapsed time:
//   skipped wall times do not fire, and a repeated hour fires in both of its passes.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "cron/time_zone.h"

namespace oc::cron {

struct CronExpr {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;  // bits 1..31
  std::bitset<13> months;         // bits 1..12
  std::bitset<7> days_of_week;    // bit 0 = Sunday
  bool dom_star = false;  // day-of-month field starts with '*'
  bool dow_star = false;  // day-of-week field starts with '*'
  bool wildcard_time = false;  // minute or hour field starts with '*' (see DST above)

  // Does the calendar day match (month, and the dom/dow rule above)? weekday 0 = Sunday.
  bool MatchesDay(int month, int day, int weekday) const;
};

// Parses an expression (leading/trailing blanks ignored; fields separated by spaces or tabs;
// at most 1024 characters). Errors as above.
Result<CronExpr> ParseCronExpr(std::string_view text);

// The first fire time strictly after `after_utc_seconds` (seconds since the epoch), evaluated in
// `tz` wall time with the DST rules above. nullopt when nothing matches within 8 years (e.g.
// "0 0 30 2 *"; 8 years so that Feb 29 across a non-leap century year is still found).
// Cost: a day-by-day scan; about one microsecond per day skipped, a few per candidate time.
std::optional<int64_t> NextFire(const CronExpr& expr, const TimeZone& tz, int64_t after_utc_seconds);

}  // namespace oc::cron
