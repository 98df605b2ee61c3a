#include "cron/cron_expr.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

namespace oc::cron {
namespace {

constexpr size_t kMaxExprChars = 1024;
constexpr int64_t kDay = 86400;
constexpr int64_t kSearchDays = 8 * 366;
// Larger than any DST gap or overlap: candidates this far before `after` in wall time cannot come
// after it, and once one is found, later wall times this far on cannot come before it.
constexpr int64_t kShiftMargin = 3 * 3600;

struct FieldSpec {
  const char* name;
  int min;
  int max;  // day of week: 7 (= Sunday) is accepted and folded to 0
  const char* const* names;  // lower-case names for min, min+1, ...; nullptr when none
  int name_count;
};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

constexpr FieldSpec kFields[] = {
    {"minute", 0, 59, nullptr, 0},
    {"hour", 0, 23, nullptr, 0},
    {"day-of-month", 1, 31, nullptr, 0},
    {"month", 1, 12, kMonthNames, 12},
    {"day-of-week", 0, 7, kDayNames, 7},
};

struct Macro {
  const char* name;
  const char* expansion;
};
constexpr Macro kMacros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},  {"@midnight", "0 0 * * *"}, {"@hourly", "0 * * * *"},
};

// Parses one field into a 0..63 bit mask; errors are the detail text only.
class FieldParser {
 public:
  explicit FieldParser(const FieldSpec& spec) : spec_(spec) {}

  Result<uint64_t> Parse(std::string_view field) const {
    uint64_t bits = 0;
    size_t begin = 0;
    while (true) {
      const size_t comma = field.find(',', begin);
      std::string_view item = field.substr(begin, comma == std::string_view::npos ? field.npos : comma - begin);
      if (item.empty()) return Detail("empty list element");
      auto item_bits = ParseItem(item);
      if (!item_bits.ok()) return item_bits.error();
      bits |= *item_bits;
      if (comma == std::string_view::npos) break;
      begin = comma + 1;
    }
    return bits;
  }

 private:
  Error Detail(std::string text) const { return MakeError(ErrorCode::kInvalidParams, std::move(text)); }

  Result<int> ParseValue(std::string_view token) const {
    if (token.empty()) return Detail("missing value");
    if (std::isdigit(static_cast<unsigned char>(token.front()))) {
      if (token.size() > 4 || !std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return Detail("bad token \"" + std::string(token) + "\"");
      int v = 0;
      for (char c : token) v = v * 10 + (c - '0');
      if (v < spec_.min || v > spec_.max)
        return Detail(std::to_string(v) + " is out of range " + std::to_string(spec_.min) + "-" + std::to_string(spec_.max));
      return v;
    }
    std::string lower(token);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    for (int i = 0; i < spec_.name_count; ++i)
      if (lower == spec_.names[i]) return spec_.min + i;
    return Detail("bad token \"" + std::string(token) + "\"");
  }

  Result<uint64_t> ParseItem(std::string_view item) const {
    std::string_view base = item;
    int step = 1;
    const size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      base = item.substr(0, slash);
      std::string_view step_text = item.substr(slash + 1);
      if (step_text.empty() || step_text.size() > 4 ||
          !std::all_of(step_text.begin(), step_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return Detail("bad step \"" + std::string(step_text) + "\"");
      step = 0;
      for (char c : step_text) step = step * 10 + (c - '0');
      if (step < 1 || step > spec_.max - spec_.min + 1)
        return Detail("step " + std::to_string(step) + " is out of range 1-" + std::to_string(spec_.max - spec_.min + 1));
    }
    int low = spec_.min, high = spec_.max;
    if (base != "*") {
      const size_t dash = base.find('-');
      auto first = ParseValue(base.substr(0, dash));
      if (!first.ok()) return first.error();
      low = *first;
      if (dash != std::string_view::npos) {
        auto last = ParseValue(base.substr(dash + 1));
        if (!last.ok()) return last.error();
        high = *last;
        if (high < low)
          return Detail("range " + std::string(base) + " runs backwards");
      } else if (slash == std::string_view::npos) {
        high = low;  // a single value; "a/n" runs to the field's end
      }
    }
    uint64_t bits = 0;
    for (int v = low; v <= high; v += step) bits |= uint64_t{1} << v;
    return bits;
  }

  const FieldSpec& spec_;
};

std::vector<std::string_view> SplitFields(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    const size_t begin = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > begin) fields.push_back(text.substr(begin, i - begin));
  }
  return fields;
}

Error ExprError(std::string_view text, const std::string& detail) {
  return MakeError(ErrorCode::kInvalidParams, "cron expression \"" + std::string(text) + "\": " + detail);
}

}  // namespace

bool CronExpr::MatchesDay(int month, int day, int weekday) const {
  if (!months.test(static_cast<size_t>(month))) return false;
  const bool dom = days_of_month.test(static_cast<size_t>(day));
  const bool dow = days_of_week.test(static_cast<size_t>(weekday));
  if (dom_star || dow_star) return dom && dow;
  return dom || dow;
}

Result<CronExpr> ParseCronExpr(std::string_view text) {
  const std::string_view shown = text.substr(0, 80);  // long inputs are cut in messages
  if (text.size() > kMaxExprChars) return ExprError(shown, "longer than 1024 characters");
  std::vector<std::string_view> fields = SplitFields(text);
  if (fields.size() == 1 && fields[0].front() == '@') {
    for (const Macro& m : kMacros)
      if (fields[0] == m.name) return ParseCronExpr(m.expansion);
    return ExprError(shown, "unknown macro \"" + std::string(fields[0]) + "\"");
  }
  if (fields.size() != 5)
    return ExprError(shown, "expected 5 fields (minute hour day-of-month month day-of-week), got " +
                                std::to_string(fields.size()));
  std::array<uint64_t, 5> bits{};
  for (size_t i = 0; i < 5; ++i) {
    auto parsed = FieldParser(kFields[i]).Parse(fields[i]);
    if (!parsed.ok()) return ExprError(shown, std::string(kFields[i].name) + " field: " + parsed.error().message);
    bits[i] = *parsed;
  }
  CronExpr e;
  e.minutes = std::bitset<60>(bits[0]);
  e.hours = std::bitset<24>(bits[1]);
  e.days_of_month = std::bitset<32>(bits[2]);
  e.months = std::bitset<13>(bits[3]);
  e.days_of_week = std::bitset<7>((bits[4] | (bits[4] >> 7)) & 0x7f);  // 7 = Sunday = 0
  e.dom_star = fields[2].front() == '*';
  e.dow_star = fields[4].front() == '*';
  e.wildcard_time = fields[0].front() == '*' || fields[1].front() == '*';
  return e;
}

namespace {

// Lowers `best` to the earliest fire instant of calendar day `day` (days since the epoch, wall
// time) that is after `after`. Skips wall times too far before `after_wall` or after `best_wall`.
void ScanDay(const CronExpr& expr, const TimeZone& tz, int64_t day, int64_t after, int64_t after_wall,
             std::optional<int64_t>& best, int64_t& best_wall) {
  const LocalTime date = CivilFromDays(day);
  auto consider = [&](int64_t instant, int64_t wall) {
    if (instant > after && (!best || instant < *best)) {
      best = instant;
      best_wall = wall;
    }
  };
  for (int h = 0; h < 24; ++h) {
    if (!expr.hours.test(static_cast<size_t>(h))) continue;
    const int64_t hour_wall = day * kDay + int64_t{h} * 3600;
    if (hour_wall + 3599 < after_wall - kShiftMargin) continue;
    if (best && hour_wall > best_wall + kShiftMargin) return;
    for (int m = 0; m < 60; ++m) {
      if (!expr.minutes.test(static_cast<size_t>(m))) continue;
      const int64_t wall = hour_wall + int64_t{m} * 60;
      if (wall < after_wall - kShiftMargin) continue;
      if (best && wall > best_wall + kShiftMargin) return;
      LocalTime local = date;
      local.hour = h;
      local.minute = m;
      const TimeZone::Resolved r = tz.Resolve(local);
      switch (r.kind) {
        case TimeZone::Resolved::Kind::kUnique:
          consider(r.first, wall);
          break;
        case TimeZone::Resolved::Kind::kRepeated:
          consider(r.first, wall);
          if (expr.wildcard_time) consider(r.second, wall);
          break;
        case TimeZone::Resolved::Kind::kSkipped:
          if (!expr.wildcard_time) consider(r.first, wall);
          break;
      }
    }
  }
}

}  // namespace

std::optional<int64_t> NextFire(const CronExpr& expr, const TimeZone& tz, int64_t after_utc_seconds) {
  const int64_t after_wall = after_utc_seconds + tz.OffsetAt(after_utc_seconds);
  const int64_t first_day = FloorDiv(after_wall, kDay) - 1;  // the day before: wall-time quirks
  std::optional<int64_t> best;
  int64_t best_wall = 0;
  for (int64_t day = first_day; day <= first_day + kSearchDays; ++day) {
    if (best && day * kDay > best_wall + kShiftMargin) break;
    const LocalTime date = CivilFromDays(day);
    if (!expr.MatchesDay(date.month, date.day, date.weekday)) continue;
    ScanDay(expr, tz, day, after_utc_seconds, after_wall, best, best_wall);
  }
  return best;
}

}  // namespace oc::cron
