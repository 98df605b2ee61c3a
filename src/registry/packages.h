// Installed and shipped packages (SPEC §2, §3): discovery, dependency order, install/uninstall.
//
// Packages live in two places: the directory of packages shipped with the build (trusted as `core`)
// and `<home>/packages`. Each package is a directory holding openclawos.manifest.json and its entry
// point. All functions here do blocking file-system I/O: call them at startup or from a worker, not
// from the kernel's event loop while it serves traffic. None of them throws.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "registry/manifest.h"

namespace oc::registry {

struct Package {
  Manifest manifest;
  std::filesystem::path dir;
  bool shipped = false;
};

struct Discovery {
  std::vector<Package> packages;      // shipped ones first, each group in directory-name order
  std::vector<std::string> problems;  // "<dir>: <error>" for invalid/duplicate packages (skipped)
};

// Scans each dir's immediate subdirectories for openclawos.manifest.json; a subdirectory without
// one whose name starts with '@' is a scope and is scanned one level deeper (`@scope/name`). Hidden
// entries (".tmp-…" left by an interrupted install) and directories without a manifest are
// ignored; a missing root is simply empty. Invalid manifests, duplicate ids, and home packages that
// reuse a shipped id are listed in `problems` and skipped — never fatal. Manifest warnings are
// logged (spdlog) for packages that load.
Discovery DiscoverPackages(const std::filesystem::path& shipped_dir,
                           const std::filesystem::path& home_packages_dir);

// Ids of `packages` in dependency order (every package after the ones it depends on; otherwise in
// the given order). Dependencies of every kind (apps, skills, agents) count, so pass every
// discovered package and filter the result to apps. A dependency not in `packages` or a cycle →
// kInvalidParams naming the ids ("missing dependency: @a/x requires @b/y", "dependency cycle:
// a -> b -> a"), with data {missing: [{package, dependency}]} or {cycle: [ids]}.
Result<std::vector<std::string>> StartOrder(const std::vector<Package>& packages);

// The directory name of an installed package: the id with '/' replaced by "__"
// ("@openclawos/diagnostics" -> "@openclawos__diagnostics").
std::string PackageDirName(std::string_view id);

// Installs the package at `src` (its directory, or its manifest file) into `packages_dir`:
// validates it with LoadManifest (`src` missing → kNotFound; invalid → kInvalidParams with the
// formatted problems in the message and data {problems: [{path, message, warning}]}), refuses an
// id shipped in `shipped_dir` (kForbidden; pass the build's shipped dir — empty skips that check)
// or one already installed under another directory name (kConflict), then copies the directory to
// <packages_dir>/<PackageDirName(id)>. An existing copy of the same id is replaced atomically (copy
// to a hidden temp dir, then swap with renameat2(RENAME_EXCHANGE), falling back to two renames).
// Regular files keep their permission bits (executables stay executable); symlinks are copied as
// symlinks; sockets, FIFOs and devices are refused. Creates packages_dir if needed.
Result<Package> InstallPackage(const std::filesystem::path& src,
                               const std::filesystem::path& packages_dir,
                               const std::filesystem::path& shipped_dir = {});

// Removes the installed package `id` from `packages_dir` (found by its directory name, else by
// scanning manifests). Invalid id → kInvalidParams; not installed → kNotFound. The directory is
// first renamed to a hidden name so a half-deleted package is never discovered.
Status UninstallPackage(std::string_view id, const std::filesystem::path& packages_dir);

}  // namespace oc::registry
