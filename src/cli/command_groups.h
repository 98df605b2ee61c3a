// Command groups that register themselves on the CLI (each in its own commands_<group>.cpp).
#pragma once

namespace CLI {
class App;
}

namespace oc::cli {
struct Options;

// vault set|get|list|rm|rotate (commands_vault.cpp).
void AddVaultCommands(CLI::App& app, Options& opt);
// security audit, doctor [--fix], and logs --audit (commands_security.cpp).
void AddSecurityCommands(CLI::App& app, Options& opt);
// logs --audit [--kind PREFIX] [-n N] [-f] [--json] (commands_security.cpp): from the running
// kernel (audit.list) when it answers, else read-only from state.db.
int CmdAuditLog(const Options& opt);
// doctor [--fix] [--json] (commands_doctor.cpp).
int CmdDoctor(const Options& opt);
}  // namespace oc::cli
