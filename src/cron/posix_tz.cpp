#include "cron/posix_tz.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

#include "cron/time_zone.h"

namespace oc::cron {
namespace {

constexpr int64_t kDay = 86400;

// A cursor over the TZ string; every Read* returns nullopt (and sets why) on malformed input.
class RuleReader {
 public:
  explicit RuleReader(std::string_view text) : text_(text) {}
  bool done() const { return pos_ >= text_.size(); }
  bool Consume(char c) {
    if (done() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  char Peek() const { return done() ? '\0' : text_[pos_]; }
  const std::string& why() const { return why_; }

  // An abbreviation: alphabetic (3+ chars in POSIX; we accept 1+), or quoted in <...>.
  bool ReadName() {
    if (Consume('<')) {
      size_t close = text_.find('>', pos_);
      if (close == std::string_view::npos || close == pos_) return Fail("unterminated or empty <name>");
      for (size_t i = pos_; i < close; ++i) {
        char c = text_[i];
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-') return Fail("bad character in <name>");
      }
      pos_ = close + 1;
      return true;
    }
    size_t begin = pos_;
    while (!done() && std::isalpha(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    return pos_ > begin || Fail("expected a zone abbreviation");
  }

  // [+-]hh[:mm[:ss]] in seconds; hours up to max_hours.
  std::optional<int64_t> ReadHms(int max_hours) {
    int sign = 1;
    if (Consume('-')) {
      sign = -1;
    } else {
      Consume('+');
    }
    auto hours = ReadNumber(0, max_hours);
    if (!hours) return std::nullopt;
    int64_t total = *hours * 3600;
    if (Consume(':')) {
      auto minutes = ReadNumber(0, 59);
      if (!minutes) return std::nullopt;
      total += *minutes * 60;
      if (Consume(':')) {
        auto seconds = ReadNumber(0, 59);
        if (!seconds) return std::nullopt;
        total += *seconds;
      }
    }
    return sign * total;
  }

  std::optional<int64_t> ReadNumber(int64_t min, int64_t max) {
    size_t begin = pos_;
    int64_t v = 0;
    while (!done() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      v = v * 10 + (text_[pos_] - '0');
      if (v > max) return FailNone("number out of range");
      ++pos_;
    }
    if (pos_ == begin) return FailNone("expected a number");
    if (v < min) return FailNone("number out of range");
    return v;
  }

  std::optional<PosixTz::DateRule> ReadDateRule() {
    PosixTz::DateRule rule;
    if (Consume('J')) {
      rule.kind = PosixTz::DateRule::Kind::kJulianNoLeap;
      auto day = ReadNumber(1, 365);
      if (!day) return std::nullopt;
      rule.day = static_cast<int>(*day);
    } else if (Consume('M')) {
      rule.kind = PosixTz::DateRule::Kind::kMonthWeekDay;
      auto month = ReadNumber(1, 12);
      if (!month || !Consume('.')) return FailNone("expected Mm.w.d");
      auto week = ReadNumber(1, 5);
      if (!week || !Consume('.')) return FailNone("expected Mm.w.d");
      auto weekday = ReadNumber(0, 6);
      if (!weekday) return std::nullopt;
      rule.month = static_cast<int>(*month);
      rule.week = static_cast<int>(*week);
      rule.weekday = static_cast<int>(*weekday);
    } else {
      rule.kind = PosixTz::DateRule::Kind::kZeroBased;
      auto day = ReadNumber(0, 365);
      if (!day) return std::nullopt;
      rule.day = static_cast<int>(*day);
    }
    if (Consume('/')) {
      auto time = ReadHms(167);
      if (!time) return std::nullopt;
      rule.time = *time;
    }
    return rule;
  }

 private:
  bool Fail(std::string why) {
    if (why_.empty()) why_ = std::move(why);
    return false;
  }
  std::nullopt_t FailNone(std::string why) {
    Fail(std::move(why));
    return std::nullopt;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string why_;
};

Error BadRule(std::string_view text, const std::string& why) {
  return MakeError(ErrorCode::kInvalidParams, "bad TZ rule \"" + std::string(text) + "\": " + why);
}

// The local-time seconds (wall seconds) at which `rule` happens in `year`.
int64_t RuleWallSeconds(const PosixTz::DateRule& rule, int64_t year) {
  int64_t days = 0;
  switch (rule.kind) {
    case PosixTz::DateRule::Kind::kJulianNoLeap:
      days = DaysFromCivil(year, 1, 1) + rule.day - 1 + ((IsLeapYear(year) && rule.day >= 60) ? 1 : 0);
      break;
    case PosixTz::DateRule::Kind::kZeroBased:
      days = DaysFromCivil(year, 1, 1) + rule.day;
      break;
    case PosixTz::DateRule::Kind::kMonthWeekDay: {
      const int64_t first = DaysFromCivil(year, rule.month, 1);
      const int first_weekday = CivilFromDays(first).weekday;
      days = first + (rule.weekday - first_weekday + 7) % 7 + int64_t{7} * (rule.week - 1);
      const int64_t month_end = first + DaysInMonth(year, rule.month);
      while (days >= month_end) days -= 7;  // week 5 = the last such weekday
      break;
    }
  }
  return days * kDay + rule.time;
}

}  // namespace

Result<PosixTz> ParsePosixTz(std::string_view text) {
  RuleReader r(text);
  PosixTz tz;
  if (!r.ReadName()) return BadRule(text, r.why());
  auto std_west = r.ReadHms(24);
  if (!std_west) return BadRule(text, r.why());
  tz.std_offset = -*std_west;
  if (r.done()) return tz;
  if (!r.ReadName()) return BadRule(text, r.why());
  tz.has_dst = true;
  tz.dst_offset = tz.std_offset + 3600;
  if (!r.done() && r.Peek() != ',') {
    auto dst_west = r.ReadHms(24);
    if (!dst_west) return BadRule(text, r.why());
    tz.dst_offset = -*dst_west;
  }
  if (r.done()) {
    // No rule given: POSIX leaves it to the implementation; like glibc, use the US rules.
    tz.start = {PosixTz::DateRule::Kind::kMonthWeekDay, 0, 3, 2, 0, 7200};
    tz.end = {PosixTz::DateRule::Kind::kMonthWeekDay, 0, 11, 1, 0, 7200};
    return tz;
  }
  if (!r.Consume(',')) return BadRule(text, "expected ',' before the DST start rule");
  auto start = r.ReadDateRule();
  if (!start) return BadRule(text, r.why());
  if (!r.Consume(',')) return BadRule(text, "expected ',' before the DST end rule");
  auto end = r.ReadDateRule();
  if (!end) return BadRule(text, r.why());
  if (!r.done()) return BadRule(text, "unexpected text after the end rule");
  tz.start = *start;
  tz.end = *end;
  return tz;
}

int64_t PosixTz::OffsetAt(int64_t utc_seconds) const {
  if (!has_dst) return std_offset;
  const int64_t year = CivilFromDays(FloorDiv(utc_seconds + std_offset, kDay)).year;
  // The start rule is read in standard time, the end rule in daylight time. Events of the
  // neighbouring years cover rules whose times run past the year's ends.
  struct Event {
    int64_t at;
    bool dst;
  };
  std::array<Event, 6> events{};
  size_t n = 0;
  for (int64_t y = year - 1; y <= year + 1; ++y) {
    events[n++] = {RuleWallSeconds(start, y) - std_offset, true};
    events[n++] = {RuleWallSeconds(end, y) - dst_offset, false};
  }
  // On a tie (DST all year: "EST5EDT,0/0,J365/25") the start wins.
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.at != b.at ? a.at < b.at : (!a.dst && b.dst);
  });
  bool dst = false;
  bool found = false;
  for (const Event& e : events) {
    if (e.at > utc_seconds) break;
    dst = e.dst;
    found = true;
  }
  if (!found) dst = events.front().dst ? false : true;  // before the first event: the other state
  return dst ? dst_offset : std_offset;
}

}  // namespace oc::cron
