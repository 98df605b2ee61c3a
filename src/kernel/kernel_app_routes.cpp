// App HTTP routes under /apps/<short>/ (proxied as http.request, SPEC §4.3) and the canvas
// (/canvas/..., what the `canvas` tool presents). docs/CONTROL-PLANE.md "App routes", "Canvas".
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "agent/runtime_config.h"
#include "common/http_text.h"
#include "kernel/app_http.h"
#include "kernel/kernel.h"
#include "tools/workspace_path.h"

namespace oc::kernel {
namespace fs = std::filesystem;
using gateway::HttpRequest;
using gateway::HttpResponse;
namespace {

constexpr std::string_view kCanvasMount = "/canvas/";
constexpr uintmax_t kMaxCanvasFileBytes = 16 << 20;
constexpr std::string_view kEmptyCanvas =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>Canvas</title></head>"
    "<body style=\"font-family:sans-serif;color:#888;display:flex;align-items:center;justify-content:center;"
    "height:90vh\"><p>Nothing on the canvas yet.</p></body></html>";

HttpResponse Redirect(std::string location, std::string_view query) {
  if (!query.empty()) location += "?" + std::string(query);
  HttpResponse r;
  r.status = 308;
  r.content_type = "text/plain; charset=utf-8";
  r.headers.emplace_back("Location", location);
  r.body = "moved to " + location + "\n";
  return r;
}

// Model-written pages must not run with the gateway's origin, where the Control UI keeps its
// credentials: the sandbox gives them an opaque origin (scripts still run).
HttpResponse CanvasFile(std::string body, std::string_view content_type) {
  HttpResponse r;
  r.content_type = std::string(content_type);
  r.body = std::move(body);
  r.headers = {{"Content-Security-Policy", "sandbox allow-scripts"},
               {"X-Content-Type-Options", "nosniff"},
               {"Cache-Control", "no-store"}};
  return r;
}

// Reads one file of <workspace>/canvas/ for GET /canvas/...; blocking (runs on the worker pool).
// `rel` is the decoded path inside canvas/ ("" = its index), `request_path` the path as sent.
HttpResponse ReadCanvasFile(const fs::path& workspace, const std::string& rel, const std::string& request_path) {
  auto dir = tools::ResolveInWorkspace(workspace, "canvas", true);
  if (!dir.ok() && dir.error().code == ErrorCode::kNotFound && rel.empty())
    return CanvasFile(std::string(kEmptyCanvas), "text/html; charset=utf-8");
  if (!dir.ok())
    return HttpResponse::Error(dir.error().code == ErrorCode::kForbidden ? 403 : 404, dir.error().code,
                               dir.error().message);
  auto file = tools::ResolveInWorkspace(*dir, rel.empty() ? "." : rel, true);
  if (!file.ok()) {
    unsigned status = file.error().code == ErrorCode::kForbidden ? 403 : 404;
    return HttpResponse::Error(status, status == 403 ? ErrorCode::kForbidden : ErrorCode::kNotFound,
                               status == 403 ? "path escapes the canvas" : "no such file on the canvas");
  }
  std::error_code ec;
  if (fs::is_directory(*file, ec)) {
    if (!request_path.ends_with('/')) return Redirect(request_path + "/", "");
    *file /= "index.html";
    if (!fs::is_regular_file(*file, ec)) {
      if (rel.empty()) return CanvasFile(std::string(kEmptyCanvas), "text/html; charset=utf-8");
      return HttpResponse::Error(404, ErrorCode::kNotFound, "no index.html in this canvas directory");
    }
    // index.html itself may be a symlink: it must stay inside the canvas too
    auto index = tools::ResolveInWorkspace(*dir, tools::RelativeToWorkspace(*dir, *file), true);
    if (!index.ok()) return HttpResponse::Error(403, ErrorCode::kForbidden, "path escapes the canvas");
    *file = *index;
  }
  if (!fs::is_regular_file(*file, ec)) return HttpResponse::Error(404, ErrorCode::kNotFound, "not a file");
  if (fs::file_size(*file, ec) > kMaxCanvasFileBytes)
    return HttpResponse::Error(403, ErrorCode::kForbidden, "file too large for the canvas (limit 16 MiB)");
  std::ifstream in(*file, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  if (!in) return HttpResponse::Error(404, ErrorCode::kNotFound, "cannot read the file");
  return CanvasFile(std::move(content).str(), apphttp::ContentTypeFor(file->filename().string()));
}

std::string CanvasBase(const std::string& agent_id) {
  return agent_id == "default" ? std::string(kCanvasMount)
                               : std::string(kCanvasMount) + http::PercentEncodePath(agent_id) + "/";
}

}  // namespace

// A granted http_route capability: served from now on (the mount itself exists from the start).
void Kernel::ExposeAppRoute(const std::string& app_id, const std::string& path) {
  app_routes_.emplace(app_id, path);
  spdlog::debug("app {}: route {} registered", app_id, path);
}

// Routes are owned by one app at a time (CapabilityTable), so the path alone names the entry.
void Kernel::ForgetAppRoute(const std::string& path) {
  std::erase_if(app_routes_, [&](const auto& entry) { return entry.second == path; });
}

void Kernel::RegisterCanvas() {
  MountAppRoutes();
  if (!control_) return;
  auto serve = [this](const HttpRequest& request, gateway::HttpResponder&) { return ServeCanvas(request); };
  control_->AddHttpRoute(std::string(kCanvasMount), serve, gateway::HttpAccess::kAuthenticated,
                         gateway::RouteMatch::kPrefix);
  // ("/canvas" without the slash reaches the prefix route too: it redirects)
  // The last change per agent, so a UI that opens later knows what to show (canvas.get).
  AddEventTap([this](std::string_view event, const json::value& payload) {
    if (event != "canvas" || !payload.is_object()) return;
    if (auto id = GetString(payload.as_object(), "agentId")) canvas_state_[std::string(*id)] = payload;
  });
  control_->AddMethod("canvas.get", [this](const gateway::ClientInfo&,
                                           json::value params) -> asio::awaitable<Result<json::value>> {
    std::string agent_id = "default";
    if (const auto* o = params.if_object())
      if (auto id = GetString(*o, "agentId")) agent_id = std::string(*id);
    if (!agent::AgentExists(config_.root(), agent_id))
      co_return MakeError(ErrorCode::kNotFound, "no agent " + agent_id);
    if (auto it = canvas_state_.find(agent_id); it != canvas_state_.end()) co_return it->second;
    co_return json::value(json::object{{"agentId", agent_id}, {"version", 0}, {"url", CanvasBase(agent_id)}});
  });
}

void Kernel::MountAppRoutes() {
  if (!control_) return;
  auto serve = [this](const HttpRequest& request, gateway::HttpResponder&) { return ServeAppRoute(request); };
  control_->AddHttpRoute(std::string(apphttp::kAppsMount), serve, gateway::HttpAccess::kAuthenticated,
                         gateway::RouteMatch::kPrefix);
}

const registry::Package* Kernel::RoutePackage(std::string_view short_name) const {
  auto fits = [&](const registry::Package& p) {
    return p.manifest.type == registry::PackageType::kApp && !p.manifest.http_routes.empty() &&
           p.manifest.ShortName() == short_name;
  };
  for (const auto& p : packages_)
    if (fits(p)) return &p;
  for (const auto& [id, s] : sessions_)
    if (fits(s.package)) return &s.package;
  return nullptr;
}

// /apps/<short>/<path>: 404 for an unknown app or an undeclared path, 403 for a route not granted,
// 502 while the app is down or has not registered the route, else the app's answer (504 when it
// does not answer within ipc.requestTimeoutMs).
asio::awaitable<HttpResponse> Kernel::ServeAppRoute(const HttpRequest& request) {
  // (the server also hands "/apps" itself to the "/apps/" prefix route)
  std::string_view path = request.path;
  std::string_view rest = path.size() > apphttp::kAppsMount.size() ? path.substr(apphttp::kAppsMount.size()) : "";
  std::string short_name(rest.substr(0, rest.find('/')));
  std::string app_path(rest.substr(short_name.size()));
  if (apphttp::IsUnsafePath(request.path))
    co_return HttpResponse::Error(400, ErrorCode::kInvalidRequest, "\".\" and \"..\" are not allowed in paths");
  const registry::Package* pkg = short_name.empty() ? nullptr : RoutePackage(short_name);
  if (!pkg) co_return HttpResponse::Error(404, ErrorCode::kNotFound, "no app serves /apps/" + short_name + "/");
  std::string mount = std::string(apphttp::kAppsMount) + short_name + "/";
  if (app_path.empty()) co_return Redirect(mount, request.query);
  const std::string app_id = pkg->manifest.id;
  // Matched on the decoded path, as the app will route it: "/%61dmin" must not pass as "/".
  auto route = apphttp::BestRoute(pkg->manifest.http_routes, http::PercentDecode(app_path).value_or(app_path));
  if (!route) co_return HttpResponse::Error(404, ErrorCode::kNotFound, app_id + " declares no route for " + app_path);

  auto session = sessions_.find(app_id);
  const registry::Grants grants = session != sessions_.end() ? session->second.grants : GrantsOf(*pkg);
  if (!grants.http_routes.count(*route))
    co_return HttpResponse::Error(403, ErrorCode::kCapabilityDenied,
                                  "route " + *route + " is not granted to " + app_id);
  auto conn = session == sessions_.end() ? nullptr : session->second.connection.lock();
  if (!conn || !conn->open())
    co_return HttpResponse::Error(502, ErrorCode::kConnectionClosed, app_id + " is not connected");
  if (!app_routes_.count({app_id, *route}))
    co_return HttpResponse::Error(502, ErrorCode::kConnectionClosed, app_id + " has not registered route " + *route);

  // Pages of apps below `verified` trust run sandboxed (an opaque origin): their scripts cannot
  // read the Control UI's stored token or act with its cookie. Decided before the co_await: `pkg`
  // may not survive an install/uninstall meanwhile.
  const registry::TrustLevel trust = TrustOf(*pkg, session != sessions_.end() && session->second.external);
  const bool sandboxed = trust == registry::TrustLevel::kCommunity || trust == registry::TrustLevel::kUntrusted;
  json::object params = apphttp::HttpRequestParams(request, app_path, mount);
  const size_t max_body = config_.gateway().max_body_bytes;
  Result<json::value> answer = co_await conn->Request("http.request", std::move(params));
  if (!answer.ok()) {
    const Error& e = answer.error();
    unsigned status = e.code == ErrorCode::kTimeout ? 504 : 502;
    co_return HttpResponse::Error(status, e.code, app_id + ": " + e.message);
  }
  auto response = apphttp::ResponseFromApp(*answer, max_body);
  if (!response.ok()) {
    spdlog::warn("app {}: malformed http.request answer: {}", app_id, response.error().message);
    co_return HttpResponse::Error(502, ErrorCode::kInternalError,
                                  "malformed http.request answer from " + app_id + ": " + response.error().message);
  }
  if (sandboxed) response->headers.emplace_back("Content-Security-Policy", "sandbox allow-scripts allow-forms allow-popups");
  co_return std::move(response).value();
}

// /canvas/<path> (the default agent) or /canvas/<agentId>/<path> when the first segment names a
// configured agent; files come from that agent's <workspace>/canvas/.
asio::awaitable<HttpResponse> Kernel::ServeCanvas(const HttpRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse r = HttpResponse::Error(405, ErrorCode::kInvalidRequest, "the canvas is read-only");
    r.headers.emplace_back("Allow", "GET, HEAD");
    co_return r;
  }
  if (request.path.size() < kCanvasMount.size()) co_return Redirect(std::string(kCanvasMount), request.query);
  if (apphttp::IsUnsafePath(request.path))
    co_return HttpResponse::Error(400, ErrorCode::kInvalidRequest, "\".\" and \"..\" are not allowed in paths");
  std::string rel = *http::PercentDecode(std::string_view(request.path).substr(kCanvasMount.size()));
  std::string agent_id = "default";
  std::string first = rel.substr(0, rel.find('/'));
  if (!first.empty() && agent::AgentExists(config_.root(), first)) {
    if (rel == first) co_return Redirect(CanvasBase(first), request.query);
    agent_id = first;
    rel.erase(0, first.size() + 1);
  }
  if (!pipeline_) co_return HttpResponse::Error(503, ErrorCode::kInternalError, "the agent runtime is not running");
  fs::path workspace = pipeline_->WorkspaceOf(agent_id);
  std::string request_path = request.path;
  auto read = [workspace, rel, request_path]() -> asio::awaitable<HttpResponse> {
    co_return ReadCanvasFile(workspace, rel, request_path);
  };
  co_return co_await asio::co_spawn(pipeline_->workers(), read, asio::use_awaitable);
}

}  // namespace oc::kernel
