// openclaw vault set|get|list|rm|rotate (SPEC §12). Owned by the vault work of issue 8.
#include <CLI/CLI.hpp>

#include "cli/command_groups.h"
#include "cli/commands.h"

namespace oc::cli {
void AddVaultCommands(CLI::App&, Options&) {}
}  // namespace oc::cli
