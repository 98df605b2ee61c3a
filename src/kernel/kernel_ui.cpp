// The Control UI's static files (SPEC §11, docs/CONTROL-UI.md): `/` and `/index.html` answer
// index.html, `/ui/<file>` the other files.
//
// The files are read once when the kernel starts (the UI is a few hundred KB of plain ES modules
// and CSS), so a request never touches the disk on the loop. A request path is looked up as an exact
// key in that set: `..`, percent-encoded names and symlinks leading out of the directory find
// nothing. The routes are public so the login screen loads; the UI then authenticates its
// WebSocket itself. Served with a strict Content-Security-Policy (no inline script or style, no
// other origin) and X-Frame-Options: SAMEORIGIN so another site cannot frame the dashboard.
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include "common/http_text.h"
#include "kernel/kernel.h"

namespace oc::kernel {
namespace {

namespace fs = std::filesystem;
using gateway::HttpRequest;
using gateway::HttpResponse;

constexpr std::string_view kAssetPrefix = "/ui/";
constexpr uintmax_t kMaxFileBytes = 4u << 20;    // a bigger file is not UI source: skipped
constexpr uintmax_t kMaxTotalBytes = 32u << 20;  // everything loaded at start stays in memory
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; connect-src 'self' ws: wss:; frame-src 'self'; img-src 'self' data:";

struct UiFile {
  std::string content_type;
  std::string body;
  std::string etag;
};

// The loaded UI. Immutable once built; shared by the route handlers.
struct UiBundle {
  fs::path dir;
  bool found = false;  // the directory exists and has index.html
  std::unordered_map<std::string, UiFile> files;  // "index.html", "pages/chat.js", ...
};

// Only the kinds of file the UI is made of are served; anything else in the directory
// (CMakeLists.txt, notes) is not.
std::string_view ContentTypeFor(const fs::path& file) {
  static const std::set<std::string, std::less<>> kServed = {".html", ".js", ".mjs", ".css", ".svg",
                                                             ".png", ".ico", ".json", ".woff2"};
  return kServed.count(file.extension().string()) ? http::ContentTypeFor(file.filename().string())
                                                  : std::string_view();
}

// A strong validator: FNV-1a over the content (files change only when the kernel restarts).
std::string ETagOf(std::string_view body) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : body) h = (h ^ ch) * 1099511628211ull;
  std::ostringstream out;
  out << '"' << std::hex << h << '-' << body.size() << '"';
  return out.str();
}

fs::path DefaultUiDir() {
  if (const char* env = std::getenv("OPENCLAWOS_UI_DIR"); env && *env) return env;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "ui";
  return exe.parent_path().parent_path() / "ui";
}

bool ReadWhole(const fs::path& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buf;
  buf << in.rdbuf();
  out = std::move(buf).str();
  return !in.bad();
}

// Adds one directory entry to the bundle if it is a servable file inside `canonical_dir`.
void AddFile(UiBundle& ui, const fs::path& canonical_dir, const fs::directory_entry& entry, uintmax_t& total) {
  std::error_code ec;
  const fs::path rel = entry.path().lexically_relative(ui.dir);
  for (const auto& part : rel)
    if (part.string().starts_with(".")) return;  // hidden files and directories
  if (!entry.is_regular_file(ec) || ContentTypeFor(entry.path()).empty()) return;
  const fs::path real = fs::canonical(entry.path(), ec);
  if (ec) return;
  const fs::path inside = real.lexically_relative(canonical_dir);
  if (inside.empty() || *inside.begin() == "..") {
    spdlog::warn("control UI: {} points outside {}; not served", entry.path().string(), ui.dir.string());
    return;
  }
  const uintmax_t size = entry.file_size(ec);
  if (ec || size > kMaxFileBytes || total + size > kMaxTotalBytes) {
    spdlog::warn("control UI: {} skipped (too large)", entry.path().string());
    return;
  }
  UiFile file{std::string(ContentTypeFor(entry.path())), {}, {}};
  if (!ReadWhole(entry.path(), file.body)) {
    spdlog::warn("control UI: cannot read {}", entry.path().string());
    return;
  }
  total += file.body.size();
  file.etag = ETagOf(file.body);
  ui.files.emplace(rel.generic_string(), std::move(file));
}

std::shared_ptr<const UiBundle> LoadUi(fs::path dir) {
  auto ui = std::make_shared<UiBundle>();
  ui->dir = std::move(dir);
  std::error_code ec;
  const fs::path canonical_dir = fs::canonical(ui->dir, ec);
  if (ec || !fs::is_directory(canonical_dir, ec)) {
    spdlog::warn("control UI: no directory {}; / answers 404 (set OPENCLAWOS_UI_DIR)", ui->dir.string());
    return ui;
  }
  uintmax_t total = 0;
  fs::recursive_directory_iterator it(ui->dir, ec), end;  // does not descend into directory symlinks
  for (; !ec && it != end; it.increment(ec)) AddFile(*ui, canonical_dir, *it, total);
  if (ec) spdlog::warn("control UI: listing {}: {}", ui->dir.string(), ec.message());
  ui->found = ui->files.contains("index.html");
  if (!ui->found)
    spdlog::warn("control UI: {} has no index.html; / answers 404", ui->dir.string());
  else
    spdlog::info("control UI: {} files ({} KB) from {}", ui->files.size(), total / 1024, ui->dir.string());
  return ui;
}

std::string HtmlEscape(std::string_view in) {
  std::string out;
  for (char ch : in) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(ch);
    }
  }
  return out;
}

HttpResponse NotInstalledPage(const UiBundle& ui) {
  HttpResponse r;
  r.status = 404;
  r.content_type = "text/html; charset=utf-8";
  r.body = "<!doctype html><meta charset=\"utf-8\"><title>OpenClawOS Control UI not found</title>"
           "<h1>Control UI not found</h1><p>The gateway is running, but the Control UI files are not "
           "installed. Expected <code>index.html</code> in <code>" +
           HtmlEscape(ui.dir.string()) +
           "</code>.</p><p>Build the <code>control-ui</code> target, or point <code>OPENCLAWOS_UI_DIR</code> "
           "at the <code>ui/</code> directory of the source tree, and restart the gateway.</p>\n";
  r.headers = {{"Content-Security-Policy", std::string(kContentSecurityPolicy)}};
  return r;
}

// The bundle key a request path names, or "" when it names none.
std::string FileKeyFor(std::string_view path) {
  if (path == "/" || path == "/index.html") return "index.html";
  if (path.starts_with(kAssetPrefix)) return std::string(path.substr(kAssetPrefix.size()));
  return {};
}

HttpResponse ServeUiFile(const UiBundle& ui, const HttpRequest& req) {
  if (req.method != "GET") {
    HttpResponse refused = HttpResponse::Error(405, ErrorCode::kInvalidRequest, "the Control UI answers GET only");
    refused.headers.emplace_back("Allow", "GET");
    return refused;
  }
  if (!ui.found) return NotInstalledPage(ui);
  const std::string key = FileKeyFor(req.path);
  auto it = ui.files.find(key);
  if (key.empty() || it == ui.files.end())
    return HttpResponse::Error(404, ErrorCode::kNotFound, "no Control UI file " + req.path);
  const UiFile& file = it->second;
  HttpResponse r;
  r.headers = {{"ETag", file.etag},
               // revalidate every time (cheap 304s): the names carry no content hash
               {"Cache-Control", "no-cache"},
               {"Content-Security-Policy", std::string(kContentSecurityPolicy)},
               {"X-Frame-Options", "SAMEORIGIN"},
               {"X-Content-Type-Options", "nosniff"},
               {"Referrer-Policy", "no-referrer"}};
  if (req.Header("if-none-match") == file.etag) {
    r.status = 304;
    r.content_type = file.content_type;
    return r;
  }
  r.content_type = file.content_type;
  r.body = file.body;
  return r;
}

}  // namespace

void Kernel::RegisterControlUi() {
  // Loaded even while disabled: a config reload may turn the UI on without a restart.
  std::shared_ptr<const UiBundle> ui = LoadUi(options_.ui_dir.empty() ? DefaultUiDir() : options_.ui_dir);
  // The server keeps its copy of the handler alive while the coroutine runs, so `ui` stays valid.
  gateway::HttpHandler serve = [this, ui](const HttpRequest& req,
                                          gateway::HttpResponder&) -> asio::awaitable<HttpResponse> {
    // Checked per request so a config reload that turns the UI off takes effect at once.
    if (!config_.gateway().control_ui_enabled)
      co_return HttpResponse::Error(404, ErrorCode::kNotFound,
                                    "the Control UI is disabled (gateway.controlUi.enabled is false)");
    co_return ServeUiFile(*ui, req);
  };
  control_->AddHttpRoute("/", serve, gateway::HttpAccess::kPublic);
  control_->AddHttpRoute("/index.html", serve, gateway::HttpAccess::kPublic);
  control_->AddHttpRoute(std::string(kAssetPrefix), serve, gateway::HttpAccess::kPublic,
                         gateway::RouteMatch::kPrefix);
}

}  // namespace oc::kernel
