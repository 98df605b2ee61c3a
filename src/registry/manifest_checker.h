// Internal to the registry: typed, path-aware readers used while validating a manifest. Each reader
// reports a wrong type at the field's JSON path and returns "absent" so validation carries on and
// every problem in the document is collected.
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/manifest.h"

namespace oc::registry::internal {

using oc::JsonTypeName;  // common/json.h

// `s` as a JSON string literal: quoted, with control characters escaped, so a problem message
// always stays on one line.
std::string Quote(std::string_view s);

// Returns a message when `value` is not acceptable, nullopt when it is.
using ElementCheck = std::function<std::optional<std::string>(std::string_view value)>;

class Checker {
 public:
  explicit Checker(std::vector<ManifestProblem>& out) : out_(out) {}

  void Error(std::string path, std::string message);
  void Warn(std::string path, std::string message);
  bool has_errors() const;

  // o[key], or nullptr when absent (reported as "missing required field" when `required`).
  const json::value* Field(const json::object& o, std::string_view base, std::string_view key,
                           bool required);
  // A string field; a required one must also be non-empty.
  std::optional<std::string> String(const json::object& o, std::string_view base,
                                    std::string_view key, bool required = false);
  std::optional<bool> Bool(const json::object& o, std::string_view base, std::string_view key);
  // An integer (whole doubles accepted) within [min, max].
  std::optional<int64_t> Int(const json::object& o, std::string_view base, std::string_view key,
                             int64_t min, int64_t max);
  const json::object* Object(const json::object& o, std::string_view base, std::string_view key,
                             bool required = false);
  const json::array* Array(const json::object& o, std::string_view base, std::string_view key);

  // Calls fn(element_path, value) for each non-empty string element of the array o[key]; other
  // elements are reported.
  void ForEachString(const json::object& o, std::string_view base, std::string_view key,
                     const std::function<void(const std::string&, std::string_view)>& fn);
  // The valid elements of a string array, in order; duplicates are dropped with a warning.
  std::vector<std::string> Strings(const json::object& o, std::string_view base,
                                   std::string_view key, const ElementCheck& check = nullptr);

  // Warns about keys of `o` not in `known` (`hint` is appended to the message when non-empty).
  void WarnUnknownKeys(const json::object& o, std::string_view base,
                       std::initializer_list<std::string_view> known, std::string_view hint = {});

 private:
  std::vector<ManifestProblem>& out_;
};

// Path-like strings inside the package (main, systemPromptFile): relative, no ".." component.
std::optional<std::string> RelativePathProblem(std::string_view path);
std::optional<std::string> PackageIdProblem(std::string_view id);

// Validates the `capabilities` object into `m` (manifest_capabilities.cpp). m.id must already be
// set when the id is valid: gateway methods are checked against its short name.
void CheckCapabilities(Checker& c, const json::object& caps, Manifest& m);

}  // namespace oc::registry::internal
