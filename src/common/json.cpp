#include "common/json.h"

#include <chrono>

namespace oc {

namespace {
Result<json::value> ParseWith(std::string_view text, const json::parse_options& opts) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) return MakeError(ErrorCode::kInvalidRequest, "invalid JSON: " + ec.message());
  return v;
}
}  // namespace

Result<json::value> ParseJson(std::string_view text) { return ParseWith(text, {}); }

std::optional<json::value> TryParseJson(std::string_view text, std::string* error) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    if (error) *error = ec.message();
    return std::nullopt;
  }
  return v;
}

Result<json::value> ParseLenientJson(std::string_view text) {
  json::parse_options opts;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  return ParseWith(text, opts);
}

std::optional<std::string_view> GetString(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string_view(v->get_string());
}

std::optional<int64_t> GetInt(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= INT64_MAX) return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) {
    double d = v->get_double();
    // Range first: converting an out-of-range double to int64 is undefined (found by fuzz_frame).
    if (!(d >= -9.2e18 && d <= 9.2e18)) return std::nullopt;
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

std::optional<bool> GetBool(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_bool()) return std::nullopt;
  return v->get_bool();
}

const json::object* GetObject(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v ? v->if_object() : nullptr;
}

const json::array* GetArray(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v ? v->if_array() : nullptr;
}

std::vector<std::string> SplitPath(std::string_view dotted) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < dotted.size()) {
    size_t from = i;
    if (dotted[i] == '@') {
      size_t slash = dotted.find('/', i);
      if (slash != std::string_view::npos) from = slash;
    }
    size_t dot = dotted.find('.', from);
    if (dot == std::string_view::npos) dot = dotted.size();
    out.emplace_back(dotted.substr(i, dot - i));
    i = dot + 1;
  }
  return out;
}

const json::value* FindPath(const json::value& root, std::string_view dotted) {
  const json::value* cur = &root;
  if (dotted.empty()) return cur;
  for (const auto& seg : SplitPath(dotted)) {
    const auto* o = cur->if_object();
    if (!o) return nullptr;
    cur = o->if_contains(seg);
    if (!cur) return nullptr;
  }
  return cur;
}

std::string JoinPath(std::string_view base, std::string_view key) {
  if (base.empty()) return std::string(key);
  std::string s(base);
  s += '.';
  s += key;
  return s;
}

std::string IndexPath(std::string_view base, size_t index) {
  std::string s(base);
  s += '[';
  s += std::to_string(index);
  s += ']';
  return s;
}

std::string_view JsonTypeName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object: return "object";
    case json::kind::array: return "array";
    case json::kind::string: return "string";
    case json::kind::bool_: return "boolean";
    case json::kind::null: return "null";
    default: return "number";
  }
}

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace oc
