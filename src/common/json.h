// JSON helpers shared by every subsystem. Boost.JSON is the one JSON library of the project.
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace oc {
namespace json = boost::json;

// Parses strict JSON (wire frames). Error: INVALID_REQUEST with the parser's message.
Result<json::value> ParseJson(std::string_view text);
// Strict JSON on a hot path (wire formats): nullopt and Boost's message in *error when invalid.
std::optional<json::value> TryParseJson(std::string_view text, std::string* error = nullptr);
// Parses JSON that may contain // and /* */ comments and trailing commas (config files).
Result<json::value> ParseLenientJson(std::string_view text);

// Typed lookups on an object; nullopt when missing or of another type.
std::optional<std::string_view> GetString(const json::object& o, std::string_view key);
std::optional<int64_t> GetInt(const json::object& o, std::string_view key);
std::optional<bool> GetBool(const json::object& o, std::string_view key);
const json::object* GetObject(const json::object& o, std::string_view key);
const json::array* GetArray(const json::object& o, std::string_view key);

// Dotted-path lookup: "gateway.port", "apps.@openclawos/diag.env" (segments split on '.', but a
// segment starting with '@' runs to the next '.' after its '/', so scoped ids stay whole).
const json::value* FindPath(const json::value& root, std::string_view dotted);
// Splits a dotted path into segments with the rule above.
std::vector<std::string> SplitPath(std::string_view dotted);

// Path formatting for error reports: JoinPath("capabilities.hooks", "intercepts") and IndexPath(p, 0)
// give "capabilities.hooks.intercepts" and "...intercepts[0]". An empty base yields the key alone.
std::string JoinPath(std::string_view base, std::string_view key);
std::string IndexPath(std::string_view base, size_t index);

// The JSON type of a value as users know it: object, array, string, boolean, null, number (every
// numeric kind is "number"). For error messages.
std::string_view JsonTypeName(const json::value& v);

// Milliseconds since the Unix epoch (wall clock), as used by frame timestamps.
int64_t NowMs();

}  // namespace oc
