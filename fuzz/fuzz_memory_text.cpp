// Fuzzes the text work of long-term memory (memory/memory_text.h) with arbitrary bytes: a memory
// file through ChunkMarkdown, a user's query through FtsMatchQuery and Snippet, and both through
// LocalEmbedding. The first two bytes pick the chunk size and overlap, the third the snippet size
// and the embedding dimension; the rest is the text (and its second half the query).
//
// Invariants checked:
//  - chunks: 1 <= line_start <= line_end <= the input's line count, starts and ends never go
//    back, text non-empty and within the chunk budget, hash = ContentHash(text) (64 hex digits);
//    whitespace-only input has no chunk, any other input at least one;
//  - FtsMatchQuery is "" or quoted terms joined by " OR " with every inner quote doubled (so FTS5
//    can never read an operator, column or syntax error out of it);
//  - Snippet has at most max_chars characters, and is valid UTF-8 when the text was;
//  - LocalEmbedding has the asked size, finite components, and is unit length or exactly zero;
//    the same text gives the same vector.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "memory/memory_text.h"
#include "common/text.h"
#include "tools/html_text.h"

namespace {

using namespace oc::memory;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

bool ValidUtf8(std::string_view s) { return oc::tools::ToValidUtf8(s) == s; }

int LineCount(std::string_view text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  if (!text.empty() && text.back() != '\n') ++lines;
  return lines;
}

void CheckChunks(std::string_view text, const ChunkOptions& options) {
  auto chunks = ChunkMarkdown(text, options);
  bool blank = true;
  for (char c : text) blank = blank && IsSpace(c);
  FUZZ_CHECK(blank == chunks.empty());
  int lines = LineCount(text);
  size_t budget = std::max<size_t>(1, options.target_tokens) * 4;
  int previous_start = 1, previous_end = 1;
  for (const TextChunk& c : chunks) {
    FUZZ_CHECK(c.line_start >= previous_start && c.line_end >= previous_end);
    FUZZ_CHECK(c.line_start <= c.line_end && c.line_end <= lines);
    FUZZ_CHECK(!c.text.empty() && oc::Utf8Length(c.text) <= budget);
    FUZZ_CHECK(c.hash.size() == 64 && c.hash == ContentHash(c.text));
    previous_start = c.line_start;
    previous_end = c.line_end;
  }
}

void CheckFtsQuery(std::string_view query) {
  std::string match = FtsMatchQuery(query);
  size_t i = 0;
  bool first = true;
  while (i < match.size()) {
    if (!first) {
      FUZZ_CHECK(match.compare(i, 4, " OR ") == 0);
      i += 4;
    }
    first = false;
    FUZZ_CHECK(i < match.size() && match[i] == '"');
    ++i;
    size_t inner = 0;
    for (;;) {
      FUZZ_CHECK(i < match.size());  // the term is closed
      if (match[i] == '"') {
        if (i + 1 < match.size() && match[i + 1] == '"') {
          i += 2;
          ++inner;
          continue;
        }
        ++i;
        break;
      }
      ++i;
      ++inner;
    }
    FUZZ_CHECK(inner > 0);
  }
}

void CheckEmbedding(std::string_view text, size_t dims) {
  auto v = LocalEmbedding(text, dims);
  FUZZ_CHECK(v.size() == dims);
  double norm = 0;
  for (float x : v) {
    FUZZ_CHECK(std::isfinite(x));
    norm += static_cast<double>(x) * x;
  }
  FUZZ_CHECK(norm == 0 || std::abs(norm - 1.0) < 1e-4);
  FUZZ_CHECK(LocalEmbedding(text, dims) == v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  ChunkOptions options{1 + data[0] % 64u, data[1] % 80u};
  size_t max_chars = data[2] % 100u;
  size_t dims = data[2] % 2 == 0 ? 384 : 8 + data[2] % 57u;
  std::string_view text(reinterpret_cast<const char*>(data) + 3, size - 3);
  std::string_view query = text.substr(text.size() / 2);

  CheckChunks(text, options);
  CheckChunks(text, ChunkOptions{});
  CheckFtsQuery(text);
  std::string snippet = Snippet(text, query, max_chars);
  FUZZ_CHECK(oc::Utf8Length(snippet) <= max_chars);
  if (ValidUtf8(text)) FUZZ_CHECK(ValidUtf8(snippet));
  CheckEmbedding(text, dims);
  return 0;
}
