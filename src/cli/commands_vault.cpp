// openclaw vault set|get|list|rm|rotate (SPEC §12). These work directly on <home>/state.db, whether or
// not the kernel runs, finding the master key the way the kernel does (vault::LoadMasterKey). After a
// change they ask a running kernel to reload the vault (best effort). Values come from stdin or a
// prompt with echo off, never from argv; every command leaves an audit row (names only).
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include "audit/audit.h"
#include "cli/cli_common.h"
#include "cli/command_groups.h"
#include "cli/commands.h"
#include "vault/vault.h"

namespace oc::cli {
namespace {
namespace fs = std::filesystem;

constexpr auto kReloadTimeout = std::chrono::seconds(3);

int ExitFor(const Error& e) { return e.code == ErrorCode::kInvalidParams ? kUsage : kFail; }

int Fail(const Error& e) {
  std::cerr << "openclaw: " << e.message << "\n";
  return ExitFor(e);
}

// Overwrites a string that held a secret value before it is freed.
void Scrub(std::string& s) {
  volatile char* p = s.data();
  for (size_t i = 0; i < s.size(); ++i) p[i] = 0;
  s.clear();
}

// ---- reading the value ---------------------------------------------------------------------------

termios g_saved_termios;
volatile sig_atomic_t g_echo_off = 0;

// Ctrl-C at the prompt must not leave the terminal without echo.
void RestoreEchoAndDie(int sig) {
  if (g_echo_off) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
  signal(sig, SIG_DFL);
  raise(sig);
}

Result<std::string> PromptHidden(const std::string& name) {
  std::cerr << "Value for " << name << " (input hidden): " << std::flush;
  if (tcgetattr(STDIN_FILENO, &g_saved_termios) != 0)
    return MakeError(ErrorCode::kInternalError, "cannot read the terminal's settings");
  termios quiet = g_saved_termios;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  auto old_int = signal(SIGINT, RestoreEchoAndDie);
  auto old_term = signal(SIGTERM, RestoreEchoAndDie);
  g_echo_off = 1;
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  std::string value;
  bool got = static_cast<bool>(std::getline(std::cin, value));
  tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
  g_echo_off = 0;
  signal(SIGINT, old_int);
  signal(SIGTERM, old_term);
  std::cerr << "\n";
  if (!got) return MakeError(ErrorCode::kInvalidParams, "no value entered");
  if (!value.empty() && value.back() == '\r') value.pop_back();
  return value;
}

// Piped input: all of it, less one trailing newline. Reads at most a little over the limit, so an
// endless stream is refused instead of filling memory.
Result<std::string> ReadPiped() {
  std::string value;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) {
    value.append(buf, n);
    if (value.size() > vault::kMaxValueBytes + 2) break;
  }
  std::fill(std::begin(buf), std::end(buf), '\0');
  if (!value.empty() && value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
  return value;
}

Result<std::string> ReadValue(const std::string& name) {
  return isatty(STDIN_FILENO) ? PromptHidden(name) : ReadPiped();
}

// ---- opening the vault ---------------------------------------------------------------------------

struct OpenedVault {
  std::unique_ptr<store::Database> db;
  std::unique_ptr<vault::Vault> vault;  // null when there is no vault yet (and none was wanted)
};

void Audit(store::Database& db, const std::string& kind, const std::string& subject, const Status& outcome,
           json::object detail = {}) {
  if (!outcome.ok()) detail["error"] = outcome.error().message;
  (void)audit::Record(db, {kind, "cli", subject, outcome.ok() ? "ok" : "failed", std::move(detail)});
}

Result<std::unique_ptr<store::Database>> OpenDatabase() {
  config::Paths paths = Paths();
  std::error_code ec;
  if (!fs::exists(paths.home, ec)) {
    fs::create_directories(paths.home, ec);
    ::chmod(paths.home.c_str(), 0700);
  }
  return store::Database::Open(paths.database);
}

// Opens state.db and, when a vault exists or `create` is set, the vault. Prints key warnings; on a
// failure prints it, records vault.open_failed and returns the exit status in *rc.
std::optional<OpenedVault> OpenVault(bool create, const std::string& subject, int* rc) {
  auto db = OpenDatabase();
  if (!db.ok()) {
    *rc = Fail(db.error());
    return std::nullopt;
  }
  OpenedVault out{std::move(db).value(), nullptr};
  auto exists = vault::Vault::Exists(*out.db);
  if (!exists.ok()) {
    *rc = Fail(exists.error());
    return std::nullopt;
  }
  if (!*exists && !create) return out;
  vault::KeyOptions options;
  options.home = Paths().home;
  options.create_if_missing = !*exists;
  std::vector<std::string> warnings;
  auto key = vault::LoadMasterKey(options, &warnings);
  for (const auto& w : warnings) std::cerr << "openclaw: warning: " << w << "\n";
  const std::string source = key.ok() ? key->source : "none";
  Result<std::unique_ptr<vault::Vault>> opened =
      key.ok() ? vault::Vault::Open(*out.db, std::move(key).value()) : Result<std::unique_ptr<vault::Vault>>(key.error());
  if (!opened.ok()) {
    Audit(*out.db, "vault.open_failed", subject, opened.error(), {{"source", source}});
    *rc = Fail(opened.error());
    return std::nullopt;
  }
  out.vault = std::move(opened).value();
  return out;
}

void NoteNotReloaded(const Error& e) {
  std::cerr << "openclaw: note: the running kernel did not reload the vault (" << e.message
            << "); restart it to use the change\n";
}

// Tells a running kernel to re-read the vault. Silent when no kernel runs (nothing listens); a
// kernel that is there but refuses or fails gets a note, since it keeps the old values until restarted.
void ReloadKernel() {
  auto cfg = config::Config::Load(Paths().config_file, config::ProcessEnv());
  if (!cfg.ok()) return;
  auto client = ConnectTo(*cfg);
  if (!client.ok()) {
    if (client.error().code != ErrorCode::kConnectionClosed) NoteNotReloaded(client.error());
    return;
  }
  auto r = (*client)->Call("vault.reload", json::object{}, kReloadTimeout);
  if (!r.ok()) NoteNotReloaded(r.error());
}

// ---- commands ------------------------------------------------------------------------------------

int CmdVaultSet(const std::string& name) {
  if (Status valid = vault::CheckSecretName(name); !valid.ok()) return Fail(valid.error());
  auto value = ReadValue(name);
  if (!value.ok()) return Fail(value.error());
  if (Status valid = vault::CheckSecretValue(name, *value); !valid.ok()) {  // before a key is created
    Scrub(*value);
    return Fail(valid.error());
  }
  int rc = kOk;
  auto opened = OpenVault(/*create=*/true, name, &rc);
  if (!opened) {
    Scrub(*value);
    return rc;
  }
  Status set = opened->vault->Set(name, *value);
  Scrub(*value);
  Audit(*opened->db, "vault.set", name, set);
  if (!set.ok()) return Fail(set.error());
  std::cout << "stored " << name << "\n";
  ReloadKernel();
  return kOk;
}

int CmdVaultGet(const std::string& name) {
  int rc = kOk;
  auto opened = OpenVault(/*create=*/false, name, &rc);
  if (!opened) return rc;
  Result<std::string> value = opened->vault ? opened->vault->Get(name)
                                            : Result<std::string>(MakeError(ErrorCode::kNotFound, "no secret \"" + name + "\" in the vault"));
  Audit(*opened->db, "vault.get", name, value.ok() ? Status::Ok() : Status(value.error()));
  if (!value.ok()) return Fail(value.error());
  std::fwrite(value->data(), 1, value->size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  Scrub(*value);
  return kOk;
}

int CmdVaultList(bool as_json) {
  int rc = kOk;
  auto opened = OpenVault(/*create=*/false, "", &rc);
  if (!opened) return rc;
  auto list = opened->vault ? opened->vault->List() : Result<std::vector<vault::SecretInfo>>(std::vector<vault::SecretInfo>{});
  Audit(*opened->db, "vault.list", "", list.ok() ? Status::Ok() : Status(list.error()));
  if (!list.ok()) return Fail(list.error());
  if (as_json) {
    json::array secrets;
    for (const auto& s : *list)
      secrets.push_back(json::object{{"name", s.name}, {"createdAt", s.created_at_ms}, {"updatedAt", s.updated_at_ms}});
    PrintJson(json::object{{"secrets", std::move(secrets)}});
    return kOk;
  }
  if (list->empty()) {
    std::cout << "no secrets (add one with `openclaw vault set NAME`)\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "CREATED", "UPDATED"}};
  for (const auto& s : *list) rows.push_back({s.name, LocalTime(s.created_at_ms), LocalTime(s.updated_at_ms)});
  PrintTable(rows);
  return kOk;
}

int CmdVaultRemove(const std::string& name) {
  int rc = kOk;
  auto opened = OpenVault(/*create=*/false, name, &rc);
  if (!opened) return rc;
  Status removed = opened->vault ? opened->vault->Remove(name)
                                 : Status(MakeError(ErrorCode::kNotFound, "no secret \"" + name + "\" in the vault"));
  Audit(*opened->db, "vault.rm", name, removed);
  if (!removed.ok()) return Fail(removed.error());
  std::cout << "removed " << name << "\n";
  ReloadKernel();
  return kOk;
}

std::string Where(const vault::MasterKey& key) {
  if (key.source == "keyring") return "the Secret Service keyring";
  if (key.source == "file") return key.file.string();
  return key.source;
}

int CmdVaultRotate() {
  int rc = kOk;
  auto opened = OpenVault(/*create=*/false, "", &rc);
  if (!opened) return rc;
  if (!opened->vault) return Fail(MakeError(ErrorCode::kNotFound, "there is no vault yet: nothing to rotate"));
  vault::Vault& v = *opened->vault;
  auto count = v.List();
  auto next = vault::NextKey(v.key(), config::ProcessEnv());
  Status rotated = next.ok() ? vault::RotateMasterKey(v, *next) : Status(next.error());
  Audit(*opened->db, "vault.rotate", "", rotated, {{"source", v.key().source}});
  if (!rotated.ok()) return Fail(rotated.error());
  size_t n = count.ok() ? count->size() : 0;
  if (v.key().source == "env") {
    std::cout << "re-sealed " << n << " secret(s) under the key in OPENCLAWOS_VAULT_NEW_KEY.\n"
              << "Now set OPENCLAWOS_VAULT_KEY to that value (and unset OPENCLAWOS_VAULT_NEW_KEY) everywhere "
                 "openclaw runs, the kernel's service included: the old key no longer opens the vault.\n";
  } else {
    std::cout << "re-sealed " << n << " secret(s) under a new key, stored in " << Where(v.key()) << "\n";
  }
  ReloadKernel();
  return kOk;
}

}  // namespace

void AddVaultCommands(CLI::App& app, Options& opt) {
  auto* vault = app.add_subcommand("vault", "Secrets sealed in state.db (values from stdin, never argv)");
  vault->require_subcommand(1);
  auto* set = vault->add_subcommand("set", "Store a secret; the value is read from stdin or a hidden prompt");
  set->add_option("name", opt.name, "Secret name (A-Z a-z 0-9 _ . : / -)")->required();
  // A value typed on the command line would land in shell history and `ps`: refuse it without
  // echoing it back (CLI11's own extras message would print it).
  set->allow_extras();
  set->callback([&opt, set] {
    if (!set->remaining().empty()) {
      std::cerr << "openclaw: vault set takes no value on the command line (it would be visible in `ps` and "
                   "your shell history); pipe it or type it at the prompt: openclaw vault set NAME\n";
      opt.exit_code = kUsage;
      return;
    }
    opt.exit_code = CmdVaultSet(opt.name);
  });
  auto* get = vault->add_subcommand("get", "Print a secret's value");
  get->add_option("name", opt.name, "Secret name")->required();
  get->callback([&] { opt.exit_code = CmdVaultGet(opt.name); });
  auto* list = vault->add_subcommand("list", "List secrets' names and dates (never values)");
  list->add_flag("--json", opt.json);
  list->callback([&] { opt.exit_code = CmdVaultList(opt.json); });
  auto* rm = vault->add_subcommand("rm", "Remove a secret");
  rm->alias("remove");
  rm->add_option("name", opt.name, "Secret name")->required();
  rm->callback([&] { opt.exit_code = CmdVaultRemove(opt.name); });
  auto* rotate = vault->add_subcommand("rotate", "Re-seal every secret under a new master key");
  rotate->callback([&] { opt.exit_code = CmdVaultRotate(); });
}

}  // namespace oc::cli
