// Fuzzes the IRC wire code of the IRC channel app (packages/irc/irc_proto.h) with arbitrary bytes:
// the input as one server line through ParseLine, and as reply text through SplitForIrc; its two
// halves as an allowFrom mask and a sender. The first byte picks the split budget.
//
// Invariants checked:
//  - a parsed line has a command of upper-case letters or three digits, no CR/LF/NUL anywhere,
//    a prefix without spaces; FormatCommand of what was parsed, when it succeeds, is one line of
//    at most 512 bytes ending in CR LF that parses back to the same command and params;
//  - SplitForIrc pieces are non-empty, within the budget, free of CR/LF/NUL, never start inside a
//    UTF-8 sequence cut by the splitter, and keep every non-space byte of the text in order;
//  - CaseFold is idempotent and IrcEquals(x, CaseFold(x)); a mask always matches itself;
//  - StripFormatting never grows the text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "../packages/irc/irc_proto.h"  // the fuzz build has no include path for packages/

namespace {

using namespace oc::irc;

bool HasBreak(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos; }
bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

std::string NonSpace(std::string_view s) {
  std::string out;
  for (char c : s)
    if (!IsSpace(c) && c != '\0') out += c;
  return out;
}

void CheckLine(std::string_view line) {
  auto m = ParseLine(line);
  if (!m.ok()) return;
  FUZZ_CHECK(!m->command.empty());
  bool numeric = m->command.size() == 3;
  for (char c : m->command) numeric = numeric && c >= '0' && c <= '9';
  bool word = true;
  for (char c : m->command) word = word && c >= 'A' && c <= 'Z';
  FUZZ_CHECK(numeric || word);
  FUZZ_CHECK(m->prefix.find(' ') == std::string::npos && !HasBreak(m->prefix));
  for (const auto& p : m->params) FUZZ_CHECK(!HasBreak(p));
  auto formatted = FormatCommand(m->command, m->params);
  if (!formatted.ok()) return;
  FUZZ_CHECK(formatted->size() <= kMaxLineBytes);
  FUZZ_CHECK(formatted->size() >= 2 && formatted->substr(formatted->size() - 2) == "\r\n");
  FUZZ_CHECK(!HasBreak(std::string_view(*formatted).substr(0, formatted->size() - 2)));
  auto again = ParseLine(*formatted);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->command == m->command && again->params == m->params);
}

void CheckSplit(std::string_view text, size_t budget) {
  auto pieces = SplitForIrc(text, budget);
  std::string kept;
  for (const auto& p : pieces) {
    FUZZ_CHECK(!p.empty());
    FUZZ_CHECK(p.size() <= std::max<size_t>(budget, 4));
    FUZZ_CHECK(!HasBreak(p));
    kept += NonSpace(p);
  }
  FUZZ_CHECK(kept == NonSpace(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckLine(input);
  if (size > 0) CheckSplit(input.substr(1), 4 + static_cast<unsigned char>(input[0]) * 2);
  std::string folded = CaseFold(input);
  FUZZ_CHECK(CaseFold(folded) == folded);
  FUZZ_CHECK(IrcEquals(input, folded));
  std::string_view mask = input.substr(0, size / 2), subject = input.substr(size / 2);
  FUZZ_CHECK(MaskMatches(mask, mask));
  (void)MaskMatches(mask, subject);
  (void)AllowEntryMatches(mask, ParsePrefix(subject));
  FUZZ_CHECK(StripFormatting(input).size() <= size);
  (void)CtcpAction(input);
  (void)ClassifyAddressing(input, "openclaw");
  return 0;
}
