#include "cron/time_zone.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <vector>

#include "cron/posix_tz.h"

namespace oc::cron {

constexpr int64_t kDay = 86400;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

bool IsLeapYear(int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && IsLeapYear(year)) return 29;
  return kDays[(month - 1) % 12];
}

// The days-from-civil / civil-from-days algorithms over 400-year eras (March-based years, so the
// leap day is the last day of a year).
int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = FloorDiv(year, 400);
  const int64_t yoe = year - era * 400;
  const int64_t mp = (month + 9) % 12;
  const int64_t doy = (153 * mp + 2) / 5 + day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

LocalTime CivilFromDays(int64_t days) {
  days += 719468;
  const int64_t era = FloorDiv(days, 146097);
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  LocalTime t;
  t.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  t.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  t.year = static_cast<int>(yoe + era * 400 + (t.month <= 2 ? 1 : 0));
  const int64_t weekday = (days - 719468 + 4) % 7;  // 1970-01-01 was a Thursday
  t.weekday = static_cast<int>(weekday < 0 ? weekday + 7 : weekday);
  return t;
}

int64_t WallSeconds(const LocalTime& t) {
  // Months out of range roll into years so DaysFromCivil sees 1..12.
  int64_t month0 = t.month - 1;
  const int64_t year = t.year + FloorDiv(month0, 12);
  month0 -= FloorDiv(month0, 12) * 12;
  return DaysFromCivil(year, static_cast<int>(month0 + 1), 1) * kDay + int64_t{t.day - 1} * kDay +
         int64_t{t.hour} * 3600 + int64_t{t.minute} * 60 + t.second;
}

LocalTime FromWallSeconds(int64_t wall) {
  const int64_t days = FloorDiv(wall, kDay);
  const int64_t rest = wall - days * kDay;
  LocalTime t = CivilFromDays(days);
  t.hour = static_cast<int>(rest / 3600);
  t.minute = static_cast<int>(rest / 60 % 60);
  t.second = static_cast<int>(rest % 60);
  return t;
}

struct TimeZone::Data {
  std::string name;
  std::vector<int64_t> transitions;      // ascending instants
  std::vector<int32_t> offsets_after;    // the offset from each transition on
  int32_t initial_offset = 0;            // before the first transition (time type 0)
  std::optional<PosixTz> rule;           // after the last transition
};

namespace {

constexpr size_t kMaxTzifBytes = 1 << 20;
constexpr int64_t kMaxAbsOffset = 26 * 3600;

Error BadFile(std::string_view name, std::string_view why) {
  return MakeError(ErrorCode::kInvalidParams, "bad time zone file for " + std::string(name) + ": " + std::string(why));
}

Error UnknownZone(std::string_view name) {
  return MakeError(ErrorCode::kInvalidParams, "unknown time zone: " + std::string(name));
}

// Big-endian reads over the file's bytes; `ok` turns false on a read past the end.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  size_t pos() const { return pos_; }
  std::string_view Rest() const { return bytes_.substr(std::min(pos_, bytes_.size())); }
  bool Skip(uint64_t n) {
    if (!ok_ || n > bytes_.size() - pos_) return ok_ = false;
    pos_ += n;
    return true;
  }
  int64_t Signed(int width) {
    if (!Skip(static_cast<uint64_t>(width))) return 0;
    uint64_t v = 0;
    for (int i = 0; i < width; ++i) v = (v << 8) | static_cast<unsigned char>(bytes_[pos_ - width + i]);
    if (width == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
    return static_cast<int64_t>(v);
  }
  uint8_t Byte() { return Skip(1) ? static_cast<uint8_t>(bytes_[pos_ - 1]) : 0; }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

struct TzifHeader {
  char version = 0;
  uint64_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
  // Bytes of the data block that follows, with `time_width`-byte times.
  uint64_t BlockBytes(int time_width) const {
    return timecnt * time_width + timecnt + typecnt * 6 + charcnt + leapcnt * (time_width + 4) + isstdcnt + isutcnt;
  }
};

std::optional<TzifHeader> ReadHeader(ByteReader& in) {
  std::string_view magic = in.Rest().substr(0, 4);
  if (magic != "TZif" || !in.Skip(4)) return std::nullopt;
  TzifHeader h;
  h.version = static_cast<char>(in.Byte());
  in.Skip(15);
  for (uint64_t* count : {&h.isutcnt, &h.isstdcnt, &h.leapcnt, &h.timecnt, &h.typecnt, &h.charcnt})
    *count = static_cast<uint32_t>(in.Signed(4));
  if (!in.ok()) return std::nullopt;
  return h;
}

// Reads one data block (transitions and types) into `data`; leap seconds and the std/ut
// indicators are skipped (they matter only for POSIX-TZ-less rules, not for offsets).
Status ReadBlock(ByteReader& in, const TzifHeader& h, int time_width, std::string_view name, TimeZone::Data& data) {
  if (h.typecnt == 0) return BadFile(name, "no local time types");
  if ((h.isstdcnt != 0 && h.isstdcnt != h.typecnt) || (h.isutcnt != 0 && h.isutcnt != h.typecnt))
    return BadFile(name, "indicator counts do not match the type count");
  if (h.BlockBytes(time_width) > in.Rest().size()) return BadFile(name, "truncated");
  std::vector<int64_t> times(h.timecnt);
  for (auto& t : times) t = in.Signed(time_width);
  std::vector<uint8_t> indexes(h.timecnt);
  for (auto& i : indexes) i = in.Byte();
  std::vector<int32_t> type_offsets(h.typecnt);
  for (auto& offset : type_offsets) {
    offset = static_cast<int32_t>(in.Signed(4));
    in.Skip(2);  // isdst, abbreviation index
    if (offset < -kMaxAbsOffset || offset > kMaxAbsOffset) return BadFile(name, "offset out of range");
  }
  in.Skip(h.charcnt + h.leapcnt * (time_width + 4) + h.isstdcnt + h.isutcnt);
  if (!in.ok()) return BadFile(name, "truncated");
  for (size_t i = 0; i < times.size(); ++i) {
    if (indexes[i] >= h.typecnt) return BadFile(name, "transition type out of range");
    if (i > 0 && times[i] <= times[i - 1]) return BadFile(name, "transitions out of order");
  }
  data.transitions = std::move(times);
  data.offsets_after.clear();
  for (uint8_t i : indexes) data.offsets_after.push_back(type_offsets[i]);
  data.initial_offset = type_offsets[0];
  return Status::Ok();
}

bool ValidZoneName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '/' || name.back() == '/') return false;
  if (name.find("..") != std::string_view::npos || name.find("//") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '+' ||
           c == '-' || c == '/';
  });
}

std::filesystem::path ZoneDir() {
  const char* dir = std::getenv("TZDIR");
  return (dir && *dir) ? std::filesystem::path(dir) : std::filesystem::path("/usr/share/zoneinfo");
}

std::optional<std::string> ReadSmallFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;  // no FIFOs, no dirs
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxTzifBytes) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

}  // namespace

TimeZone TimeZone::Utc() {
  static const auto utc = [] {
    auto d = std::make_shared<Data>();
    d->name = "UTC";
    return std::shared_ptr<const Data>(std::move(d));
  }();
  return TimeZone(utc);
}

Result<TimeZone> TimeZone::FromTzif(std::string_view name, std::string_view bytes) {
  ByteReader in(bytes);
  auto header = ReadHeader(in);
  if (!header) return BadFile(name, "not a TZif file");
  auto data = std::make_shared<Data>();
  data->name = std::string(name);
  if (header->version == 0) {  // version 1: 32-bit times, no footer
    OC_TRY(ReadBlock(in, *header, 4, name, *data));
    return TimeZone(std::move(data));
  }
  if (!in.Skip(header->BlockBytes(4))) return BadFile(name, "truncated");
  auto header2 = ReadHeader(in);
  if (!header2) return BadFile(name, "missing the 64-bit header");
  OC_TRY(ReadBlock(in, *header2, 8, name, *data));
  std::string_view footer = in.Rest();
  if (footer.size() < 2 || footer.front() != '\n') return BadFile(name, "missing footer");
  const size_t end = footer.find('\n', 1);
  if (end == std::string_view::npos) return BadFile(name, "unterminated footer");
  std::string_view rule_text = footer.substr(1, end - 1);
  if (!rule_text.empty()) {
    auto rule = ParsePosixTz(rule_text);
    if (!rule.ok()) return BadFile(name, rule.error().message);
    data->rule = *rule;
  }
  return TimeZone(std::move(data));
}

Result<TimeZone> TimeZone::FromPosixRule(std::string_view name, std::string_view rule) {
  auto parsed = ParsePosixTz(rule);
  if (!parsed.ok()) return parsed.error();
  auto data = std::make_shared<Data>();
  data->name = std::string(name);
  data->initial_offset = static_cast<int32_t>(parsed->std_offset);
  data->rule = *parsed;
  return TimeZone(std::move(data));
}

Result<TimeZone> TimeZone::Load(std::string_view iana_name) {
  if (iana_name == "UTC" || iana_name == "Etc/UTC") return Utc();
  if (!ValidZoneName(iana_name)) return UnknownZone(iana_name);
  const std::filesystem::path path = ZoneDir() / std::string(iana_name);
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const Data>> cache;  // by full path: TZDIR may change
  {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(path.string()); it != cache.end()) return TimeZone(it->second);
  }
  auto bytes = ReadSmallFile(path);
  if (!bytes || bytes->compare(0, 4, "TZif") != 0) return UnknownZone(iana_name);
  auto zone = FromTzif(iana_name, *bytes);
  if (!zone.ok()) return zone.error();
  std::lock_guard lock(mutex);
  cache.emplace(path.string(), zone->data_);
  return *zone;
}

const std::string& TimeZone::name() const { return data_->name; }

int64_t TimeZone::OffsetAt(int64_t utc_seconds) const {
  const Data& d = *data_;
  if (d.transitions.empty() || utc_seconds >= d.transitions.back()) {
    if (d.rule) return d.rule->OffsetAt(utc_seconds);
    return d.transitions.empty() ? d.initial_offset : d.offsets_after.back();
  }
  auto it = std::upper_bound(d.transitions.begin(), d.transitions.end(), utc_seconds);
  if (it == d.transitions.begin()) return d.initial_offset;
  return d.offsets_after[static_cast<size_t>(it - d.transitions.begin()) - 1];
}

TimeZone::Resolved TimeZone::Resolve(const LocalTime& local) const {
  const int64_t wall = WallSeconds(local);
  // The offsets a day either side bracket any transition that can affect this wall time.
  const int64_t early = OffsetAt(wall - kDay);
  const int64_t late = OffsetAt(wall + kDay);
  const int64_t t_early = wall - early;
  const int64_t t_late = wall - late;
  const bool early_fits = OffsetAt(t_early) == early;
  const bool late_fits = OffsetAt(t_late) == late;
  Resolved r;
  if (early_fits && late_fits && t_early != t_late) {
    r.kind = Resolved::Kind::kRepeated;
    r.first = std::min(t_early, t_late);
    r.second = std::max(t_early, t_late);
    return r;
  }
  if (early_fits || late_fits) {
    r.first = r.second = early_fits ? t_early : t_late;
    return r;
  }
  if (early < late && t_early + OffsetAt(t_early) > wall && t_late + OffsetAt(t_late) <= wall) {
    // A gap: the wall clock jumps over `wall`. Find the transition, the first instant whose
    // wall reading is past `wall`: between t_late (before it) and t_early (after it).
    r.kind = Resolved::Kind::kSkipped;
    r.first = r.second = FirstInstantPast(wall, t_late, t_early);
    return r;
  }
  return SlowResolve(wall);
}

// More than one transition near `wall` (none in current tzdata; possible in odd files): try
// every offset seen at 15-minute steps over the window. Each answer is still verified.
TimeZone::Resolved TimeZone::SlowResolve(int64_t wall) const {
  constexpr int64_t kStep = 900;
  const int64_t from = wall - kDay - 2 * kMaxAbsOffset, to = wall + kDay + 2 * kMaxAbsOffset;
  std::vector<int64_t> valid;
  for (int64_t probe = from; probe <= to; probe += kStep) {
    const int64_t offset = OffsetAt(probe);
    const int64_t t = wall - offset;
    if (OffsetAt(t) == offset) valid.push_back(t);
  }
  std::sort(valid.begin(), valid.end());
  valid.erase(std::unique(valid.begin(), valid.end()), valid.end());
  Resolved r;
  if (valid.size() == 1) {
    r.first = r.second = valid[0];
  } else if (valid.size() >= 2) {
    r.kind = Resolved::Kind::kRepeated;
    r.first = valid[0];
    r.second = valid[1];
  } else {
    r.kind = Resolved::Kind::kSkipped;
    r.first = r.second = wall - OffsetAt(wall);
    for (int64_t probe = from; probe <= to; probe += kStep) {
      if (probe + OffsetAt(probe) > wall) {
        r.first = r.second = FirstInstantPast(wall, probe - kStep, probe);
        break;
      }
    }
  }
  return r;
}

// Binary search between `lo` (reading at most `wall`) and `hi` (reading past it).
int64_t TimeZone::FirstInstantPast(int64_t wall, int64_t lo, int64_t hi) const {
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (mid + OffsetAt(mid) > wall) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

int64_t TimeZone::ToUtc(const LocalTime& local) const { return Resolve(local).first; }

LocalTime TimeZone::ToLocal(int64_t utc_seconds) const { return FromWallSeconds(utc_seconds + OffsetAt(utc_seconds)); }

}  // namespace oc::cron
