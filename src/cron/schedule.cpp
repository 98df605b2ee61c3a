#include "cron/schedule.h"

#include <cstdio>

namespace oc::cron {
namespace {

constexpr int64_t kMaxEveryMs = int64_t{3650} * 86400 * 1000;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

Error ScheduleError(std::string_view key, const std::string& message) {
  const std::string path = key.empty() ? "schedule" : "schedule." + std::string(key);
  json::object data;
  data["path"] = path;
  return MakeError(ErrorCode::kInvalidParams, path + ": " + message, std::move(data));
}

// Reads exactly `n` digits at `pos` (advancing it); nullopt when they are not there.
std::optional<int> Digits(std::string_view s, size_t& pos, size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

Error BadDateTime(std::string_view text, std::string_view why) {
  return MakeError(ErrorCode::kInvalidParams,
                   "bad date-time \"" + std::string(text.substr(0, 64)) + "\": " + std::string(why));
}

// "HH:MM[:SS[.fff]]" at `pos` into `t` and `ms`.
bool ReadClock(std::string_view s, size_t& pos, LocalTime& t, int& ms) {
  auto hour = Digits(s, pos, 2);
  if (!hour || pos >= s.size() || s[pos++] != ':') return false;
  auto minute = Digits(s, pos, 2);
  if (!minute) return false;
  t.hour = *hour;
  t.minute = *minute;
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    auto second = Digits(s, pos, 2);
    if (!second) return false;
    t.second = *second;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      size_t digits = 0;
      int scale = 100;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (digits < 3) ms += (s[pos] - '0') * scale;
        scale /= 10;
        ++digits;
        ++pos;
      }
      if (digits == 0 || digits > 9) return false;
    }
  }
  return t.hour <= 23 && t.minute <= 59 && t.second <= 59;
}

// "Z" | [+-]HH[:MM] | [+-]HHMM at `pos` (to the end of the text) → seconds east of UTC.
std::optional<int64_t> ReadZone(std::string_view s, size_t pos) {
  if (pos + 1 == s.size() && (s[pos] == 'Z' || s[pos] == 'z')) return 0;
  if (pos >= s.size() || (s[pos] != '+' && s[pos] != '-')) return std::nullopt;
  const int sign = s[pos++] == '-' ? -1 : 1;
  auto hours = Digits(s, pos, 2);
  if (!hours) return std::nullopt;
  int minutes = 0;
  if (pos < s.size()) {
    if (s[pos] == ':') ++pos;
    auto m = Digits(s, pos, 2);
    if (!m) return std::nullopt;
    minutes = *m;
  }
  if (pos != s.size() || *hours > 23 || minutes > 59) return std::nullopt;
  return sign * (int64_t{*hours} * 3600 + int64_t{minutes} * 60);
}

}  // namespace

Result<int64_t> ParseDateTime(std::string_view text, const TimeZone& tz) {
  const std::string_view s = Trim(text);
  size_t pos = 0;
  LocalTime t;
  auto year = Digits(s, pos, 4);
  if (!year || pos >= s.size() || s[pos++] != '-') return BadDateTime(text, "expected YYYY-MM-DD");
  auto month = Digits(s, pos, 2);
  if (!month || pos >= s.size() || s[pos++] != '-') return BadDateTime(text, "expected YYYY-MM-DD");
  auto day = Digits(s, pos, 2);
  if (!day) return BadDateTime(text, "expected YYYY-MM-DD");
  t.year = *year;
  t.month = *month;
  t.day = *day;
  if (t.year < 1970 || t.month < 1 || t.month > 12 || t.day < 1 || t.day > DaysInMonth(t.year, t.month))
    return BadDateTime(text, "no such date");
  int ms = 0;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
    ++pos;
    if (!ReadClock(s, pos, t, ms)) return BadDateTime(text, "expected the time as HH:MM[:SS[.fff]]");
  }
  if (pos == s.size()) return tz.ToUtc(t) * 1000 + ms;
  auto offset = ReadZone(s, pos);
  if (!offset) return BadDateTime(text, "expected Z or an offset like +01:00 after the time");
  return (WallSeconds(t) - *offset) * 1000 + ms;
}

std::string FormatUtc(int64_t ms) {
  const int64_t seconds = FloorDiv(ms, 1000);
  const int64_t rest = ms - seconds * 1000;
  const LocalTime t = FromWallSeconds(seconds);
  char buf[48];
  if (rest != 0) {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.year, t.month, t.day, t.hour, t.minute,
                  t.second, static_cast<int>(rest));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", t.year, t.month, t.day, t.hour, t.minute,
                  t.second);
  }
  return buf;
}

Result<std::chrono::milliseconds> ParseEvery(std::string_view text) {
  const std::string_view s = Trim(text);
  auto bad = [&](std::string_view why) {
    return MakeError(ErrorCode::kInvalidParams,
                     "bad interval \"" + std::string(s.substr(0, 64)) + "\": " + std::string(why));
  };
  if (s.empty()) return bad("empty (expected e.g. 30m, 1h30m, 2d)");
  int64_t total_ms = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t begin = pos;
    int64_t n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && pos - begin < 12) n = n * 10 + (s[pos++] - '0');
    if (pos == begin) return bad("expected a number followed by s, m, h or d (e.g. 30m, 1h30m)");
    if (pos >= s.size()) return bad("missing unit after " + std::to_string(n) + " (s, m, h or d)");
    int64_t unit_ms = 0;
    switch (s[pos]) {
      case 's': unit_ms = 1000; break;
      case 'm': unit_ms = 60 * 1000; break;
      case 'h': unit_ms = 3600 * 1000; break;
      case 'd': unit_ms = 86400 * 1000; break;
      default: return bad("unknown unit '" + std::string(1, s[pos]) + "' (s, m, h or d)");
    }
    ++pos;
    if (n > kMaxEveryMs / unit_ms) return bad("longer than 3650d");
    total_ms += n * unit_ms;
    if (total_ms > kMaxEveryMs) return bad("longer than 3650d");
  }
  if (total_ms < 1000) return bad("shorter than the minimum of 1s");
  return std::chrono::milliseconds(total_ms);
}

Result<Schedule> ParseSchedule(const json::value& v, const TimeZone& default_tz) {
  const json::object* o = v.if_object();
  if (!o) return ScheduleError("", "expected an object with one of cron, every, at");
  for (const auto& kv : *o) {
    const std::string_view key = kv.key();
    if (key != "cron" && key != "every" && key != "at" && key != "tz") return ScheduleError(key, "unknown key");
    if (!kv.value().is_string()) return ScheduleError(key, "expected a string");
  }
  const int kinds = int{o->contains("cron")} + int{o->contains("every")} + int{o->contains("at")};
  if (kinds != 1) return ScheduleError("", "expected exactly one of cron, every, at");
  Schedule s;
  s.tz = default_tz;
  if (auto tz_name = GetString(*o, "tz")) {
    if (o->contains("every")) return ScheduleError("tz", "not used with every");
    auto tz = TimeZone::Load(*tz_name);
    if (!tz.ok()) return ScheduleError("tz", tz.error().message);
    s.tz = *tz;
    s.tz_given = true;
  }
  if (auto cron = GetString(*o, "cron")) {
    s.kind = Schedule::Kind::kCron;
    s.cron_text = std::string(Trim(*cron));
    auto expr = ParseCronExpr(s.cron_text);
    if (!expr.ok()) return ScheduleError("cron", expr.error().message);
    s.cron = *expr;
  } else if (auto every = GetString(*o, "every")) {
    s.kind = Schedule::Kind::kEvery;
    s.every_text = std::string(Trim(*every));
    auto interval = ParseEvery(s.every_text);
    if (!interval.ok()) return ScheduleError("every", interval.error().message);
    s.every = *interval;
  } else {
    s.kind = Schedule::Kind::kAt;
    auto at = ParseDateTime(*GetString(*o, "at"), s.tz);
    if (!at.ok()) return ScheduleError("at", at.error().message);
    s.at_ms = *at;
  }
  return s;
}

std::optional<int64_t> NextRunMs(const Schedule& s, int64_t after_ms, int64_t anchor_ms) {
  switch (s.kind) {
    case Schedule::Kind::kCron: {
      auto fire = NextFire(s.cron, s.tz, FloorDiv(after_ms, 1000));
      if (!fire) return std::nullopt;
      return *fire * 1000;
    }
    case Schedule::Kind::kEvery: {
      const int64_t every = s.every.count();
      if (after_ms < anchor_ms) return anchor_ms + every;
      return anchor_ms + (FloorDiv(after_ms - anchor_ms, every) + 1) * every;
    }
    case Schedule::Kind::kAt:
      if (s.at_ms > after_ms) return s.at_ms;
      return std::nullopt;
  }
  return std::nullopt;
}

json::value ScheduleToJson(const Schedule& s) {
  json::object o;
  switch (s.kind) {
    case Schedule::Kind::kCron:
      o["cron"] = s.cron_text;
      if (s.tz_given) o["tz"] = s.tz.name();
      break;
    case Schedule::Kind::kEvery:
      o["every"] = s.every_text;
      break;
    case Schedule::Kind::kAt:
      o["at"] = FormatUtc(s.at_ms);
      break;
  }
  return o;
}

}  // namespace oc::cron
