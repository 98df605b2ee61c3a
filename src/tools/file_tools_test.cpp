// The file tools through BuiltinTools::Invoke (worker pool, schema validation, confinement).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tools/tools_test_util.h"

namespace oc::tools {
namespace {

using testing::ReadFile;
using testing::WriteFile;
namespace fs = std::filesystem;

class ToolsFiles : public testing::ToolsFixture {};

bool Contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST_F(ToolsFiles, SpecsListEveryBuiltinWithASchema) {
  std::vector<std::string> names;
  for (const auto& spec : BuiltinTools::Specs()) {
    names.push_back(spec.name);
    EXPECT_FALSE(spec.description.empty());
    EXPECT_EQ(spec.input_schema.at("type").as_string(), "object");
  }
  EXPECT_EQ(names, (std::vector<std::string>{"read", "write", "edit", "ls", "grep", "exec", "web_fetch"}));
  EXPECT_TRUE(BuiltinTools::Has("grep"));
  EXPECT_FALSE(BuiltinTools::Has("memory_search"));
}

TEST_F(ToolsFiles, UnknownToolAndInvalidInputAreErrors) {
  auto unknown = Invoke("rm", json::object{});
  EXPECT_TRUE(unknown.is_error);
  EXPECT_EQ(unknown.output, "unknown tool: rm");
  auto missing = Invoke("read", json::object{});
  EXPECT_TRUE(missing.is_error);
  EXPECT_TRUE(Contains(missing.output, "invalid input for read")) << missing.output;
  EXPECT_TRUE(Contains(missing.output, "path")) << missing.output;
  auto wrong_type = Invoke("read", json::object{{"path", 5}});
  EXPECT_TRUE(wrong_type.is_error);
  auto extra = Invoke("ls", json::object{{"recursive", true}});
  EXPECT_TRUE(extra.is_error) << extra.output;
}

TEST_F(ToolsFiles, ReadNumbersLinesAndPages) {
  WriteFile(ws_ / "notes.txt", "alpha\nbeta\r\ngamma\ndelta\n");
  auto all = Invoke("read", json::object{{"path", "notes.txt"}});
  ASSERT_FALSE(all.is_error) << all.output;
  EXPECT_EQ(all.output, "     1\talpha\n     2\tbeta\n     3\tgamma\n     4\tdelta\n");
  auto page = Invoke("read", json::object{{"path", "notes.txt"}, {"offset", 2}, {"limit", 2}});
  ASSERT_FALSE(page.is_error);
  EXPECT_EQ(page.output, "     2\tbeta\n     3\tgamma\n[showing lines 2-3 of 4; use offset=4 to read on]\n");
  auto past = Invoke("read", json::object{{"path", "notes.txt"}, {"offset", 10}});
  EXPECT_TRUE(past.is_error);
  EXPECT_TRUE(Contains(past.output, "past the end")) << past.output;
}

TEST_F(ToolsFiles, ReadRefusesBinaryHugeMissingDirectoriesAndEscapes) {
  WriteFile(ws_ / "blob.bin", std::string("\x7f"
                                          "ELF\0\0\x01",
                                          7));
  auto binary = Invoke("read", json::object{{"path", "blob.bin"}});
  EXPECT_TRUE(binary.is_error);
  EXPECT_TRUE(Contains(binary.output, "binary file")) << binary.output;

  WriteFile(ws_ / "big.txt", std::string(200, 'x'));
  call_.limits.max_read_bytes = 100;
  auto big = Invoke("read", json::object{{"path", "big.txt"}});
  EXPECT_TRUE(big.is_error);
  EXPECT_TRUE(Contains(big.output, "too large")) << big.output;

  auto missing = Invoke("read", json::object{{"path", "nope.txt"}});
  EXPECT_TRUE(missing.is_error);
  EXPECT_EQ(missing.output, "no such file or directory: nope.txt");
  fs::create_directories(ws_ / "dir");
  auto dir = Invoke("read", json::object{{"path", "dir"}});
  EXPECT_TRUE(dir.is_error);
  EXPECT_TRUE(Contains(dir.output, "is a directory")) << dir.output;

  WriteFile(outside_ / "secret.txt", "top secret");
  fs::create_symlink(outside_ / "secret.txt", ws_ / "innocent.txt");
  auto escape = Invoke("read", json::object{{"path", "innocent.txt"}});
  EXPECT_TRUE(escape.is_error);
  EXPECT_EQ(escape.output, "path escapes the workspace: innocent.txt");
  auto dotdot = Invoke("read", json::object{{"path", "../outside/secret.txt"}});
  EXPECT_TRUE(dotdot.is_error);
  EXPECT_FALSE(Contains(dotdot.output, "top secret"));
}

TEST_F(ToolsFiles, WriteCreatesParentsAtomicallyAndKeepsMode) {
  auto w = Invoke("write", json::object{{"path", "a/b/c.txt"}, {"content", "hello\n"}});
  ASSERT_FALSE(w.is_error) << w.output;
  EXPECT_EQ(w.output, "wrote 6 bytes to a/b/c.txt");
  EXPECT_EQ(ReadFile(ws_ / "a/b/c.txt"), "hello\n");

  WriteFile(ws_ / "run.sh", "old");
  fs::permissions(ws_ / "run.sh", fs::perms(0750));
  ASSERT_FALSE(Invoke("write", json::object{{"path", "run.sh"}, {"content", "new"}}).is_error);
  EXPECT_EQ(ReadFile(ws_ / "run.sh"), "new");
  EXPECT_EQ(fs::status(ws_ / "run.sh").permissions() & fs::perms::all, fs::perms(0750));
  for (const auto& e : fs::directory_iterator(ws_)) {
    EXPECT_FALSE(e.path().filename().string().starts_with(".run.sh.tmp")) << "temp file left behind";
  }
  auto onto_dir = Invoke("write", json::object{{"path", "a"}, {"content", "x"}});
  EXPECT_TRUE(onto_dir.is_error);
}

TEST_F(ToolsFiles, WriteThroughSymlinks) {
  fs::create_directory_symlink(outside_, ws_ / "out-link");
  auto escape = Invoke("write", json::object{{"path", "out-link/planted.txt"}, {"content", "x"}});
  EXPECT_TRUE(escape.is_error);
  EXPECT_EQ(escape.output, "path escapes the workspace: out-link/planted.txt");
  EXPECT_FALSE(fs::exists(outside_ / "planted.txt"));
  auto abs = Invoke("write", json::object{{"path", (outside_ / "x.txt").string()}, {"content", "x"}});
  EXPECT_TRUE(abs.is_error);
  EXPECT_FALSE(fs::exists(outside_ / "x.txt"));

  fs::create_directories(ws_ / "real");
  fs::create_directory_symlink(ws_ / "real", ws_ / "inner-link");
  auto inside = Invoke("write", json::object{{"path", "inner-link/ok.txt"}, {"content", "fine"}});
  ASSERT_FALSE(inside.is_error) << inside.output;
  EXPECT_EQ(ReadFile(ws_ / "real/ok.txt"), "fine");
}

TEST_F(ToolsFiles, EditReplacesExactlyOnceOrAll) {
  WriteFile(ws_ / "main.py", "x = 1\ny = 1\nprint(x)\n");
  auto once = Invoke("edit", json::object{{"path", "main.py"}, {"old", "x = 1"}, {"new", "x = 2"}});
  ASSERT_FALSE(once.is_error) << once.output;
  EXPECT_EQ(once.output, "edited main.py: 1 replacement");
  EXPECT_EQ(ReadFile(ws_ / "main.py"), "x = 2\ny = 1\nprint(x)\n");

  auto ambiguous = Invoke("edit", json::object{{"path", "main.py"}, {"old", "= "}, {"new", "=="}});
  EXPECT_TRUE(ambiguous.is_error);
  EXPECT_TRUE(Contains(ambiguous.output, "occurs 2 times")) << ambiguous.output;
  EXPECT_EQ(ReadFile(ws_ / "main.py"), "x = 2\ny = 1\nprint(x)\n");

  auto all = Invoke("edit", json::object{{"path", "main.py"}, {"old", "= "}, {"new", "=="}, {"replaceAll", true}});
  ASSERT_FALSE(all.is_error) << all.output;
  EXPECT_EQ(all.output, "edited main.py: 2 replacements");
  EXPECT_EQ(ReadFile(ws_ / "main.py"), "x ==2\ny ==1\nprint(x)\n");

  auto absent = Invoke("edit", json::object{{"path", "main.py"}, {"old", "zzz"}, {"new", "q"}});
  EXPECT_TRUE(absent.is_error);
  EXPECT_TRUE(Contains(absent.output, "not found")) << absent.output;
  auto empty_old = Invoke("edit", json::object{{"path", "main.py"}, {"old", ""}, {"new", "q"}});
  EXPECT_TRUE(empty_old.is_error);
  auto missing = Invoke("edit", json::object{{"path", "nope.py"}, {"old", "a"}, {"new", "b"}});
  EXPECT_TRUE(missing.is_error);
}

TEST_F(ToolsFiles, LsListsSortedEntriesWithTypeAndSize) {
  WriteFile(ws_ / "b.txt", "12345");
  WriteFile(ws_ / "a.txt", "1");
  fs::create_directories(ws_ / "src");
  fs::create_symlink("a.txt", ws_ / "c-link");
  auto ls = Invoke("ls", json::object{});
  ASSERT_FALSE(ls.is_error) << ls.output;
  EXPECT_EQ(ls.output, "file  a.txt  (1 bytes)\nfile  b.txt  (5 bytes)\nlink  c-link -> a.txt\ndir   src/\n");
  auto empty = Invoke("ls", json::object{{"path", "src"}});
  EXPECT_EQ(empty.output, "src is empty");
  auto file = Invoke("ls", json::object{{"path", "b.txt"}});
  EXPECT_EQ(file.output, "file  b.txt  (5 bytes)\n");
  auto escape = Invoke("ls", json::object{{"path", ".."}});
  EXPECT_TRUE(escape.is_error);
  auto missing = Invoke("ls", json::object{{"path", "nope"}});
  EXPECT_TRUE(missing.is_error);
}

TEST_F(ToolsFiles, GrepSearchesTheTreeSkippingGitBinaryAndOutsideLinks) {
  WriteFile(ws_ / "src/app.py", "import os\ndef main():\n    return TODO\n");
  WriteFile(ws_ / "src/lib.c", "int todo_count;\n");
  WriteFile(ws_ / "README.md", "TODO: write docs\n");
  WriteFile(ws_ / ".git/config", "TODO in git\n");
  WriteFile(ws_ / "data.bin", std::string("TODO\0binary", 11));
  WriteFile(outside_ / "leak.txt", "TODO outside\n");
  fs::create_directory_symlink(outside_, ws_ / "outlink");
  fs::create_symlink(outside_ / "leak.txt", ws_ / "leak-link.txt");
  fs::create_symlink("README.md", ws_ / "readme-link.md");

  auto g = Invoke("grep", json::object{{"pattern", "TODO"}});
  ASSERT_FALSE(g.is_error) << g.output;
  EXPECT_TRUE(Contains(g.output, "src/app.py:3:     return TODO\n")) << g.output;
  EXPECT_TRUE(Contains(g.output, "README.md:1: TODO: write docs\n")) << g.output;
  EXPECT_TRUE(Contains(g.output, "readme-link.md:1: TODO")) << g.output;  // inside link: followed
  EXPECT_FALSE(Contains(g.output, ".git")) << g.output;
  EXPECT_FALSE(Contains(g.output, "data.bin")) << g.output;
  EXPECT_FALSE(Contains(g.output, "outside")) << g.output;
  EXPECT_FALSE(Contains(g.output, "lib.c")) << g.output;

  auto ci = Invoke("grep", json::object{{"pattern", "todo"}, {"ignoreCase", true}, {"glob", "*.c"}});
  ASSERT_FALSE(ci.is_error) << ci.output;
  EXPECT_EQ(ci.output, "src/lib.c:1: int todo_count;\n");
  auto in_file = Invoke("grep", json::object{{"pattern", "^def "}, {"path", "src/app.py"}});
  EXPECT_EQ(in_file.output, "src/app.py:2: def main():\n");
  auto none = Invoke("grep", json::object{{"pattern", "nothing-here"}});
  EXPECT_FALSE(none.is_error);
  EXPECT_EQ(none.output, "no matches for /nothing-here/ in .");
  auto bad = Invoke("grep", json::object{{"pattern", "(unclosed"}});
  EXPECT_TRUE(bad.is_error);
  EXPECT_TRUE(Contains(bad.output, "invalid pattern")) << bad.output;
  auto escape = Invoke("grep", json::object{{"pattern", "TODO"}, {"path", "outlink"}});
  EXPECT_TRUE(escape.is_error);
}

// Opens `fifo` as a writer (unblocking any reader stuck in open) once `after` has passed, and keeps
// doing so until destroyed, so a tool that blocks on the FIFO fails the timing check instead of
// hanging the test run.
class FifoRescuer {
 public:
  FifoRescuer(fs::path fifo, std::chrono::milliseconds after)
      : thread_([this, fifo = std::move(fifo), after] {
          auto start = std::chrono::steady_clock::now();
          while (!stop_) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            if (std::chrono::steady_clock::now() - start < after) continue;
            int fd = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
            if (fd >= 0) ::close(fd);
          }
        }) {}
  ~FifoRescuer() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(ToolsFiles, FifosAreRefusedOrSkippedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((ws_ / "pipe").c_str(), 0600), 0);
  WriteFile(ws_ / "notes.txt", "needle here\n");
  FifoRescuer rescuer(ws_ / "pipe", std::chrono::seconds(3));
  auto timed = [this](const std::string& tool, json::object input) {
    auto start = std::chrono::steady_clock::now();
    agent::ToolOutcome out = Invoke(tool, std::move(input));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2)) << tool << " blocked on the FIFO";
    return out;
  };

  auto read = timed("read", json::object{{"path", "pipe"}});
  EXPECT_TRUE(read.is_error);
  EXPECT_TRUE(Contains(read.output, "not a regular file: pipe")) << read.output;
  auto edit = timed("edit", json::object{{"path", "pipe"}, {"old", "a"}, {"new", "b"}});
  EXPECT_TRUE(edit.is_error);
  EXPECT_TRUE(Contains(edit.output, "not a regular file: pipe")) << edit.output;
  EXPECT_TRUE(fs::is_fifo(ws_ / "pipe"));  // not replaced by the edit

  auto direct = timed("grep", json::object{{"pattern", "needle"}, {"path", "pipe"}});
  EXPECT_FALSE(direct.is_error) << direct.output;
  EXPECT_EQ(direct.output, "no matches for /needle/ in pipe");
  auto tree = timed("grep", json::object{{"pattern", "needle"}});
  ASSERT_FALSE(tree.is_error) << tree.output;
  EXPECT_EQ(tree.output, "notes.txt:1: needle here\n");
}

TEST_F(ToolsFiles, GrepCapsTheNumberOfMatches) {
  std::string many;
  for (int i = 0; i < 500; ++i) many += "match " + std::to_string(i) + "\n";
  WriteFile(ws_ / "many.txt", many);
  auto g = Invoke("grep", json::object{{"pattern", "match"}});
  ASSERT_FALSE(g.is_error);
  EXPECT_TRUE(Contains(g.output, "many.txt:200: match 199\n"));
  EXPECT_FALSE(Contains(g.output, "many.txt:201:"));
  EXPECT_TRUE(Contains(g.output, "[stopped after 200 matches")) << g.output.substr(g.output.size() - 100);
}

}  // namespace
}  // namespace oc::tools
