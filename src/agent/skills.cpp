// SKILL.md front matter: a small YAML subset parsed into a JSON tree, then read into
// SkillFrontMatter. Recursion is bounded (kMaxDepth) and every loop consumes input, so arbitrary
// bytes can neither overflow the stack nor hang the parser.
#include "common/text.h"
#include "agent/skills.h"

#include <algorithm>
#include <map>

#include "common/json.h"

namespace oc::agent {
namespace {

constexpr int kMaxDepth = 32;

Error ParseError(int line, std::string message) {
  json::object data;
  data["line"] = line;
  return MakeError(ErrorCode::kInvalidParams, "line " + std::to_string(line) + ": " + std::move(message),
                   std::move(data));
}

// One line of the front matter: `raw` for block scalars, `content` (indent removed, comment
// stripped, trimmed) for structure.
struct Line {
  int number = 0;
  std::string raw;
  int indent = 0;
  std::string content;
  bool tab_indent = false;
};

// A quote opens a quoted region only where a YAML scalar can start, so apostrophes inside plain
// text ("don't") do not hide a comment.
bool CanStartQuote(std::string_view s, size_t i) {
  if (i == 0) return true;
  char p = s[i - 1];
  return p == ' ' || p == '\t' || p == '[' || p == '{' || p == ',' || p == ':' || p == '-';
}

std::string_view StripComment(std::string_view s) {
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote == '"') {
      if (c == '\\') ++i;
      else if (c == '"') quote = 0;
    } else if (quote == '\'') {
      if (c == '\'') quote = 0;  // '' re-opens on the next character: same effect
    } else if ((c == '"' || c == '\'') && CanStartQuote(s, i)) {
      quote = c;
    } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
      return s.substr(0, i);
    }
  }
  return s;
}

Line MakeLine(int number, std::string_view raw) {
  Line l;
  l.number = number;
  l.raw = std::string(raw);
  size_t spaces = raw.find_first_not_of(' ');
  if (spaces == std::string_view::npos) spaces = raw.size();
  l.indent = static_cast<int>(spaces);
  l.content = std::string(TrimAsciiSpace(StripComment(raw.substr(spaces))));
  l.tab_indent = spaces < raw.size() && raw[spaces] == '\t' && !l.content.empty();
  return l;
}

bool IsSeqItem(std::string_view c) { return c == "-" || c.starts_with("- ") || c.starts_with("-\t"); }

// Reads a double- or single-quoted scalar starting at s[p] (the quote); p ends after the closing
// quote. nullopt when unclosed or with a bad escape.
std::optional<std::string> ReadQuoted(std::string_view s, size_t& p) {
  char q = s[p++];
  std::string out;
  while (p < s.size()) {
    char c = s[p++];
    if (q == '\'' && c == '\'') {
      if (p < s.size() && s[p] == '\'') {
        out += '\'';
        ++p;
        continue;
      }
      return out;
    }
    if (q == '"' && c == '"') return out;
    if (q == '"' && c == '\\') {
      if (p >= s.size()) return std::nullopt;
      char e = s[p++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '0': out += '\0'; break;
        case '"': case '\\': case '/': case ' ': out += e; break;
        default: return std::nullopt;  // \u and friends: JSON input goes through Boost.JSON first
      }
      continue;
    }
    out += c;
  }
  return std::nullopt;
}

// Flow collections ([a, "b"], {k: v}) and JSON, possibly spread over several lines.
class FlowParser {
 public:
  FlowParser(std::string_view text, int first_line) : s_(text), first_line_(first_line) {}

  Result<json::value> ParseAll() {
    auto v = Value(0, false);
    if (!v.ok()) return v;
    SkipSpace();
    if (p_ != s_.size()) return Fail("unexpected text after a flow collection");
    return v;
  }

 private:
  Error Fail(std::string message) const {
    int line = first_line_ + static_cast<int>(std::count(s_.begin(), s_.begin() + std::min(p_, s_.size()), '\n'));
    return ParseError(line, std::move(message));
  }
  void SkipSpace() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) ++p_;
  }

  Result<json::value> Value(int depth, bool is_key) {
    if (depth > kMaxDepth) return Fail("nesting deeper than " + std::to_string(kMaxDepth));
    SkipSpace();
    if (p_ >= s_.size()) return Fail("unexpected end of a flow collection");
    char c = s_[p_];
    if (c == '[' && !is_key) return Sequence(depth);
    if (c == '{' && !is_key) return Mapping(depth);
    if (c == '"' || c == '\'') {
      auto q = ReadQuoted(s_, p_);
      if (!q) return Fail("unclosed or malformed quoted string");
      return json::value(*q);
    }
    size_t start = p_;
    while (p_ < s_.size() && s_[p_] != ',' && s_[p_] != ']' && s_[p_] != '}' && s_[p_] != '\n' &&
           !(is_key && s_[p_] == ':'))
      ++p_;
    std::string_view plain = TrimAsciiSpace(s_.substr(start, p_ - start));
    if (plain.empty()) return Fail("empty value in a flow collection");
    if (plain.front() == '[' || plain.front() == '{') return Fail("unexpected bracket");
    return json::value(std::string(plain));
  }

  Result<json::value> Sequence(int depth) {
    ++p_;  // [
    json::array out;
    while (true) {
      SkipSpace();
      if (p_ < s_.size() && s_[p_] == ']') break;
      auto v = Value(depth + 1, false);
      if (!v.ok()) return v;
      out.push_back(std::move(*v));
      SkipSpace();
      if (p_ < s_.size() && s_[p_] == ',') {
        ++p_;
        continue;
      }
      if (p_ < s_.size() && s_[p_] == ']') break;
      return Fail("expected ',' or ']' in a flow list");
    }
    ++p_;  // ]
    return json::value(std::move(out));
  }

  Result<json::value> Mapping(int depth) {
    ++p_;  // {
    json::object out;
    while (true) {
      SkipSpace();
      if (p_ < s_.size() && s_[p_] == '}') break;
      auto key = Value(depth + 1, true);
      if (!key.ok()) return key;
      SkipSpace();
      if (p_ >= s_.size() || s_[p_] != ':') return Fail("expected ':' after a key in a flow map");
      ++p_;
      SkipSpace();
      json::value v;  // `{a: , b: 1}` and `{a:}` give null
      if (p_ < s_.size() && s_[p_] != ',' && s_[p_] != '}') {
        auto parsed = Value(depth + 1, false);
        if (!parsed.ok()) return parsed;
        v = std::move(*parsed);
      }
      out[key->as_string()] = std::move(v);
      SkipSpace();
      if (p_ < s_.size() && s_[p_] == ',') {
        ++p_;
        continue;
      }
      if (p_ < s_.size() && s_[p_] == '}') break;
      return Fail("expected ',' or '}' in a flow map");
    }
    ++p_;  // }
    return json::value(std::move(out));
  }

  std::string_view s_;
  size_t p_ = 0;
  int first_line_;
};

// Block structure: indentation-based maps and lists over the lines of the front matter.
class BlockParser {
 public:
  explicit BlockParser(std::vector<Line> lines) : lines_(std::move(lines)) {}

  Result<json::object> ParseRoot() {
    size_t i = 0;
    SkipBlank(i);
    if (i >= lines_.size()) return ParseError(lines_.empty() ? 1 : lines_.front().number, "empty front matter");
    if (IsSeqItem(lines_[i].content) || !IsMappingEntry(lines_[i].content))
      return ParseError(lines_[i].number, "front matter must be a map of `key: value` lines");
    auto root = Mapping(i, lines_[i].indent, 0);
    if (!root.ok()) return root.error();
    SkipBlank(i);
    if (i < lines_.size()) return ParseError(lines_[i].number, "unexpected indentation");
    return std::move(root->as_object());
  }

  // Line of each top-level key, for error messages about fields.
  const std::map<std::string, int>& root_key_lines() const { return root_key_lines_; }

 private:
  void SkipBlank(size_t& i) const {
    while (i < lines_.size() && lines_[i].content.empty()) ++i;
  }

  // Splits `key: rest`; nullopt when the line is not a mapping entry.
  static std::optional<std::pair<std::string, std::string>> SplitEntry(std::string_view c) {
    std::string key;
    size_t p = 0;
    if (!c.empty() && (c[0] == '"' || c[0] == '\'')) {
      auto q = ReadQuoted(c, p);
      if (!q) return std::nullopt;
      key = *q;
      while (p < c.size() && c[p] == ' ') ++p;
      if (p >= c.size() || c[p] != ':') return std::nullopt;
    } else {
      if (c.empty() || c[0] == '[' || c[0] == '{' || IsSeqItem(c)) return std::nullopt;
      p = 0;
      while (true) {
        p = c.find(':', p);
        if (p == std::string_view::npos) return std::nullopt;
        if (p + 1 == c.size() || c[p + 1] == ' ' || c[p + 1] == '\t') break;
        ++p;
      }
      key = std::string(TrimAsciiSpace(c.substr(0, p)));
      if (key.empty()) return std::nullopt;
    }
    return std::make_pair(std::move(key), std::string(TrimAsciiSpace(c.substr(p + 1))));
  }
  static bool IsMappingEntry(std::string_view c) { return SplitEntry(c).has_value(); }

  Result<json::value> Block(size_t& i, int depth) {
    if (depth > kMaxDepth) return ParseError(lines_[i].number, "nesting deeper than " + std::to_string(kMaxDepth));
    const Line& l = lines_[i];
    if (l.tab_indent) return ParseError(l.number, "tab in indentation");
    if (IsSeqItem(l.content)) return Sequence(i, l.indent, depth);
    if (IsMappingEntry(l.content)) return Mapping(i, l.indent, depth);
    if (l.content[0] == '[' || l.content[0] == '{') return Flow(i, l.content, l.indent - 1);
    return Plain(i, l.content, l.indent - 1);
  }

  Result<json::value> Mapping(size_t& i, int indent, int depth) {
    json::object out;
    while (true) {
      SkipBlank(i);
      if (i >= lines_.size() || lines_[i].indent < indent) break;
      const Line& l = lines_[i];
      if (l.tab_indent) return ParseError(l.number, "tab in indentation");
      if (l.indent > indent) return ParseError(l.number, "unexpected indentation");
      auto entry = SplitEntry(l.content);
      if (!entry) return ParseError(l.number, "expected `key: value`");
      if (out.contains(entry->first)) return ParseError(l.number, "duplicate key `" + entry->first + "`");
      if (depth == 0) root_key_lines_[entry->first] = l.number;
      auto v = Value(i, indent, entry->second, depth, /*in_mapping=*/true);
      if (!v.ok()) return v;
      out[entry->first] = std::move(*v);
    }
    return json::value(std::move(out));
  }

  Result<json::value> Sequence(size_t& i, int indent, int depth) {
    json::array out;
    while (true) {
      SkipBlank(i);
      if (i >= lines_.size() || lines_[i].indent < indent) break;
      Line& l = lines_[i];
      if (l.tab_indent) return ParseError(l.number, "tab in indentation");
      if (l.indent > indent) return ParseError(l.number, "unexpected indentation");
      if (!IsSeqItem(l.content)) break;  // the parent map's next key (`key:\n- a\nnext: b`)
      std::string rest(TrimAsciiSpace(std::string_view(l.content).substr(1)));
      if (!rest.empty() && (IsSeqItem(rest) || IsMappingEntry(rest))) {
        // `- key: v` / `- - x`: the item is a block whose first line starts after the dash.
        size_t column = l.content.find_first_not_of(" \t", 1);
        l.indent += static_cast<int>(column);
        l.content = rest;
        auto v = Block(i, depth + 1);
        if (!v.ok()) return v;
        out.push_back(std::move(*v));
        continue;
      }
      auto v = Value(i, indent, rest, depth, /*in_mapping=*/false);
      if (!v.ok()) return v;
      out.push_back(std::move(*v));
    }
    return json::value(std::move(out));
  }

  // The value after `key:` or `- ` on line i (consumed), with any lines that belong to it.
  Result<json::value> Value(size_t& i, int indent, const std::string& rest, int depth, bool in_mapping) {
    int number = lines_[i].number;
    if (rest.empty()) {
      ++i;
      SkipBlank(i);
      if (i >= lines_.size()) return json::value(nullptr);
      const Line& next = lines_[i];
      bool nested = next.indent > indent || (in_mapping && next.indent == indent && IsSeqItem(next.content));
      if (!nested) return json::value(nullptr);
      return Block(i, depth + 1);
    }
    if (rest[0] == '|' || rest[0] == '>') {
      if (rest.find_first_not_of("+-0123456789", 1) == std::string::npos) {
        ++i;
        return BlockScalar(i, indent, rest);
      }
    }
    if (rest[0] == '[' || rest[0] == '{') return Flow(i, rest, indent);
    if (rest[0] == '"' || rest[0] == '\'') {
      size_t p = 0;
      auto q = ReadQuoted(rest, p);
      if (!q) return ParseError(number, "unclosed or malformed quoted string");
      if (!TrimAsciiSpace(std::string_view(rest).substr(p)).empty()) return ParseError(number, "text after a quoted string");
      ++i;
      return json::value(*q);
    }
    return Plain(i, rest, indent);
  }

  // A plain scalar; more-indented lines that follow continue it (folded with spaces).
  Result<json::value> Plain(size_t& i, std::string_view first, int indent) {
    std::string text(first);
    ++i;
    while (true) {
      size_t j = i;
      SkipBlank(j);
      if (j >= lines_.size() || lines_[j].indent <= indent) break;
      text += ' ';
      text += lines_[j].content;
      i = j + 1;
    }
    return json::value(std::move(text));
  }

  // `|` keeps line breaks, `>` folds them; `-` strips the final newline, `+` keeps all of them.
  Result<json::value> BlockScalar(size_t& i, int indent, std::string_view header) {
    bool folded = header[0] == '>';
    char chomp = header.find('-') != std::string_view::npos ? '-' : header.find('+') != std::string_view::npos ? '+' : ' ';
    std::vector<std::string> body;
    int block_indent = -1;
    while (i < lines_.size()) {
      const std::string& raw = lines_[i].raw;
      if (TrimAsciiSpace(raw).empty()) {
        body.emplace_back();
        ++i;
        continue;
      }
      int spaces = static_cast<int>(std::min(raw.find_first_not_of(' '), raw.size()));
      if (block_indent < 0) block_indent = spaces;
      if (spaces <= indent || spaces < block_indent) break;
      body.push_back(raw.substr(block_indent));
      ++i;
    }
    size_t trailing = 0;
    while (trailing < body.size() && body[body.size() - 1 - trailing].empty()) ++trailing;
    std::string text;
    for (size_t k = 0; k + trailing < body.size(); ++k) {
      if (k > 0) text += (folded && !body[k].empty() && !body[k - 1].empty()) ? " " : "\n";
      text += body[k];
    }
    if (!text.empty() && chomp != '-') text += '\n';
    if (chomp == '+') text.append(trailing, '\n');
    return json::value(std::move(text));
  }

  // A flow collection starting in `first` (line i), continued on following lines until its
  // brackets balance. JSON (with trailing commas, as OpenClaw skills write it) goes through
  // Boost.JSON; anything else through FlowParser.
  Result<json::value> Flow(size_t& i, std::string_view first, int indent) {
    int start_line = lines_[i].number;
    std::string text(first);
    ++i;
    while (!Balanced(text)) {
      if (i >= lines_.size() || (!lines_[i].content.empty() && lines_[i].indent <= indent))
        return ParseError(start_line, "unclosed flow collection");
      text += '\n';
      text += lines_[i].content;
      ++i;
    }
    if (auto json = ParseLenientJson(text); json.ok() && (json->is_object() || json->is_array())) return json;
    return FlowParser(text, start_line).ParseAll();
  }

  static bool Balanced(std::string_view s) {
    int depth = 0;
    char quote = 0;
    for (size_t k = 0; k < s.size(); ++k) {
      char c = s[k];
      if (quote) {
        if (quote == '"' && c == '\\') ++k;
        else if (c == quote) quote = 0;
      } else if ((c == '"' || c == '\'') && CanStartQuote(s, k)) {
        quote = c;
      } else if (c == '[' || c == '{') {
        ++depth;
      } else if (c == ']' || c == '}') {
        if (--depth <= 0) return true;  // extra text after it is reported by the parser
      }
    }
    return false;
  }

  std::vector<Line> lines_;
  std::map<std::string, int> root_key_lines_;
};

// ---- From the JSON tree to SkillFrontMatter ----

Result<std::string> RequiredText(const json::object& root, const std::map<std::string, int>& lines,
                                 std::string_view key) {
  auto it = root.find(key);
  int line = lines.count(std::string(key)) ? lines.at(std::string(key)) : 1;
  if (it == root.end() || it->value().is_null())
    return ParseError(line, "front matter has no `" + std::string(key) + "`");
  if (!it->value().is_string()) return ParseError(line, "`" + std::string(key) + "` must be text");
  std::string_view v = TrimAsciiSpace(it->value().as_string());
  if (v.empty()) return ParseError(line, "`" + std::string(key) + "` is empty");
  return std::string(v);
}

Status AppendList(const json::object& o, std::string_view key, std::string_view where, int line,
                  std::vector<std::string>& out) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return Status::Ok();
  auto add = [&out](std::string_view s) {
    std::string v(TrimAsciiSpace(s));
    if (!v.empty() && std::find(out.begin(), out.end(), v) == out.end()) out.push_back(std::move(v));
  };
  if (it->value().is_string()) {
    add(it->value().as_string());
    return Status::Ok();
  }
  std::string name = std::string(where) + "." + std::string(key);
  if (!it->value().is_array()) return ParseError(line, "`" + name + "` must be a list of strings");
  for (const auto& e : it->value().as_array()) {
    if (!e.is_string()) return ParseError(line, "`" + name + "` must be a list of strings");
    add(e.as_string());
  }
  return Status::Ok();
}

// Reads {requires {bins, anyBins, env, os}, os} of one metadata container (metadata itself,
// metadata.openclaw or metadata.openclawos).
Status ReadRequirements(const json::object& container, const std::string& where, int line, SkillFrontMatter& fm) {
  OC_TRY(AppendList(container, "os", where, line, fm.os));
  auto it = container.find("requires");
  if (it == container.end() || it->value().is_null()) return Status::Ok();
  std::string req_where = where + ".requires";
  if (!it->value().is_object()) return ParseError(line, "`" + req_where + "` must be a map");
  const json::object& req = it->value().as_object();
  OC_TRY(AppendList(req, "bins", req_where, line, fm.bins));
  OC_TRY(AppendList(req, "anyBins", req_where, line, fm.any_bins));
  OC_TRY(AppendList(req, "env", req_where, line, fm.env));
  OC_TRY(AppendList(req, "os", req_where, line, fm.os));
  return Status::Ok();
}

Status ReadMetadata(const json::object& root, const std::map<std::string, int>& lines, SkillFrontMatter& fm) {
  auto it = root.find("metadata");
  if (it == root.end() || it->value().is_null()) return Status::Ok();
  int line = lines.count("metadata") ? lines.at("metadata") : 1;
  json::value meta = it->value();
  if (meta.is_string()) {  // metadata: '{"openclaw": ...}'
    auto parsed = ParseLenientJson(meta.as_string());
    if (!parsed.ok() || !parsed->is_object()) return ParseError(line, "`metadata` must be a map or a JSON object");
    meta = std::move(*parsed);
  }
  if (!meta.is_object()) return ParseError(line, "`metadata` must be a map");
  const json::object& m = meta.as_object();
  OC_TRY(ReadRequirements(m, "metadata", line, fm));
  for (std::string_view ns : {"openclaw", "openclawos"}) {
    auto n = m.find(ns);
    if (n == m.end() || n->value().is_null()) continue;
    std::string where = "metadata." + std::string(ns);
    if (!n->value().is_object()) return ParseError(line, "`" + where + "` must be a map");
    OC_TRY(ReadRequirements(n->value().as_object(), where, line, fm));
  }
  return Status::Ok();
}

// The lines between the opening and the closing `---`, numbered from 2.
Result<std::vector<Line>> FrontMatterLines(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<Line> lines;
  int number = 0;
  bool opened = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(pos, end - pos);
    if (raw.ends_with('\r')) raw.remove_suffix(1);
    ++number;
    std::string_view marker = TrimAsciiSpace(raw);
    if (!opened) {
      if (raw.substr(0, 3) != "---" || marker != "---")
        return ParseError(1, "no front matter: SKILL.md must start with a `---` line");
      opened = true;
    } else if (raw.starts_with("---") && marker == "---") {
      return lines;
    } else {
      lines.push_back(MakeLine(number, raw));
    }
    if (end == text.size()) break;
    pos = end + 1;
  }
  return ParseError(1, "front matter is not closed by a `---` line");
}

}  // namespace

Result<SkillFrontMatter> ParseSkillFrontMatter(std::string_view text) {
  OC_ASSIGN(std::vector<Line> lines, FrontMatterLines(text));
  BlockParser parser(std::move(lines));
  OC_ASSIGN(json::object root, parser.ParseRoot());
  SkillFrontMatter fm;
  OC_ASSIGN(fm.name, RequiredText(root, parser.root_key_lines(), "name"));
  OC_ASSIGN(fm.description, RequiredText(root, parser.root_key_lines(), "description"));
  OC_TRY(ReadMetadata(root, parser.root_key_lines(), fm));
  return fm;
}

}  // namespace oc::agent
