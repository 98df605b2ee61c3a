#include "openclawos/channel_text.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/text.h"

namespace openclawos::sdk {
namespace {

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && oc::AsciiEqualsNoCase(text.substr(0, prefix.size()), prefix);
}

// Bytes of the UTF-8 sequence starting with `lead` (1 for a stray continuation or invalid byte).
size_t SequenceBytes(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  if (lead >= 0xE0) return lead <= 0xEF ? 3 : 1;
  if (lead >= 0xC2) return 2;
  return 1;
}

// The sequence at `i`: its byte count (clipped to a complete, well-formed sequence) and its units.
struct CodePoint {
  size_t bytes;
  size_t units;
};

CodePoint At(std::string_view text, size_t i, LengthUnit unit) {
  size_t n = SequenceBytes(static_cast<unsigned char>(text[i]));
  if (i + n > text.size()) n = 1;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) n = 1;
  size_t units = unit == LengthUnit::kBytes ? n : (n == 4 ? 2 : 1);
  return {n, units};
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

bool IsWordChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return std::isalnum(u) || u >= 0x80 || std::string_view("_-[]\\`^{}|").find(c) != std::string_view::npos;
}

// Where to cut `piece` (which fills the limit): after the last paragraph break, line break or space
// in its second half; else at its end.
size_t CutPoint(std::string_view piece) {
  const size_t half = piece.size() / 2;
  for (std::string_view sep : {"\n\n", "\n", " "}) {
    size_t at = piece.rfind(sep);
    if (at != std::string_view::npos && at >= half && at > 0) return at;
  }
  return piece.size();
}

}  // namespace

size_t TextLength(std::string_view text, LengthUnit unit) {
  if (unit == LengthUnit::kBytes) return text.size();
  size_t units = 0;
  for (size_t i = 0; i < text.size();) {
    CodePoint cp = At(text, i, unit);
    units += cp.units;
    i += cp.bytes;
  }
  return units;
}

std::vector<std::string> SplitText(std::string_view text, size_t limit, LengthUnit unit) {
  limit = std::max<size_t>(limit, 4);
  std::vector<std::string> pieces;
  std::string_view rest = oc::TrimAsciiSpace(text);
  while (!rest.empty()) {
    // The longest prefix of whole code points within the limit.
    size_t end = 0, units = 0;
    while (end < rest.size()) {
      CodePoint cp = At(rest, end, unit);
      if (units + cp.units > limit) break;
      units += cp.units;
      end += cp.bytes;
    }
    size_t cut = end == rest.size() ? end : CutPoint(rest.substr(0, end));
    std::string_view piece = oc::TrimAsciiSpace(rest.substr(0, cut));
    if (!piece.empty()) pieces.emplace_back(piece);
    rest = oc::TrimAsciiSpace(rest.substr(cut));
  }
  return pieces;
}

bool SenderAllowed(const std::vector<std::string>& allow_from, std::initializer_list<std::string_view> sender_ids) {
  for (const auto& entry : allow_from) {
    if (entry == "*") return true;
    for (std::string_view id : sender_ids)
      if (!id.empty() && oc::AsciiEqualsNoCase(entry, id)) return true;
  }
  return false;
}

std::vector<std::string> StringList(const oc::json::value* v) {
  std::vector<std::string> out;
  if (!v || !v->is_array()) return out;
  for (const auto& item : v->as_array()) {
    if (item.is_string()) out.emplace_back(item.as_string());
    else if (item.is_int64()) out.push_back(std::to_string(item.as_int64()));
    else if (item.is_uint64()) out.push_back(std::to_string(item.as_uint64()));
  }
  return out;
}

std::optional<std::string> StripAddress(std::string_view text, std::string_view name) {
  if (name.empty()) return std::nullopt;
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  std::string_view rest;
  if (!text.empty() && text.front() == '@' && StartsWithNoCase(text.substr(1), name)) {
    rest = text.substr(1 + name.size());
    if (!rest.empty() && !IsSpace(rest.front()) && rest.front() != ':' && rest.front() != ',') return std::nullopt;
  } else if (StartsWithNoCase(text, name)) {
    rest = text.substr(name.size());
    if (rest.empty() || (rest.front() != ':' && rest.front() != ',')) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (!rest.empty() && (rest.front() == ':' || rest.front() == ',')) rest.remove_prefix(1);
  return std::string(oc::TrimAsciiSpace(rest));
}

bool MentionsName(std::string_view text, std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i + name.size() <= text.size(); ++i) {
    if (!oc::AsciiEqualsNoCase(text.substr(i, name.size()), name)) continue;
    bool starts = i == 0 || !IsWordChar(text[i - 1]) || (text[i - 1] == '@' && (i == 1 || !IsWordChar(text[i - 2])));
    size_t after = i + name.size();
    bool ends = after == text.size() || !IsWordChar(text[after]);
    // '-' and '_' inside a nick are word characters; a trailing "-" or ":" after a name is not
    // part of it when followed by nothing word-like.
    if (starts && ends) return true;
  }
  return false;
}

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double factor)
    : initial_(initial), max_(max), factor_(factor), random_(std::random_device{}()) {}

std::chrono::milliseconds Backoff::Next() {
  double base = static_cast<double>(initial_.count()) * std::pow(factor_, std::min(failures_, 30));
  base = std::min(base, static_cast<double>(max_.count()));
  ++failures_;
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::milliseconds(static_cast<int64_t>(base * jitter(random_)));
}

}  // namespace openclawos::sdk
