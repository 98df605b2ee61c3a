// Job schedules (SPEC §13), as stored in cron_jobs.schedule and passed to cron.add:
//   {"cron": "m h dom mon dow", "tz"?: "Europe/Berlin"}  wall-clock schedule (cron_expr.h); without
//                                                         tz, the default zone (cron.defaultTimeZone)
//   {"every": "30m"}                                      fixed interval, anchored at the job's
//                                                         creation: fires at created + k·every
//   {"at": "2026-03-01T09:00:00+01:00", "tz"?: ...}       once. ISO-8601 date and time with Z or an
//                                                         offset; without one, wall time in tz (or
//                                                         the default zone)
// Intervals: digits and a unit s, m, h or d, several combined ("1h30m", "1d12h"), at least 1s and
// at most 3650d. Pure functions: any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"
#include "cron/cron_expr.h"
#include "cron/time_zone.h"

namespace oc::cron {

struct Schedule {
  enum class Kind { kCron, kEvery, kAt };
  Kind kind = Kind::kEvery;
  // kCron
  std::string cron_text;  // as given, trimmed
  CronExpr cron;
  TimeZone tz = TimeZone::Utc();  // the zone the expression is evaluated in
  bool tz_given = false;          // false: tz is the default zone at parse time (not stored)
  // kEvery
  std::string every_text;  // as given, trimmed
  std::chrono::milliseconds every{0};
  // kAt
  int64_t at_ms = 0;  // the instant (a local `at` is resolved when parsed)
};

// Validates and parses a schedule object (see above). Unknown keys, none or several of
// cron/every/at, and "tz" with "every" are errors. Errors: kInvalidParams, the message starting
// with the offending key ("schedule.cron: ...", "schedule.tz: unknown time zone: X") and
// data {path: "schedule.<key>"}.
Result<Schedule> ParseSchedule(const json::value& v, const TimeZone& default_tz);

// "30m", "1h30m", "2d" → duration (see above). kInvalidParams naming the bad text otherwise.
// Also used for agents.<id>.heartbeat.every.
Result<std::chrono::milliseconds> ParseEvery(std::string_view text);

// ISO-8601 / RFC 3339 date-time: "2026-03-01T09:00:00Z", "...+01:00", "+0100", "+01", fractional
// seconds (kept to the millisecond), 'T' or one space between date and time, seconds optional,
// the time optional (midnight). Without a zone designator it is wall time in `tz` (a skipped time
// resolves to the end of the gap, a repeated one to its first occurrence). Years 1970..9999.
// Returns ms since the epoch; kInvalidParams "bad date-time "<text>": <why>".
Result<int64_t> ParseDateTime(std::string_view text, const TimeZone& tz);
// ms since the epoch → "2026-03-01T08:00:00Z" (".123" when the ms are not zero).
std::string FormatUtc(int64_t ms);

// The first run strictly after `after_ms`: cron → NextFire; every → anchor_ms + k·every (the
// first such instant after after_ms; anchor_ms itself is never a run); at → at_ms if still ahead.
// nullopt when there is none.
std::optional<int64_t> NextRunMs(const Schedule& s, int64_t after_ms, int64_t anchor_ms);

// The stored form: {cron, tz?} (tz only when given), {every}, or {at} as FormatUtc of the instant.
// ParseSchedule(ScheduleToJson(s), default) gives back an equal schedule.
json::value ScheduleToJson(const Schedule& s);

}  // namespace oc::cron
