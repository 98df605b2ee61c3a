// `openclaw manifest validate PATH` (SPEC §3, §15): the CLI-facing manifest validator.
#pragma once

#include <filesystem>
#include <ostream>

namespace oc::registry {

// Validates the package directory or manifest file at `path` (LoadManifest) and prints every
// problem, one per line ("error: <path>: <msg>" / "warning: <path>: <msg>"), then
// "ok: <id> <version>" when there is no error. Returns the exit status: 1 if any error, else 0.
int RunManifestValidate(const std::filesystem::path& path, std::ostream& out);

}  // namespace oc::registry
