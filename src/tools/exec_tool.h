// Internal to oc_tools: the `exec` tool's policy check and its process runner.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace oc::tools::internal {

namespace asio = boost::asio;

// Under security "allowlist": OK when `command` matches one of `patterns` (fnmatch, `*` also
// matches '/') and holds none of the shell control characters ; & | $ ` > < ( ) or a line break.
// kForbidden with a message saying which rule refused it otherwise.
Status CheckAllowlist(std::string_view command, const std::vector<std::string>& patterns);

struct ExecOutput {
  std::string output;        // stdout and stderr interleaved, valid UTF-8, at most the cap
  size_t dropped_bytes = 0;  // output beyond the cap
  bool timed_out = false;    // the group was killed at the timeout
  int exit_code = -1;        // when the shell exited normally
  int signal = 0;            // when it was killed by a signal
};

// Runs `/bin/sh -c <command>` in `cwd` with stdin /dev/null, in its own process group, with only
// PATH, HOME=cwd, LANG and TERM=dumb in its environment. Output is read on `loop` (the loop never
// blocks); the child's exit is watched through a pidfd (polled with waitpid(pid, WNOHANG) when
// pidfd_open is unavailable) — no SIGCHLD handler, never waitpid(-1). At `timeout` the whole group
// is SIGKILLed; when the shell exits, whatever it left running in its group is SIGKILLed too.
// The child is always reaped, also when the coroutine is destroyed early. Errors: kInternalError
// when the process cannot be started.
asio::awaitable<Result<ExecOutput>> RunShellCommand(asio::any_io_executor loop, std::string command,
                                                    std::filesystem::path cwd, std::chrono::milliseconds timeout,
                                                    size_t max_output_bytes);

}  // namespace oc::tools::internal
