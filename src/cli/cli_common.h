// Helpers shared by the CLI's command files: paths, config loading, reaching the kernel's control
// plane, and printing. Everything here prints its own error messages ("openclaw: ...") on stderr.
#pragma once

#include <filesystem>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "config/config.h"
#include "gateway/control_client.h"

namespace oc::cli {

// Exit statuses (SPEC §15).
inline constexpr int kOk = 0, kFail = 1, kUsage = 2;

// The paths from the environment (OPENCLAWOS_HOME etc.).
config::Paths Paths();

// Packages shipped with the build: $OPENCLAWOS_SHIPPED_PACKAGES, else beside the binary
// (<prefix>/bin/openclaw → <prefix>/packages).
std::filesystem::path ShippedPackages();

// Prints a config error with every problem and its path.
void PrintConfigError(const Error& e);

// Loads and validates the config file; prints the errors on failure.
Result<config::Config> LoadConfig();

// The running kernel's control plane, or why it cannot be reached (nothing printed).
Result<std::unique_ptr<gateway::ControlClient>> ConnectTo(const config::Config& cfg);

// Connects to the running kernel. On failure prints why, sets *exit_code (2 for a config error,
// 1 for an unreachable kernel) and returns nullptr.
std::unique_ptr<gateway::ControlClient> Connect(int* exit_code);

// Connects and calls one method; prints the error ("openclaw: <method>: <message>") and sets
// *exit_code on failure.
Result<json::value> Call(std::string_view method, json::value params, int* exit_code);

// Milliseconds since the epoch as "YYYY-MM-DD HH:MM:SS" in local time.
std::string LocalTime(int64_t ms);
// A JSON value as text: strings unquoted, "-" for absent or null.
std::string Str(const json::value* v);

// One compact JSON document and a newline on stdout.
void PrintJson(const json::value& v);

// Rows as left-aligned columns two spaces apart (the first row is usually the header).
void PrintTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace oc::cli
