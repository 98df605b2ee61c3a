// Confinement of the file tools to an agent's workspace (SPEC §8.3).
//
// Threading: pure file-system lookups (lstat/readlink); callable from any thread. Blocking, so the
// tools call it on their worker pool, never on the kernel loop.
//
// Limits: the answer is true when it is computed. A process that swaps a component for a symlink
// between this check and the caller's open (an `exec` command running at the same time) can still
// race it; the check is meant to stop the model from naming paths outside, not to contain a hostile
// local process (exec runs without confinement anyway).
#pragma once

#include <filesystem>
#include <string_view>

#include "common/status.h"

namespace oc::tools {

// Resolves `path` (relative to `root`, or absolute but inside it) to a canonical absolute path
// inside the canonical `root`. Every existing component is resolved (symlinks followed, chains
// included, at most 40 hops); a symlink anywhere that leads outside is refused; `..` that climbs
// out of the root is refused, even when a later component would come back in. With
// must_exist=false the last components may not exist yet (write/mkdir), but their existing parent
// must resolve inside; `..` among the missing components is applied lexically.
// `path` "." (or the root itself) names the root.
// Errors: kForbidden "path escapes the workspace: <path>", kNotFound "no such file or directory:
// <path>" (also when `root` does not exist, or a non-directory is used as a directory),
// kInvalidParams (empty path, NUL byte, symlink loop).
Result<std::filesystem::path> ResolveInWorkspace(const std::filesystem::path& root, std::string_view path,
                                                 bool must_exist);

// `path` relative to `root` for messages ("." for the root itself); both canonical.
std::string RelativeToWorkspace(const std::filesystem::path& root, const std::filesystem::path& path);

}  // namespace oc::tools
