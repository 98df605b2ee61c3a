#include "registry/manifest_checker.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>

namespace oc::registry::internal {


namespace {
std::string Expected(std::string_view want, const json::value& got) {
  return "expected " + std::string(want) + ", got " + std::string(JsonTypeName(got));
}
}  // namespace

void Checker::Error(std::string path, std::string message) {
  out_.push_back({std::move(path), std::move(message), false});
}

void Checker::Warn(std::string path, std::string message) {
  out_.push_back({std::move(path), std::move(message), true});
}

bool Checker::has_errors() const {
  return std::any_of(out_.begin(), out_.end(), [](const auto& p) { return !p.warning; });
}

const json::value* Checker::Field(const json::object& o, std::string_view base,
                                  std::string_view key, bool required) {
  const json::value* v = o.if_contains(key);
  if (!v && required) Error(JoinPath(base, key), "missing required field");
  return v;
}

std::optional<std::string> Checker::String(const json::object& o, std::string_view base,
                                           std::string_view key, bool required) {
  const json::value* v = Field(o, base, key, required);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    Error(JoinPath(base, key), Expected("string", *v));
    return std::nullopt;
  }
  if (required && v->get_string().empty()) {
    Error(JoinPath(base, key), "must not be empty");
    return std::nullopt;
  }
  return std::string(v->get_string());
}

std::optional<bool> Checker::Bool(const json::object& o, std::string_view base,
                                  std::string_view key) {
  const json::value* v = Field(o, base, key, false);
  if (!v) return std::nullopt;
  if (!v->is_bool()) {
    Error(JoinPath(base, key), Expected("boolean", *v));
    return std::nullopt;
  }
  return v->get_bool();
}

std::optional<int64_t> Checker::Int(const json::object& o, std::string_view base,
                                    std::string_view key, int64_t min, int64_t max) {
  const json::value* v = Field(o, base, key, false);
  if (!v) return std::nullopt;
  std::optional<int64_t> n;
  if (v->is_int64()) {
    n = v->get_int64();
  } else if (v->is_uint64()) {
    if (v->get_uint64() <= static_cast<uint64_t>(INT64_MAX))
      n = static_cast<int64_t>(v->get_uint64());
  } else if (v->is_double()) {
    double d = v->get_double();
    if (std::floor(d) != d) {
      Error(JoinPath(base, key), "expected integer, got fractional number");
      return std::nullopt;
    }
    // Range-check in double first: casting an out-of-range double is undefined behaviour.
    if (std::fabs(d) < 9e18 && d >= static_cast<double>(min) && d <= static_cast<double>(max))
      n = static_cast<int64_t>(d);
  } else {
    Error(JoinPath(base, key), Expected("integer", *v));
    return std::nullopt;
  }
  if (!n || *n < min || *n > max) {
    Error(JoinPath(base, key),
          "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return n;
}

const json::object* Checker::Object(const json::object& o, std::string_view base,
                                    std::string_view key, bool required) {
  const json::value* v = Field(o, base, key, required);
  if (!v) return nullptr;
  if (!v->is_object()) {
    Error(JoinPath(base, key), Expected("object", *v));
    return nullptr;
  }
  return &v->get_object();
}

const json::array* Checker::Array(const json::object& o, std::string_view base,
                                  std::string_view key) {
  const json::value* v = Field(o, base, key, false);
  if (!v) return nullptr;
  if (!v->is_array()) {
    Error(JoinPath(base, key), Expected("array", *v));
    return nullptr;
  }
  return &v->get_array();
}

void Checker::ForEachString(const json::object& o, std::string_view base, std::string_view key,
                            const std::function<void(const std::string&, std::string_view)>& fn) {
  const json::array* arr = Array(o, base, key);
  if (!arr) return;
  const std::string path = JoinPath(base, key);
  for (size_t i = 0; i < arr->size(); ++i) {
    const json::value& e = (*arr)[i];
    std::string element_path = IndexPath(path, i);
    if (!e.is_string()) {
      Error(std::move(element_path), Expected("string", e));
    } else if (e.get_string().empty()) {
      Error(std::move(element_path), "must not be empty");
    } else {
      fn(element_path, e.get_string());
    }
  }
}

std::vector<std::string> Checker::Strings(const json::object& o, std::string_view base,
                                          std::string_view key, const ElementCheck& check) {
  std::vector<std::string> out;
  std::set<std::string, std::less<>> seen;
  ForEachString(o, base, key, [&](const std::string& path, std::string_view value) {
    if (check) {
      if (auto problem = check(value)) {
        Error(path, std::move(*problem));
        return;
      }
    }
    if (!seen.emplace(value).second) {
      Warn(path, "duplicate " + Quote(value) + " ignored");
      return;
    }
    out.emplace_back(value);
  });
  return out;
}

void Checker::WarnUnknownKeys(const json::object& o, std::string_view base,
                              std::initializer_list<std::string_view> known,
                              std::string_view hint) {
  for (const auto& kv : o) {
    std::string_view key = kv.key();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string message = "unknown key " + Quote(key);
    if (!hint.empty()) message += " (" + std::string(hint) + ")";
    // The key becomes part of the path: escape it so a problem always stays on one line.
    std::string escaped = Quote(key);
    bool plain = escaped.size() == key.size() + 2;
    Warn(JoinPath(base, plain ? key : std::string_view(escaped)), std::move(message));
  }
}

std::string Quote(std::string_view s) { return json::serialize(json::string(s)); }

std::optional<std::string> RelativePathProblem(std::string_view path) {
  if (path.empty()) return "must not be empty";
  if (path.front() == '/') return "must be a path inside the package (absolute paths are refused)";
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (path.substr(start, slash - start) == "..")
      return "must stay inside the package (\"..\" is refused)";
    start = slash + 1;
  }
  if (path.find('\0') != std::string_view::npos) return "must not contain NUL characters";
  return std::nullopt;
}

std::optional<std::string> PackageIdProblem(std::string_view id) {
  if (IsValidPackageId(id)) return std::nullopt;
  return "invalid package id " + Quote(id) +
         " (use lowercase letters, digits, '-', '_', '.'; optionally @scope/name)";
}

}  // namespace oc::registry::internal
