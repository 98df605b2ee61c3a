#include "common/json_schema.h"

#include <re2/re2.h>

#include <map>
#include <memory>
#include <mutex>

namespace oc {
namespace {

const RE2& CachedRegex(const std::string& pattern) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<RE2>> cache;
  std::lock_guard lock(mu);
  auto& slot = cache[pattern];
  if (!slot) {
    RE2::Options opts;
    opts.set_log_errors(false);
    slot = std::make_unique<RE2>(pattern, opts);
  }
  return *slot;
}

bool IsWholeNumber(const json::value& v) {
  if (v.is_int64() || v.is_uint64()) return true;
  if (!v.is_double()) return false;
  double d = v.get_double();
  // Only whole numbers that fit in 64 bits count: the config's readers take int64, and casting a
  // larger double is undefined behaviour (found by fuzz_config).
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false;  // NaN too
  return d == static_cast<double>(static_cast<long long>(d));
}

bool MatchesType(std::string_view type, const json::value& v) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_bool();
  if (type == "null") return v.is_null();
  if (type == "number") return v.is_number();
  if (type == "integer") return IsWholeNumber(v);
  return true;  // unknown type names do not constrain
}

double AsDouble(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return v.get_double();
}

// Counts code points, not bytes, as JSON Schema does.
size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

class Validator {
 public:
  std::vector<SchemaViolation> out;

  void Check(const json::value& schema, const json::value& v, const std::string& path) {
    const auto* s = schema.if_object();
    if (!s) return;
    if (!CheckType(*s, v, path)) return;  // other keywords are meaningless on the wrong type
    CheckEnum(*s, v, path);
    if (v.is_number()) CheckRange(*s, v, path);
    if (v.is_string()) CheckString(*s, v.get_string(), path);
    if (v.is_object()) CheckObject(*s, v.get_object(), path);
    if (v.is_array()) CheckArray(*s, v.get_array(), path);
  }

 private:
  void Add(const std::string& path, std::string msg) { out.push_back({path, std::move(msg)}); }

  bool CheckType(const json::object& s, const json::value& v, const std::string& path) {
    const auto* t = s.if_contains("type");
    if (!t) return true;
    std::string expected;
    if (t->is_string()) {
      if (MatchesType(t->get_string(), v)) return true;
      expected = t->get_string();
    } else if (t->is_array()) {
      for (const auto& alt : t->get_array()) {
        if (alt.is_string() && MatchesType(alt.get_string(), v)) return true;
        if (!expected.empty()) expected += " or ";
        if (alt.is_string()) expected += alt.get_string();
      }
    } else {
      return true;
    }
    Add(path, "expected " + expected + ", got " + std::string(JsonTypeName(v)));
    return false;
  }

  void CheckEnum(const json::object& s, const json::value& v, const std::string& path) {
    const auto* e = s.if_contains("enum");
    if (!e || !e->is_array()) return;
    for (const auto& option : e->get_array())
      if (option == v) return;
    Add(path, "must be one of " + json::serialize(*e) + ", got " + json::serialize(v));
  }

  void CheckRange(const json::object& s, const json::value& v, const std::string& path) {
    double d = AsDouble(v);
    if (auto* m = s.if_contains("minimum"); m && m->is_number() && d < AsDouble(*m))
      Add(path, "must be >= " + json::serialize(*m));
    if (auto* m = s.if_contains("maximum"); m && m->is_number() && d > AsDouble(*m))
      Add(path, "must be <= " + json::serialize(*m));
  }

  void CheckString(const json::object& s, std::string_view str, const std::string& path) {
    size_t len = Utf8Length(str);
    if (auto n = GetInt(s, "minLength"); n && len < static_cast<size_t>(*n))
      Add(path, "must be at least " + std::to_string(*n) + " characters");
    if (auto n = GetInt(s, "maxLength"); n && len > static_cast<size_t>(*n))
      Add(path, "must be at most " + std::to_string(*n) + " characters");
    if (auto p = GetString(s, "pattern")) {
      const RE2& re = CachedRegex(std::string(*p));
      if (!re.ok())
        Add(path, "schema pattern is not a valid regular expression: " + std::string(*p));
      else if (!RE2::PartialMatch(re2::StringPiece(str.data(), str.size()), re))
        Add(path, "does not match pattern " + std::string(*p));
    }
  }

  void CheckObject(const json::object& s, const json::object& o, const std::string& path) {
    if (const auto* req = GetArray(s, "required")) {
      for (const auto& name : *req)
        if (name.is_string() && !o.contains(name.get_string()))
          Add(JoinPath(path, name.get_string()), "is required");
    }
    const auto* props = GetObject(s, "properties");
    const auto* additional = s.if_contains("additionalProperties");
    for (const auto& [key, value] : o) {
      std::string child = JoinPath(path, key);
      if (props) {
        if (const auto* ps = props->if_contains(key)) {
          Check(*ps, value, child);
          continue;
        }
      }
      if (!additional) continue;
      if (additional->is_bool() && !additional->get_bool())
        Add(child, "is not a known property");
      else if (additional->is_object())
        Check(*additional, value, child);
    }
  }

  void CheckArray(const json::object& s, const json::array& a, const std::string& path) {
    const auto* items = s.if_contains("items");
    if (!items) return;
    for (size_t i = 0; i < a.size(); ++i) Check(*items, a[i], IndexPath(path, i));
  }
};

}  // namespace

std::vector<SchemaViolation> ValidateSchema(const json::value& schema, const json::value& instance,
                                            std::string_view base_path) {
  Validator v;
  v.Check(schema, instance, std::string(base_path));
  return std::move(v.out);
}

void ApplySchemaDefaults(const json::value& schema, json::value& instance) {
  const auto* s = schema.if_object();
  if (!s || !instance.is_object()) return;
  const auto* props = GetObject(*s, "properties");
  if (!props) return;
  auto& o = instance.get_object();
  for (const auto& [key, sub] : *props) {
    const auto* subo = sub.if_object();
    if (!subo) continue;
    auto* existing = o.if_contains(key);
    if (!existing) {
      if (const auto* d = subo->if_contains("default")) {
        o[key] = *d;
        existing = o.if_contains(key);
      } else if (GetObject(*subo, "properties")) {
        o[key] = json::object();
        existing = o.if_contains(key);
      }
    }
    if (existing) ApplySchemaDefaults(sub, *existing);
  }
}

Error ViolationsToError(const std::vector<SchemaViolation>& violations) {
  if (violations.empty()) return MakeError(ErrorCode::kInvalidParams, "invalid params");
  const auto& v = violations.front();
  json::object data;
  data["path"] = v.path;
  return MakeError(ErrorCode::kInvalidParams, (v.path.empty() ? "params" : v.path) + ": " + v.message,
                   std::move(data));
}

}  // namespace oc
