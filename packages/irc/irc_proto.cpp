#include "irc_proto.h"

#include <algorithm>
#include <cmath>

#include "common/base64.h"
#include "openclawos/channel_text.h"

namespace oc::irc {
namespace {

using oc::ErrorCode;
using oc::MakeError;

bool IsLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool HasLineBreakOrNul(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos; }

// A command word: letters (upper-cased here) or exactly three digits.
std::optional<std::string> NormaliseCommand(std::string_view word) {
  if (word.empty()) return std::nullopt;
  if (word.size() == 3 && std::all_of(word.begin(), word.end(), IsDigit)) return std::string(word);
  if (!std::all_of(word.begin(), word.end(), IsLetter)) return std::nullopt;
  std::string out(word);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// IRCv3 tag value escapes: \: → ';', \s → ' ', \\ → '\', \r, \n; any other "\x" → x; a lone
// final backslash is dropped.
std::string UnescapeTagValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\') {
      out += v[i];
      continue;
    }
    if (++i == v.size()) break;
    switch (v[i]) {
      case ':': out += ';'; break;
      case 's': out += ' '; break;
      case 'r': out += '\r'; break;
      case 'n': out += '\n'; break;
      default: out += v[i]; break;
    }
  }
  return out;
}

void ParseTags(std::string_view tags, std::map<std::string, std::string>& out) {
  while (!tags.empty()) {
    size_t end = tags.find(';');
    std::string_view tag = tags.substr(0, end);
    tags = end == std::string_view::npos ? std::string_view() : tags.substr(end + 1);
    if (tag.empty()) continue;
    size_t eq = tag.find('=');
    std::string key(tag.substr(0, eq));
    if (key.empty()) continue;
    out[key] = eq == std::string_view::npos ? std::string() : UnescapeTagValue(tag.substr(eq + 1));
  }
}

// The next space-delimited word of `rest` (leading spaces skipped); `rest` moves past it.
std::string_view NextWord(std::string_view& rest) {
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  size_t end = rest.find(' ');
  std::string_view word = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  return word;
}

char FoldChar(char c, CaseMapping mapping) {
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  if (mapping == CaseMapping::kAscii) return c;
  switch (c) {
    case '[': return '{';
    case ']': return '}';
    case '\\': return '|';
    case '~': return mapping == CaseMapping::kRfc1459 ? '^' : c;
    default: return c;
  }
}

bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Skips up to `max` characters satisfying `pred` from position i; returns how many were skipped.
template <typename Pred>
size_t SkipUpTo(std::string_view s, size_t i, size_t max, Pred pred) {
  size_t n = 0;
  while (n < max && i + n < s.size() && pred(s[i + n])) ++n;
  return n;
}

// The colour arguments after \x03 ("fg[,bg]", up to two digits each) or \x04 (six hex digits each).
size_t ColourArgumentLength(std::string_view s, size_t i, bool hex) {
  auto pred = hex ? IsHex : IsDigit;
  size_t max = hex ? 6 : 2;
  size_t n = SkipUpTo(s, i, max, pred);
  if (n > 0 && i + n + 1 < s.size() && s[i + n] == ',' && pred(s[i + n + 1]))
    n += 1 + SkipUpTo(s, i + n + 1, max, pred);
  return n;
}

}  // namespace

Prefix ParsePrefix(std::string_view prefix) {
  Prefix p;
  size_t bang = prefix.find('!');
  size_t at = prefix.find('@', bang == std::string_view::npos ? 0 : bang);
  size_t nick_end = std::min(bang, at);
  p.nick = std::string(prefix.substr(0, nick_end));
  if (bang != std::string_view::npos) p.user = std::string(prefix.substr(bang + 1, at == std::string_view::npos ? std::string_view::npos : at - bang - 1));
  if (at != std::string_view::npos) p.host = std::string(prefix.substr(at + 1));
  return p;
}

const std::string& Message::Param(size_t i) const {
  static const std::string kEmpty;
  return i < params.size() ? params[i] : kEmpty;
}

std::optional<std::string> Message::Tag(const std::string& name) const {
  auto it = tags.find(name);
  if (it == tags.end()) return std::nullopt;
  return it->second;
}

oc::Result<Message> ParseLine(std::string_view line) {
  if (line.size() > kMaxTaggedLineBytes + 2) return MakeError(ErrorCode::kInvalidParams, "IRC line too long");
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kMaxTaggedLineBytes) return MakeError(ErrorCode::kInvalidParams, "IRC line too long");
  if (HasLineBreakOrNul(line)) return MakeError(ErrorCode::kInvalidParams, "IRC line contains CR, LF or NUL");
  Message m;
  std::string_view rest = line;
  if (!rest.empty() && rest.front() == '@') {
    std::string_view tags = NextWord(rest).substr(1);
    ParseTags(tags, m.tags);
  }
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (!rest.empty() && rest.front() == ':') {
    m.prefix = std::string(NextWord(rest).substr(1));
    if (m.prefix.empty()) return MakeError(ErrorCode::kInvalidParams, "IRC line has an empty prefix");
  }
  std::string_view word = NextWord(rest);
  if (word.empty()) return MakeError(ErrorCode::kInvalidParams, "IRC line without a command");
  auto command = NormaliseCommand(word);
  if (!command) return MakeError(ErrorCode::kInvalidParams, "malformed IRC command: " + std::string(word.substr(0, 32)));
  m.command = std::move(*command);
  while (true) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    if (rest.front() == ':') {
      m.params.emplace_back(rest.substr(1));
      break;
    }
    m.params.emplace_back(NextWord(rest));
  }
  return m;
}

oc::Result<std::string> FormatCommand(std::string_view command, const std::vector<std::string>& params,
                                      bool last_as_trailing) {
  auto normalised = NormaliseCommand(command);
  if (!normalised) return MakeError(ErrorCode::kInvalidParams, "malformed IRC command");
  std::string line = *normalised;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string& p = params[i];
    if (HasLineBreakOrNul(p)) return MakeError(ErrorCode::kInvalidParams, "IRC parameter contains CR, LF or NUL");
    bool last = i + 1 == params.size();
    bool needs_trailing = p.empty() || p.find(' ') != std::string::npos || p.front() == ':';
    if (needs_trailing && !last)
      return MakeError(ErrorCode::kInvalidParams, "only the last IRC parameter may be empty, contain spaces or start with ':'");
    line += needs_trailing || (last && last_as_trailing) ? " :" : " ";
    line += p;
  }
  line += "\r\n";
  if (line.size() > kMaxLineBytes) return MakeError(ErrorCode::kInvalidParams, "IRC line longer than 512 bytes");
  return line;
}

CaseMapping CaseMappingFromName(std::string_view name) {
  if (name == "ascii") return CaseMapping::kAscii;
  if (name == "strict-rfc1459") return CaseMapping::kStrictRfc1459;
  return CaseMapping::kRfc1459;
}

std::string CaseFold(std::string_view text, CaseMapping mapping) {
  std::string out(text);
  for (char& c : out) c = FoldChar(c, mapping);
  return out;
}

bool IrcEquals(std::string_view a, std::string_view b, CaseMapping mapping) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (FoldChar(a[i], mapping) != FoldChar(b[i], mapping)) return false;
  return true;
}

bool IsChannelName(std::string_view target) {
  return !target.empty() && std::string_view("#&+!").find(target.front()) != std::string_view::npos;
}

bool IsCtcp(std::string_view text) { return !text.empty() && text.front() == '\x01'; }

std::optional<std::string> CtcpAction(std::string_view text) {
  constexpr std::string_view kAction = "\x01" "ACTION";
  if (text.substr(0, kAction.size()) != kAction) return std::nullopt;
  std::string_view rest = text.substr(kAction.size());
  if (!rest.empty() && rest.back() == '\x01') rest.remove_suffix(1);
  if (!rest.empty() && rest.front() != ' ') return std::nullopt;  // "ACTIONS..." is another command
  if (!rest.empty()) rest.remove_prefix(1);
  return std::string(rest);
}

std::string StripFormatting(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    switch (c) {
      case '\x02': case '\x0F': case '\x11': case '\x16': case '\x1D': case '\x1E': case '\x1F':
        break;
      case '\x03': i += ColourArgumentLength(text, i + 1, false); break;
      case '\x04': i += ColourArgumentLength(text, i + 1, true); break;
      default: out += c;
    }
  }
  return out;
}

bool MaskMatches(std::string_view mask, std::string_view subject, CaseMapping mapping) {
  // Greedy glob with one backtrack point (the last '*'): linear in practice, no recursion.
  size_t m = 0, s = 0, star = std::string_view::npos, resume = 0;
  while (s < subject.size()) {
    if (m < mask.size() && (mask[m] == '?' || FoldChar(mask[m], mapping) == FoldChar(subject[s], mapping))) {
      ++m;
      ++s;
    } else if (m < mask.size() && mask[m] == '*') {
      star = m++;
      resume = s;
    } else if (star != std::string_view::npos) {
      m = star + 1;
      s = ++resume;
    } else {
      return false;
    }
  }
  while (m < mask.size() && mask[m] == '*') ++m;
  return m == mask.size();
}

bool AllowEntryMatches(std::string_view entry, const Prefix& sender, CaseMapping mapping) {
  if (entry == "*") return true;
  if (entry.find_first_of("!@") == std::string_view::npos) return IrcEquals(entry, sender.nick, mapping);
  return MaskMatches(entry, sender.nick + "!" + sender.user + "@" + sender.host, mapping);
}

size_t PrivmsgTextBudget(std::string_view target, size_t prefix_bytes) {
  // ":nick!user@host " + "PRIVMSG " + target + " :" + text + "\r\n" <= 512
  size_t fixed = prefix_bytes + 8 + target.size() + 2 + 2;
  return fixed >= kMaxLineBytes ? 0 : kMaxLineBytes - fixed;
}

std::vector<std::string> SplitForIrc(std::string_view text, size_t budget) {
  std::vector<std::string> pieces;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string line(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    // CR and NUL cannot travel in an IRC line.
    std::erase_if(line, [](char c) { return c == '\r' || c == '\0'; });
    for (auto& piece : openclawos::sdk::SplitText(line, budget, openclawos::sdk::LengthUnit::kBytes))
      pieces.push_back(std::move(piece));
  }
  return pieces;
}

FloodBucket::FloodBucket(int burst, std::chrono::milliseconds interval, Clock::time_point now)
    : burst_(std::max(1, burst)), interval_(std::max(interval, std::chrono::milliseconds(0))), tokens_(burst_), last_(now) {}

void FloodBucket::Refill(Clock::time_point now) {
  if (now <= last_) return;
  if (interval_.count() == 0) {
    tokens_ = burst_;
  } else {
    double elapsed = std::chrono::duration<double, std::milli>(now - last_).count();
    tokens_ = std::min<double>(burst_, tokens_ + elapsed / static_cast<double>(interval_.count()));
  }
  last_ = now;
}

std::chrono::milliseconds FloodBucket::WaitTime(Clock::time_point now) {
  Refill(now);
  if (tokens_ >= 1.0) return std::chrono::milliseconds(0);
  double ms = std::ceil((1.0 - tokens_) * static_cast<double>(interval_.count()));
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

void FloodBucket::Take(Clock::time_point now) {
  Refill(now);
  tokens_ -= 1.0;
}

NickSequence::NickSequence(std::string base, size_t max_length)
    : base_(std::move(base)), max_length_(std::max<size_t>(max_length, 1)) {
  current_ = Candidate(0);
}

std::string NickSequence::Candidate(int attempt) const {
  std::string suffix = attempt == 0 ? "" : attempt == 1 ? "_" : attempt == 2 ? "__" : std::to_string(attempt - 2);
  size_t keep = max_length_ > suffix.size() ? max_length_ - suffix.size() : 1;
  return base_.substr(0, std::max<size_t>(keep, 1)) + suffix;
}

const std::string& NickSequence::Next() {
  current_ = Candidate(++attempt_);
  return current_;
}

void NickSequence::SetMaxLength(size_t max_length) {
  max_length_ = std::max<size_t>(max_length, 1);
  current_ = Candidate(attempt_);
}

void NickSequence::Reset() {
  attempt_ = 0;
  current_ = Candidate(0);
}

std::string SaslPlainPayload(std::string_view user, std::string_view password) {
  std::string plain;
  plain.reserve(user.size() * 2 + password.size() + 2);
  plain.append(user).push_back('\0');
  plain.append(user).push_back('\0');
  plain.append(password);
  return oc::Base64Encode(plain);
}

std::vector<std::string> AuthenticateChunks(std::string_view payload) {
  constexpr size_t kChunk = 400;
  std::vector<std::string> chunks;
  for (size_t i = 0; i < payload.size(); i += kChunk) chunks.emplace_back(payload.substr(i, kChunk));
  if (payload.size() % kChunk == 0) chunks.emplace_back("+");
  return chunks;
}

std::map<std::string, std::string> ParseIsupport(const Message& isupport) {
  std::map<std::string, std::string> out;
  size_t end = isupport.params.size() >= 3 ? isupport.params.size() - 1 : isupport.params.size();
  for (size_t i = 1; i < end; ++i) {
    const std::string& token = isupport.params[i];
    if (token.empty() || token.front() == '-') continue;
    size_t eq = token.find('=');
    out[token.substr(0, eq)] = eq == std::string::npos ? std::string() : token.substr(eq + 1);
  }
  return out;
}

Addressing ClassifyAddressing(std::string_view text, std::string_view nick) {
  Addressing a;
  if (auto stripped = openclawos::sdk::StripAddress(text, nick)) {
    a.addressed = a.mentioned = true;
    a.text = std::move(*stripped);
    return a;
  }
  a.mentioned = openclawos::sdk::MentionsName(text, nick);
  a.text = std::string(text);
  return a;
}

}  // namespace oc::irc
