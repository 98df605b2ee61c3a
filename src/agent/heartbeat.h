// Heartbeat turns (SPEC §13): agents.<id>.heartbeat.every runs a turn from the workspace's
// HEARTBEAT.md; a reply meaning "nothing to report" (HEARTBEAT_OK) is not delivered.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace oc::agent {

inline constexpr std::string_view kHeartbeatOk = "HEARTBEAT_OK";

// The prompt of a heartbeat turn, built from <workspace>/HEARTBEAT.md (its first 64 KiB). nullopt
// (no turn is run) when the file is missing, unreadable or not a regular file (a FIFO or device is
// treated as missing and never waited on), or holds nothing but HTML comments (<!-- -->, possibly
// over several lines), blank lines, Markdown headings and empty list items ("-", "- [ ]"). The
// prompt tells the model to follow the file's checklist (comments removed, capped at 20000
// characters) and to answer exactly HEARTBEAT_OK when nothing needs the user's attention.
// Blocking file read: call from a worker or at the time the turn is scheduled.
std::optional<std::string> HeartbeatPrompt(const std::filesystem::path& workspace);

// True when the reply means "nothing to report": HEARTBEAT_OK alone, or at the start or end of a
// short reply (<= 300 characters), possibly wrapped in Markdown or punctuation ("**HEARTBEAT_OK**",
// "`HEARTBEAT_OK`.", "HEARTBEAT_OK - all quiet"). Case-sensitive; HEARTBEAT_OKAY does not count.
bool IsHeartbeatOk(std::string_view reply);

}  // namespace oc::agent
