// The `canvas` kernel tool (SPEC §8.3): the agent pushes a web page to <workspace>/canvas/, which
// the kernel serves at /canvas/ (kernel_app_routes.cpp), and the Control UI reloads its canvas view
// on the `canvas` event. File I/O runs on the worker pool.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <fstream>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/http_text.h"
#include "kernel/app_http.h"
#include "kernel/pipeline.h"
#include "kernel/pipeline_params.h"
#include "tools/workspace_path.h"

namespace oc::kernel {
using internal::Str;
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxCanvasHtmlBytes = 2 << 20;
constexpr size_t kMaxTitleChars = 200;
constexpr std::string_view kIndex = "index.html";

// What a change did: the file shown, relative to canvas/ ("" = the index page), or why it failed.
struct CanvasChange {
  std::string error;
  std::string shown;
};

// <workspace>/canvas, canonical, created when `create`; refused when it leads outside the workspace.
Result<fs::path> CanvasDir(const fs::path& workspace, bool create) {
  std::error_code ec;
  if (create) fs::create_directories(workspace, ec);
  auto dir = tools::ResolveInWorkspace(workspace, "canvas", false);
  if (!dir.ok()) return dir.error();
  if (!fs::exists(*dir, ec)) {
    if (!create) return MakeError(ErrorCode::kNotFound, "the canvas is empty");
    fs::create_directory(*dir, ec);
    if (ec) return MakeError(ErrorCode::kInternalError, "cannot create canvas/: " + ec.message());
  }
  if (!fs::is_directory(*dir, ec))
    return MakeError(ErrorCode::kConflict, "canvas/ in the workspace is not a directory");
  return dir;
}

// Written beside the target and renamed over it, so a reader never sees half a page (and a
// symlink planted at canvas/index.html is replaced, not followed).
Status WriteAtomically(const fs::path& dir, std::string_view name, const std::string& content) {
  static std::atomic<uint64_t> counter{0};
  std::string unique = std::to_string(::getpid()) + "-" + std::to_string(++counter);
  fs::path tmp = dir / ("." + std::string(name) + ".tmp-" + unique);
  // O_EXCL|O_NOFOLLOW: a symlink planted under the temporary name is refused, not followed.
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return MakeError(ErrorCode::kInternalError, "cannot write canvas/" + std::string(name));
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  ::close(fd);
  if (written != content.size()) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return MakeError(ErrorCode::kInternalError, "cannot write canvas/" + std::string(name));
  }
  std::error_code ec;
  fs::rename(tmp, dir / name, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return MakeError(ErrorCode::kInternalError, "cannot write canvas/" + std::string(name));
  }
  return {};
}

CanvasChange Present(const fs::path& workspace, const std::string& html) {
  auto dir = CanvasDir(workspace, true);
  if (!dir.ok()) return {dir.error().message, ""};
  Status written = WriteAtomically(*dir, kIndex, html);
  if (!written.ok()) return {written.error().message, ""};
  return {"", ""};
}

CanvasChange Show(const fs::path& workspace, std::string path) {
  if (path.starts_with("canvas/")) path.erase(0, 7);
  while (path.starts_with("/")) path.erase(0, 1);
  if (path.empty()) path = kIndex;
  auto dir = CanvasDir(workspace, false);
  if (!dir.ok()) return {dir.error().message, ""};
  auto file = tools::ResolveInWorkspace(*dir, path, true);
  if (!file.ok()) return {file.error().message + " (paths are relative to canvas/ in the workspace)", ""};
  std::error_code ec;
  if (fs::is_directory(*file, ec)) {
    if (!fs::is_regular_file(*file / kIndex, ec)) return {path + " is a directory without index.html", ""};
    *file /= kIndex;
  }
  if (!fs::is_regular_file(*file, ec)) return {path + " is not a regular file", ""};
  std::string shown = tools::RelativeToWorkspace(*dir, *file);
  return {"", shown == kIndex ? "" : shown};
}

CanvasChange Clear(const fs::path& workspace) {
  auto dir = CanvasDir(workspace, false);
  if (!dir.ok()) return {dir.error().code == ErrorCode::kNotFound ? "" : dir.error().message, ""};
  std::error_code ec;
  fs::remove(*dir / kIndex, ec);  // a symlink is removed, never its target
  if (ec) return {"cannot remove canvas/index.html: " + ec.message(), ""};
  return {"", ""};
}

}  // namespace

fs::path Pipeline::WorkspaceOf(const std::string& agent_id) { return SettingsFor(agent_id).workspace; }

asio::awaitable<agent::ToolOutcome> Pipeline::CanvasTool(json::value input, agent::ToolContext context) {
  auto alive = alive_;
  const json::object empty;
  const json::object& in = input.is_object() ? input.as_object() : empty;
  std::string action = Str(in, "action"), html = Str(in, "html"), path = Str(in, "path"), title = Str(in, "title");
  if (action != "present" && action != "show" && action != "clear")
    co_return agent::ToolOutcome{"error: action must be present, show or clear", true};
  if (action == "present" && html.empty()) co_return agent::ToolOutcome{"error: present needs html", true};
  if (action == "show" && path.empty()) co_return agent::ToolOutcome{"error: show needs path", true};
  if (html.size() > kMaxCanvasHtmlBytes)
    co_return agent::ToolOutcome{"error: html is larger than " + std::to_string(kMaxCanvasHtmlBytes) + " bytes", true};
  if (title.size() > kMaxTitleChars) title.resize(kMaxTitleChars);

  fs::path workspace = WorkspaceOf(context.agent_id);
  auto apply = [action, workspace, html = std::move(html), path]() -> asio::awaitable<CanvasChange> {
    if (action == "present") co_return Present(workspace, html);
    if (action == "show") co_return Show(workspace, path);
    co_return Clear(workspace);
  };
  CanvasChange change = co_await asio::co_spawn(workers_, apply, asio::use_awaitable);
  if (!*alive) co_return agent::ToolOutcome{"error: the gateway is stopping", true};
  if (!change.error.empty()) co_return agent::ToolOutcome{"error: " + change.error, true};

  const std::string& agent_id = context.agent_id;
  std::string base = agent_id == "default" ? "/canvas/" : "/canvas/" + http::PercentEncodePath(agent_id) + "/";
  int64_t version = ++canvas_versions_[agent_id];
  json::object event{{"agentId", agent_id}, {"version", version}, {"action", action},
                     {"url", base + http::PercentEncodePath(change.shown)}};
  if (!title.empty() && action != "clear") event["title"] = title;
  json::object answer{{"ok", true}, {"action", action}, {"url", event.at("url")}, {"version", version}};
  spdlog::info("agent {}: canvas {} (version {})", agent_id, action, version);
  host_.BroadcastEvent("canvas", std::move(event));
  co_return agent::ToolOutcome{json::serialize(answer), false};
}

}  // namespace oc::kernel
