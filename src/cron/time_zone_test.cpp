#include "cron/time_zone.h"

#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cron/posix_tz.h"

namespace oc::cron {
namespace {

TimeZone Zone(std::string_view name) {
  auto tz = TimeZone::Load(name);
  EXPECT_TRUE(tz.ok()) << (tz.ok() ? "" : tz.error().message);
  return tz.ok() ? *tz : TimeZone::Utc();
}

LocalTime Local(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  LocalTime t;
  t.year = y;
  t.month = mo;
  t.day = d;
  t.hour = h;
  t.minute = mi;
  t.second = s;
  return t;
}

// Big-endian TZif writer for hand-made files.
struct TzifWriter {
  std::string out;
  void U32(uint32_t v) {
    for (int i = 3; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  void I64(int64_t v) {
    for (int i = 7; i >= 0; --i) out += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
  }
  void Header(char version, uint32_t timecnt, uint32_t typecnt, uint32_t charcnt) {
    out += "TZif";
    out += version;
    out += std::string(15, '\0');
    for (uint32_t c : {0u, 0u, 0u, timecnt, typecnt, charcnt}) U32(c);
  }
  void Type(int32_t offset, bool dst, uint8_t abbr) {
    U32(static_cast<uint32_t>(offset));
    out += static_cast<char>(dst ? 1 : 0);
    out += static_cast<char>(abbr);
  }
};

TEST(CronCivil, DaysRoundTripAndWeekdays) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
  for (int64_t d = -800000; d <= 800000; d += 997) {
    LocalTime t = CivilFromDays(d);
    EXPECT_EQ(DaysFromCivil(t.year, t.month, t.day), d);
  }
  EXPECT_EQ(CivilFromDays(0).weekday, 4);                             // Thursday
  EXPECT_EQ(CivilFromDays(DaysFromCivil(2026, 3, 29)).weekday, 0);    // a Sunday
  EXPECT_EQ(CivilFromDays(DaysFromCivil(1969, 12, 28)).weekday, 0);   // before the epoch too
}

TEST(CronCivil, LeapYears) {
  EXPECT_TRUE(IsLeapYear(2024));
  EXPECT_TRUE(IsLeapYear(2000));
  EXPECT_FALSE(IsLeapYear(2100));
  EXPECT_FALSE(IsLeapYear(2026));
  EXPECT_EQ(DaysInMonth(2024, 2), 29);
  EXPECT_EQ(DaysInMonth(2100, 2), 28);
  EXPECT_EQ(DaysInMonth(2026, 4), 30);
  EXPECT_EQ(WallSeconds(Local(2024, 2, 29, 12)), 1709208000);
  EXPECT_EQ(FromWallSeconds(1709208000), (LocalTime{2024, 2, 29, 12, 0, 0, 4}));
  // Out-of-range fields are counted on: hour 24 is the next midnight, month 13 next January.
  EXPECT_EQ(WallSeconds(Local(2026, 1, 31, 24)), WallSeconds(Local(2026, 2, 1)));
  EXPECT_EQ(WallSeconds(Local(2025, 13, 1)), WallSeconds(Local(2026, 1, 1)));
}

TEST(CronTimeZone, UtcAlwaysLoads) {
  EXPECT_EQ(TimeZone::Utc().name(), "UTC");
  EXPECT_EQ(TimeZone::Utc().OffsetAt(1234567890), 0);
  auto utc = TimeZone::Load("Etc/UTC");
  ASSERT_TRUE(utc.ok());
  EXPECT_EQ(utc->OffsetAt(0), 0);
}

TEST(CronTimeZone, RefusesUnknownAndUnsafeNames) {
  for (std::string_view name : {"Mars/Olympus", "", "../etc/passwd", "/etc/localtime", "Europe/../Europe/Berlin",
                                "Europe/Berlin/", "Europe Berlin", "Europe", "zone.tab"}) {
    auto tz = TimeZone::Load(name);
    ASSERT_FALSE(tz.ok()) << name;
    EXPECT_EQ(tz.error().code, ErrorCode::kInvalidParams);
    EXPECT_EQ(tz.error().message, "unknown time zone: " + std::string(name));
  }
}

TEST(CronTimeZone, BerlinOffsetsAroundTransitions) {
  TimeZone berlin = Zone("Europe/Berlin");
  EXPECT_EQ(berlin.name(), "Europe/Berlin");
  EXPECT_EQ(berlin.OffsetAt(1774745999), 3600);   // 2026-03-29 00:59:59Z
  EXPECT_EQ(berlin.OffsetAt(1774746000), 7200);   // 01:00Z: CEST
  EXPECT_EQ(berlin.OffsetAt(1792889999), 7200);   // 2026-10-25 00:59:59Z
  EXPECT_EQ(berlin.OffsetAt(1792890000), 3600);   // 01:00Z: CET
  EXPECT_EQ(berlin.OffsetAt(-773280000), 10800);  // 1945-07-01: double summer time
  EXPECT_EQ(berlin.OffsetAt(-2524521600), 3208);  // 1890: local mean time
  // Beyond the file's listed transitions: the footer rule.
  EXPECT_EQ(berlin.OffsetAt(4118083200), 7200);   // 2100-07-01
  EXPECT_EQ(berlin.OffsetAt(4102444800), 3600);   // 2100-01-01
}

TEST(CronTimeZone, NewYorkAndLordHoweOffsets) {
  TimeZone ny = Zone("America/New_York");
  EXPECT_EQ(ny.OffsetAt(1772953199), -18000);
  EXPECT_EQ(ny.OffsetAt(1772953200), -14400);
  EXPECT_EQ(ny.OffsetAt(1793512799), -14400);
  EXPECT_EQ(ny.OffsetAt(1793512800), -18000);
  EXPECT_EQ(ny.OffsetAt(3802550400), -14400);  // 2090-07-01
  TimeZone lh = Zone("Australia/Lord_Howe");   // DST is 30 minutes, southern hemisphere
  EXPECT_EQ(lh.OffsetAt(1775314799), 39600);
  EXPECT_EQ(lh.OffsetAt(1775314800), 37800);
  EXPECT_EQ(lh.OffsetAt(1791041399), 37800);
  EXPECT_EQ(lh.OffsetAt(1791041400), 39600);
  EXPECT_EQ(lh.OffsetAt(3471292800), 39600);  // 2080-01-01: summer
  EXPECT_EQ(lh.OffsetAt(3487017600), 37800);  // 2080-07-01: winter
  EXPECT_EQ(Zone("Asia/Kolkata").OffsetAt(1767225600), 19800);
}

TEST(CronTimeZone, ResolvesGapsAndOverlaps) {
  TimeZone berlin = Zone("Europe/Berlin");
  // 02:30 on 2026-03-29 does not exist: the first instant after the gap is 03:00 CEST = 01:00Z.
  auto gap = berlin.Resolve(Local(2026, 3, 29, 2, 30));
  EXPECT_EQ(gap.kind, TimeZone::Resolved::Kind::kSkipped);
  EXPECT_EQ(gap.first, 1774746000);
  EXPECT_EQ(berlin.ToUtc(Local(2026, 3, 29, 2, 30)), 1774746000);
  // 02:30 on 2026-10-25 happens twice: 00:30Z (CEST) and 01:30Z (CET).
  auto twice = berlin.Resolve(Local(2026, 10, 25, 2, 30));
  EXPECT_EQ(twice.kind, TimeZone::Resolved::Kind::kRepeated);
  EXPECT_EQ(twice.first, 1792888200);
  EXPECT_EQ(twice.second, 1792891800);
  EXPECT_EQ(berlin.ToUtc(Local(2026, 10, 25, 2, 30)), 1792888200);
  auto plain = berlin.Resolve(Local(2026, 7, 1, 12));
  EXPECT_EQ(plain.kind, TimeZone::Resolved::Kind::kUnique);
  EXPECT_EQ(plain.first, 1782900000);
  EXPECT_EQ(berlin.ToLocal(1782900000), (LocalTime{2026, 7, 1, 12, 0, 0, 3}));
  // Lord Howe: 02:15 is skipped (02:00 → 02:30) on 2026-10-04.
  TimeZone lh = Zone("Australia/Lord_Howe");
  auto lh_gap = lh.Resolve(Local(2026, 10, 4, 2, 15));
  EXPECT_EQ(lh_gap.kind, TimeZone::Resolved::Kind::kSkipped);
  EXPECT_EQ(lh_gap.first, 1791041400);
  EXPECT_EQ(lh.ToLocal(1791041400), (LocalTime{2026, 10, 4, 2, 30, 0, 0}));
}

TEST(CronTimeZone, SamoaSkippedAWholeDay) {
  TimeZone apia = Zone("Pacific/Apia");
  auto r = apia.Resolve(Local(2011, 12, 30, 12));
  EXPECT_EQ(r.kind, TimeZone::Resolved::Kind::kSkipped);
  EXPECT_EQ(r.first, 1325239200);  // 2011-12-31 00:00 +14
  EXPECT_EQ(apia.ToLocal(1325239199), (LocalTime{2011, 12, 29, 23, 59, 59, 4}));
}

TEST(CronTimeZone, PosixRules) {
  auto cet = TimeZone::FromPosixRule("cet", "CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(cet.ok());
  EXPECT_EQ(cet->OffsetAt(1774745999), 3600);
  EXPECT_EQ(cet->OffsetAt(1774746000), 7200);
  EXPECT_EQ(cet->OffsetAt(1792889999), 7200);
  EXPECT_EQ(cet->OffsetAt(1792890000), 3600);
  auto lh = TimeZone::FromPosixRule("lh", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
  ASSERT_TRUE(lh.ok());
  EXPECT_EQ(lh->OffsetAt(1775314799), 39600);
  EXPECT_EQ(lh->OffsetAt(1775314800), 37800);
  auto fixed = TimeZone::FromPosixRule("ist", "IST-5:30");
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(fixed->OffsetAt(0), 19800);
  // Julian days, and DST all year (version 3 hours beyond 24).
  auto julian = TimeZone::FromPosixRule("j", "EST5EDT,J60/2,J300/2");
  ASSERT_TRUE(julian.ok());
  EXPECT_EQ(julian->OffsetAt(WallSeconds(Local(2024, 3, 1, 12))), -14400);  // J60 = Mar 1, also in leap years
  EXPECT_EQ(julian->OffsetAt(WallSeconds(Local(2024, 2, 29, 12))), -18000);
  auto always = TimeZone::FromPosixRule("a", "EST5EDT,0/0,J365/25");
  ASSERT_TRUE(always.ok());
  for (int month : {1, 6, 12}) EXPECT_EQ(always->OffsetAt(WallSeconds(Local(2030, month, 1))), -14400);
  for (std::string_view bad : {"", "CET", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.5.0,M10.5.0/3x",
                               "<CET-1", "CET-25", "CET-1CEST,J0,J10", "CET-1CEST,M3.5.0/168,M10.5.0"}) {
    auto r = TimeZone::FromPosixRule("x", bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().message.rfind("bad TZ rule \"", 0), 0u) << r.error().message;
  }
}

TEST(CronTimeZone, VersionOneFileWithoutFooter) {
  TzifWriter w;
  w.Header('\0', 2, 2, 8);
  w.U32(100000);
  w.U32(200000);
  w.out += '\1';
  w.out += '\0';
  w.Type(3600, false, 0);
  w.Type(7200, true, 4);
  w.out += std::string("AAA\0BBB\0", 8);
  auto tz = TimeZone::FromTzif("v1", w.out);
  ASSERT_TRUE(tz.ok()) << tz.error().message;
  EXPECT_EQ(tz->OffsetAt(0), 3600);        // before the first transition: type 0
  EXPECT_EQ(tz->OffsetAt(100000), 7200);
  EXPECT_EQ(tz->OffsetAt(199999), 7200);
  EXPECT_EQ(tz->OffsetAt(200000), 3600);
  EXPECT_EQ(tz->OffsetAt(9999999999), 3600);  // no footer: the last type stays
}

std::string VersionTwoFile(std::string_view footer) {
  TzifWriter w;
  w.Header('2', 0, 1, 4);  // a minimal v1 block
  w.Type(0, false, 0);
  w.out += std::string("UTC\0", 4);
  w.Header('2', 1, 2, 8);
  w.I64(1000);
  w.out += '\1';
  w.Type(0, false, 0);
  w.Type(-18000, false, 4);
  w.out += std::string("AAA\0BBB\0", 8);
  w.out += footer;
  return w.out;
}

TEST(CronTimeZone, VersionTwoFileUsesTheFooterAfterTheLastTransition) {
  auto tz = TimeZone::FromTzif("v2", VersionTwoFile("\nEST5EDT,M3.2.0,M11.1.0\n"));
  ASSERT_TRUE(tz.ok()) << tz.error().message;
  EXPECT_EQ(tz->OffsetAt(999), 0);
  EXPECT_EQ(tz->OffsetAt(1000), -18000);  // January 1970
  EXPECT_EQ(tz->OffsetAt(1782900000), -14400);  // July 2026: DST from the footer
  auto no_rule = TimeZone::FromTzif("v2", VersionTwoFile("\n\n"));
  ASSERT_TRUE(no_rule.ok());
  EXPECT_EQ(no_rule->OffsetAt(1782900000), -18000);
}

TEST(CronTimeZone, MalformedFilesAreErrors) {
  const std::string good = VersionTwoFile("\nEST5EDT,M3.2.0,M11.1.0\n");
  for (size_t cut : {0ul, 3ul, 20ul, 44ul, 60ul, 100ul, good.size() - 1}) {
    auto tz = TimeZone::FromTzif("cut", good.substr(0, cut));
    ASSERT_FALSE(tz.ok()) << cut;
    EXPECT_EQ(tz.error().message.rfind("bad time zone file for cut: ", 0), 0u) << tz.error().message;
  }
  auto bad_footer = TimeZone::FromTzif("f", VersionTwoFile("\nEST5EDT,M3.2.0\n"));
  EXPECT_FALSE(bad_footer.ok());
  TzifWriter w;  // transition type index out of range
  w.Header('\0', 1, 1, 4);
  w.U32(5);
  w.out += '\3';
  w.Type(0, false, 0);
  w.out += std::string("UTC\0", 4);
  auto bad_index = TimeZone::FromTzif("i", w.out);
  ASSERT_FALSE(bad_index.ok());
  EXPECT_NE(bad_index.error().message.find("type out of range"), std::string::npos);
}

TEST(CronTimeZone, TzdirOverridesTheZoneDirectory) {
  std::string pattern = (std::filesystem::temp_directory_path() / "oc-tz-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const std::filesystem::path dir = pattern;
  std::filesystem::create_directories(dir / "Test");
  std::ofstream(dir / "Test" / "Zone", std::ios::binary) << VersionTwoFile("\nEST5EDT,M3.2.0,M11.1.0\n");
  std::ofstream(dir / "Test" / "Junk", std::ios::binary) << "not a zone";
  const char* old = std::getenv("TZDIR");
  const std::string saved = old ? old : "";
  ::setenv("TZDIR", dir.c_str(), 1);
  auto tz = TimeZone::Load("Test/Zone");
  auto junk = TimeZone::Load("Test/Junk");
  auto berlin = TimeZone::Load("Europe/Berlin");
  if (old) {
    ::setenv("TZDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TZDIR");
  }
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(tz.ok()) << tz.error().message;
  EXPECT_EQ(tz->name(), "Test/Zone");
  EXPECT_EQ(tz->OffsetAt(1782900000), -14400);
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.error().message, "unknown time zone: Test/Junk");
  EXPECT_FALSE(berlin.ok());  // not in that directory
}

}  // namespace
}  // namespace oc::cron
