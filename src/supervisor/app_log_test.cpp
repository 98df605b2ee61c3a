// Output capture pieces and limit conversions, without child processes.
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "supervisor/app_log.h"
#include "supervisor/limits.h"
#include "supervisor/spawn.h"

namespace oc::supervisor::internal {
namespace {

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "oc-log-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(SupervisorLogRingTest, KeepsTheLastLines) {
  LogRing ring(3);
  EXPECT_TRUE(ring.Tail(10).empty());
  for (const char* l : {"a", "b", "c", "d"}) ring.Push(l);
  EXPECT_EQ(ring.Tail(10), (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(ring.Tail(2), (std::vector<std::string>{"c", "d"}));
  EXPECT_TRUE(ring.Tail(0).empty());
}

TEST(SupervisorLogRingTest, NumbersLinesForFollowers) {
  LogRing ring(3);
  uint64_t from = 99;
  EXPECT_TRUE(ring.Since(0, 10, &from).empty());
  EXPECT_EQ(from, 0u);
  for (const char* l : {"a", "b", "c", "d", "e"}) ring.Push(l);
  EXPECT_EQ(ring.total(), 5u);
  // lines 0 and 1 are gone: reading from 0 starts at the oldest kept one
  EXPECT_EQ(ring.Since(0, 10, &from), (std::vector<std::string>{"c", "d", "e"}));
  EXPECT_EQ(from, 2u);
  EXPECT_EQ(ring.Since(3, 10, &from), (std::vector<std::string>{"d", "e"}));
  EXPECT_EQ(from, 3u);
  EXPECT_EQ(ring.Since(2, 1, &from), (std::vector<std::string>{"c"}));  // the oldest first
  EXPECT_TRUE(ring.Since(5, 10, &from).empty());                         // nothing new
  EXPECT_EQ(from, 5u);
  EXPECT_TRUE(ring.Since(50, 10, &from).empty());  // beyond the end: clamped, nothing
  EXPECT_EQ(from, 5u);
}

TEST(SupervisorLogFileTest, RotatesBeforeExceedingAndKeepsN) {
  TempDir dir;
  auto path = dir.path() / "sub" / "app.log";  // the directory is created
  RotatingLogFile file(/*max_bytes=*/10, /*keep=*/2);
  file.Open(path);
  for (const char* line : {"1111", "2222", "3333", "4444", "5555", "6666", "7777"})
    file.Append(line);
  // 5 bytes per line, 2 lines per file: [7777] <- .1 [5555 6666] <- .2 [3333 4444]; 1,2 dropped.
  EXPECT_EQ(ReadAll(path), "7777\n");
  EXPECT_EQ(ReadAll(path.string() + ".1"), "5555\n6666\n");
  EXPECT_EQ(ReadAll(path.string() + ".2"), "3333\n4444\n");
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".3"));
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(SupervisorLogFileTest, ContinuesAnExistingFileAndSurvivesAnUnwritablePath) {
  TempDir dir;
  auto path = dir.path() / "app.log";
  std::ofstream(path) << "12345678\n";  // 9 bytes already
  RotatingLogFile file(10, 3);
  file.Open(path);
  file.Append("x");  // 9 + 2 > 10: rotate first
  EXPECT_EQ(ReadAll(path), "x\n");
  EXPECT_EQ(ReadAll(path.string() + ".1"), "12345678\n");

  RotatingLogFile broken;
  std::ofstream(dir.path() / "file") << "";
  broken.Open(dir.path() / "file" / "cannot.log");  // parent is a file
  broken.Append("dropped quietly");
}

TEST(SupervisorLineReaderTest, SplitsLinesStripsCrCutsLongLinesAndFlushesTheRest) {
  boost::asio::io_context io;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::vector<std::string> lines;
  auto reader = std::make_shared<LineReader>(io.get_executor(), fds[0],
                                             [&](std::string_view l) { lines.emplace_back(l); });
  reader->Start();
  std::string data =
      "one\ntwo\r\n\nthree" + std::string(LineReader::kMaxLineBytes + 5, 'z') + "\ntail";
  ASSERT_EQ(::write(fds[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(fds[1]);
  io.run();
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], "one");
  EXPECT_EQ(lines[1], "two");
  EXPECT_EQ(lines[2], "");
  EXPECT_EQ(lines[3].size(), LineReader::kMaxLineBytes);
  EXPECT_EQ(lines[3].substr(0, 5), "three");
  EXPECT_EQ(lines[4], std::string(10, 'z'));
  EXPECT_EQ(lines[5], "tail");
}

TEST(SupervisorLimitsTest, CpuSharesConversions) {
  EXPECT_EQ(CpuSharesToWeight(2), 1);
  EXPECT_EQ(CpuSharesToWeight(262144), 10000);
  EXPECT_EQ(CpuSharesToWeight(1024), 39);
  EXPECT_EQ(CpuSharesToWeight(0), 1);
  EXPECT_EQ(CpuSharesToNice(1024), 0);
  EXPECT_EQ(CpuSharesToNice(4096), 0);  // never a boost over the kernel
  EXPECT_EQ(CpuSharesToNice(512), 3);
  EXPECT_EQ(CpuSharesToNice(256), 6);
  EXPECT_EQ(CpuSharesToNice(2), 19);
}

TEST(SupervisorLimitsTest, PlanReportsWhatItWillApply) {
  LimitPlan none = PlanLimits("x", {});
  EXPECT_EQ(none.enforcement, NoEnforcement());
  EXPECT_TRUE(none.cgroup_dir.empty());
  EXPECT_FALSE(none.nofile || none.address_space || none.nice);

  ResourceLimits limits;
  limits.max_fds = 100;
  limits.max_memory_bytes = 1 << 30;
  LimitPlan plan = PlanLimits("@scope/app", limits);
  EXPECT_EQ(plan.nofile, 100u);
  EXPECT_EQ(plan.enforcement.at("fds").as_string(), "rlimit");
  if (plan.enforcement.at("memory").as_string() == "cgroup") {
    EXPECT_EQ(plan.cgroup_dir.filename(), "openclawos-_scope_app");
    EXPECT_GE(plan.cgroup_procs_fd, 0);
    EXPECT_FALSE(plan.address_space);
  } else {
    EXPECT_EQ(plan.enforcement.at("memory").as_string(), "rlimit_as");
    EXPECT_EQ(plan.address_space, uint64_t{1} << 30);
    EXPECT_TRUE(plan.cgroup_dir.empty());
  }
  RemoveCgroup(plan.cgroup_dir);
}

TEST(SupervisorTokenTest, TokensAreRandomHex) {
  auto a = RandomToken();
  auto b = RandomToken();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->find_first_not_of("0123456789abcdef"), std::string::npos);
}

}  // namespace
}  // namespace oc::supervisor::internal
