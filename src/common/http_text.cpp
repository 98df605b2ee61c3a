#include "common/http_text.h"

#include <cctype>
#include <map>

#include "common/text.h"

namespace oc::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Encode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string_view BearerCredential(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  authorization = TrimAsciiSpace(authorization);
  if (authorization.size() <= kScheme.size()) return {};
  if (AsciiLower(authorization.substr(0, kScheme.size())) != kScheme) return {};
  return TrimAsciiSpace(authorization.substr(kScheme.size()));
}

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int hi = HexValue(text[i + 1]), lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return std::nullopt;
    out += c;
    i += 2;
  }
  return out;
}

std::string PercentEncode(std::string_view text) { return Encode(text, false); }
std::string PercentEncodePath(std::string_view path) { return Encode(path, true); }

std::string_view ContentTypeFor(std::string_view filename) {
  static const std::map<std::string, std::string_view, std::less<>> kTypes = {
      {"html", "text/html; charset=utf-8"},  {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},    {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"}, {"json", "application/json"},
      {"txt", "text/plain; charset=utf-8"},  {"md", "text/markdown; charset=utf-8"},
      {"csv", "text/csv; charset=utf-8"},    {"xml", "application/xml"},
      {"svg", "image/svg+xml"},              {"png", "image/png"},
      {"jpg", "image/jpeg"},                 {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},                  {"webp", "image/webp"},
      {"ico", "image/x-icon"},               {"avif", "image/avif"},
      {"woff", "font/woff"},                 {"woff2", "font/woff2"},
      {"wasm", "application/wasm"},          {"pdf", "application/pdf"},
      {"mp3", "audio/mpeg"},                 {"wav", "audio/wav"},
      {"mp4", "video/mp4"},                  {"webm", "video/webm"},
  };
  size_t slash = filename.find_last_of('/');
  std::string_view base = slash == std::string_view::npos ? filename : filename.substr(slash + 1);
  size_t dot = base.find_last_of('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  auto it = kTypes.find(AsciiLower(base.substr(dot + 1)));
  return it == kTypes.end() ? std::string_view() : it->second;
}

}  // namespace oc::http
