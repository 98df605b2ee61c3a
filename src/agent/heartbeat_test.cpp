#include "agent/heartbeat.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "agent/workspace.h"

namespace oc::agent {
namespace {

namespace fs = std::filesystem;

class HeartbeatPromptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("oc-hb-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& text) { std::ofstream(dir_ / "HEARTBEAT.md") << text; }
  fs::path dir_;
};

TEST_F(HeartbeatPromptTest, MissingOrCommentOnlyFileMeansNoTurn) {
  EXPECT_FALSE(HeartbeatPrompt(dir_).has_value());
  Write("");
  EXPECT_FALSE(HeartbeatPrompt(dir_).has_value());
  Write("# HEARTBEAT.md\n\n<!-- add tasks:\n- check mail\n-->\n## Tasks\n- \n- [ ]\n1.\n<!-- unterminated\n- x");
  EXPECT_FALSE(HeartbeatPrompt(dir_).has_value());
}

TEST_F(HeartbeatPromptTest, TheDefaultWorkspaceFileHasNothingToDo) {
  ASSERT_TRUE(EnsureWorkspace(dir_).ok());
  EXPECT_FALSE(HeartbeatPrompt(dir_).has_value());
}

TEST_F(HeartbeatPromptTest, ChecklistBecomesThePrompt) {
  Write("# Checks\n<!-- hidden note -->\n- [ ] Look for urgent mail\n");
  auto prompt = HeartbeatPrompt(dir_);
  ASSERT_TRUE(prompt.has_value());
  EXPECT_NE(prompt->find("- [ ] Look for urgent mail"), std::string::npos);
  EXPECT_NE(prompt->find("reply with exactly HEARTBEAT_OK"), std::string::npos);
  EXPECT_EQ(prompt->find("hidden note"), std::string::npos);
  Write("Check the build status.");
  EXPECT_TRUE(HeartbeatPrompt(dir_).has_value());
}

TEST_F(HeartbeatPromptTest, FifoIsTreatedAsMissingWithoutBlocking) {
  ASSERT_EQ(::mkfifo((dir_ / "HEARTBEAT.md").c_str(), 0600), 0);
  // Should the open wait for a writer, this thread plays one after 3 s (with a task), so the test
  // fails instead of hanging.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    auto start = std::chrono::steady_clock::now();
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (std::chrono::steady_clock::now() - start < std::chrono::seconds(3)) continue;
      int fd = ::open((dir_ / "HEARTBEAT.md").c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) continue;
      ssize_t n = ::write(fd, "- [ ] task\n", 11);
      (void)n;
      ::close(fd);
    }
  });
  auto start = std::chrono::steady_clock::now();
  auto prompt = HeartbeatPrompt(dir_);
  auto took = std::chrono::steady_clock::now() - start;
  stop = true;
  writer.join();
  EXPECT_FALSE(prompt.has_value());
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST_F(HeartbeatPromptTest, OnlyTheFirst64KiBAreRead) {
  Write(std::string(64 * 1024, '\n') + "- [ ] a task past the read limit\n");
  EXPECT_FALSE(HeartbeatPrompt(dir_).has_value());
  Write(std::string(64 * 1024 - 100, '\n') + "- [ ] a task inside the limit\n");
  auto prompt = HeartbeatPrompt(dir_);
  ASSERT_TRUE(prompt.has_value());
  EXPECT_NE(prompt->find("a task inside the limit"), std::string::npos);
}

TEST(HeartbeatOk, RecognisesTheTokenAloneOrWrapped) {
  EXPECT_TRUE(IsHeartbeatOk("HEARTBEAT_OK"));
  EXPECT_TRUE(IsHeartbeatOk("  HEARTBEAT_OK\n"));
  EXPECT_TRUE(IsHeartbeatOk("**HEARTBEAT_OK**"));
  EXPECT_TRUE(IsHeartbeatOk("`HEARTBEAT_OK`."));
  EXPECT_TRUE(IsHeartbeatOk("HEARTBEAT_OK - nothing new."));
  EXPECT_TRUE(IsHeartbeatOk("All quiet. HEARTBEAT_OK"));
  EXPECT_TRUE(IsHeartbeatOk("__HEARTBEAT_OK__ all good"));
  EXPECT_TRUE(IsHeartbeatOk(std::string(1000, ' ') + "HEARTBEAT_OK"));
}

TEST(HeartbeatOk, RejectsRealRepliesAndLookalikes) {
  EXPECT_FALSE(IsHeartbeatOk(""));
  EXPECT_FALSE(IsHeartbeatOk("You have 2 urgent emails."));
  EXPECT_FALSE(IsHeartbeatOk("HEARTBEAT_OKAY"));
  EXPECT_FALSE(IsHeartbeatOk("MY_HEARTBEAT_OK"));
  EXPECT_FALSE(IsHeartbeatOk("heartbeat_ok"));
  EXPECT_FALSE(IsHeartbeatOk("Reminder: the meeting is at 3. HEARTBEAT_OK is not right, see below: more"));
  EXPECT_FALSE(IsHeartbeatOk("HEARTBEAT_OK " + std::string(400, 'x')));
  EXPECT_FALSE(IsHeartbeatOk(std::string(400, 'x') + " HEARTBEAT_OK"));
}

}  // namespace
}  // namespace oc::agent
