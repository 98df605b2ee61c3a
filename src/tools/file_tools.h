// Internal to oc_tools: the blocking file tools (read, write, edit, ls, grep). Each takes the
// already schema-validated input and returns the text for the model, or an Error whose message the
// model can act on. They block on the file system: BuiltinTools runs them on its worker pool.
// Safe to call from several threads at once (no shared state).
#pragma once

#include <filesystem>
#include <string>

#include "common/json.h"
#include "common/status.h"

namespace oc::tools::internal {

struct FileLimits {
  size_t max_read_bytes = 10000000;
};

// {path, offset?, limit?}: lines numbered like `cat -n` (offset is the first line, 1-based; limit
// defaults to 2000 lines; lines longer than 2000 characters are cut). Refuses binary files (a NUL
// byte in the first 8 KiB) and files above max_read_bytes.
Result<std::string> ReadTool(const std::filesystem::path& workspace, const json::object& input, const FileLimits& l);
// {path, content}: creates missing parent directories; replaces the file atomically (temp + rename,
// keeping an existing file's permissions).
Result<std::string> WriteTool(const std::filesystem::path& workspace, const json::object& input, const FileLimits& l);
// {path, old, new, replaceAll?}: exact replacement; `old` must occur exactly once unless replaceAll.
Result<std::string> EditTool(const std::filesystem::path& workspace, const json::object& input, const FileLimits& l);
// {path?}: entries of a directory, sorted by name, with type and size (at most 1000).
Result<std::string> LsTool(const std::filesystem::path& workspace, const json::object& input, const FileLimits& l);
// {pattern, path?, glob?, ignoreCase?}: RE2 search over a file or a tree (symlinked directories are
// not entered, symlinked files only when they resolve inside the workspace; .git, binary files and
// files above max_read_bytes skipped); at most 200 matches.
Result<std::string> GrepTool(const std::filesystem::path& workspace, const json::object& input, const FileLimits& l);

}  // namespace oc::tools::internal
