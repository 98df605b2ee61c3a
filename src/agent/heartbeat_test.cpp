#include "agent/heartbeat.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

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
