// Editing config.json on disk, for `openclaw config set` (SPEC §15).
#pragma once

#include <filesystem>
#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace oc::config {

// Sets `dotted` (e.g. "gateway.port", "apps.@openclawos/diagnostics.enabled") to `v` in `file`:
// - the file is parsed leniently (comments, trailing commas); a missing file starts from {} (its
//   directory is created, mode 0700);
// - missing intermediate objects are created; an intermediate that exists but is not an object is
//   an INVALID_PARAMS error (nothing is replaced silently);
// - the result is validated like Config::FromText, except that env overrides (OPENCLAW_HOST/PORT)
//   are not applied and a "${VAR}" whose variable is unset in this process is left alone (the
//   kernel may run with another environment). Invalid -> the config error (every problem listed);
// - written atomically: a temp file in the same directory (mode 0600), fsync, rename over the file
//   (a symlinked config.json is followed, the link kept), fsync of the directory.
// NOTE: the file is rewritten as plain pretty-printed JSON, so comments in it are lost; key order
// is kept. On any error the file on disk is unchanged.
// Not synchronised with other writers: last rename wins (the kernel only reads the file).
Status SetValue(const std::filesystem::path& file, std::string_view dotted, json::value v);

}  // namespace oc::config
