// openclaw security audit, doctor [--fix], logs --audit. Owned by the audit work of issue 8.
#include <CLI/CLI.hpp>

#include "cli/command_groups.h"
#include "cli/commands.h"

namespace oc::cli {
void AddSecurityCommands(CLI::App&, Options&) {}
}  // namespace oc::cli
