// The pure parts of serving HTTP for apps and the canvas (docs/CONTROL-PLANE.md "App routes",
// "Canvas"): route matching, the http.request wire shape (SPEC §4.3) in both directions, path
// safety and content types. No I/O; callable from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "gateway/control_server.h"

namespace oc::kernel::apphttp {

// Where apps' routes are mounted: "/apps/<short>/..." (SPEC §3).
inline constexpr std::string_view kAppsMount = "/apps/";

// A route "/x" matches the app path "/x" only; a route ending in "/" ("/static/", "/") matches
// itself and every path under it. Case-sensitive, on the path as sent (percent-encoding kept).
bool RouteMatches(std::string_view route, std::string_view app_path);
// The longest route in `routes` that matches `app_path`; nullopt when none does.
std::optional<std::string> BestRoute(const std::vector<std::string>& routes, std::string_view app_path);

// True when `raw_path` has a segment that is "." or ".." as sent or once percent-decoded (also
// with "\" as a separator), or a malformed escape: such paths are refused (400) before any route
// or file lookup, so "/public/..%2Fadmin" can never reach what "/public/" does not cover.
bool IsUnsafePath(std::string_view raw_path);

// Request headers an app never sees: the gateway's credentials (authorization, cookie) and
// hop-by-hop headers.
bool IsWithheldRequestHeader(std::string_view lower_name);

// The http.request params for `request`: {method, path: app_path, query, headers (lower-case
// names; repeated headers joined with ", "; withheld ones dropped; x-forwarded-prefix: `mount`
// without its trailing "/"), body (base64)}.
json::object HttpRequestParams(const gateway::HttpRequest& request, std::string_view app_path,
                               std::string_view mount);

// An app's http.request answer {status, headers?, body?} as the response to send. headers is an
// object whose values are strings, or arrays of strings for a repeated header (sent as one field
// line, the values joined with ", "); body is base64.
// Errors (kInternalError, the message says what is wrong): not an object, status not an integer
// in 200..599 (1xx are not final answers), a header name that is not an HTTP token, a value with
// CR, LF or NUL, a body that is not base64 or decodes to more than `max_body_bytes`.
// Dropped silently: hop-by-hop headers, content-length (recomputed), set-cookie (an app must not
// set cookies on the gateway's origin: the Control UI's credentials live there) and
// access-control-* (CORS is the gateway's decision). Added: X-Content-Type-Options: nosniff.
// content-type becomes HttpResponse::content_type (application/octet-stream when absent).
Result<gateway::HttpResponse> ResponseFromApp(const json::value& answer, size_t max_body_bytes);

// The Content-Type for a file name by its extension (text types with charset=utf-8);
// application/octet-stream for unknown ones.
std::string_view ContentTypeFor(std::string_view filename);

}  // namespace oc::kernel::apphttp
