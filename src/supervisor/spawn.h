// Internal to the supervisor: fork+exec of one app process (SPEC §5.2). Everything is prepared
// before fork; between fork and exec the child makes only async-signal-safe calls.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>

#include "common/status.h"
#include "supervisor/limits.h"
#include "supervisor/sandbox.h"

namespace oc::supervisor::internal {

struct SpawnRequest {
  std::filesystem::path executable;        // absolute; argv[0] too
  std::filesystem::path dir;               // cwd
  std::map<std::string, std::string> env;  // the complete environment
  const LimitPlan* limits = nullptr;       // applied in the child; may be null
  const SandboxPlan* sandbox = nullptr;    // applied in the child; may be null
};

struct SpawnedChild {
  pid_t pid = -1;      // leader of its own session and process group (pgid == pid)
  int stdout_fd = -1;  // read ends, O_CLOEXEC, owned by the caller
  int stderr_fd = -1;
  bool network_namespace = false;  // the child got a private network namespace (sandbox plan)
};

// Starts the child: own session/process group, stdin /dev/null, stdout/stderr to pipes, every
// other fd closed, signal dispositions and mask reset, PR_SET_PDEATHSIG(SIGKILL), joins
// limits->cgroup_dir, sets rlimits/nice, then the sandbox plan (RLIMIT_CORE 0, a private network
// namespace — directly, else inside a new user namespace, else none: not an error, see
// SpawnedChild::network_namespace), chdir, stdio, PR_SET_NO_NEW_PRIVS, landlock_restrict_self,
// the seccomp filter, execve. Returns once the exec has succeeded (the
// report pipe closes on exec) or failed. On failure the child has been reaped and the error is
// kInternalError with "exec failed: <path>: <reason>" or "spawn failed: <step>: <reason>".
Result<SpawnedChild> SpawnChild(const SpawnRequest& request);

// 32 lowercase hex chars from getrandom(2) (/dev/urandom as a fallback). Fails only when neither
// gives 16 bytes: a guessable token is never handed out.
Result<std::string> RandomToken();

}  // namespace oc::supervisor::internal
