// The package manifest, `openclawos.manifest.json` (SPEC §3): parsing and validation.
//
// Validation never stops at the first problem: every problem is reported with the JSON path of the
// offending value ("capabilities.hooks.intercepts[0]"), so `openclaw manifest validate` can list
// them all. Manifests are strict JSON (no comments, no trailing commas). All functions here are
// pure and thread-safe except LoadManifest, which also reads the file system.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"

namespace oc::registry {

inline constexpr std::string_view kManifestFileName = "openclawos.manifest.json";

enum class PackageType { kApp, kSkill, kAgent, kExtension };
// Lower = more trusted; comparisons (<, >=) follow that order.
enum class TrustLevel { kCore = 0, kVerified = 1, kCommunity = 2, kUntrusted = 3 };

// "core", "verified", "community", "untrusted"; parsing is exact (lowercase), nullopt otherwise.
std::string_view TrustLevelName(TrustLevel level);
std::optional<TrustLevel> ParseTrustLevel(std::string_view name);
// "app", "skill", "agent", "extension".
std::string_view PackageTypeName(PackageType type);
std::optional<PackageType> ParsePackageType(std::string_view name);

struct ManifestProblem {
  std::string path;  // "capabilities.hooks.intercepts[0]"; empty for the document as a whole
  std::string message;
  bool warning = false;
};

struct Limits {
  std::optional<int64_t> max_memory_bytes;
  std::optional<int64_t> cpu_shares;
  std::optional<int64_t> max_fds;
};

struct Manifest {
  std::string id, name, version, description;
  PackageType type = PackageType::kApp;
  std::string main;  // relative path inside the package directory; empty for an agent without one
  std::string protocol_version;
  std::string min_kernel_version;  // empty when absent
  std::vector<std::string> channels_provides, channels_requires, tools_provides, tools_requires,
      hooks_subscribes, hooks_intercepts /* canonical names, aliases resolved */, gateway_methods,
      http_routes, providers_provides, env, fs_read, fs_write, network_hosts;
  Limits limits;
  bool sandboxed = false;                             // capabilities.security.sandboxed
  TrustLevel claimed_trust = TrustLevel::kCommunity;  // capabilities.security.trustLevel
  std::vector<std::string> depends_apps, depends_skills, depends_agents;
  json::value config_schema;  // null when absent
  json::value raw;            // the manifest as parsed

  // "@openclawos/diagnostics" -> "diagnostics", "foo" -> "foo". Gateway methods live under
  // "<short>." and HTTP routes are mounted under "/apps/<short>/".
  std::string ShortName() const;
};

struct ManifestReport {
  // Set only when the manifest has no errors (warnings allowed): an invalid manifest is never used.
  std::optional<Manifest> manifest;
  std::vector<ManifestProblem> problems;  // in document order

  bool ok() const;  // no non-warning problems
  // One problem per line, "error: <path>: <msg>" or "warning: <path>: <msg>" ("error: <msg>" when
  // the path is empty); lines joined by '\n', no trailing newline. Empty when there are no
  // problems.
  std::string Format() const;
};

// Parses and validates manifest text. Never throws.
ManifestReport ParseManifest(std::string_view json_text);

// `path` is a package directory (reads openclawos.manifest.json inside) or the manifest file
// itself. Besides ParseManifest's rules it checks the package directory: `main` must exist and be a
// regular file, and an app's `main` must be executable. A missing/unreadable file is reported as a
// problem with an empty path.
ManifestReport LoadManifest(const std::filesystem::path& path);

// Building blocks of the rules above, shared with the rest of the registry.
// `@scope/name` or `name`; lowercase letters, digits, '-', '_', '.'; a part may not start with '.'.
bool IsValidPackageId(std::string_view id);
// Semantic version x.y.z with optional -prerelease and +build (semver.org 2.0 grammar).
bool IsSemver(std::string_view version);
// Calendar kernel versions "YYYY.M.P": <0, 0, >0 like strcmp; nullopt if either is malformed.
std::optional<int> CompareKernelVersions(std::string_view a, std::string_view b);
// "256MB", "1GiB", "512k", "1.5G", "1048576": a byte count. Units are case-insensitive and binary
// (k = KB = KiB = 1024, as for systemd's MemoryMax= and Docker). nullopt when malformed, zero or
// out of range.
std::optional<int64_t> ParseByteSize(std::string_view text);

}  // namespace oc::registry
