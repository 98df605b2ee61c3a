// Internals shared by config.cpp, config_file.cpp and the tests. Not part of the public API.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_schema.h"
#include "config/config.h"

namespace oc::config::internal {

struct ParseOptions {
  // OPENCLAW_HOST / OPENCLAW_PORT: off when validating the file alone (config set).
  bool apply_env_overrides = true;
  // Leave "${VAR}" as written when VAR is unset instead of reporting it: the CLI that edits the
  // file may run with another environment than the kernel.
  bool tolerate_missing_env = false;
};

// The config error: INVALID_PARAMS "<N> config error(s)", data {path: first path, errors: [...]}.
Error ConfigErrors(const std::vector<SchemaViolation>& violations);

// Reads the config file: nullopt when it does not exist; an unreadable file, a directory or a file
// over 16 MiB is a config error (the format of Config::Load's errors).
Result<std::optional<std::string>> ReadConfigFile(const std::filesystem::path& file);

// Parses config text leniently (comments, trailing commas); whitespace only = {}. Errors come in the
// config error format with line and column; a non-object root is an error.
Result<json::value> ParseDocument(std::string_view text, std::string_view origin = {});

// The whole pipeline behind Config::FromText (parse, substitute, override, default, validate).
// `origin` prefixes parse errors ("/home/u/.openclawos/config.json: ...") and may be empty.
Result<Config> ParseConfigText(std::string_view text, const EnvLookup& env, const ParseOptions& opts,
                               std::string_view origin = {});

// Replaces "${VAR}" in every string of `v` (not in keys), appending one violation per problem.
void SubstituteEnv(json::value& v, const EnvLookup& env, bool tolerate_missing,
                   const std::string& path, std::vector<SchemaViolation>& errors);

// Cross-field rules that a JSON schema cannot express (app ids as keys, hook names, regexes, ...).
// Runs on a defaulted root; only looks at values of the right type (the schema reports the rest).
void CheckSemantics(const json::value& root, std::vector<SchemaViolation>& errors);

// Like ApplySchemaDefaults, but an absent object is created only if something inside it gets a
// default, and existing entries of additionalProperties maps get their item schema's defaults.
void ApplyDefaults(const json::value& schema, json::value& instance);

// Pretty JSON (2-space indent, key order kept) ending with a newline: the on-disk format.
std::string PrettyJson(const json::value& v);

}  // namespace oc::config::internal
