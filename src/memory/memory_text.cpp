// Text work of long-term memory (see memory_text.h): chunking, hashing, the local embedder, FTS
// queries and snippets. Pure functions; the only library used is OpenSSL's SHA-256.
#include "memory/memory_text.h"
#include "common/text.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

namespace oc::memory {
namespace {

constexpr size_t kNone = std::numeric_limits<size_t>::max();

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }
// Word characters for the embedder, FTS queries and snippets: ASCII letters and digits, and every
// byte of a non-ASCII character (so words of any script stay words; FTS5's unicode61 tokenizer
// splits them further where it knows better).
bool IsWordByte(unsigned char c) { return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }
char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

// Calls fn(word) for each maximal run of word bytes.
template <class Fn>
void ForEachWord(std::string_view text, Fn&& fn) {
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !IsWordByte(static_cast<unsigned char>(text[i]))) ++i;
    size_t start = i;
    while (i < text.size() && IsWordByte(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) fn(text.substr(start, i - start), start);
  }
}

// Function words: they carry little meaning, so the embedder gives them a small weight of their
// own (no stems, n-grams or bigrams) and snippets prefer other query words. Sorted for lookup.
constexpr std::array<std::string_view, 71> kStopWords = {
    "a",     "about", "all",  "am",    "an",    "and",   "any",   "are",  "as",    "at",    "be",   "been",
    "but",   "by",    "can",  "could", "did",   "do",    "does",  "for",  "from",  "had",   "has",  "have",
    "he",    "her",   "him",  "his",   "how",   "i",     "if",    "in",   "into",  "is",    "it",   "its",
    "me",    "my",    "no",   "not",   "of",    "on",    "or",    "our",  "she",   "should", "so",  "than",
    "that",  "the",   "their", "them", "then",  "there", "these", "they", "this",  "to",    "us",   "was",
    "we",    "were",  "what", "when",  "where", "which", "who",   "why",  "will",  "with",  "would"};

static_assert(std::is_sorted(kStopWords.begin(), kStopWords.end()));

bool IsStopWord(std::string_view lower_word) {
  return std::binary_search(kStopWords.begin(), kStopWords.end(), lower_word);
}

// ---------------------------------------------------------------------------------------------
// Chunking

struct Line {
  size_t begin = 0;  // byte range in the text, without the line end ("\n" or "\r\n")
  size_t end = 0;
  size_t chars = 0;
  bool blank = false;    // only ASCII whitespace
  bool heading = false;  // an ATX heading outside a fenced code block
};

size_t LeadingSpaces(std::string_view s) {
  size_t i = 0;
  while (i < 3 && i < s.size() && s[i] == ' ') ++i;
  return i;
}

bool IsAtxHeading(std::string_view s) {
  size_t i = LeadingSpaces(s), hashes = 0;
  while (i < s.size() && s[i] == '#') ++i, ++hashes;
  return hashes >= 1 && hashes <= 6 && (i == s.size() || s[i] == ' ' || s[i] == '\t');
}

// '`' or '~' when the line opens or closes a fenced code block, else 0.
char FenceChar(std::string_view s) {
  size_t i = LeadingSpaces(s);
  if (s.size() - i >= 3 && (s[i] == '`' || s[i] == '~') && s[i + 1] == s[i] && s[i + 2] == s[i]) return s[i];
  return 0;
}

std::vector<Line> SplitLines(std::string_view text) {
  std::vector<Line> lines;
  char open_fence = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t newline = text.find('\n', pos);
    size_t end = newline == std::string_view::npos ? text.size() : newline;
    size_t next = newline == std::string_view::npos ? text.size() : newline + 1;
    if (end > pos && text[end - 1] == '\r') --end;
    std::string_view content = text.substr(pos, end - pos);
    Line line{pos, end, Utf8Length(content)};
    line.blank = std::all_of(content.begin(), content.end(), IsSpace);
    if (!line.blank) {
      char fence = FenceChar(content);
      if (fence != 0 && (open_fence == 0 || open_fence == fence)) {
        open_fence = open_fence == 0 ? fence : 0;
      } else if (open_fence == 0) {
        line.heading = IsAtxHeading(content);
      }
    }
    lines.push_back(line);
    pos = next;
  }
  return lines;
}

class Chunker {
 public:
  Chunker(std::string_view text, const ChunkOptions& options) : text_(text), lines_(SplitLines(text)) {
    constexpr size_t kMaxTokens = size_t{1} << 40;  // keeps the arithmetic below from overflowing
    budget_ = std::max<size_t>(1, std::min(options.target_tokens, kMaxTokens)) * 4;
    overlap_ = std::min(std::min(options.overlap_tokens, kMaxTokens) * 4, budget_ / 2);
    prefix_.reserve(lines_.size() + 1);
    prefix_.push_back(0);
    for (const Line& l : lines_) prefix_.push_back(prefix_.back() + l.chars + 1);
  }

  std::vector<TextChunk> Run() {
    for (size_t s = 0; s < lines_.size();) {
      size_t e = SectionEnd(s);
      ChunkSection(s, e);
      s = e;
    }
    return std::move(out_);
  }

 private:
  // Characters of lines a..b (inclusive) joined by newlines.
  size_t Span(size_t a, size_t b) const { return prefix_[b + 1] - prefix_[a] - 1; }

  // A heading starts a new section once the current one has a body line, so a title directly
  // followed by a sub-heading stays with it.
  size_t SectionEnd(size_t s) const {
    bool body = false;
    for (size_t i = s; i < lines_.size(); ++i) {
      if (i > s && lines_[i].heading && body) return i;
      if (!lines_[i].blank && !lines_[i].heading) body = true;
    }
    return lines_.size();
  }

  // Greedy: from the first uncovered line `next`, preceded by overlap lines [ov, next), take lines
  // while they fit; when the section goes on, cut at the last paragraph break if that keeps at
  // least a quarter of the budget, else after the last line that fit.
  void ChunkSection(size_t s, size_t e) {
    size_t next = s, ov = s;
    for (;;) {
      while (next < e && lines_[next].blank) ++next;
      if (next == e) return;
      if (lines_[next].chars > budget_) {
        EmitPieces(next);
        ov = ++next;
        continue;
      }
      // Overlap gives way (from its front) when the new line would not fit after it.
      while (ov < next && (Span(ov, next) > budget_ || lines_[ov].blank)) ++ov;
      size_t start = ov, end = next, size = Span(start, next), paragraph_break = kNone;
      size_t l = next + 1;
      for (; l < e; ++l) {
        size_t grown = size + 1 + lines_[l].chars;
        if (grown > budget_) break;
        if (lines_[l].blank && !lines_[l - 1].blank) paragraph_break = l;
        size = grown;
        end = l;
      }
      if (l == e) {
        Emit(start, end);
        return;
      }
      if (paragraph_break != kNone && Span(start, paragraph_break - 1) >= budget_ / 4) end = paragraph_break - 1;
      Emit(start, end);
      next = end + 1;
      ov = next;
      size_t carried = 0;  // whole trailing lines of this chunk, never its first line
      while (ov - 1 > start && carried + lines_[ov - 1].chars + 1 <= overlap_) carried += lines_[--ov].chars + 1;
    }
  }

  void Emit(size_t start, size_t end) {
    while (end > start && lines_[end].blank) --end;
    TextChunk chunk;
    chunk.line_start = static_cast<int>(start + 1);
    chunk.line_end = static_cast<int>(end + 1);
    chunk.text.reserve(prefix_[end + 1] - prefix_[start]);
    for (size_t i = start; i <= end; ++i) {
      if (i > start) chunk.text += '\n';
      chunk.text.append(text_.substr(lines_[i].begin, lines_[i].end - lines_[i].begin));
    }
    chunk.hash = ContentHash(chunk.text);
    out_.push_back(std::move(chunk));
  }

  // A line longer than the budget: pieces of at most `budget_` characters, cut at the last
  // whitespace that fits, else at a code point boundary.
  void EmitPieces(size_t index) {
    std::string_view s = text_.substr(lines_[index].begin, lines_[index].end - lines_[index].begin);
    size_t p = 0;
    for (;;) {
      while (p < s.size() && IsSpace(s[p])) ++p;
      if (p >= s.size()) return;
      size_t q = p, chars = 0;
      while (q < s.size() && chars < budget_) {
        ++q;
        while (q < s.size() && IsContinuation(static_cast<unsigned char>(s[q]))) ++q;
        ++chars;
      }
      size_t cut = q;
      if (q < s.size()) {
        size_t w = q;
        while (w > p && !IsSpace(s[w])) --w;
        if (w > p) cut = w;
      }
      size_t piece_end = cut;
      while (piece_end > p && IsSpace(s[piece_end - 1])) --piece_end;
      TextChunk chunk;
      chunk.line_start = chunk.line_end = static_cast<int>(index + 1);
      chunk.text.assign(s.substr(p, piece_end - p));
      chunk.hash = ContentHash(chunk.text);
      out_.push_back(std::move(chunk));
      p = cut;
    }
  }

  std::string_view text_;
  std::vector<Line> lines_;
  std::vector<size_t> prefix_;  // prefix_[i] = characters of lines before i, one newline each
  size_t budget_ = 0;           // characters per chunk
  size_t overlap_ = 0;
  std::vector<TextChunk> out_;
};

// ---------------------------------------------------------------------------------------------
// Local embedding

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

uint64_t Fnv(uint64_t h, unsigned char c) { return (h ^ c) * kFnvPrime; }
uint64_t Fnv(uint64_t h, std::string_view s) {
  for (char c : s) h = Fnv(h, static_cast<unsigned char>(c));
  return h;
}

// Feature kinds: the low 3 bits of a feature key, and the hash seed of the kind.
enum Kind : uint64_t { kWord = 0, kStem = 1, kBigram = 2, kTrigram = 3, kFourgram = 4, kStop = 5 };
constexpr std::array<double, 6> kKindWeight = {1.0, 1.0, 0.8, 0.4, 0.5, 0.15};
// Character n-grams look at this much of a word (a long hash or URL adds no meaning past it).
constexpr size_t kMaxGramWord = 48;

uint64_t Key(uint64_t hash, Kind kind) { return (hash & ~uint64_t{7}) | kind; }
uint64_t Seed(Kind kind) { return Fnv(kFnvOffset, static_cast<unsigned char>(0xF0 | kind)); }

bool EndsWith(std::string_view w, size_t len, std::string_view suffix) {
  return len >= suffix.size() && w.substr(len - suffix.size(), suffix.size()) == suffix;
}

// A light English stemmer: plural and verb endings off, a doubled final consonant undone, final
// "y" read as "i" and final "e" dropped, so prefer/prefers/preferred and store/stored/storing meet.
// Hash of the stem (a prefix of the word, maybe followed by 'i').
uint64_t StemHash(std::string_view w) {
  size_t len = w.size();
  bool final_i = false;
  if (len > 4 && EndsWith(w, len, "ies")) {
    len -= 3;
    final_i = true;
  } else if (EndsWith(w, len, "sses")) {
    len -= 2;
  } else if (len > 3 && w[len - 1] == 's' && !EndsWith(w, len, "ss") && !EndsWith(w, len, "us") &&
             !EndsWith(w, len, "is")) {
    len -= 1;
  }
  if (!final_i) {
    size_t before = len;
    if (len >= 6 && EndsWith(w, len, "ing")) len -= 3;
    else if (len >= 5 && EndsWith(w, len, "ed")) len -= 2;
    if (len != before && len >= 3 && w[len - 1] == w[len - 2] && std::string_view("lsz").find(w[len - 1]) == std::string_view::npos) --len;
    if (len > 3 && w[len - 1] == 'y') {
      --len;
      final_i = true;
    } else if (len > 3 && w[len - 1] == 'e') {
      --len;
    }
  }
  uint64_t h = Fnv(Seed(kStem), w.substr(0, len));
  return final_i ? Fnv(h, 'i') : h;
}

// Character 3- and 4-grams of "<word>".
void AddCharGrams(std::string_view w, std::vector<uint64_t>& keys) {
  w = w.substr(0, kMaxGramWord);
  size_t m = w.size() + 2;
  auto at = [&](size_t i) -> unsigned char {
    return i == 0 ? '<' : (i == m - 1 ? '>' : static_cast<unsigned char>(w[i - 1]));
  };
  for (size_t n : {size_t{3}, size_t{4}}) {
    if (m < n) continue;
    Kind kind = n == 3 ? kTrigram : kFourgram;
    uint64_t seed = Seed(kind);
    for (size_t i = 0; i + n <= m; ++i) {
      uint64_t h = seed;
      for (size_t k = 0; k < n; ++k) h = Fnv(h, at(i + k));
      keys.push_back(Key(h, kind));
    }
  }
}

void CollectFeatures(std::string_view lower, std::vector<uint64_t>& keys) {
  std::string_view previous;
  ForEachWord(lower, [&](std::string_view w, size_t) {
    if (IsStopWord(w)) {
      keys.push_back(Key(Fnv(Seed(kStop), w), kStop));
      return;
    }
    keys.push_back(Key(Fnv(Seed(kWord), w), kWord));
    keys.push_back(Key(StemHash(w), kStem));
    if (!previous.empty()) keys.push_back(Key(Fnv(Fnv(Fnv(Seed(kBigram), previous), ' '), w), kBigram));
    previous = w;
    AddCharGrams(w, keys);
  });
}

}  // namespace

std::vector<TextChunk> ChunkMarkdown(std::string_view text, const ChunkOptions& options) {
  return Chunker(text, options).Run();
}

std::string ContentHash(std::string_view text) {
  static constexpr char kEmpty[1] = {0};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(text.empty() ? kEmpty : text.data(), text.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return {};  // only when OpenSSL itself is broken
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(length * 2, '0');
  for (unsigned int i = 0; i < length; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 15];
  }
  return hex;
}

size_t EstimateTokens(std::string_view text) { return (Utf8Length(text) + 3) / 4; }

// Per-thread buffers above this size are released after use.
constexpr size_t kKeepBufferBytes = 1 << 20;

// Features are collected as 64-bit keys (hash | kind) into a per-thread buffer, sorted so equal
// features are adjacent, and each distinct feature adds ±weight(kind)·log(1+count) to one
// dimension: no allocation per feature, one sort per text.
std::vector<float> LocalEmbedding(std::string_view text, size_t dims) {
  std::vector<float> out(dims, 0.0f);
  if (dims == 0) return out;
  thread_local std::string lower;
  thread_local std::vector<uint64_t> keys;
  lower.assign(text);
  for (char& c : lower) c = LowerAscii(c);
  keys.clear();
  CollectFeatures(lower, keys);
  std::sort(keys.begin(), keys.end());
  thread_local std::vector<double> acc;
  acc.assign(dims, 0.0);
  for (size_t i = 0; i < keys.size();) {
    size_t j = i + 1;
    while (j < keys.size() && keys[j] == keys[i]) ++j;
    uint64_t key = keys[i];
    double weight = kKindWeight[key & 7] * std::log1p(static_cast<double>(j - i));
    uint64_t mixed = key * 0x9E3779B97F4A7C15ull;  // sign from bits the dimension does not use
    acc[(key >> 3) % dims] += (mixed >> 63) ? -weight : weight;
    i = j;
  }
  if (lower.capacity() > kKeepBufferBytes) std::string().swap(lower);  // one huge text must not pin memory
  if (keys.capacity() * sizeof(uint64_t) > kKeepBufferBytes) std::vector<uint64_t>().swap(keys);
  double norm = 0;
  for (double v : acc) norm += v * v;
  if (norm <= 0) return out;
  double inv = 1.0 / std::sqrt(norm);
  for (size_t d = 0; d < dims; ++d) out[d] = static_cast<float>(acc[d] * inv);
  return out;
}

// At most this many distinct words go into one query (a pasted page must not become a huge OR).
constexpr size_t kMaxQueryTerms = 64;

std::string FtsMatchQuery(std::string_view text) {
  std::string out;
  std::vector<std::string> seen;
  ForEachWord(text, [&](std::string_view w, size_t) {
    if (seen.size() >= kMaxQueryTerms) return;
    std::string lower(w);
    for (char& c : lower) c = LowerAscii(c);
    if (std::find(seen.begin(), seen.end(), lower) != seen.end()) return;
    seen.push_back(lower);
    if (!out.empty()) out += " OR ";
    out += '"';
    for (char c : w) {
      if (c == '"') out += '"';  // (a word never holds one; kept so the quoting stays correct)
      out += c;
    }
    out += '"';
  });
  return out;
}

namespace {

// Whitespace runs become one space, ends trimmed: a snippet is one line of display text.
std::string CollapseWhitespace(std::string_view text) {
  std::string flat;
  flat.reserve(text.size());
  bool space = false;
  for (char c : text) {
    if (IsSpace(c)) {
      space = !flat.empty();
      continue;
    }
    if (space) flat += ' ';
    space = false;
    flat += c;
  }
  return flat;
}

// Byte offset of the first query word occurring at a word start in `flat` (ASCII case-insensitive);
// words other than function words win. kNone when none occurs.
size_t FirstQueryHit(const std::string& flat, std::string_view query) {
  std::string lower = flat;
  for (char& c : lower) c = LowerAscii(c);
  size_t best = kNone, best_stop = kNone, words = 0;
  ForEachWord(query, [&](std::string_view w, size_t) {
    if (++words > kMaxQueryTerms) return;
    std::string needle(w);
    for (char& c : needle) c = LowerAscii(c);
    bool stop = IsStopWord(needle);
    for (size_t at = lower.find(needle); at != std::string::npos; at = lower.find(needle, at + 1)) {
      if (at > 0 && IsWordByte(static_cast<unsigned char>(lower[at - 1]))) continue;
      size_t& slot = stop ? best_stop : best;
      slot = std::min(slot, at);
      break;
    }
  });
  return best != kNone ? best : best_stop;
}

}  // namespace

// Works in code points: offsets[i] is the byte where character i starts.
std::string Snippet(std::string_view text, std::string_view query, size_t max_chars) {
  static constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // …
  std::string flat = CollapseWhitespace(text);
  std::vector<size_t> offsets;
  for (size_t i = 0; i < flat.size(); ++i) {
    if (!IsContinuation(static_cast<unsigned char>(flat[i]))) offsets.push_back(i);
  }
  size_t total = offsets.size();
  offsets.push_back(flat.size());
  if (total <= max_chars) return flat;
  if (max_chars < 3) return flat.substr(0, offsets[max_chars]);  // no room for markers

  size_t hit = FirstQueryHit(flat, query);
  size_t hit_char = hit == kNone ? 0 : static_cast<size_t>(std::lower_bound(offsets.begin(), offsets.end(), hit) - offsets.begin());
  auto is_space_at = [&](size_t ch) { return ch < total && flat[offsets[ch]] == ' '; };

  size_t start = hit_char > max_chars / 4 ? hit_char - max_chars / 4 : 0;
  size_t end;
  if (start > 0 && total - start <= max_chars - 1) {  // the tail fits after a leading marker
    start = total - (max_chars - 1);
    end = total;
  } else {
    end = start + (start > 0 ? max_chars - 2 : max_chars - 1);
  }
  if (start > 0) {  // begin at a word when one starts shortly after
    for (size_t ch = start; ch < std::min(start + 16, hit == kNone ? end : hit_char); ++ch) {
      if (is_space_at(ch)) {
        start = ch + 1;
        break;
      }
    }
  }
  if (end < total) {  // end at a word boundary in the second half of the window
    size_t floor = std::max(hit_char, start + (end - start) / 2);
    for (size_t ch = end; ch > floor; --ch) {
      if (is_space_at(ch)) {
        end = ch;
        break;
      }
    }
  }
  std::string out;
  if (start > 0) out += kEllipsis;
  std::string_view body(flat.data() + offsets[start], offsets[end] - offsets[start]);
  while (!body.empty() && body.back() == ' ') body.remove_suffix(1);
  out += body;
  if (end < total) out += kEllipsis;
  return out;
}

}  // namespace oc::memory
