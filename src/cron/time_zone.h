// Time zones for cron (SPEC §13). libstdc++ 12 has no std::chrono::tzdb, so this reads the system's
// TZif files (RFC 8536: versions 1, 2 and 3; the 64-bit section when present) and evaluates the
// POSIX TZ string in the file's footer for instants after the last listed transition — that is
// what carries today's DST rules into the future (files built "slim" list no future transitions).
//
// Contract in brief:
// - Load("Europe/Berlin") reads <TZDIR or /usr/share/zoneinfo>/Europe/Berlin once per process and
//   caches the parsed zone (a tzdata update is seen after a restart). "UTC" and "Etc/UTC" always
//   load, even without tzdata. Errors are kInvalidParams: "unknown time zone: X" for a missing
//   file or a name that is not a plain relative zone name (empty, "..", a leading '/', characters
//   outside [A-Za-z0-9_+-/]); "bad time zone file for X: ..." for a corrupt one.
// - A TimeZone is immutable and cheap to copy (the data is shared); any thread may use it. Load()
//   is thread-safe.
// - Leap-second records in a file ("right/..." zones) are ignored: times here are POSIX seconds.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace oc::cron {

// A wall-clock reading in some zone (or in UTC). Fields are not normalised by the types: the
// functions that produce one always give valid values; functions that take one say what they do.
struct LocalTime {
  int year = 1970;
  int month = 1;   // 1..12
  int day = 1;     // 1..31
  int hour = 0;    // 0..23
  int minute = 0;  // 0..59
  int second = 0;  // 0..59
  int weekday = 4;  // 0 = Sunday .. 6 = Saturday (output only: ignored by ToUtc)
  bool operator==(const LocalTime&) const = default;
};

// Proleptic Gregorian calendar helpers.
bool IsLeapYear(int64_t year);
int DaysInMonth(int64_t year, int month);  // month 1..12
// Days since 1970-01-01 of a civil date (month 1..12; day may be out of range: it is counted on).
int64_t DaysFromCivil(int64_t year, int month, int day);
// The civil date of a day number; weekday 0 = Sunday. Time fields are zero.
LocalTime CivilFromDays(int64_t days);
// A wall time read as if it were UTC: seconds since the epoch of that reading ("wall seconds").
int64_t WallSeconds(const LocalTime& t);
// The inverse: a wall-seconds value back to its fields (with weekday).
LocalTime FromWallSeconds(int64_t wall);
// Floor division, for negative times.
int64_t FloorDiv(int64_t a, int64_t b);

class TimeZone {
 public:
  struct Data;  // the parsed zone (time_zone.cpp)

  // UTC: offset 0 forever, name "UTC".
  static TimeZone Utc();
  // See the contract above.
  static Result<TimeZone> Load(std::string_view iana_name);
  // Parses TZif bytes (a whole file) under `name`; kInvalidParams "bad time zone file for <name>:
  // <why>" when malformed. For tests and the fuzzer; Load() uses it.
  static Result<TimeZone> FromTzif(std::string_view name, std::string_view bytes);
  // A zone defined only by a POSIX TZ string, e.g. "CET-1CEST,M3.5.0,M10.5.0/3" (the TZif footer
  // syntax, including the version 3 extensions: hours -167..167 in rule times). kInvalidParams
  // "bad TZ rule "<text>": <why>" when malformed.
  static Result<TimeZone> FromPosixRule(std::string_view name, std::string_view rule);

  const std::string& name() const;
  // Seconds east of UTC in effect at the instant `utc_seconds`.
  int64_t OffsetAt(int64_t utc_seconds) const;
  // The instant(s) at which the wall clock reads `local` (weekday ignored; fields are normalised
  // arithmetically, so hour 24 is the next day's midnight).
  struct Resolved {
    enum class Kind { kUnique, kRepeated, kSkipped };
    Kind kind = Kind::kUnique;
    int64_t first = 0;   // kUnique: the instant; kRepeated: the earlier one; kSkipped: the first
                         // instant after the gap (the transition itself)
    int64_t second = 0;  // kRepeated: the later instant; otherwise == first
  };
  Resolved Resolve(const LocalTime& local) const;
  // Local wall time → UTC. Gap (spring forward): the first instant after the gap; overlap (fall
  // back): the earlier instant.
  int64_t ToUtc(const LocalTime& local) const;
  // UTC → local wall time with weekday.
  LocalTime ToLocal(int64_t utc_seconds) const;

 private:
  explicit TimeZone(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  Resolved SlowResolve(int64_t wall) const;
  int64_t FirstInstantPast(int64_t wall, int64_t lo, int64_t hi) const;
  std::shared_ptr<const Data> data_;
};

}  // namespace oc::cron
