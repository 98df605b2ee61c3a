#include "cli/security_checks.h"

#include <algorithm>
#include <cstdio>

namespace oc::cli::security {
namespace {

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Who may touch the file, in words: "group and others can read".
std::string Exposure(mode_t excess) {
  std::string who = (excess & 0070) && (excess & 0007) ? "group and others" : (excess & 0070) ? "group" : "others";
  std::string what;
  if (excess & 0044) what = "read";
  if (excess & 0022) what += what.empty() ? "write" : "/write";
  if (excess & 0011) what += what.empty() ? "enter/execute" : "/execute";
  if (excess & 07000) what += what.empty() ? "special bits" : " (+special bits)";
  return who + " can " + (what.empty() ? "access" : what);
}

}  // namespace

json::value Finding::ToJson() const {
  return json::object{{"id", id}, {"severity", severity}, {"title", title}, {"detail", detail}, {"fix", fix}};
}

int SeverityRank(std::string_view severity) {
  static constexpr std::string_view kOrder[] = {"critical", "high", "medium", "low", "info"};
  for (int i = 0; i < 5; ++i)
    if (kOrder[i] == severity) return i;
  return 5;
}

void SortFindings(std::vector<Finding>& findings) {
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    int ra = SeverityRank(a.severity), rb = SeverityRank(b.severity);
    return ra != rb ? ra < rb : a.id < b.id;
  });
}

int AuditExitCode(const std::vector<Finding>& findings) {
  for (const auto& f : findings)
    if (SeverityRank(f.severity) <= 1) return 1;
  return 0;
}

mode_t ExcessBits(mode_t actual, mode_t max_mode) { return actual & 07777 & ~max_mode; }

std::optional<Finding> CheckFileMode(const FileFacts& f) {
  if (!f.exists) return std::nullopt;
  mode_t excess = ExcessBits(f.mode, f.max_mode);
  if (!excess) return std::nullopt;
  return Finding{"perm." + f.id, f.severity, f.path.string() + " is mode " + Octal(f.mode),
                 Exposure(excess) + " it; it should be " + Octal(f.max_mode) + " or stricter",
                 "chmod " + Octal(f.max_mode).substr(1) + " " + f.path.string() + "  (or: openclaw doctor --fix)"};
}

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

std::vector<Finding> CheckGateway(const config::GatewaySettings& gw) {
  std::vector<Finding> out;
  const bool auth = gw.auth_configured();
  const std::string where = gw.host + ":" + std::to_string(gw.port);
  if (!IsLoopbackHost(gw.host) && !auth) {
    out.push_back({"gateway.bind", "critical", "the gateway binds to " + where + " without authentication",
                   "anyone who can reach this address could drive the agent (the kernel refuses to start like "
                   "this, but the config asks for it)",
                   "set gateway.auth.token (a long random value), or gateway.host to 127.0.0.1"});
  } else if (!IsLoopbackHost(gw.host)) {
    out.push_back({"gateway.bind", "medium", "the gateway is reachable from the network (" + where + ")",
                   "it requires gateway.auth; anyone who learns the credential controls the agent",
                   "bind to 127.0.0.1 and reach it through an SSH tunnel or a reverse proxy with TLS, if you can"});
  } else if (!auth) {
    out.push_back({"gateway.auth", "low", "the gateway has no authentication (loopback only)",
                   "every local user and process on this machine can use the control plane at " + where,
                   "set gateway.auth.token to a long random value"});
  }
  auto short_secret = [&](const std::string& value, const char* key) {
    if (value.empty() || value.size() >= 16) return;
    out.push_back({std::string("gateway.") + key, "medium", std::string("gateway.") + key + " is short",
                   std::to_string(value.size()) + " characters; a short credential can be guessed",
                   "use at least 16 random characters (e.g. openssl rand -hex 24)"});
  };
  short_secret(gw.auth_token, "auth.token");
  short_secret(gw.auth_password, "auth.password");
  return out;
}

std::optional<Finding> CheckExecPolicy(std::string_view policy, std::string_view where) {
  const std::string key(where);
  if (policy == "full")
    return Finding{"exec." + key, "high", key + " is \"full\"",
                   "the agent runs any shell command without asking; a prompt injection can run commands as you",
                   "set " + key + " to \"ask\" (approve each command) or \"allowlist\""};
  if (policy == "ask" || policy == "allowlist")
    return Finding{"exec." + key, "info", key + " is \"" + std::string(policy) + "\"",
                   policy == "ask" ? "each shell command waits for your approval (openclaw approvals)"
                                   : "only commands matching tools.exec.allowlist run",
                   ""};
  return std::nullopt;
}

std::optional<Finding> CheckExternalApps(bool allow_external_apps) {
  if (!allow_external_apps) return std::nullopt;
  return Finding{"ipc.allowExternalApps", "medium", "apps the kernel did not start may register",
                 "any process of your user that reaches the IPC socket can register an app (untrusted by default)",
                 "set ipc.allowExternalApps to false unless you run apps outside the kernel"};
}

std::vector<Finding> CheckApps(const std::vector<AppFacts>& apps) {
  std::vector<Finding> out;
  for (const auto& a : apps) {
    if (!a.enabled) continue;
    std::vector<std::string> powers;
    for (const auto& h : a.intercepts) powers.push_back("hooks.intercepts:" + h);
    for (const auto& p : a.providers) powers.push_back("providers:" + p);
    if (!powers.empty()) {
      std::string severity = a.trust == "core" ? "info" : a.trust == "verified" ? "low" : "medium";
      out.push_back({"apps.intercept." + a.id, severity, a.id + " (" + a.trust + ") may modify or block traffic",
                     "granted " + Join(powers),
                     severity == "info" ? "" : "if you do not trust it with that, remove the grant or add a deny in apps." + a.id});
    }
    if (a.sandbox_disabled_by_user)
      out.push_back({"apps.unsandboxed." + a.id, "medium", a.id + " (" + a.trust + ") runs without the sandbox",
                     "apps." + a.id + ".sandboxed is false: it can read your files and open any connection",
                     "remove apps." + a.id + ".sandboxed (community apps are sandboxed by default)"});
  }
  return out;
}

std::vector<Finding> CheckSandbox(const SandboxFacts& s) {
  if (!s.probed)
    return {{"sandbox.support", "info", "sandbox support not checked", "this build cannot probe the kernel", ""}};
  std::vector<Finding> out;
  if (!s.seccomp)
    out.push_back({"sandbox.seccomp", "high", "no seccomp filters on this kernel",
                   "sandboxed apps run without a system call filter (ptrace, mount, raw sockets stay allowed)",
                   "use a Linux kernel built with CONFIG_SECCOMP_FILTER"});
  if (s.landlock_abi == 0)
    out.push_back({"sandbox.landlock", "medium", "no Landlock on this kernel",
                   "sandboxed apps can read every file your user can read",
                   "use Linux 5.13+ with Landlock enabled (lsm=...,landlock on the kernel command line)"});
  if (!s.network_namespace)
    out.push_back({"sandbox.netns", "medium", "no network namespaces for apps",
                   "apps that declare no hosts can still open network connections",
                   "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or run as root"});
  if (out.empty())
    out.push_back({"sandbox.support", "info", "the app sandbox is fully available", s.detail, ""});
  return out;
}

std::optional<Finding> CheckVaultKey(const VaultKeyFacts& k) {
  if (!k.checked) return Finding{"vault.key", "info", "vault key not checked", "this build has no vault", ""};
  if (!k.error.empty())
    return Finding{"vault.key", "medium", "the vault key cannot be read", k.error, "see docs/SECURITY.md (vault key)"};
  if (!k.found) return Finding{"vault.key", "info", "no vault key yet", "the first `openclaw vault set` creates one", ""};
  if (k.source == "file")
    return Finding{"vault.key", "medium", "the vault key is kept next to the data (vault.key)",
                   "whoever copies the home directory (a backup) gets the secrets and their key together",
                   "run a Secret Service keyring (gnome-keyring, KeePassXC) and rotate: openclaw vault rotate"};
  if (k.source == "env")
    return Finding{"vault.key", "info", "the vault key comes from OPENCLAWOS_VAULT_KEY",
                   "keep it out of shell history and world-readable unit files", ""};
  return std::nullopt;  // keyring: as it should be
}

json::value Check::ToJson() const {
  json::object o{{"id", id}, {"status", status}, {"title", title}, {"detail", detail}};
  if (!fix.empty()) o["fix"] = fix;
  if (!fixed.empty()) o["fixed"] = fixed;
  return o;
}

int DoctorExitCode(const std::vector<Check>& checks) {
  for (const auto& c : checks)
    if (c.status == "error") return 1;
  return 0;
}

Check ModeCheck(const FileFacts& f) {
  Check c{"perm." + f.id, "ok", f.path.string(), "", "", ""};
  if (!f.exists) {
    c.detail = "absent";
    return c;
  }
  mode_t excess = ExcessBits(f.mode, f.max_mode);
  c.detail = "mode " + Octal(f.mode);
  if (!excess) return c;
  c.status = f.id == "vault-key" ? "error" : "warn";
  c.detail += ": " + Exposure(excess) + " it";
  c.fix = "chmod " + Octal(f.max_mode).substr(1) + " " + f.path.string();
  return c;
}

}  // namespace oc::cli::security
