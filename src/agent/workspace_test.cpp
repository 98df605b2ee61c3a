#include "agent/workspace.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace oc::agent {
namespace {

namespace fs = std::filesystem;

class WorkspaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("oc-ws-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  static std::string Read(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void Write(const std::string& name, const std::string& text) {
    fs::create_directories(root_);
    std::ofstream(root_ / name) << text;
  }

  fs::path root_;
};

TEST_F(WorkspaceTest, CreatesEverythingOnceWithPrivateModes) {
  fs::path ws = root_ / "a" / "b" / "workspace";
  auto created = EnsureWorkspace(ws);
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(*created, (std::vector<std::string>{"AGENTS.md", "SOUL.md", "USER.md", "IDENTITY.md", "TOOLS.md",
                                                "HEARTBEAT.md", "skills/"}));
  for (const fs::path& dir : {root_ / "a", root_ / "a" / "b", ws, ws / "skills"}) {
    struct stat st {};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0) << dir;
    EXPECT_EQ(st.st_mode & 0777, 0700u) << dir;
  }
  struct stat st {};
  ASSERT_EQ(::stat((ws / "USER.md").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(Read(ws / "IDENTITY.md").find("Name: Pi"), std::string::npos);
  EXPECT_NE(Read(ws / "AGENTS.md").find("Ask before"), std::string::npos);

  auto again = EnsureWorkspace(ws);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST_F(WorkspaceTest, NeverOverwritesExistingFiles) {
  Write("SOUL.md", "my own soul");
  Write("HEARTBEAT.md", "- check mail\n");
  auto created = EnsureWorkspace(root_);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(std::count(created->begin(), created->end(), "SOUL.md"), 0);
  EXPECT_EQ(std::count(created->begin(), created->end(), "HEARTBEAT.md"), 0);
  EXPECT_EQ(Read(root_ / "SOUL.md"), "my own soul");
  EXPECT_EQ(Read(root_ / "HEARTBEAT.md"), "- check mail\n");
  fs::remove(root_ / "TOOLS.md");
  created = EnsureWorkspace(root_);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(*created, std::vector<std::string>{"TOOLS.md"});
}

TEST_F(WorkspaceTest, ErrorsNameThePath) {
  Write("file", "x");
  auto r = EnsureWorkspace(root_ / "file" / "ws");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInternalError);
  EXPECT_NE(r.error().message.find((root_ / "file").string()), std::string::npos);
  EXPECT_NE(r.error().message.find("Not a directory"), std::string::npos);
}

TEST_F(WorkspaceTest, ReadsExistingFilesInPromptOrderAndSkipsBlankOnes) {
  Write("TOOLS.md", "tools");
  Write("AGENTS.md", "agents");
  Write("USER.md", " \n\t\n");
  Write("MEMORY.md", "not a bootstrap file");
  auto files = ReadBootstrapFiles(root_);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].name, "AGENTS.md");
  EXPECT_EQ(files[0].content, "agents");
  EXPECT_FALSE(files[0].truncated);
  EXPECT_EQ(files[1].name, "TOOLS.md");
  EXPECT_TRUE(ReadBootstrapFiles(root_ / "missing").empty());
}

TEST_F(WorkspaceTest, PerFileCapCutsOnALineWithAMarker) {
  std::string text;
  for (int i = 0; i < 10; ++i) text += "line " + std::to_string(i) + " of the agents file\n";  // 24-25 chars
  Write("AGENTS.md", text);
  auto files = ReadBootstrapFiles(root_, 100, 1000);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(files[0].truncated);
  std::string kept = files[0].content.substr(0, files[0].content.find("[..."));
  EXPECT_LE(kept.size(), 100u);
  EXPECT_EQ(kept.back(), '\n');
  EXPECT_EQ(text.rfind(kept, 0), 0u);  // a prefix of the file, whole lines
  EXPECT_NE(files[0].content.find("[... truncated: " + std::to_string(text.size() - kept.size()) +
                                  " more characters in AGENTS.md]"),
            std::string::npos);
}

TEST_F(WorkspaceTest, TotalCapGivesLaterFilesTheRestThenOmitsThem) {
  Write("AGENTS.md", std::string(60, 'a'));
  Write("SOUL.md", std::string(60, 's'));
  Write("USER.md", std::string(10, 'u'));
  auto files = ReadBootstrapFiles(root_, 50, 80);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].content, std::string(50, 'a') + "\n[... truncated: 10 more characters in AGENTS.md]");
  EXPECT_EQ(files[1].content, std::string(30, 's') + "\n[... truncated: 30 more characters in SOUL.md]");
  EXPECT_TRUE(files[2].truncated);
  EXPECT_EQ(files[2].content, "[... omitted: USER.md (10 characters) exceeds the workspace prompt budget]");
}

TEST_F(WorkspaceTest, CutNeverSplitsUtf8) {
  std::string text = "ab\xC3\xA9\xC3\xA9";  // "abéé"
  EXPECT_EQ(CutAtLineBoundary(text, 3), "ab");
  EXPECT_EQ(CutAtLineBoundary(text, 4), "ab\xC3\xA9");
  EXPECT_EQ(CutAtLineBoundary(text, 99), text);
  EXPECT_EQ(CutAtLineBoundary("x\nyyyyyyyyyy", 8), "x\nyyyyyy");  // a break too early is not used
}

}  // namespace
}  // namespace oc::agent
