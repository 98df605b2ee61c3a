// A JSON Schema subset validator, used for the config file, manifest `configSchema`, and IPC method
// params. Supported keywords: type (string or array of strings: object, array, string, number,
// integer, boolean, null), properties, required, additionalProperties (bool or schema), enum,
// minimum, maximum, minLength, maxLength, pattern (RE2 syntax, unanchored), items, default.
// Unknown keywords are ignored. Patterns are compiled once per call site-free cache (thread-safe).
#pragma once

#include <string>
#include <vector>

#include "common/json.h"

namespace oc {

struct SchemaViolation {
  std::string path;     // "gateway.port", "events[0]"; empty for the root
  std::string message;  // "expected integer, got string"
};

// Validates `instance` against `schema`, collecting every violation (not just the first).
// `base_path` prefixes reported paths.
std::vector<SchemaViolation> ValidateSchema(const json::value& schema, const json::value& instance,
                                            std::string_view base_path = {});

// Fills in `default` values from the schema for missing object properties, recursively (objects
// that are absent but whose schema has properties with defaults are created). Never overwrites.
void ApplySchemaDefaults(const json::value& schema, json::value& instance);

// Formats the first violation as an INVALID_PARAMS error with data.path.
Error ViolationsToError(const std::vector<SchemaViolation>& violations);

}  // namespace oc
