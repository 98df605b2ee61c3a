// The agent workspace (SPEC §8.1, §13): a directory of Markdown files the agent reads every turn
// (the bootstrap files), its skills/ directory and HEARTBEAT.md. Blocking file I/O: call these at
// start, on reload or from a worker, not per message on the kernel loop.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace oc::agent {

// The bootstrap files of SPEC §8.1, in prompt order.
inline constexpr std::array<std::string_view, 5> kBootstrapFiles = {"AGENTS.md", "SOUL.md", "USER.md",
                                                                    "IDENTITY.md", "TOOLS.md"};

// Creates `dir` (mode 0700, missing parents too; an existing directory keeps its mode) and every
// bootstrap file that is missing (mode 0600) with short default contents: AGENTS.md (workspace
// rules, memory habits, safety: ask before destructive commands), SOUL.md (personality and tone),
// USER.md (a template about the user), IDENTITY.md (name "Pi"), TOOLS.md (notes on local tools);
// also `skills/` and a HEARTBEAT.md that holds only comments (a heartbeat with nothing to do).
// Never overwrites or truncates an existing file (files are created with O_EXCL). Returns what it
// created, in creation order: file names, and "skills/" for the directory. Errors: kInternalError
// "<path>: <errno text>" (e.g. `dir` is a file, or permission denied); files created before the
// error stay.
Result<std::vector<std::string>> EnsureWorkspace(const std::filesystem::path& dir);

struct PromptFile {
  std::string name;
  std::string content;
  bool truncated = false;  // content was cut (or the file omitted) to fit the caps
};

// Reads the bootstrap files of `dir` that exist, in kBootstrapFiles order, skipping unreadable and
// whitespace-only files. Each file's text is capped at per_file_chars and all of them together at
// total_chars (later files get what is left). A cut file keeps whole lines where it can (never
// splits a UTF-8 sequence) and ends with "[... truncated: N more characters in <name>]"; a file
// that gets nothing of the total is listed with truncated=true and content
// "[... omitted: <name> (N characters) exceeds the workspace prompt budget]". Caps count file text
// (bytes); the markers (under 100 characters each) come on top.
std::vector<PromptFile> ReadBootstrapFiles(const std::filesystem::path& dir, size_t per_file_chars = 20000,
                                           size_t total_chars = 60000);

// Cuts `text` to at most `max_chars` bytes, at the last line break in the second half of the
// allowance when there is one, else at a UTF-8 character boundary. Returns the kept prefix.
std::string_view CutAtLineBoundary(std::string_view text, size_t max_chars);

}  // namespace oc::agent
