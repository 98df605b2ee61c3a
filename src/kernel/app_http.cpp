#include "kernel/app_http.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/base64.h"
#include "common/http_text.h"
#include "common/text.h"

namespace oc::kernel::apphttp {
namespace {

bool IsDotSegment(std::string_view segment) { return segment == "." || segment == ".."; }

bool HasDotSegment(std::string_view path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find_first_of("/\\", start);
    if (end == std::string_view::npos) end = path.size();
    if (IsDotSegment(path.substr(start, end - start))) return true;
    start = end + 1;
  }
  return false;
}

constexpr std::array<std::string_view, 9> kHopByHop = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te",         "trailer",    "transfer-encoding",  "upgrade"};

bool IsHopByHop(std::string_view lower_name) {
  return std::find(kHopByHop.begin(), kHopByHop.end(), lower_name) != kHopByHop.end();
}

// RFC 9110 token characters.
bool IsToken(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (std::isalnum(c)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos) return false;
  }
  return true;
}

bool IsSafeHeaderValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Whether the gateway, not the app, decides this response header.
bool IsDroppedResponseHeader(std::string_view lower_name) {
  return IsHopByHop(lower_name) || lower_name == "content-length" || lower_name == "set-cookie" ||
         lower_name == "set-cookie2" || lower_name == "x-content-type-options" ||
         lower_name == "clear-site-data" || lower_name == "refresh" ||  // would act on the gateway's origin
         lower_name.starts_with("access-control-");
}

Error Malformed(std::string what) { return MakeError(ErrorCode::kInternalError, std::move(what)); }

}  // namespace

bool RouteMatches(std::string_view route, std::string_view app_path) {
  if (route.empty()) return false;
  if (route == app_path) return true;
  return route.back() == '/' && app_path.starts_with(route);
}

std::optional<std::string> BestRoute(const std::vector<std::string>& routes, std::string_view app_path) {
  std::optional<std::string> best;
  for (const auto& r : routes)
    if (RouteMatches(r, app_path) && (!best || r.size() > best->size())) best = r;
  return best;
}

bool IsUnsafePath(std::string_view raw_path) {
  if (HasDotSegment(raw_path)) return true;
  auto decoded = http::PercentDecode(raw_path);
  return !decoded || HasDotSegment(*decoded);
}

bool IsWithheldRequestHeader(std::string_view lower_name) {
  return lower_name == "authorization" || lower_name == "cookie" || lower_name == "x-openclaw-token" ||
         IsHopByHop(lower_name) || lower_name == "x-forwarded-prefix";
}

json::object HttpRequestParams(const gateway::HttpRequest& request, std::string_view app_path,
                               std::string_view mount) {
  json::object headers;
  for (const auto& [name, value] : request.headers) {
    std::string lower = AsciiLower(name);
    if (IsWithheldRequestHeader(lower)) continue;
    if (auto* existing = headers.if_contains(lower)) {
      std::string joined(existing->as_string());
      joined += ", ";
      joined += value;
      *existing = joined;
    } else {
      headers[lower] = value;
    }
  }
  std::string_view prefix = mount;
  if (prefix.ends_with('/')) prefix.remove_suffix(1);
  headers["x-forwarded-prefix"] = prefix;
  return json::object{{"method", request.method},
                      {"path", app_path},
                      {"query", request.query},
                      {"headers", std::move(headers)},
                      {"body", Base64Encode(request.body)}};
}

Result<gateway::HttpResponse> ResponseFromApp(const json::value& answer, size_t max_body_bytes) {
  const json::object* o = answer.if_object();
  if (!o) return Malformed("the answer is not an object");
  const json::value* status = o->if_contains("status");
  if (!status || !(status->is_int64() || status->is_uint64()))
    return Malformed("status must be an integer");
  int64_t code = status->is_int64() ? status->as_int64()
                                    : static_cast<int64_t>(std::min<uint64_t>(status->as_uint64(), 1000));
  if (code < 200 || code > 599) return Malformed("status " + std::to_string(code) + " is not in 200..599");
  gateway::HttpResponse response;
  response.status = static_cast<unsigned>(code);
  response.content_type = "application/octet-stream";
  if (const json::value* headers = o->if_contains("headers"); headers && !headers->is_null()) {
    if (!headers->is_object()) return Malformed("headers must be an object");
    for (const auto& [name, value] : headers->as_object()) {
      std::string lower = AsciiLower(name);
      if (!IsToken(lower)) return Malformed("header name \"" + std::string(name) + "\" is not a token");
      std::vector<std::string> values;
      if (value.is_string()) {
        values.emplace_back(value.as_string());
      } else if (value.is_array()) {
        for (const auto& v : value.as_array()) {
          if (!v.is_string()) return Malformed("header " + lower + ": values must be strings");
          values.emplace_back(v.as_string());
        }
      } else {
        return Malformed("header " + lower + ": value must be a string");
      }
      for (const auto& v : values)
        if (!IsSafeHeaderValue(v)) return Malformed("header " + lower + ": value contains CR, LF or NUL");
      if (IsDroppedResponseHeader(lower)) continue;
      if (lower == "content-type") {
        if (!values.empty()) response.content_type = values.front();
        continue;
      }
      // One field line with the values joined (RFC 9110 §5.3; set-cookie, the exception, is dropped).
      std::string joined;
      for (const auto& v : values) joined += (joined.empty() ? "" : ", ") + v;
      response.headers.emplace_back(lower, std::move(joined));
    }
  }
  if (const json::value* body = o->if_contains("body"); body && !body->is_null()) {
    if (!body->is_string()) return Malformed("body must be a base64 string");
    const json::string& text = body->as_string();
    if (text.size() / 4 * 3 > max_body_bytes + 2)
      return Malformed("body exceeds " + std::to_string(max_body_bytes) + " bytes");
    auto bytes = Base64Decode(text);
    if (!bytes) return Malformed("body is not base64");
    if (bytes->size() > max_body_bytes) return Malformed("body exceeds " + std::to_string(max_body_bytes) + " bytes");
    response.body = std::move(*bytes);
  }
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return response;
}

std::string_view ContentTypeFor(std::string_view filename) {
  std::string_view type = http::ContentTypeFor(filename);
  return type.empty() ? std::string_view("application/octet-stream") : type;
}

}  // namespace oc::kernel::apphttp
