// Small text helpers shared by parsers that must not pull in anything heavy (they are fuzzed).
#pragma once

#include <string>
#include <string_view>

namespace oc {

// `s` without leading and trailing spaces, tabs, CRs and LFs.
inline std::string_view TrimAsciiSpace(std::string_view s) {
  size_t first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  size_t last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

// `s` with A-Z turned into a-z (header names, schemes, extensions: ASCII by definition).
inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// True when `a` and `b` are equal but for the case of A-Z (nicks, usernames, domains).
inline bool AsciiEqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Characters of UTF-8 text: bytes that do not continue a sequence (an invalid byte counts as one).
inline size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace oc
