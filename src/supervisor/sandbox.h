// The process sandbox (SPEC §5.5, issue 8): what this machine's kernel supports, and (for the
// supervisor) how an app's SandboxSpec becomes a plan applied between fork and exec.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "supervisor/supervisor.h"

namespace oc::supervisor {

// What the running Linux kernel lets us apply. Cheap enough for `security audit` and `doctor`
// (may fork one short-lived child to try unshare).
struct SandboxSupport {
  int landlock_abi = 0;            // 0: no Landlock
  bool seccomp = false;            // seccomp filters (SECCOMP_MODE_FILTER)
  bool network_namespace = false;  // unshare(CLONE_NEWNET), directly or inside a user namespace
  std::string detail;              // one line for humans, e.g. "landlock ABI 7, seccomp, netns"
};
SandboxSupport ProbeSandboxSupport();

namespace internal {

// The highest Landlock ABI of the running kernel (0: none / disabled).
int LandlockAbi();

// What a Landlock rule allows beneath one path.
enum class PathAccess { kRead, kReadExec, kReadWrite };
struct SandboxPath {
  std::filesystem::path path;
  PathAccess access;
  bool operator==(const SandboxPath&) const = default;
};

// The install prefix of the interpreter named by the `#!` line of `executable`, so that a script
// app can load its interpreter's libraries: `#!/usr/bin/env NAME` resolves NAME on `path_env`
// (the app's PATH); the interpreter is realpath'ed and the prefix is the parent of the directory
// holding it (/root/.pyenv/versions/3.12/bin/python3.12 -> /root/.pyenv/versions/3.12). A prefix
// that is "/" or holds `home` (the user's files) is narrowed to the interpreter's directory.
// nullopt: not a script, or the interpreter cannot be found.
std::optional<std::filesystem::path> InterpreterPrefix(const std::filesystem::path& executable,
                                                       const std::string& path_env,
                                                       const std::filesystem::path& home);

// Every Landlock rule of an app (SandboxSpec + the system): system directories read+exec (those
// that exist), a few devices read+write, the package dir, the executable and the interpreter
// prefix read+exec, spec.sandbox.read_paths read, write_paths and tmp_dir read+write. Paths that
// do not exist are left out.
std::vector<SandboxPath> SandboxPaths(const AppSpec& spec);

// The seccomp program (SPEC §5.5): kill on a foreign architecture (x32 calls on x86_64 -> EPERM);
// EPERM for ptrace, process_vm_*, mount family, modules, kexec, bpf, perf_event_open, keyrings,
// unshare, setns, swap, reboot, acct, open_by_handle_at, userfaultfd, quotactl, clock setting,
// iopl/ioperm, io_uring_setup; clone with a CLONE_NEW* flag -> EPERM; clone3 -> ENOSYS (libc
// falls back to clone); socket(AF_PACKET) and SOCK_RAW -> EPERM; and, when !allow_network,
// socket() of any family but AF_UNIX -> EPERM. Everything else is allowed.
std::vector<sock_filter> BuildSeccompFilter(bool allow_network);

// Built in the parent before fork (by PlanSandbox); SpawnChild applies it in the child with
// async-signal-safe calls only. Move-only: owns landlock_fd.
struct SandboxPlan {
  bool enabled = false;
  int landlock_fd = -1;  // a Landlock ruleset; -1: no Landlock
  std::vector<sock_filter> seccomp;  // empty: no filter
  bool private_network = false;      // unshare(CLONE_NEWNET), else inside a new user namespace
  std::string uid_map, gid_map;      // written to /proc/self/{uid,gid}_map in the user-ns fallback
  bool core_dumps_off = false;       // RLIMIT_CORE 0
  std::map<std::string, std::string> env;  // added to the app's environment (TMPDIR, TMP, TEMP, ...)
  // {"sandbox","noNewPrivs","seccomp","landlock","network","tmp"}; "network" assumes the private
  // namespace: FinishEnforcement corrects it with what the child achieved.
  json::object enforcement;

  SandboxPlan() = default;
  SandboxPlan(SandboxPlan&& other) noexcept;
  SandboxPlan& operator=(SandboxPlan&& other) noexcept;
  ~SandboxPlan();
};

// {"sandbox":"none","noNewPrivs":"none","seccomp":"none","landlock":"none","network":"none",
//  "tmp":"none"}.
json::object NoSandboxEnforcement();

// Prepares spec.sandbox for one spawn: empties and creates tmp_dir (0700), builds the Landlock
// ruleset (when the kernel has Landlock) and the seccomp program. A disabled spec gives a plan that
// applies nothing. Errors (kInternalError "sandbox: ...") when something that is available cannot
// be prepared (e.g. tmp_dir cannot be created): the app must not run unprotected.
Result<SandboxPlan> PlanSandbox(const AppSpec& spec);

// The enforcement entries once the child is running: `got_netns` is what the child reported.
// network: "netns" | "unix-only" (no namespace, the filter allows only AF_UNIX) | "host" | "none".
void FinishEnforcement(const SandboxPlan& plan, bool got_netns, json::object& enforcement);

}  // namespace internal
}  // namespace oc::supervisor
