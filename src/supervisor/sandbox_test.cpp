// The process sandbox: plan building (paths, interpreter prefix), the seccomp program run for real
// in a forked child, and whole spawns of sandboxed script apps through the Supervisor.
#include "supervisor/sandbox.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "supervisor/supervisor_test_util.h"

namespace oc::supervisor::testing {
namespace {
namespace fs = std::filesystem;
using internal::PathAccess;
using internal::SandboxPath;

class SandboxTest : public SupervisorFixture {
 protected:
  fs::path MakeExecutable(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    ::chmod(path.c_str(), 0755);
    return path;
  }
  std::optional<PathAccess> AccessOf(const std::vector<SandboxPath>& paths, const fs::path& p) {
    for (const auto& sp : paths)
      if (sp.path == p) return sp.access;
    return std::nullopt;
  }
};

TEST_F(SandboxTest, InterpreterPrefixFollowsEnvOnThePathAndSymlinks) {
  fs::path real = MakeExecutable(root_ / "py" / "versions" / "3.9" / "bin" / "fakepy", "#!/bin/sh\n");
  fs::create_directories(root_ / "shims");
  fs::create_symlink(real, root_ / "shims" / "fakepy");
  fs::path app = MakeExecutable(root_ / "pkg" / "main.py", "#!/usr/bin/env fakepy\nprint(1)\n");
  std::string path = (root_ / "nothing").string() + ":" + (root_ / "shims").string();
  auto prefix = internal::InterpreterPrefix(app, path, "/nonexistent-home");
  ASSERT_TRUE(prefix.has_value());
  EXPECT_EQ(*prefix, fs::canonical(root_ / "py" / "versions" / "3.9"));

  // A direct interpreter path, with an argument.
  fs::path direct = MakeExecutable(root_ / "pkg" / "direct", "#!" + real.string() + " -u\n");
  EXPECT_EQ(internal::InterpreterPrefix(direct, "", ""), fs::canonical(root_ / "py" / "versions" / "3.9"));
  // `env -S NAME` skips the option.
  fs::path with_s = MakeExecutable(root_ / "pkg" / "with_s", "#!/usr/bin/env -S fakepy -u\n");
  EXPECT_EQ(internal::InterpreterPrefix(with_s, path, ""), fs::canonical(root_ / "py" / "versions" / "3.9"));
}

TEST_F(SandboxTest, InterpreterPrefixNeverOpensTheHomeOrTheRoot) {
  fs::path home = root_ / "home";
  fs::path interp = MakeExecutable(home / "bin" / "myinterp", "#!/bin/sh\n");
  fs::path app = MakeExecutable(root_ / "pkg" / "main", "#!" + interp.string() + "\n");
  // ~/bin/myinterp: the prefix would be ~ itself; narrowed to ~/bin.
  EXPECT_EQ(internal::InterpreterPrefix(app, "", home), fs::canonical(home / "bin"));
  // Not a script, missing interpreter, env without a name.
  fs::path elf = MakeExecutable(root_ / "pkg" / "elf", "\x7f" "ELF....");
  EXPECT_FALSE(internal::InterpreterPrefix(elf, "/usr/bin", home).has_value());
  fs::path missing = MakeExecutable(root_ / "pkg" / "missing", "#!/usr/bin/env no-such-interpreter-xyz\n");
  EXPECT_FALSE(internal::InterpreterPrefix(missing, "/usr/bin:/bin", home).has_value());
  fs::path bare = MakeExecutable(root_ / "pkg" / "bare", "#!/usr/bin/env\n");
  EXPECT_FALSE(internal::InterpreterPrefix(bare, "/usr/bin:/bin", home).has_value());
  EXPECT_FALSE(internal::InterpreterPrefix(root_ / "pkg" / "absent", "", home).has_value());
}

TEST_F(SandboxTest, SandboxPathsCoverTheSystemThePackageAndTheDeclaredPaths) {
  fs::path main = WriteScript("paths", "exit 0");
  AppSpec spec = MakeSpec("paths", main);
  fs::create_directories(root_ / "data" / "tmp");
  fs::create_directories(root_ / "shared");
  spec.sandbox.enabled = true;
  spec.sandbox.read_paths = {root_ / "shared", root_ / "does-not-exist"};
  spec.sandbox.write_paths = {root_ / "data"};
  spec.sandbox.tmp_dir = root_ / "data" / "tmp";
  auto paths = internal::SandboxPaths(spec);

  EXPECT_EQ(AccessOf(paths, "/usr"), PathAccess::kReadExec);
  EXPECT_EQ(AccessOf(paths, "/proc"), PathAccess::kReadExec);
  EXPECT_EQ(AccessOf(paths, "/dev/null"), PathAccess::kReadWrite);
  EXPECT_EQ(AccessOf(paths, spec.dir), PathAccess::kReadExec);
  EXPECT_EQ(AccessOf(paths, main), PathAccess::kReadExec);
  EXPECT_EQ(AccessOf(paths, root_ / "shared"), PathAccess::kRead);
  EXPECT_EQ(AccessOf(paths, root_ / "data"), PathAccess::kReadWrite);
  EXPECT_EQ(AccessOf(paths, root_ / "data" / "tmp"), PathAccess::kReadWrite);
  EXPECT_FALSE(AccessOf(paths, root_ / "does-not-exist").has_value());
  EXPECT_FALSE(AccessOf(paths, "/tmp").has_value());
  EXPECT_FALSE(AccessOf(paths, root_).has_value());
  // /etc is there without its secrets: no rule covers /etc/shadow or /etc/ssh.
  EXPECT_TRUE(AccessOf(paths, "/etc/passwd").has_value() || AccessOf(paths, "/etc").has_value());
  for (const auto& sp : paths) {
    for (const char* secret : {"/etc/shadow", "/etc/ssh/x", "/etc/ssl/private/key.pem"}) {
      auto rel = fs::path(secret).lexically_relative(sp.path);
      EXPECT_TRUE(rel.empty() || *rel.begin() == "..") << sp.path << " covers " << secret;
    }
  }
}

// Runs `body` in a forked child under the filter (after no_new_privs); the child's exit code is
// the test result: 0 = every expectation held, else the number of the first that failed.
int RunFiltered(bool allow_network, int (*body)()) {
  std::vector<sock_filter> filter = internal::BuildSeccompFilter(allow_network);
  pid_t pid = ::fork();
  if (pid == 0) {
    struct sock_fprog prog {};
    prog.len = static_cast<unsigned short>(filter.size());
    prog.filter = filter.data();
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(100);
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) ::_exit(101);
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

bool FailsWith(long result, int error) { return result < 0 && errno == error; }

int UnixOnlyExpectations() {
  if (!FailsWith(::ptrace(PTRACE_ATTACH, ::getppid(), nullptr, nullptr), EPERM)) return 1;
  if (!FailsWith(::socket(AF_INET, SOCK_STREAM, 0), EPERM)) return 2;
  if (!FailsWith(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), EPERM)) return 3;
  int unix_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (unix_fd < 0) return 4;
  ::close(unix_fd);
  if (!FailsWith(::unshare(CLONE_NEWNET), EPERM)) return 5;
  if (!FailsWith(::syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0), EPERM)) return 6;
  if (!FailsWith(::syscall(SYS_clone3, nullptr, 0), ENOSYS)) return 7;
  if (!FailsWith(::syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, nullptr), EPERM)) return 8;
  if (!FailsWith(::syscall(SYS_bpf, 0, nullptr, 0), EPERM)) return 9;
  // Allowed calls still work: a plain fork (clone without namespace flags), getpid, pipes.
  pid_t child = ::fork();
  if (child == 0) ::_exit(42);
  int status = 0;
  if (child < 0 || ::waitpid(child, &status, 0) != child || WEXITSTATUS(status) != 42) return 10;
  int fds[2];
  if (::pipe(fds) != 0 || ::getpid() <= 0) return 11;
  return 0;
}

int NetworkExpectations() {
  int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
  if (tcp < 0) return 1;
  ::close(tcp);
  if (!FailsWith(::socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), EPERM)) return 2;
  if (!FailsWith(::socket(AF_PACKET, SOCK_DGRAM, 0), EPERM)) return 3;
  if (!FailsWith(::socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_UDP), EPERM)) return 4;
  if (!FailsWith(::ptrace(PTRACE_ATTACH, ::getppid(), nullptr, nullptr), EPERM)) return 5;
  return 0;
}

TEST(SeccompFilterTest, UnixOnlyFilterDeniesWhatItListsAndAllowsTheRest) {
  EXPECT_EQ(RunFiltered(false, UnixOnlyExpectations), 0);
}

TEST(SeccompFilterTest, NetworkFilterAllowsInetButNotRawOrPacketSockets) {
  EXPECT_EQ(RunFiltered(true, NetworkExpectations), 0);
}

TEST(SeccompFilterTest, FilterIsShortEnoughAndEndsByAllowing) {
  auto filter = internal::BuildSeccompFilter(false);
  ASSERT_GT(filter.size(), 10u);
  EXPECT_LT(filter.size(), 255u);  // every jump stays in range even if written as one block
  EXPECT_EQ(filter.back().code, BPF_RET | BPF_K);
  EXPECT_EQ(filter.back().k, static_cast<uint32_t>(SECCOMP_RET_ALLOW));
}

TEST(SandboxEnforcementTest, ReportsOnlyWhatWasApplied) {
  internal::SandboxPlan off;
  off.enforcement = internal::NoSandboxEnforcement();
  json::object e{{"memory", "none"}};
  internal::FinishEnforcement(off, false, e);
  EXPECT_EQ(e.at("sandbox").as_string(), "none");
  EXPECT_EQ(e.at("network").as_string(), "none");
  EXPECT_EQ(e.at("memory").as_string(), "none");

  internal::SandboxPlan on;
  on.enabled = true;
  on.private_network = true;
  on.enforcement = internal::NoSandboxEnforcement();
  on.enforcement["sandbox"] = "on";
  internal::FinishEnforcement(on, true, e);
  EXPECT_EQ(e.at("network").as_string(), "netns");
  internal::FinishEnforcement(on, false, e);
  EXPECT_EQ(e.at("network").as_string(), "host");  // neither namespace nor filter
  on.seccomp = internal::BuildSeccompFilter(false);
  internal::FinishEnforcement(on, false, e);
  EXPECT_EQ(e.at("network").as_string(), "unix-only");
  on.private_network = false;
  internal::FinishEnforcement(on, false, e);
  EXPECT_EQ(e.at("network").as_string(), "host");
}

TEST(SandboxSupportTest, ProbeDescribesThisKernel) {
  SandboxSupport s = ProbeSandboxSupport();
  EXPECT_EQ(s.landlock_abi, internal::LandlockAbi());
  EXPECT_FALSE(s.detail.empty());
  EXPECT_NE(s.detail.find(s.landlock_abi > 0 ? "landlock ABI" : "no landlock"), std::string::npos);
  EXPECT_NE(s.detail.find(s.seccomp ? ", seccomp" : "no seccomp"), std::string::npos);
}

// A Unix socket listening in a directory no Landlock rule covers.
int ListenUnix(const fs::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 4) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string NetNamespace(const std::string& pid) {
  std::error_code ec;
  return fs::read_symlink("/proc/" + pid + "/ns/net", ec).string();
}

TEST_F(SandboxTest, SandboxedAppIsConfinedAndReportsIt) {
  MakeSupervisor();
  fs::create_directories(root_ / "secret");
  std::ofstream(root_ / "secret" / "id_rsa") << "PRIVATE";
  fs::create_directories(root_ / "shared");
  std::ofstream(root_ / "shared" / "in.txt") << "SHARED";
  fs::create_directories(root_ / "data");
  int listener = ListenUnix(root_ / "secret" / "ipc.sock");
  ASSERT_GE(listener, 0);
  std::string body = "R=" + root_.string() + R"SH(
cat "$R/secret/id_rsa" >/dev/null 2>&1 && echo SECRET=read || echo SECRET=denied
echo "SHARED=$(cat "$R/shared/in.txt")"
echo written > "$R/data/out.txt" && echo DATA=ok || echo DATA=denied
echo t > "$TMPDIR/t" && echo TMP=ok || echo TMP=denied
echo "TMPDIR=$TMPDIR"
cat /etc/shadow >/dev/null 2>&1 && echo SHADOW=read || echo SHADOW=denied
echo "NETNS=$(readlink /proc/self/ns/net)"
echo "CORE=$(ulimit -c)"
python3 -c "import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print('IPC=ok')
try:
    socket.socket(socket.AF_INET).close(); print('INET=allowed')
except OSError as e: print('INET=denied', e.errno)" "$R/secret/ipc.sock" 2>&1
echo DONE
exec sleep 30)SH";
  AppSpec spec = MakeSpec("boxed", WriteScript("boxed", body));
  spec.sandbox.enabled = true;
  spec.sandbox.read_paths = {root_ / "shared"};
  spec.sandbox.write_paths = {root_ / "data"};
  spec.sandbox.tmp_dir = root_ / "data" / "tmp";
  fs::create_directories(spec.sandbox.tmp_dir);
  std::ofstream(spec.sandbox.tmp_dir / "stale") << "left by the previous run";
  sup_->Add(spec);
  ASSERT_TRUE(sup_->Start("boxed").ok());
  ASSERT_TRUE(WaitForLog("boxed", "DONE")) << ::testing::PrintToString(sup_->Logs("boxed", 50));
  ::close(listener);

  EXPECT_EQ(LogValue("boxed", "SECRET="), "denied");
  EXPECT_EQ(LogValue("boxed", "SHARED="), "SHARED");
  EXPECT_EQ(LogValue("boxed", "DATA="), "ok");
  EXPECT_EQ(LogValue("boxed", "TMP="), "ok");
  EXPECT_EQ(LogValue("boxed", "TMPDIR="), spec.sandbox.tmp_dir.string());
  EXPECT_FALSE(fs::exists(spec.sandbox.tmp_dir / "stale"));  // emptied at spawn
  EXPECT_EQ(LogValue("boxed", "CORE="), "0");
  EXPECT_EQ(LogValue("boxed", "IPC="), "ok");  // pathname sockets are not mediated by Landlock
  EXPECT_EQ(LogValue("boxed", "INET="), "denied 1");

  json::object e = sup_->Get("boxed")->enforcement;
  EXPECT_EQ(e.at("sandbox").as_string(), "on");
  EXPECT_EQ(e.at("noNewPrivs").as_string(), "on");
  EXPECT_EQ(e.at("tmp").as_string(), "private");
  SandboxSupport support = ProbeSandboxSupport();
  EXPECT_EQ(e.at("seccomp").as_string(), support.seccomp ? "filter" : "none");
  if (support.landlock_abi > 0) {
    EXPECT_EQ(e.at("landlock").as_string(), "abi" + std::to_string(support.landlock_abi));
    EXPECT_EQ(LogValue("boxed", "SHADOW="), "denied");
  } else {
    EXPECT_EQ(e.at("landlock").as_string(), "unsupported");
  }
  if (support.network_namespace) {
    EXPECT_EQ(e.at("network").as_string(), "netns");
    EXPECT_NE(LogValue("boxed", "NETNS="), NetNamespace("self"));
  } else {
    EXPECT_EQ(e.at("network").as_string(), "unix-only");
  }
  ASSERT_TRUE(Await(sup_->Stop("boxed", "test")).ok());
  EXPECT_EQ(sup_->Get("boxed")->enforcement.at("sandbox").as_string(), "none");  // not running
}

TEST_F(SandboxTest, SandboxWithNetworkKeepsTheHostNetwork) {
  MakeSupervisor();
  AppSpec spec = MakeSpec("net", WriteScript("net", R"SH(echo "NETNS=$(readlink /proc/self/ns/net)"
echo DONE
exec sleep 30)SH"));
  spec.sandbox.enabled = true;
  spec.sandbox.network = true;
  sup_->Add(spec);
  ASSERT_TRUE(sup_->Start("net").ok());
  ASSERT_TRUE(WaitForLog("net", "DONE"));
  EXPECT_EQ(LogValue("net", "NETNS="), NetNamespace("self"));
  json::object e = sup_->Get("net")->enforcement;
  EXPECT_EQ(e.at("network").as_string(), "host");
  EXPECT_EQ(e.at("tmp").as_string(), "none");  // no tmp_dir in the spec
  EXPECT_EQ(e.at("sandbox").as_string(), "on");
}

// A script app whose interpreter comes through `#!/usr/bin/env python3` on the caller's PATH (a
// pyenv shim on developer machines): the interpreter prefix rule must let it start.
TEST_F(SandboxTest, EnvPythonScriptRunsSandboxed) {
  MakeSupervisor();
  fs::path dir = root_ / "pkg" / "py";
  fs::path main = MakeExecutable(dir / "main.py", "#!/usr/bin/env python3\n"
                                 "import os, sys, tempfile, json\n"
                                 "tempfile.NamedTemporaryFile().close()\n"
                                 "print('PY=ok', flush=True)\n"
                                 "import time; time.sleep(30)\n");
  AppSpec spec = MakeSpec("py", main);
  for (const char* name : {"PATH", "HOME"})
    if (const char* v = std::getenv(name)) spec.env[name] = v;
  spec.sandbox.enabled = true;
  spec.sandbox.tmp_dir = root_ / "pytmp";
  sup_->Add(spec);
  ASSERT_TRUE(sup_->Start("py").ok());
  ASSERT_TRUE(WaitForLog("py", "PY=ok", Ms(10000))) << ::testing::PrintToString(sup_->Logs("py", 50));
}

TEST_F(SandboxTest, UnsandboxedAppReportsNone) {
  MakeSupervisor();
  StartScript("plain", "echo \"NETNS=$(readlink /proc/self/ns/net)\"\necho DONE\nexec sleep 30");
  ASSERT_TRUE(WaitForLog("plain", "DONE"));
  EXPECT_EQ(LogValue("plain", "NETNS="), NetNamespace("self"));
  json::object e = sup_->Get("plain")->enforcement;
  for (const char* key : {"sandbox", "noNewPrivs", "seccomp", "landlock", "network", "tmp"})
    EXPECT_EQ(e.at(key).as_string(), "none") << key;
}

TEST_F(SandboxTest, TmpDirThatCannotBeMadeFailsTheSpawn) {
  MakeSupervisor();
  std::ofstream(root_ / "file") << "x";
  AppSpec spec = MakeSpec("notmp", WriteScript("notmp", "exec sleep 30"));
  spec.sandbox.enabled = true;
  spec.sandbox.tmp_dir = root_ / "file" / "tmp";  // beneath a regular file
  sup_->Add(spec);
  ASSERT_TRUE(sup_->Start("notmp").ok());
  auto status = sup_->Get("notmp");
  EXPECT_EQ(status->state, AppState::kError);
  ASSERT_TRUE(status->last_error.has_value());
  EXPECT_NE(status->last_error->find("sandbox: cannot prepare"), std::string::npos) << *status->last_error;
}

}  // namespace
}  // namespace oc::supervisor::testing
