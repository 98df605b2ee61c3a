#include "tools/builtin_tools.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <functional>

#include "common/json_schema.h"
#include "tools/exec_tool.h"
#include "tools/file_tools.h"
#include "tools/web_fetch.h"

namespace oc::tools {

namespace fs = std::filesystem;
using agent::ToolOutcome;

namespace {

struct SpecText {
  const char* name;
  const char* description;
  const char* schema;
};

constexpr SpecText kSpecs[] = {
    {"read",
     "Read a text file of the workspace. Lines come numbered (line number, tab, text). Use offset/limit to page "
     "through long files (default: the first 2000 lines).",
     R"json({"type":"object","properties":{
       "path":{"type":"string","description":"File path, relative to the workspace"},
       "offset":{"type":"integer","minimum":1,"description":"First line to show (1-based)"},
       "limit":{"type":"integer","minimum":1,"description":"Number of lines to show"}},
       "required":["path"],"additionalProperties":false})json"},
    {"write", "Create or overwrite a file in the workspace with the given content (parent directories are created).",
     R"json({"type":"object","properties":{
       "path":{"type":"string","description":"File path, relative to the workspace"},
       "content":{"type":"string","description":"The complete new content"}},
       "required":["path","content"],"additionalProperties":false})json"},
    {"edit",
     "Replace exact text in a workspace file. `old` must occur exactly once (include surrounding lines to make it "
     "unique) unless replaceAll is true.",
     R"json({"type":"object","properties":{
       "path":{"type":"string","description":"File path, relative to the workspace"},
       "old":{"type":"string","minLength":1,"description":"Text to replace, exactly as in the file"},
       "new":{"type":"string","description":"Replacement text"},
       "replaceAll":{"type":"boolean","description":"Replace every occurrence"}},
       "required":["path","old","new"],"additionalProperties":false})json"},
    {"ls", "List a directory of the workspace (default: its root): each entry with its type and size, sorted by name.",
     R"json({"type":"object","properties":{
       "path":{"type":"string","description":"Directory, relative to the workspace"}},
       "additionalProperties":false})json"},
    {"grep",
     "Search workspace files for a regular expression (RE2 syntax). Prints path:line: text for each matching "
     "line; .git and binary files are skipped; at most 200 matches.",
     R"json({"type":"object","properties":{
       "pattern":{"type":"string","description":"Regular expression (RE2)"},
       "path":{"type":"string","description":"File or directory to search (default: the workspace)"},
       "glob":{"type":"string","description":"Only files whose name matches this glob, e.g. *.py"},
       "ignoreCase":{"type":"boolean"}},
       "required":["pattern"],"additionalProperties":false})json"},
    {"exec",
     "Run a shell command (/bin/sh -c) in the workspace. stdin is empty; stdout and stderr are returned together, "
     "followed by the exit code. Depending on policy the command may need a human's approval first.",
     R"json({"type":"object","properties":{
       "command":{"type":"string","minLength":1,"description":"The shell command"},
       "timeoutMs":{"type":"integer","minimum":1,"description":"Timeout in ms (capped by the configured limit)"}},
       "required":["command"],"additionalProperties":false})json"},
    {"web_fetch",
     "Fetch an http(s) URL and return it as text (HTML converted to readable text). Private and local network "
     "addresses may be refused.",
     R"json({"type":"object","properties":{
       "url":{"type":"string","description":"Absolute http or https URL"},
       "maxChars":{"type":"integer","minimum":1,"description":"Longest text to return (default 50000)"}},
       "required":["url"],"additionalProperties":false})json"},
};

ToolOutcome Fail(std::string message) { return ToolOutcome{std::move(message), true}; }

ToolOutcome FromResult(Result<std::string> r) {
  if (!r.ok()) return Fail(r.error().message);
  return ToolOutcome{std::move(*r), false};
}

using FileTool = Result<std::string> (*)(const fs::path&, const json::object&, const internal::FileLimits&);

FileTool FindFileTool(std::string_view name) {
  if (name == "read") return internal::ReadTool;
  if (name == "write") return internal::WriteTool;
  if (name == "edit") return internal::EditTool;
  if (name == "ls") return internal::LsTool;
  if (name == "grep") return internal::GrepTool;
  return nullptr;
}

// Validates `input` against the tool's schema; an error message for the model, or "".
std::string CheckInput(const agent::ToolSpec& spec, const json::value& input) {
  auto violations = ValidateSchema(spec.input_schema, input);
  if (violations.empty()) return {};
  std::string message = "invalid input for " + spec.name + ":";
  for (const auto& v : violations)
    message += " " + (v.path.empty() ? std::string("input") : v.path) + ": " + v.message + ";";
  message.pop_back();
  return message;
}

std::string DescribeExit(const internal::ExecOutput& r, std::chrono::milliseconds timeout) {
  std::string out = r.output;
  if (!out.empty() && out.back() != '\n') out += '\n';
  if (r.dropped_bytes > 0) out += "[output truncated: " + std::to_string(r.dropped_bytes) + " more bytes dropped]\n";
  if (r.timed_out) {
    out += "[killed: timeout after " + std::to_string(timeout.count()) + " ms]";
  } else if (r.signal != 0) {
    out += "[killed by signal " + std::to_string(r.signal) + "]";
  } else {
    out += "[exit code " + std::to_string(r.exit_code) + "]";
  }
  return out;
}

}  // namespace

BuiltinTools::BuiltinTools(asio::any_io_executor loop, asio::thread_pool& workers, agent::HttpClient& http,
                           ApprovalBroker& approvals)
    : loop_(std::move(loop)), workers_(workers), http_(http), approvals_(approvals) {}

const std::vector<agent::ToolSpec>& BuiltinTools::Specs() {
  static const std::vector<agent::ToolSpec> specs = [] {
    std::vector<agent::ToolSpec> out;
    for (const SpecText& s : kSpecs) out.push_back(agent::ToolSpec{s.name, s.description, json::parse(s.schema)});
    return out;
  }();
  return specs;
}

bool BuiltinTools::Has(std::string_view name) {
  const auto& specs = Specs();
  return std::any_of(specs.begin(), specs.end(), [&](const agent::ToolSpec& s) { return s.name == name; });
}

asio::awaitable<ToolOutcome> BuiltinTools::Invoke(std::string name, json::value input, BuiltinCall call) {
  const auto& specs = Specs();
  auto spec = std::find_if(specs.begin(), specs.end(), [&](const agent::ToolSpec& s) { return s.name == name; });
  if (spec == specs.end()) co_return Fail("unknown tool: " + name);
  if (input.is_null()) input = json::object();
  std::string invalid = CheckInput(*spec, input);
  if (!invalid.empty()) co_return Fail(invalid);
  const json::object& args = input.as_object();

  ToolOutcome outcome;
  try {
    if (FileTool tool = FindFileTool(name)) {
      internal::FileLimits limits{call.limits.max_read_bytes};
      fs::path workspace = call.workspace;
      auto work = [tool, workspace, args, limits]() -> asio::awaitable<ToolOutcome> {
        try {
          co_return FromResult(tool(workspace, args, limits));
        } catch (const std::exception& e) {
          co_return Fail(std::string("file system error: ") + e.what());
        }
      };
      outcome = co_await asio::co_spawn(workers_, work, asio::use_awaitable);
    } else if (name == "exec") {
      outcome = co_await RunExec(std::string(*GetString(args, "command")), GetInt(args, "timeoutMs"), call);
    } else {
      internal::FetchLimits limits{call.limits.fetch_max_bytes, call.limits.fetch_timeout,
                                   call.limits.fetch_allow_private,
                                   static_cast<size_t>(GetInt(args, "maxChars").value_or(50000))};
      std::string url(*GetString(args, "url"));
      outcome = co_await internal::WebFetch(loop_, http_, std::move(url), limits);
    }
  } catch (const std::exception& e) {
    outcome = Fail(name + " failed: " + e.what());
  }
  co_return outcome;
}

asio::awaitable<ToolOutcome> BuiltinTools::RunExec(std::string command, std::optional<int64_t> timeout_ms,
                                                   BuiltinCall call) {
  const ToolLimits& limits = call.limits;
  if (limits.exec_security == "allowlist") {
    Status allowed = internal::CheckAllowlist(command, limits.exec_allowlist);
    if (!allowed.ok()) co_return Fail(allowed.error().message + "; nothing ran");
  } else if (limits.exec_security == "ask") {
    ApprovalRequest request;
    request.command = command;
    request.cwd = call.workspace.string();
    request.agent_id = call.agent_id;
    request.session_key = call.session_key;
    request.run_id = call.run_id;
    ApprovalDecision decision = co_await approvals_.Request(std::move(request), limits.approval_timeout);
    if (decision == ApprovalDecision::kDenied)
      co_return Fail("exec denied: the user did not approve this command; nothing ran");
    if (decision == ApprovalDecision::kTimedOut) {
      co_return Fail("exec not approved: nobody answered the approval request within " +
                     std::to_string(limits.approval_timeout.count()) + " ms; nothing ran");
    }
  } else if (limits.exec_security != "full") {
    co_return Fail("exec is disabled here (tools.exec.security is \"" + limits.exec_security + "\"); nothing ran");
  }
  std::chrono::milliseconds timeout = limits.exec_timeout;
  if (timeout_ms && *timeout_ms > 0) timeout = std::min(timeout, std::chrono::milliseconds(*timeout_ms));
  std::error_code ec;
  fs::path cwd = fs::canonical(call.workspace, ec);
  if (ec) co_return Fail("exec: the workspace " + call.workspace.string() + " does not exist");
  auto result =
      co_await internal::RunShellCommand(loop_, std::move(command), cwd, timeout, limits.exec_max_output_chars);
  if (!result.ok()) co_return Fail(result.error().message);
  bool failed = result->timed_out || result->signal != 0 || result->exit_code != 0;
  co_return ToolOutcome{DescribeExit(*result, timeout), failed};
}

}  // namespace oc::tools
