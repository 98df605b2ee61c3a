// openclaw security audit, logs --audit (and the registration of doctor, commands_doctor.cpp).
// Owned by the audit work of issue 8; the checks themselves are in security_checks.{h,cpp}.
#include <time.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "audit/audit.h"
#include "cli/cli_common.h"
#include "cli/command_groups.h"
#include "cli/commands.h"
#include "cli/security_checks.h"
#include "cli/security_facts.h"
#include "store/database.h"

namespace oc::cli {
namespace {
using security::Finding;

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::vector<Finding> AuditFindings(const config::Config& cfg, const config::Paths& paths) {
  std::vector<Finding> out;
  for (const auto& f : security::PrivateFiles(paths))
    if (auto finding = security::CheckFileMode(f)) out.push_back(std::move(*finding));
  for (auto& f : security::CheckGateway(cfg.gateway())) out.push_back(std::move(f));
  const json::value* exec = cfg.Find("tools.exec.security");
  if (auto f = security::CheckExecPolicy(exec && exec->is_string() ? std::string_view(exec->get_string()) : "ask"))
    out.push_back(std::move(*f));
  if (auto f = security::CheckExternalApps(cfg.ipc().allow_external_apps)) out.push_back(std::move(*f));
  for (auto& f : security::CheckApps(security::AppsOf(cfg, paths))) out.push_back(std::move(f));
  for (auto& f : security::CheckSandbox(security::ProbeSandbox())) out.push_back(std::move(f));
  if (auto f = security::CheckVaultKey(security::VaultKey(paths))) out.push_back(std::move(*f));
  security::SortFindings(out);
  return out;
}

int CmdSecurityAudit(const Options& o) {
  auto cfg = LoadConfig();
  if (!cfg.ok()) return kUsage;
  auto findings = AuditFindings(*cfg, Paths());
  const int rc = security::AuditExitCode(findings);
  if (o.json) {
    json::array list;
    json::object counts{{"critical", 0}, {"high", 0}, {"medium", 0}, {"low", 0}, {"info", 0}};
    for (const auto& f : findings) {
      list.push_back(f.ToJson());
      if (auto* n = counts.if_contains(f.severity)) *n = n->as_int64() + 1;
    }
    PrintJson(json::object{{"findings", std::move(list)}, {"summary", std::move(counts)}, {"ok", rc == 0}});
    return rc;
  }
  for (const auto& f : findings) {
    std::cout << Upper(f.severity) << std::string(10 - std::min<size_t>(9, f.severity.size()), ' ') << f.title
              << "  [" << f.id << "]\n";
    if (!f.detail.empty()) std::cout << "          " << f.detail << "\n";
    if (!f.fix.empty()) std::cout << "          fix: " << f.fix << "\n";
  }
  std::cout << (rc == 0 ? "no critical or high findings\n" : "critical or high findings: fix them first\n");
  return rc;
}

// ---- logs --audit -----------------------------------------------------------------------------

std::string LocalTime(int64_t ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  localtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[40];
  std::snprintf(out, sizeof(out), "%s.%03d", buf, static_cast<int>(ms % 1000));
  return out;
}

void PrintEntry(const json::value& e) {
  const json::object& o = e.as_object();
  std::cout << LocalTime(GetInt(o, "ts").value_or(0)) << "  " << Str(o.if_contains("kind")) << "  "
            << Str(o.if_contains("outcome")) << "  actor=" << Str(o.if_contains("actor"));
  if (auto subject = GetString(o, "subject"); subject && !subject->empty()) std::cout << "  subject=" << *subject;
  if (const auto* d = o.if_contains("detail"); d && d->is_object() && !d->as_object().empty())
    std::cout << "  " << json::serialize(*d);
  std::cout << "\n";
}

// Reads the log: from the running kernel (audit.list) when it answers, else straight from
// state.db, read-only (WAL lets a reader in beside a writer, so both give the same rows).
class AuditSource {
 public:
  explicit AuditSource(const config::Config* cfg) {
    if (cfg)
      if (auto c = ConnectTo(*cfg); c.ok()) client_ = std::move(c).value();
  }
  Result<json::value> Fetch(const audit::Query& q) {
    if (client_) {
      json::object params{{"limit", q.limit}, {"kind", q.kind_prefix}};
      if (q.after) params["after"] = *q.after;
      return client_->Call("audit.list", std::move(params));
    }
    if (!db_) {
      store::DatabaseOptions options;
      options.read_only = true;
      auto db = store::Database::Open(Paths().database, options);
      if (!db.ok() && db.error().code == ErrorCode::kNotFound)
        return json::object{{"entries", json::array()}, {"next", q.after.value_or(0)}};
      if (!db.ok()) return db.error();
      db_ = std::move(db).value();
    }
    auto rows = audit::List(*db_, q);
    if (!rows.ok()) return rows.error();
    return audit::ToPage(*rows, q.after);
  }

 private:
  std::unique_ptr<gateway::ControlClient> client_;
  std::unique_ptr<store::Database> db_;
};

}  // namespace

int CmdAuditLog(const Options& o) {
  auto cfg = config::Config::Load(Paths().config_file, config::ProcessEnv());
  AuditSource source(cfg.ok() ? &*cfg : nullptr);
  audit::Query q;
  q.limit = std::max(1, o.lines);
  q.kind_prefix = o.kind;
  while (true) {
    auto r = source.Fetch(q);
    if (!r.ok()) {
      std::cerr << "openclaw: audit log: " << r.error().message << "\n";
      return kFail;
    }
    const json::array& entries = r->at("entries").as_array();
    if (o.json) {
      if (!entries.empty() || !o.follow) PrintJson(*r);
    } else {
      for (const auto& e : entries) PrintEntry(e);
    }
    std::cout.flush();
    if (!o.follow) return kOk;
    q.after = GetInt(r->as_object(), "next").value_or(q.after.value_or(0));
    q.limit = 1000;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

void AddSecurityCommands(CLI::App& app, Options& opt) {
  auto* security = app.add_subcommand("security", "Security review of this installation");
  security->require_subcommand(1);
  auto* audit = security->add_subcommand("audit", "Find weak settings: permissions, gateway, apps, sandbox, vault key");
  audit->add_flag("--json", opt.json);
  audit->callback([&] { opt.exit_code = CmdSecurityAudit(opt); });

  auto* doctor = app.add_subcommand("doctor", "Check dependencies, config, database, sockets, ports, permissions");
  doctor->add_flag("--fix", opt.fix, "Do the safe repairs (chmod, remove a stale socket, create the workspace)");
  doctor->add_flag("--json", opt.json);
  doctor->callback([&] { opt.exit_code = CmdDoctor(opt); });
}

}  // namespace oc::cli
