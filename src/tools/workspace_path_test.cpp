#include "tools/workspace_path.h"

#include <gtest/gtest.h>

#include "tools/tools_test_util.h"

namespace oc::tools {
namespace {

using testing::TempDir;
using testing::WriteFile;
namespace fs = std::filesystem;

class ToolsWorkspacePath : public ::testing::Test {
 protected:
  ToolsWorkspacePath() {
    ws = base.path() / "ws";
    out = base.path() / "out";
    fs::create_directories(ws / "sub");
    fs::create_directories(out);
    WriteFile(ws / "a.txt", "a");
    WriteFile(ws / "sub" / "b.txt", "b");
    WriteFile(out / "secret.txt", "s");
  }
  void ExpectEscape(std::string_view path, bool must_exist = true) {
    auto r = ResolveInWorkspace(ws, path, must_exist);
    ASSERT_FALSE(r.ok()) << path << " resolved to " << r->string();
    EXPECT_EQ(r.error().code, ErrorCode::kForbidden) << path << ": " << r.error().message;
    EXPECT_EQ(r.error().message, "path escapes the workspace: " + std::string(path));
  }
  TempDir base;
  fs::path ws, out;
};

TEST_F(ToolsWorkspacePath, ResolvesRelativeAndAbsoluteInsidePaths) {
  auto r = ResolveInWorkspace(ws, "sub/b.txt", true);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, ws / "sub" / "b.txt");
  auto abs = ResolveInWorkspace(ws, (ws / "sub/../a.txt").string(), true);
  ASSERT_TRUE(abs.ok()) << abs.error().message;
  EXPECT_EQ(*abs, ws / "a.txt");
  auto dot = ResolveInWorkspace(ws, ".", true);
  ASSERT_TRUE(dot.ok());
  EXPECT_EQ(*dot, ws);
  auto inner = ResolveInWorkspace(ws, "sub/./../sub/b.txt", true);
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(*inner, ws / "sub" / "b.txt");
}

TEST_F(ToolsWorkspacePath, DotDotClimbingOutIsRefused) {
  ExpectEscape("../out/secret.txt");
  ExpectEscape("..");
  ExpectEscape("sub/../../out/secret.txt");
  ExpectEscape("../ws/a.txt");  // climbs out even though it lands back inside
  ExpectEscape("../newfile", false);
}

TEST_F(ToolsWorkspacePath, AbsolutePathOutsideIsRefused) {
  ExpectEscape((out / "secret.txt").string());
  ExpectEscape("/etc/passwd");
  ExpectEscape((ws / ".." / "out" / "secret.txt").string());
}

TEST_F(ToolsWorkspacePath, SymlinkToOutsideFileOrDirectoryIsRefused) {
  fs::create_symlink(out / "secret.txt", ws / "link-file");
  fs::create_directory_symlink(out, ws / "link-dir");
  ExpectEscape("link-file");
  ExpectEscape("link-dir");
  ExpectEscape("link-dir/secret.txt");
  ExpectEscape("link-dir/new.txt", false);  // writing through a symlinked parent
  ExpectEscape("link-dir/deeper/new.txt", false);
}

TEST_F(ToolsWorkspacePath, SymlinkChainLeadingOutsideIsRefused) {
  fs::create_symlink(out / "secret.txt", ws / "hop2");
  fs::create_symlink("hop2", ws / "hop1");
  fs::create_symlink("sub/../hop1", ws / "hop0");
  ExpectEscape("hop0");
  // A relative link that climbs out.
  fs::create_symlink("../../out", ws / "sub" / "up");
  ExpectEscape("sub/up/secret.txt");
}

TEST_F(ToolsWorkspacePath, DanglingSymlinkPointingOutsideIsRefusedForWrites) {
  fs::create_symlink(out / "not-yet.txt", ws / "dangling");
  ExpectEscape("dangling", false);
  EXPECT_EQ(ResolveInWorkspace(ws, "dangling", true).error().code, ErrorCode::kNotFound);
}

TEST_F(ToolsWorkspacePath, InsideSymlinksAreAllowed) {
  fs::create_symlink("sub/b.txt", ws / "to-b");
  fs::create_directory_symlink(ws / "sub", ws / "to-sub");
  fs::create_symlink("to-b", ws / "chain");
  auto file = ResolveInWorkspace(ws, "to-b", true);
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_EQ(*file, ws / "sub" / "b.txt");
  auto chain = ResolveInWorkspace(ws, "chain", true);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(*chain, ws / "sub" / "b.txt");
  auto through = ResolveInWorkspace(ws, "to-sub/new/file.txt", false);
  ASSERT_TRUE(through.ok()) << through.error().message;
  EXPECT_EQ(*through, ws / "sub" / "new" / "file.txt");
}

TEST_F(ToolsWorkspacePath, WorkspaceReachedThroughASymlinkStillWorks) {
  fs::create_directory_symlink(ws, base.path() / "ws-link");
  auto r = ResolveInWorkspace(base.path() / "ws-link", "sub/b.txt", true);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, ws / "sub" / "b.txt");
  auto abs = ResolveInWorkspace(base.path() / "ws-link", (base.path() / "ws-link" / "a.txt").string(), true);
  ASSERT_TRUE(abs.ok()) << abs.error().message;
  EXPECT_EQ(*abs, ws / "a.txt");
}

TEST_F(ToolsWorkspacePath, MissingPathsAndBadInput) {
  auto missing = ResolveInWorkspace(ws, "nope/x.txt", true);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto create = ResolveInWorkspace(ws, "nope/x.txt", false);
  ASSERT_TRUE(create.ok());
  EXPECT_EQ(*create, ws / "nope" / "x.txt");
  auto file_as_dir = ResolveInWorkspace(ws, "a.txt/x", false);
  ASSERT_FALSE(file_as_dir.ok());
  EXPECT_EQ(file_as_dir.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(ResolveInWorkspace(ws, "", true).error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(ResolveInWorkspace(ws, std::string_view("a\0b", 3), true).error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(ResolveInWorkspace(base.path() / "no-such-ws", "a", true).error().code, ErrorCode::kNotFound);
}

TEST_F(ToolsWorkspacePath, SymlinkLoopIsAnError) {
  fs::create_symlink("loop2", ws / "loop1");
  fs::create_symlink("loop1", ws / "loop2");
  auto r = ResolveInWorkspace(ws, "loop1", true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams);
  EXPECT_NE(r.error().message.find("symbolic links"), std::string::npos);
}

}  // namespace
}  // namespace oc::tools
