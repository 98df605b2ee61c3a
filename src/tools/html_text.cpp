#include "tools/html_text.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace oc::tools {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid (overlong forms,
// surrogates and code points above U+10FFFF are invalid).
size_t ValidSequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3, cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4, cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF) return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  return n;
}

bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiAlnum(char c) { return IsAsciiAlpha(c) || (c >= '0' && c <= '9'); }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool IsHtmlSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

bool StartsWithNoCase(std::string_view s, size_t at, std::string_view prefix) {
  if (at + prefix.size() > s.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (Lower(s[at + i]) != prefix[i]) return false;
  }
  return true;
}

struct NamedEntity {
  std::string_view name;
  uint32_t cp;
};
constexpr std::array<NamedEntity, 30> kEntities{{
    {"amp", '&'},     {"lt", '<'},      {"gt", '>'},       {"quot", '"'},     {"apos", '\''},    {"nbsp", ' '},
    {"copy", 0xA9},   {"reg", 0xAE},    {"trade", 0x2122}, {"mdash", 0x2014}, {"ndash", 0x2013}, {"hellip", 0x2026},
    {"laquo", 0xAB},  {"raquo", 0xBB},  {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D},
    {"euro", 0x20AC}, {"pound", 0xA3},  {"yen", 0xA5},     {"cent", 0xA2},    {"sect", 0xA7},    {"deg", 0xB0},
    {"middot", 0xB7}, {"bull", 0x2022}, {"times", 0xD7},   {"divide", 0xF7},  {"shy", 0xAD},     {"para", 0xB6},
}};

// Decodes the character reference at html[i] == '&'. Returns the code point and sets `len` to the
// bytes consumed, or returns nullopt-like UINT32_MAX when it is not a reference ('&' is then text).
uint32_t DecodeEntity(std::string_view html, size_t i, size_t& len) {
  size_t j = i + 1;
  if (j < html.size() && html[j] == '#') {
    ++j;
    bool hex = j < html.size() && (html[j] == 'x' || html[j] == 'X');
    if (hex) ++j;
    size_t digits_start = j;
    uint64_t value = 0;
    while (j < html.size() && j - digits_start < 10) {
      char c = html[j];
      int d = (c >= '0' && c <= '9')          ? c - '0'
              : (hex && c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (hex && c >= 'A' && c <= 'F') ? c - 'A' + 10
                                              : -1;
      if (d < 0) break;
      value = value * (hex ? 16 : 10) + static_cast<uint64_t>(d);
      ++j;
    }
    if (j == digits_start) return UINT32_MAX;
    if (j < html.size() && html[j] == ';') ++j;
    len = j - i;
    if (value == 0 || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0xFFFD;
    return static_cast<uint32_t>(value);
  }
  size_t name_start = j;
  while (j < html.size() && IsAsciiAlnum(html[j]) && j - name_start < 8) ++j;
  std::string_view name = html.substr(name_start, j - name_start);
  if (j >= html.size() || html[j] != ';') return UINT32_MAX;  // named ones need their ';'
  for (const NamedEntity& e : kEntities) {
    if (e.name == name) {
      len = j + 1 - i;
      return e.cp;
    }
  }
  return UINT32_MAX;
}

// What a tag does to the text around it.
enum class TagEffect { kNone, kBreak, kParagraph, kListItem, kCell };

TagEffect EffectOf(std::string_view tag) {
  static constexpr std::string_view kBreaks[] = {
      "br",         "div",     "tr",      "table",   "ul",       "ol",    "dl",      "dt",   "dd",
      "section",    "article", "header",  "footer",  "nav",      "main",  "aside",   "form", "figure",
      "figcaption", "address", "hr",      "tbody",   "thead",    "tfoot", "caption", "body", "html",
      "title",      "option",  "details", "summary", "fieldset", "legend"};
  static constexpr std::string_view kParagraphs[] = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote"};
  if (tag == "li") return TagEffect::kListItem;
  if (tag == "td" || tag == "th") return TagEffect::kCell;
  for (std::string_view t : kParagraphs) {
    if (t == tag) return TagEffect::kParagraph;
  }
  for (std::string_view t : kBreaks) {
    if (t == tag) return TagEffect::kBreak;
  }
  return TagEffect::kNone;
}

// Collects visible text; whitespace and line breaks are held back until the next visible
// character, so none ends up at line ends or around the whole text.
class TextBuilder {
 public:
  void Visible(std::string_view bytes) {
    if (!out_.empty()) {
      out_.append(newlines_, '\n');
      out_ += space_;  // after a line break, only a <pre> line's indentation
    }
    newlines_ = 0;
    space_.clear();
    out_ += bytes;
  }
  // Whitespace in the source: collapsed to one space, or kept as is inside <pre>.
  void Space(char c, bool pre) {
    if (pre) {
      space_ += (c == '\t') ? '\t' : ' ';
    } else if (space_.empty() && newlines_ == 0) {
      space_ = " ";
    }
  }
  void Newline() {  // a line break inside <pre>
    space_.clear();
    newlines_ = std::min(newlines_ + 1, 2);
  }
  void Break(int lines) {  // a block boundary: at least `lines` line breaks
    space_.clear();
    newlines_ = std::max(newlines_, lines);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
  std::string space_;
  int newlines_ = 0;
};

class Converter {
 public:
  explicit Converter(std::string_view html) : html_(html) {}

  std::string Run() {
    while (i_ < html_.size()) {
      char c = html_[i_];
      if (c == '<' && TryMarkup()) continue;
      if (c == '&') {
        Entity();
        continue;
      }
      Text();
    }
    return text_.Take();
  }

 private:
  bool Suppressed() const { return in_head_ || hidden_depth_ > 0; }

  void Text() {
    char c = html_[i_];
    unsigned char u = static_cast<unsigned char>(c);
    if (IsHtmlSpace(c)) {
      ++i_;
      if (Suppressed()) return;
      if (pre_depth_ > 0 && c == '\n') {
        text_.Newline();
      } else if (!(pre_depth_ > 0 && c == '\r')) {
        text_.Space(c, pre_depth_ > 0);
      }
      return;
    }
    if (u < 0x20 || u == 0x7F) {  // other control characters carry nothing readable
      ++i_;
      return;
    }
    size_t n = ValidSequenceLength(html_, i_);
    if (!Suppressed()) text_.Visible(n == 0 ? kReplacement : html_.substr(i_, n));
    i_ += n == 0 ? 1 : n;
  }

  void Entity() {
    size_t len = 0;
    uint32_t cp = DecodeEntity(html_, i_, len);
    if (cp == UINT32_MAX) {
      if (!Suppressed()) text_.Visible("&");
      ++i_;
      return;
    }
    i_ += len;
    if (Suppressed()) return;
    if (cp == '\n' && pre_depth_ > 0) {
      text_.Newline();
    } else if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f') {
      text_.Space(static_cast<char>(cp), pre_depth_ > 0);
    } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
      // control characters: dropped
    } else {
      std::string utf8;
      AppendUtf8(utf8, cp);
      text_.Visible(utf8);
    }
  }

  // At '<': a comment, doctype/processing instruction, or tag. Returns false when the '<' is text.
  bool TryMarkup() {
    if (StartsWithNoCase(html_, i_, "<!--")) {
      size_t end = html_.find("-->", i_ + 4);
      i_ = end == std::string_view::npos ? html_.size() : end + 3;
      return true;
    }
    size_t j = i_ + 1;
    if (j < html_.size() && (html_[j] == '!' || html_[j] == '?')) {
      size_t end = html_.find('>', j);
      i_ = end == std::string_view::npos ? html_.size() : end + 1;
      return true;
    }
    bool closing = j < html_.size() && html_[j] == '/';
    if (closing) ++j;
    if (j >= html_.size() || !IsAsciiAlpha(html_[j])) return false;
    std::string name;
    while (j < html_.size() && (IsAsciiAlnum(html_[j]) || html_[j] == '-' || html_[j] == ':')) {
      if (name.size() < 16) name += Lower(html_[j]);
      ++j;
    }
    i_ = TagEnd(j);
    bool self_closing = i_ >= 2 && html_[i_ - 2] == '/';
    OnTag(name, closing, self_closing);
    return true;
  }

  // Index just past the '>' closing the tag whose attributes start at j (quotes respected).
  size_t TagEnd(size_t j) const {
    char quote = 0;
    for (; j < html_.size(); ++j) {
      char c = html_[j];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '>') {
        return j + 1;
      }
    }
    return html_.size();
  }

  void OnTag(const std::string& name, bool closing, bool self_closing) {
    if (name == "script" || name == "style") {
      if (!closing && !self_closing) SkipRawText(name);
      return;
    }
    if (name == "head") {
      in_head_ = !closing && !self_closing;
      return;
    }
    if (name == "body") in_head_ = false;
    if (name == "noscript" || name == "template") {
      if (closing) {
        hidden_depth_ = std::max(0, hidden_depth_ - 1);
      } else if (!self_closing) {
        ++hidden_depth_;
      }
      return;
    }
    if (name == "pre" && !self_closing) pre_depth_ = closing ? std::max(0, pre_depth_ - 1) : pre_depth_ + 1;
    if (Suppressed()) return;
    switch (EffectOf(name)) {
      case TagEffect::kNone:
        break;
      case TagEffect::kBreak:
        text_.Break(1);
        break;
      case TagEffect::kParagraph:
        text_.Break(2);
        break;
      case TagEffect::kListItem:
        text_.Break(1);
        if (!closing) {
          text_.Visible("-");
          text_.Space(' ', false);
        }
        break;
      case TagEffect::kCell:
        if (!closing) text_.Space(' ', false);
        break;
    }
  }

  // Skips the contents of a raw-text element up to its end tag (or the end of the document).
  void SkipRawText(const std::string& name) {
    std::string end_tag = "</" + name;
    for (size_t j = i_; j < html_.size(); ++j) {
      if (html_[j] == '<' && StartsWithNoCase(html_, j, end_tag)) {
        size_t after = j + end_tag.size();
        if (after >= html_.size() || !IsAsciiAlnum(html_[after])) {
          i_ = TagEnd(after);
          return;
        }
      }
    }
    i_ = html_.size();
  }

  std::string_view html_;
  size_t i_ = 0;
  TextBuilder text_;
  bool in_head_ = false;
  int hidden_depth_ = 0;
  int pre_depth_ = 0;
};

}  // namespace

std::string HtmlToText(std::string_view html) { return Converter(html).Run(); }

std::string ToValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    size_t n = ValidSequenceLength(text, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string Latin1ToUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) AppendUtf8(out, static_cast<unsigned char>(c));
  return out;
}

std::string_view Utf8Prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

}  // namespace oc::tools
