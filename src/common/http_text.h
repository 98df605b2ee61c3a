// Small HTTP text helpers shared by the gateway server, the kernel's HTTP routes and their fuzzed
// parsers: bearer credentials, percent-encoding, content types.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace oc::http {

// The credential of an `Authorization: Bearer <credential>` header (scheme case-insensitive,
// surrounding whitespace trimmed); "" when the header is absent or not a bearer.
std::string_view BearerCredential(std::string_view authorization);

// "%41b" → "Ab". nullopt for a malformed escape ("%4", "%zz") or an escaped NUL.
std::optional<std::string> PercentDecode(std::string_view text);
// Every byte but the unreserved characters (A-Z a-z 0-9 - . _ ~) as %XX.
std::string PercentEncode(std::string_view text);
// The same, keeping "/" (a relative path inside a URL we build).
std::string PercentEncodePath(std::string_view path);

// The Content-Type for a file name (or path) by its extension, case-insensitive; "" when the
// extension is unknown or there is none (".hidden", "README").
std::string_view ContentTypeFor(std::string_view filename);

}  // namespace oc::http
