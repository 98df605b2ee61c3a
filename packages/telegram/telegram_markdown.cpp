// The agent's Markdown → Telegram MarkdownV2, cut to the message limit (telegram_wire.h).
//
// Two steps. Parse: the reply becomes segments (text, bold, italic, code, pre, link); nesting is not
// kept (the inside of a bold run is text). Pack: every segment becomes "atoms" — one character each
// as MarkdownV2 (escaped) and as plain text, a link one atom — and the atoms are packed greedily
// into pieces; a run of atoms of one bold/italic/code/pre segment is wrapped in that segment's
// markers in every piece it lands in, which is how an entity cut in two is closed and reopened.
#include <algorithm>
#include <string>
#include <vector>

#include "openclawos/channel_text.h"
#include "telegram_wire.h"

namespace oc::telegram {
namespace {

using openclawos::sdk::LengthUnit;
using openclawos::sdk::TextLength;

constexpr std::string_view kReserved = "_*[]()~`>#+-=|{}.!\\";
constexpr size_t kMaxLanguage = 32;
constexpr size_t kMaxLink = 1000;  // bytes of label + URL; escaped, at most ~2000 units

enum class Kind { kText, kBold, kItalic, kCode, kPre, kLink };

struct Segment {
  Kind kind = Kind::kText;
  std::string content;  // for a link its text
  std::string extra;    // a link's URL, a code block's language
};

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The end of the UTF-8 character starting at `i`.
size_t NextChar(std::string_view s, size_t i) {
  ++i;
  while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  return i;
}

class Parser {
 public:
  std::vector<Segment> Parse(std::string_view text) {
    size_t pos = 0;
    std::string paragraph;  // lines waiting for inline parsing
    while (pos < text.size()) {
      size_t eol = text.find('\n', pos);
      size_t next = eol == std::string_view::npos ? text.size() : eol + 1;
      std::string_view line = text.substr(pos, next - pos);
      if (size_t end = FenceEnd(text, pos); end != 0) {
        Inline(paragraph);
        paragraph.clear();
        Fence(text.substr(pos, end - pos));
        pos = end;
        continue;
      }
      if (auto heading = Heading(line)) {
        Inline(paragraph);
        paragraph.clear();
        Add(Kind::kBold, std::string(*heading));
        if (eol != std::string_view::npos) Add(Kind::kText, "\n");
      } else {
        paragraph.append(line);
      }
      pos = next;
    }
    Inline(paragraph);
    return std::move(out_);
  }

 private:
  static std::string_view StripIndent(std::string_view line) {
    size_t n = 0;
    while (n < 3 && n < line.size() && line[n] == ' ') ++n;
    return line.substr(n);
  }

  // When a fenced block opens at `pos` and is closed later: the end of its closing line; else 0.
  static size_t FenceEnd(std::string_view text, size_t pos) {
    if (!StripIndent(text.substr(pos)).starts_with("```")) return 0;
    size_t eol = text.find('\n', pos);
    while (eol != std::string_view::npos) {
      size_t start = eol + 1;
      size_t end = text.find('\n', start);
      std::string_view line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
      if (StripIndent(line).starts_with("```")) return end == std::string_view::npos ? text.size() : end + 1;
      eol = end;
    }
    return 0;
  }

  void Fence(std::string_view block) {
    size_t first_eol = block.find('\n');
    std::string_view opening = StripIndent(block.substr(0, first_eol)).substr(3);
    std::string language;
    for (char c : opening)
      if (IsAlnum(c) || c == '_' || c == '+' || c == '-') language.push_back(c);
      else if (!IsBlank(c)) break;
    if (language.size() > kMaxLanguage) language.clear();
    // The code is everything between the opening line and the closing line (FenceEnd found both).
    std::string_view inner = block.ends_with('\n') ? block.substr(0, block.size() - 1) : block;
    size_t closing_eol = inner.rfind('\n');
    std::string_view code = closing_eol > first_eol ? inner.substr(first_eol + 1, closing_eol - first_eol - 1)
                                                    : std::string_view();
    if (!code.empty()) out_.push_back(Segment{Kind::kPre, std::string(code), std::move(language)});
    if (block.ends_with('\n')) Add(Kind::kText, "\n");
  }

  static std::optional<std::string_view> Heading(std::string_view line) {
    size_t hashes = 0;
    while (hashes < line.size() && line[hashes] == '#') ++hashes;
    if (hashes == 0 || hashes > 6 || hashes >= line.size() || line[hashes] != ' ') return std::nullopt;
    std::string_view rest = line.substr(hashes);
    while (!rest.empty() && IsBlank(rest.front())) rest.remove_prefix(1);
    while (!rest.empty() && IsBlank(rest.back())) rest.remove_suffix(1);
    if (rest.empty()) return std::nullopt;
    return rest;
  }

  void Inline(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      size_t used = 0;
      if (s[i] == '`') used = Code(s, i);
      else if (s.substr(i, 2) == "**" || s.substr(i, 2) == "__") used = Delimited(s, i, s.substr(i, 2), Kind::kBold);
      else if (s[i] == '*') used = Delimited(s, i, "*", Kind::kItalic);
      else if (s[i] == '_' && (i == 0 || !IsAlnum(s[i - 1]))) used = Delimited(s, i, "_", Kind::kItalic);
      else if (s[i] == '[') used = Link(s, i);
      if (used == 0) {
        // A run of the same marker stays text as a whole ("***", "``") so it is not re-read.
        size_t end = NextChar(s, i);
        if (s[i] == '`' || s[i] == '*' || s[i] == '_')
          while (end < s.size() && s[end] == s[i]) ++end;
        Add(Kind::kText, std::string(s.substr(i, end - i)));
        used = end - i;
      }
      i += used;
    }
  }

  size_t Code(std::string_view s, size_t i) {
    size_t run = 0;
    while (i + run < s.size() && s[i + run] == '`') ++run;
    for (size_t at = s.find('`', i + run); at != std::string_view::npos;) {
      size_t close = 0;
      while (at + close < s.size() && s[at + close] == '`') ++close;
      if (close == run) {
        if (at == i + run) return 0;
        Add(Kind::kCode, std::string(s.substr(i + run, at - i - run)));
        return at + close - i;
      }
      at = s.find('`', at + close);
    }
    return 0;
  }

  size_t Delimited(std::string_view s, size_t i, std::string_view marker, Kind kind) {
    size_t start = i + marker.size();
    if (start >= s.size() || IsBlank(s[start])) return 0;
    for (size_t at = s.find(marker, start + 1); at != std::string_view::npos; at = s.find(marker, at + 1)) {
      if (IsBlank(s[at - 1])) continue;
      // "*" must not close on half of "**"; "_" closes only at the end of a word.
      if (marker.size() == 1 && at + 1 < s.size() && s[at + 1] == marker[0]) {
        ++at;
        continue;
      }
      if (marker == "_" && at + 1 < s.size() && IsAlnum(s[at + 1])) continue;
      Add(kind, std::string(s.substr(start, at - start)));
      return at + marker.size() - i;
    }
    return 0;
  }

  size_t Link(std::string_view s, size_t i) {
    size_t close = s.find("](", i + 1);
    if (close == std::string_view::npos || close == i + 1) return 0;
    std::string_view label = s.substr(i + 1, close - i - 1);
    if (label.find_first_of("[]\n") != std::string_view::npos) return 0;
    size_t end = s.find(')', close + 2);
    if (end == std::string_view::npos) return 0;
    std::string_view url = s.substr(close + 2, end - close - 2);
    bool scheme = url.starts_with("http://") || url.starts_with("https://") || url.starts_with("tg://") ||
                  url.starts_with("mailto:");
    // A link is one atom of a piece, so it must stay well under the limit: a huge one is text.
    if (!scheme || label.size() + url.size() > kMaxLink || std::any_of(url.begin(), url.end(), IsBlank)) return 0;
    out_.push_back(Segment{Kind::kLink, std::string(label), std::string(url)});
    return end + 1 - i;
  }

  // Appends, joining a run of the same kind (two adjacent italics would read as an underline "__").
  void Add(Kind kind, std::string text) {
    if (text.empty()) return;
    if (!out_.empty() && out_.back().kind == kind && (kind == Kind::kText || kind == Kind::kBold || kind == Kind::kItalic))
      out_.back().content += text;
    else
      out_.push_back(Segment{kind, std::move(text), {}});
  }

  std::vector<Segment> out_;
};

// ---------------------------------------------------------------------------------------------
// Packing

struct Wrap {
  std::string open, close;
  size_t units = 0;  // of open + close
};

struct Atom {
  std::string md;
  std::string plain;
  size_t units = 0;  // of md
  size_t wrap = 0;   // index into the wraps; 0 = none
  size_t segment = 0;
};

std::string EscapeCode(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '`' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

struct Layout {
  std::vector<Wrap> wraps{Wrap{}};
  std::vector<Atom> atoms;

  void AddChars(std::string_view text, size_t wrap, size_t segment, bool code, bool markdown) {
    for (size_t i = 0; i < text.size();) {
      size_t next = NextChar(text, i);
      std::string_view ch = text.substr(i, next - i);
      std::string md = !markdown ? std::string(ch) : code ? EscapeCode(ch) : EscapeMarkdownV2(ch);
      size_t units = TextLength(md, LengthUnit::kUtf16);
      atoms.push_back(Atom{std::move(md), std::string(ch), units, wrap, segment});
      i = next;
    }
  }

  size_t AddWrap(std::string open, std::string close) {
    size_t units = TextLength(open, LengthUnit::kUtf16) + TextLength(close, LengthUnit::kUtf16);
    wraps.push_back(Wrap{std::move(open), std::move(close), units});
    return wraps.size() - 1;
  }

  void Add(const Segment& seg, size_t index) {
    switch (seg.kind) {
      case Kind::kText: AddChars(seg.content, 0, index, false, true); break;
      case Kind::kBold: AddChars(seg.content, AddWrap("*", "*"), index, false, true); break;
      case Kind::kItalic: AddChars(seg.content, AddWrap("_", "_"), index, false, true); break;
      case Kind::kCode: AddChars(seg.content, AddWrap("`", "`"), index, true, true); break;
      case Kind::kPre: AddChars(seg.content, AddWrap("```" + seg.extra + "\n", "\n```"), index, true, true); break;
      case Kind::kLink: {
        std::string url;
        for (char c : seg.extra) {
          if (c == ')' || c == '\\') url.push_back('\\');
          url.push_back(c);
        }
        std::string md = "[" + EscapeMarkdownV2(seg.content) + "](" + url + ")";
        std::string plain = seg.content == seg.extra ? seg.content : seg.content + " (" + seg.extra + ")";
        size_t units = TextLength(md, LengthUnit::kUtf16);
        atoms.push_back(Atom{std::move(md), std::move(plain), units, 0, index});
        break;
      }
    }
  }
};

enum class Break { kNone, kSpace, kLine, kParagraph };

// How good a cut right after atom `k` is.
Break BreakAfter(const std::vector<Atom>& atoms, size_t k) {
  const std::string& p = atoms[k].plain;
  if (p == "\n") return k > 0 && atoms[k - 1].plain == "\n" ? Break::kParagraph : Break::kLine;
  return p == " " || p == "\t" ? Break::kSpace : Break::kNone;
}

OutgoingPiece Render(const Layout& layout, size_t from, size_t to) {
  OutgoingPiece piece;
  for (size_t k = from; k < to; ++k) {
    const Atom& a = layout.atoms[k];
    const Wrap& w = layout.wraps[a.wrap];
    if (k == from || layout.atoms[k - 1].wrap != a.wrap) piece.markdown_v2 += w.open;
    piece.markdown_v2 += a.md;
    piece.plain += a.plain;
    if (k + 1 == to || layout.atoms[k + 1].wrap != a.wrap) piece.markdown_v2 += w.close;
  }
  return piece;
}

// The end of the piece starting at `from`: as many atoms as fit, then moved back to the best break
// in the second half (paragraph over line over space).
size_t PieceEnd(const Layout& layout, size_t from, size_t limit) {
  const auto& atoms = layout.atoms;
  size_t cost = 0, end = from;
  size_t best[4] = {0, 0, 0, 0};       // by Break: the end after the last such break
  size_t best_cost[4] = {0, 0, 0, 0};  // the piece's cost at that end
  while (end < atoms.size()) {
    bool opens = end == from || atoms[end - 1].wrap != atoms[end].wrap;
    size_t add = atoms[end].units + (opens ? layout.wraps[atoms[end].wrap].units : 0);
    if (cost + add > limit && end > from) break;
    cost += add;
    Break b = BreakAfter(atoms, end);
    ++end;
    best[static_cast<int>(b)] = end;
    best_cost[static_cast<int>(b)] = cost;
  }
  if (end == atoms.size()) return end;
  for (Break b : {Break::kParagraph, Break::kLine, Break::kSpace}) {
    int i = static_cast<int>(b);
    if (best[i] > from && best_cost[i] * 2 >= cost) return best[i];
  }
  return end;
}

bool OnlyWhitespace(std::string_view s) { return std::all_of(s.begin(), s.end(), IsBlank); }

std::vector<OutgoingPiece> Pack(const Layout& layout, size_t limit) {
  std::vector<OutgoingPiece> pieces;
  for (size_t from = 0; from < layout.atoms.size();) {
    size_t to = PieceEnd(layout, from, limit);
    OutgoingPiece piece = Render(layout, from, to);
    if (!OnlyWhitespace(piece.plain)) pieces.push_back(std::move(piece));
    from = to;
  }
  return pieces;
}

}  // namespace

std::string EscapeMarkdownV2(std::string_view plain) {
  std::string out;
  out.reserve(plain.size() + plain.size() / 8);
  for (char c : plain) {
    if (kReserved.find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::vector<OutgoingPiece> FormatReply(std::string_view markdown, size_t limit) {
  std::vector<Segment> segments = Parser().Parse(markdown);
  Layout layout;
  for (size_t i = 0; i < segments.size(); ++i) layout.Add(segments[i], i);
  return Pack(layout, limit);
}

std::vector<OutgoingPiece> PlainReply(std::string_view text, size_t limit) {
  Layout layout;
  layout.AddChars(text, 0, 0, false, false);
  return Pack(layout, limit);
}

}  // namespace oc::telegram
