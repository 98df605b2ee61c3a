// The judgement behind `openclaw security audit` and `openclaw doctor` (issue 8), kept free of I/O
// so it can be tested: callers gather facts (file modes, config, packages, what the Linux kernel
// supports, where the vault key lives) and these functions turn them into findings.
//
// Severity scale of a Finding: critical | high | medium | low | info. `security audit` exits 1 when
// any finding is critical or high. A doctor Check is ok | warn | error; doctor exits 1 while any
// error remains.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "config/config.h"

namespace oc::cli::security {

struct Finding {
  std::string id;        // stable, dotted: "perm.config", "gateway.bind", "apps.intercept.<id>"
  std::string severity;  // critical | high | medium | low | info
  std::string title;
  std::string detail;
  std::string fix;  // what to do; empty when nothing needs doing
  json::value ToJson() const;  // {id, severity, title, detail, fix}
};

// 0 = critical ... 4 = info; 5 for anything else.
int SeverityRank(std::string_view severity);
// Critical and high findings first, then by id (stable output).
void SortFindings(std::vector<Finding>& findings);
// 1 when any finding is critical or high, else 0.
int AuditExitCode(const std::vector<Finding>& findings);

// One file or directory that should be private to the owner.
struct FileFacts {
  std::string id;  // "home", "config", "database", "database-wal", "socket-dir", "socket", "vault-key"
  std::filesystem::path path;
  bool exists = false;
  mode_t mode = 0;       // permission bits (st_mode & 07777)
  mode_t max_mode = 0;   // the loosest acceptable mode: 0700 for directories, 0600 for files
  std::string severity;  // of a finding when the mode is looser
};
// The mode bits of `actual` not allowed by `max_mode` (0 = fine).
mode_t ExcessBits(mode_t actual, mode_t max_mode);
// A finding when the file exists and is more open than its max_mode.
std::optional<Finding> CheckFileMode(const FileFacts& f);

// Gateway bind and credentials (config only): non-loopback without auth = critical, non-loopback
// with auth = medium, loopback without auth = low, a token or password under 16 characters = medium.
bool IsLoopbackHost(std::string_view host);
std::vector<Finding> CheckGateway(const config::GatewaySettings& gateway);

// tools.exec.security: "full" = high, "ask"/"allowlist" = info, "deny" = nothing to report.
std::optional<Finding> CheckExecPolicy(std::string_view policy, std::string_view where = "tools.exec.security");

// ipc.allowExternalApps true = medium.
std::optional<Finding> CheckExternalApps(bool allow_external_apps);

// One package as the kernel would run it (grants computed the same way).
struct AppFacts {
  std::string id;
  std::string trust;  // effective: core | verified | community | untrusted
  bool enabled = true;
  std::vector<std::string> intercepts;  // granted hooks.intercepts
  std::vector<std::string> providers;   // granted providers
  bool sandbox_disabled_by_user = false;  // apps.<id>.sandboxed: false on a community/untrusted app
};
// Intercept (and provider) grants: info for core, low for verified, medium for community/untrusted;
// sandbox turned off by the user for a community/untrusted app: medium.
std::vector<Finding> CheckApps(const std::vector<AppFacts>& apps);

// What the running Linux kernel supports (supervisor::ProbeSandboxSupport), when it could be asked.
struct SandboxFacts {
  bool probed = false;  // false: this build cannot tell
  int landlock_abi = 0;
  bool seccomp = false;
  bool network_namespace = false;
  std::string detail;
};
std::vector<Finding> CheckSandbox(const SandboxFacts& s);

// Where the vault's master key comes from (vault::LoadMasterKey without creating one).
struct VaultKeyFacts {
  bool checked = false;  // false: this build cannot tell
  bool found = false;
  std::string source;  // env | keyring | file
  std::string error;   // when the key exists but cannot be read
};
std::optional<Finding> CheckVaultKey(const VaultKeyFacts& k);

// ---- doctor -------------------------------------------------------------------------------------

struct Check {
  std::string id;
  std::string status;  // ok | warn | error
  std::string title;
  std::string detail;
  std::string fix;     // what --fix would do, or what the user should do; empty when ok
  std::string fixed;   // what --fix did; empty when nothing
  json::value ToJson() const;  // {id, status, title, detail, fix?, fixed?}
};
// 1 when any check is (still) an error, else 0.
int DoctorExitCode(const std::vector<Check>& checks);
// The doctor's view of a file's mode: ok, or warn (error for the vault key) with the chmod that
// fixes it.
Check ModeCheck(const FileFacts& f);

}  // namespace oc::cli::security
