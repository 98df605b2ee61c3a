// POSIX TZ strings ("CET-1CEST,M3.5.0,M10.5.0/3"), as found in the footer of TZif files version 2+
// (RFC 8536 §3.3, with the version 3 extension: rule times from -167 to 167 hours). Internal to
// oc_cron_expr: time_zone.cpp uses it for instants after a zone's last listed transition.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace oc::cron {

struct PosixTz {
  // When a DST period starts or ends, in the local time in effect just before it.
  struct DateRule {
    enum class Kind { kJulianNoLeap, kZeroBased, kMonthWeekDay };  // Jn, n, Mm.w.d
    Kind kind = Kind::kMonthWeekDay;
    int day = 0;      // Jn: 1..365; n: 0..365
    int month = 0;    // Mm.w.d: 1..12
    int week = 0;     // 1..5 (5 = the last)
    int weekday = 0;  // 0 = Sunday
    int64_t time = 7200;  // seconds after local midnight (default 02:00)
  };

  int64_t std_offset = 0;  // seconds east of UTC
  bool has_dst = false;
  int64_t dst_offset = 0;
  DateRule start, end;

  // The offset in effect at `utc_seconds`. Works for either hemisphere (start after end in the
  // calendar year means DST spans the new year).
  int64_t OffsetAt(int64_t utc_seconds) const;
};

// Parses a TZ string. Error: kInvalidParams "bad TZ rule "<text>": <why>".
Result<PosixTz> ParsePosixTz(std::string_view text);

}  // namespace oc::cron
