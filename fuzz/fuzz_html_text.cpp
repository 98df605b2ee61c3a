// Fuzzes the web_fetch text helpers (src/tools/html_text.h): arbitrary bytes through HtmlToText,
// ToValidUtf8 and Utf8Prefix.
//
// Invariants checked:
//  - HtmlToText is deterministic; its output is at most 3x the input, valid UTF-8, free of ASCII
//    control characters other than \n and \t, has no whitespace at either end, no whitespace right
//    before a line break and never more than one blank line in a row;
//  - ToValidUtf8 output is valid (a fixed point of ToValidUtf8), equals the input when the input
//    was valid, and is at most 3x the input;
//  - Utf8Prefix of valid text is a prefix within the limit that is itself valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "tools/html_text.h"

namespace {

using oc::tools::HtmlToText;
using oc::tools::ToValidUtf8;
using oc::tools::Utf8Prefix;

bool IsValidUtf8(std::string_view s) { return ToValidUtf8(s) == s; }

void CheckText(std::string_view input, const std::string& text) {
  FUZZ_CHECK(text.size() <= 3 * input.size());
  FUZZ_CHECK(IsValidUtf8(text));
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    FUZZ_CHECK(c >= 0x20 || c == '\n' || c == '\t');
    FUZZ_CHECK(c != 0x7F);
    if (c == '\n' && i > 0) FUZZ_CHECK(text[i - 1] != ' ' && text[i - 1] != '\t');
  }
  if (!text.empty()) {
    for (char edge : {text.front(), text.back()}) FUZZ_CHECK(edge != ' ' && edge != '\n' && edge != '\t');
  }
  FUZZ_CHECK(text.find("\n\n\n") == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  std::string text = HtmlToText(input);
  CheckText(input, text);
  FUZZ_CHECK(HtmlToText(input) == text);

  std::string valid = ToValidUtf8(input);
  FUZZ_CHECK(valid.size() <= 3 * size);
  FUZZ_CHECK(IsValidUtf8(valid));
  if (IsValidUtf8(input)) FUZZ_CHECK(valid == input);

  size_t limit = size == 0 ? 0 : data[0] % (valid.size() + 1);
  std::string_view prefix = Utf8Prefix(valid, limit);
  FUZZ_CHECK(prefix.size() <= limit);
  FUZZ_CHECK(std::string_view(valid).substr(0, prefix.size()) == prefix);
  FUZZ_CHECK(IsValidUtf8(prefix));
  return 0;
}
