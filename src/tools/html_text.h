// Text helpers of the tools: HTML to readable text for web_fetch, and output cleanup so tool
// results are always valid UTF-8 (JSON strings sent to providers must be). Pure functions, no I/O;
// fuzzed by fuzz/fuzz_html_text.cpp.
#pragma once

#include <string>
#include <string_view>

namespace oc::tools {

// Readable text of an HTML document: script, style, head, noscript and template contents dropped;
// comments and markup removed; block elements (p, div, br, li, h1-h6, tr, ...) become line breaks,
// list items start with "- ", table cells are separated by spaces; link text kept; the common named
// entities and every numeric one decoded; whitespace collapsed (inside <pre> kept as is), at most
// one blank line in a row, no whitespace at line ends or around the whole text. Malformed input is
// handled the forgiving way (an unterminated tag ends the document). The result is valid UTF-8
// (invalid input bytes become U+FFFD) and holds no ASCII control characters other than \n and \t; it is
// at most 3x the input's size.
std::string HtmlToText(std::string_view html);

// `text` with each invalid UTF-8 sequence replaced by U+FFFD.
std::string ToValidUtf8(std::string_view text);

// ISO-8859-1 bytes as UTF-8.
std::string Latin1ToUtf8(std::string_view text);

// The longest prefix of valid UTF-8 `text` that has at most `max_bytes` bytes and does not split a
// character.
std::string_view Utf8Prefix(std::string_view text, size_t max_bytes);

}  // namespace oc::tools
