// openclaw doctor [--fix]: is this installation able to run, and what blocks it. Every check says
// ok, warn or error with the fix; --fix does only the safe repairs (chmod to private modes, remove
// a socket nobody serves, create the workspace) and says what it did.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "cli/cli_common.h"
#include "cli/command_groups.h"
#include "cli/commands.h"
#include "cli/security_checks.h"
#include "cli/security_facts.h"
#include "memory/memory_service.h"
#include "store/database.h"

namespace oc::cli {
namespace fs = std::filesystem;
namespace {
using security::Check;

Check Ok(std::string id, std::string title, std::string detail) {
  return Check{std::move(id), "ok", std::move(title), std::move(detail), "", ""};
}
Check Problem(std::string status, std::string id, std::string title, std::string detail, std::string fix) {
  return Check{std::move(id), std::move(status), std::move(title), std::move(detail), std::move(fix), ""};
}

// A socket fd that closes itself.
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Connects with a timeout; errno is kept for the caller on failure.
bool ConnectWithin(int fd, const sockaddr* addr, socklen_t len, int timeout_ms) {
  if (::connect(fd, addr, len) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) {
    errno = ETIMEDOUT;
    return false;
  }
  int err = 0;
  socklen_t err_len = sizeof(err);
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
  errno = err;
  return err == 0;
}

// Whether something accepts on the Unix socket at `path` (errno tells why not).
bool UnixSocketAnswers(const fs::path& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (fd.fd < 0 || path.string().size() >= sizeof(addr.sun_path)) return false;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return ConnectWithin(fd.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr), 1000);
}

// GET /health on host:port. nullopt: nothing accepts there; "" : something accepts but did not
// answer like an OpenClawOS gateway; otherwise the kernel version it reported.
std::optional<std::string> GatewayAt(const std::string& host, uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return std::nullopt;
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.fd < 0 || !ConnectWithin(fd.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr), 1000)) return std::nullopt;
  const std::string request = "GET /health HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                              "\r\nConnection: close\r\n\r\n";
  if (::send(fd.fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) return "";
  std::string reply;
  char buf[4096];
  while (reply.size() < 65536) {
    pollfd p{fd.fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) break;
    ssize_t n = ::recv(fd.fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  size_t body = reply.find("\r\n\r\n");
  if (reply.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos) return "";
  auto health = ParseJson(reply.substr(body + 4));  // Connection: close → no chunking of a small body
  if (!health.ok() || !health->is_object()) return "";
  auto version = GetString(health->as_object(), "version");
  return health->as_object().contains("ok") && version ? std::string(*version) : "";
}

Check ConfigCheck(const config::Paths& paths, Result<config::Config>& cfg) {
  cfg = config::Config::Load(paths.config_file, config::ProcessEnv());
  if (cfg.ok()) return Ok("config", "config", paths.config_file.string() + " is valid");
  std::string detail = cfg.error().message;
  if (const auto* o = cfg.error().data.if_object())
    if (const auto* errors = GetArray(*o, "errors"))
      for (const auto& e : *errors)
        detail += "; " + Str(e.as_object().if_contains("path")) + ": " + Str(e.as_object().if_contains("message"));
  return Problem("error", "config", "config", detail, "fix the listed keys (openclaw config validate), see docs/CONFIG.md");
}

Check Vec0Check(const config::Config& cfg) {
  const json::value* configured = cfg.Find("memory.vecExtension");
  fs::path vec = configured && configured->is_string() && !configured->get_string().empty()
                     ? fs::path(std::string(configured->get_string()))
                     : memory::DefaultVecExtensionPath();
  const json::value* enabled = cfg.Find("memory.enabled");
  const std::string status = !enabled || !enabled->is_bool() || enabled->get_bool() ? "error" : "warn";
  auto db = store::Database::Open(":memory:");
  Status loaded = db.ok() ? (*db)->LoadExtension(vec) : Status(db.error());
  if (loaded.ok()) return Ok("vec0", "sqlite-vec (vec0.so)", vec.string() + " loads");
  return Problem(status, "vec0", "sqlite-vec (vec0.so)", loaded.error().message,
                 "run scripts/install-deps.sh, or set memory.vecExtension / $OPENCLAWOS_VEC0 to vec0.so");
}

Check KeyringCheck() {
  auto k = security::ProbeKeyring();
  if (!k.available) return Problem("warn", "keyring", "keyring (Secret Service)", "this build has no vault", "");
  if (k.reachable) return Ok("keyring", "keyring (Secret Service)", k.detail.empty() ? "reachable" : k.detail);
  return Problem("warn", "keyring", "keyring (Secret Service)",
                 (k.detail.empty() ? std::string("not reachable") : k.detail) +
                     "; the vault key is kept in <home>/vault.key instead",
                 "run a Secret Service (gnome-keyring, KeePassXC) in your session, or set OPENCLAWOS_VAULT_KEY");
}

Check DatabaseCheck(const config::Paths& paths) {
  const std::string title = "database integrity";
  if (!fs::exists(paths.database)) return Ok("database", title, paths.database.string() + " not created yet");
  store::DatabaseOptions options;
  options.read_only = true;
  auto db = store::Database::Open(paths.database, options);
  Status st = db.ok() ? (*db)->IntegrityCheck() : Status(db.error());
  if (st.ok()) return Ok("database", title, paths.database.string() + ": integrity_check ok");
  return Problem("error", "database", title, paths.database.string() + ": " + st.error().message,
                 "stop the kernel, move state.db aside and restore a backup (sqlite3 state.db .recover can "
                 "salvage rows)");
}

Check SocketCheck(const config::Paths& paths, bool fix, bool* kernel_running) {
  const std::string title = "IPC socket";
  *kernel_running = false;
  struct stat st {};
  if (::lstat(paths.socket.c_str(), &st) != 0) return Ok("socket", title, paths.socket.string() + " absent (kernel not running)");
  if (!S_ISSOCK(st.st_mode))
    return Problem("error", "socket", title, paths.socket.string() + " exists and is not a socket",
                   "move it away; the kernel needs the path for its socket");
  if (UnixSocketAnswers(paths.socket)) {
    *kernel_running = true;
    return Ok("socket", title, paths.socket.string() + ": a kernel accepts connections");
  }
  Check c = Problem("warn", "socket", title, paths.socket.string() + " is stale (" + std::strerror(errno) + ")",
                    "remove it: rm " + paths.socket.string());
  if (fix) {
    std::error_code ec;
    if (fs::remove(paths.socket, ec) && !ec) {
      c.fixed = "removed " + paths.socket.string();
      c.status = "ok";
    }
  }
  return c;
}

Check PortCheck(const config::Config& cfg, bool kernel_running) {
  auto gw = cfg.gateway();
  const std::string host = gw.host == "0.0.0.0" || gw.host == "localhost" ? "127.0.0.1" : gw.host;
  const std::string where = host + ":" + std::to_string(gw.port);
  const std::string title = "gateway port";
  auto found = GatewayAt(host, gw.port);
  if (!found) return Ok("port", title, where + " is free");
  if (found->empty())
    return Problem("error", "port", title, where + " is used by another program (it does not answer /health like the gateway)",
                   "stop that program, or set gateway.port (or $OPENCLAW_PORT) to a free port");
  if (kernel_running) return Ok("port", title, where + ": this kernel answers (version " + *found + ")");
  return Problem("warn", "port", title,
                 where + " is held by an OpenClawOS gateway that does not own this home's socket (another home?)",
                 "stop that gateway, or give one of them another gateway.port");
}

Check WorkspaceCheck(const config::Paths& paths, bool fix) {
  const std::string title = "workspace";
  if (fs::is_directory(paths.workspace)) return Ok("workspace", title, paths.workspace.string());
  Check c = Problem("warn", "workspace", title, paths.workspace.string() + " does not exist",
                    "mkdir -p " + paths.workspace.string() + " (the kernel also creates it at start)");
  std::error_code ec;
  if (fix && fs::create_directories(paths.workspace, ec) && !ec) {
    ::chmod(paths.workspace.c_str(), 0700);
    c.fixed = "created " + paths.workspace.string();
    c.status = "ok";
  }
  return c;
}

std::vector<Check> PermissionChecks(const config::Paths& paths, bool fix) {
  std::vector<Check> out;
  for (const auto& f : security::PrivateFiles(paths)) {
    Check c = security::ModeCheck(f);
    if (c.status != "ok" && fix && ::chmod(f.path.c_str(), f.mode & f.max_mode) == 0) {
      char mode[8];
      std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(f.mode & f.max_mode));
      c.fixed = "chmod " + std::string(mode + 1) + " " + f.path.string();
      c.status = "ok";
    }
    if (c.status != "ok" || f.exists) out.push_back(std::move(c));
  }
  return out;
}

void PrintChecks(const std::vector<Check>& checks) {
  for (const auto& c : checks) {
    std::string tag = c.status == "ok" ? "ok   " : c.status == "warn" ? "WARN " : "ERROR";
    std::cout << tag << "  " << c.title << ": " << c.detail << "\n";
    if (!c.fixed.empty()) std::cout << "       fixed: " << c.fixed << "\n";
    else if (!c.fix.empty() && c.status != "ok") std::cout << "       fix: " << c.fix << "\n";
  }
}

}  // namespace

int CmdDoctor(const Options& o) {
  const config::Paths paths = Paths();
  std::vector<Check> checks;
  Result<config::Config> cfg = config::Config::Defaults();
  checks.push_back(ConfigCheck(paths, cfg));
  const config::Config effective = cfg.ok() ? *cfg : config::Config::Defaults();
  checks.push_back(Vec0Check(effective));
  checks.push_back(KeyringCheck());
  checks.push_back(DatabaseCheck(paths));
  bool kernel_running = false;
  checks.push_back(SocketCheck(paths, o.fix, &kernel_running));
  checks.push_back(PortCheck(effective, kernel_running));
  for (auto& c : PermissionChecks(paths, o.fix)) checks.push_back(std::move(c));
  checks.push_back(WorkspaceCheck(paths, o.fix));
  const int rc = security::DoctorExitCode(checks);
  if (o.json) {
    json::array list;
    for (const auto& c : checks) list.push_back(c.ToJson());
    PrintJson(json::object{{"checks", std::move(list)}, {"ok", rc == 0}});
  } else {
    PrintChecks(checks);
    std::cout << (rc == 0 ? "no errors\n" : "errors remain\n");
  }
  return rc;
}

}  // namespace oc::cli
