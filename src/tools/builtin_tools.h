// The built-in tools of the default agent (SPEC §8.3): read, write, edit, ls, grep (confined to
// the agent's workspace), exec (a shell command under the tools.exec policy, with approvals) and
// web_fetch (an http(s) page as text, private networks refused).
//
// The kernel owns one BuiltinTools next to its HttpClient and ApprovalBroker, maps each agent's
// `tools` policy onto Specs(), and calls Invoke() from its ToolHost. Threading: construct and call
// on the kernel loop; file-system work runs on the worker pool and resumes on the loop. `http`,
// `approvals` and `workers` must outlive every Invoke() in progress.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/agent.h"
#include "agent/http_client.h"
#include "common/json.h"
#include "tools/approvals.h"

namespace oc::tools {

namespace asio = boost::asio;

struct ToolLimits {                         // from the `tools` config section (docs/CONFIG.md); the kernel fills it
  std::string exec_security = "ask";        // deny | allowlist | ask | full (anything else: deny)
  std::vector<std::string> exec_allowlist;  // glob patterns (fnmatch) on the whole command
  std::chrono::milliseconds exec_timeout{60000};  // also the ceiling of the call's timeoutMs
  size_t exec_max_output_chars = 100000;
  std::chrono::milliseconds approval_timeout{120000};
  size_t fetch_max_bytes = 2000000;
  std::chrono::milliseconds fetch_timeout{20000};  // for the whole fetch, redirects included
  bool fetch_allow_private = false;
  size_t max_read_bytes = 10000000;  // read, edit, and the files grep looks into
};

struct BuiltinCall {
  std::filesystem::path workspace;  // the agent's workspace (exists)
  std::string agent_id, session_key, run_id;
  ToolLimits limits;
};

class BuiltinTools {
 public:
  // `workers`: blocking file-system work (read, grep over a tree, ...) runs there and the result is
  // resumed on `loop`; the loop never blocks.
  BuiltinTools(asio::any_io_executor loop, asio::thread_pool& workers, agent::HttpClient& http,
               ApprovalBroker& approvals);

  // read, write, edit, ls, grep, exec, web_fetch: name, description for the model, JSON Schema of
  // the input.
  static const std::vector<agent::ToolSpec>& Specs();
  static bool Has(std::string_view name);

  // Runs tool `name` with `input` (validated against its schema first). Never throws; every
  // failure (unknown tool, invalid input, path outside the workspace, policy refusal, I/O error)
  // is an is_error outcome whose message says what to do differently. exec reports a non-zero
  // exit, a signal or the timeout as is_error (the output is there all the same); web_fetch does
  // so for a 4xx/5xx answer.
  asio::awaitable<agent::ToolOutcome> Invoke(std::string name, json::value input, BuiltinCall call);

 private:
  asio::awaitable<agent::ToolOutcome> RunExec(std::string command, std::optional<int64_t> timeout_ms, BuiltinCall call);

  asio::any_io_executor loop_;
  asio::thread_pool& workers_;
  agent::HttpClient& http_;
  ApprovalBroker& approvals_;
};

}  // namespace oc::tools
