// The load pipeline: parse (lenient, with line/column on errors) -> ${VAR} substitution -> env
// overrides -> defaults -> schema validation -> cross-field checks. Every step appends to one error
// list so that the user sees every problem at once (SPEC §14).
#include <algorithm>
#include <charconv>

#include "config/config_internal.h"

namespace oc::config {

// The one place that may construct a Config (its constructor is private): only validated roots.
struct ConfigBuilder {
  static Config Make(json::value root) { return Config(std::move(root)); }
};

namespace internal {
namespace {

constexpr size_t kMaxSuggestionDistance = 2;

bool IsVarStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsVarChar(char c) { return IsVarStart(c) || (c >= '0' && c <= '9'); }

bool IsVarName(std::string_view s) {
  return !s.empty() && IsVarStart(s[0]) && std::all_of(s.begin(), s.end(), IsVarChar);
}

// Substitutes one string in place; on a syntax error or a missing variable it reports and leaves
// the string as written.
void SubstituteString(json::string& s, const EnvLookup& env, bool tolerate_missing,
                      const std::string& path, std::vector<SchemaViolation>& errors) {
  std::string_view in(s);
  if (in.find('$') == std::string_view::npos) return;
  std::string out;
  for (size_t i = 0; i < in.size();) {
    if (in.compare(i, 3, "$${") == 0) {  // escape: "$${" is a literal "${"
      out += "${";
      i += 3;
      continue;
    }
    if (in.compare(i, 2, "${") != 0) {
      out += in[i++];
      continue;
    }
    size_t close = in.find('}', i + 2);
    if (close == std::string_view::npos) {
      errors.push_back({path, "unterminated \"${\" (write \"$${\" for a literal \"${\")"});
      return;
    }
    std::string_view name = in.substr(i + 2, close - i - 2);
    if (!IsVarName(name)) {
      errors.push_back({path, "invalid environment variable name \"" + std::string(name) + "\""});
      return;
    }
    if (auto value = env(name)) {
      out += *value;
    } else if (tolerate_missing) {
      out.append(in.substr(i, close + 1 - i));
    } else {
      errors.push_back({path, "environment variable " + std::string(name) + " is not set"});
      return;
    }
    i = close + 1;
  }
  s = out;
}

void ApplyEnvOverrides(json::value& root, const EnvLookup& env, std::vector<SchemaViolation>& errors) {
  auto host = env("OPENCLAW_HOST");
  auto port = env("OPENCLAW_PORT");
  bool want_host = host && !host->empty();
  bool want_port = port && !port->empty();
  if (!want_host && !want_port) return;
  auto& top = root.get_object();
  if (!top.contains("gateway")) top["gateway"] = json::object();
  auto* gateway = top["gateway"].if_object();
  if (!gateway) return;  // the schema reports the wrong type
  if (want_host) (*gateway)["host"] = *host;
  if (want_port) {
    int64_t n = 0;
    const char* end = port->data() + port->size();
    auto [ptr, ec] = std::from_chars(port->data(), end, n);
    if (ec != std::errc() || ptr != end || n < 1 || n > 65535)
      errors.push_back({"gateway.port", "OPENCLAW_PORT=\"" + *port + "\" is not a port (1..65535)"});
    else
      (*gateway)["port"] = n;
  }
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The schema that describes the object at `segments` (array indexes "[n]" descend into items).
const json::object* SchemaAt(const std::vector<std::string>& segments) {
  const json::object* s = ConfigSchema().if_object();
  for (const auto& seg : segments) {
    std::string_view name = seg;
    size_t bracket = name.find('[');
    std::string_view indexes = bracket == std::string_view::npos ? "" : name.substr(bracket);
    name = name.substr(0, bracket);
    const json::value* next = nullptr;
    if (const auto* props = GetObject(*s, "properties")) next = props->if_contains(name);
    if (!next) next = s->if_contains("additionalProperties");
    for (char c : indexes)
      if (c == '[' && next && next->is_object()) next = next->get_object().if_contains("items");
    if (!next || !next->is_object()) return nullptr;
    s = &next->get_object();
  }
  return s;
}

// "is not a known property" -> "unknown config section" at the top, "unknown key" below, each with
// a "did you mean" when a known key is within a small edit distance.
SchemaViolation Explain(SchemaViolation v) {
  if (v.message != "is not a known property") return v;
  auto segments = SplitPath(v.path);
  if (segments.empty()) return v;
  std::string key = segments.back();
  segments.pop_back();
  v.message = segments.empty() ? "unknown config section" : "unknown key";
  const json::object* parent = SchemaAt(segments);
  const json::object* props = parent ? GetObject(*parent, "properties") : nullptr;
  if (!props) return v;
  std::string best;
  size_t best_distance = kMaxSuggestionDistance + 1;
  for (const auto& [candidate, _] : *props) {
    size_t d = EditDistance(key, candidate);
    if (d < best_distance) best = candidate, best_distance = d;
  }
  if (!best.empty()) v.message += " (did you mean \"" + best + "\"?)";
  return v;
}

}  // namespace

Error ConfigErrors(const std::vector<SchemaViolation>& violations) {
  json::array list;
  for (const auto& v : violations) list.push_back(json::object{{"path", v.path}, {"message", v.message}});
  json::object data{{"path", violations.empty() ? "" : violations.front().path}, {"errors", std::move(list)}};
  return MakeError(ErrorCode::kInvalidParams, std::to_string(violations.size()) + " config error(s)",
                   std::move(data));
}

void SubstituteEnv(json::value& v, const EnvLookup& env, bool tolerate_missing, const std::string& path,
                   std::vector<SchemaViolation>& errors) {
  if (auto* s = v.if_string()) {
    SubstituteString(*s, env, tolerate_missing, path, errors);
  } else if (auto* o = v.if_object()) {
    for (auto& [key, child] : *o) SubstituteEnv(child, env, tolerate_missing, JoinPath(path, key), errors);
  } else if (auto* a = v.if_array()) {
    for (size_t i = 0; i < a->size(); ++i)
      SubstituteEnv((*a)[i], env, tolerate_missing, IndexPath(path, i), errors);
  }
}

void ApplyDefaults(const json::value& schema, json::value& instance) {
  const auto* s = schema.if_object();
  if (!s || !instance.is_object()) return;
  auto& o = instance.get_object();
  const auto* props = GetObject(*s, "properties");
  if (props) {
    for (const auto& [key, sub] : *props) {
      if (auto* existing = o.if_contains(key)) {
        ApplyDefaults(sub, *existing);
        continue;
      }
      const auto* subo = sub.if_object();
      if (!subo) continue;
      if (const auto* d = subo->if_contains("default")) {
        o[key] = *d;
        continue;
      }
      json::value fresh = json::object();
      ApplyDefaults(sub, fresh);
      if (!fresh.get_object().empty()) o[key] = std::move(fresh);
    }
  }
  const auto* additional = s->if_contains("additionalProperties");
  if (!additional || !additional->is_object()) return;
  for (auto& [key, value] : o)
    if (!props || !props->contains(key)) ApplyDefaults(*additional, value);
}

Result<json::value> ParseDocument(std::string_view text, std::string_view origin) {
  std::string prefix = origin.empty() ? "" : std::string(origin) + ": ";
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::value(json::object());
  json::parse_options opts;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  json::stream_parser parser({}, opts);
  boost::system::error_code ec;
  size_t consumed = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    consumed = std::min(consumed, text.size());
    std::string_view before = text.substr(0, consumed);
    size_t line = 1 + std::count(before.begin(), before.end(), '\n');
    size_t last_newline = before.rfind('\n');
    size_t column = 1 + consumed - (last_newline == std::string_view::npos ? 0 : last_newline + 1);
    return ConfigErrors({{"", prefix + "line " + std::to_string(line) + ", column " +
                                  std::to_string(column) + ": " + ec.message()}});
  }
  json::value root = parser.release();
  if (!root.is_object())
    return ConfigErrors({{"", prefix + "the config must be a JSON object"}});
  return root;
}

Result<Config> ParseConfigText(std::string_view text, const EnvLookup& env, const ParseOptions& opts,
                               std::string_view origin) {
  OC_ASSIGN(json::value root, ParseDocument(text, origin));
  std::vector<SchemaViolation> errors;
  SubstituteEnv(root, env, opts.tolerate_missing_env, "", errors);
  if (opts.apply_env_overrides) ApplyEnvOverrides(root, env, errors);
  ApplyDefaults(ConfigSchema(), root);
  for (auto& v : ValidateSchema(ConfigSchema(), root)) errors.push_back(Explain(std::move(v)));
  CheckSemantics(root, errors);
  if (!errors.empty()) return ConfigErrors(errors);
  return ConfigBuilder::Make(std::move(root));
}

}  // namespace internal
}  // namespace oc::config
