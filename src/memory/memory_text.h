// Text work of long-term memory (SPEC §9), pure and deterministic: no I/O, no Asio, no SQLite, so
// the fuzz build instruments it (fuzz/fuzz_memory_text.cpp) and the benchmarks call it directly.
//
// - ChunkMarkdown: a Markdown file becomes chunks of about `target_tokens` (≈4 characters per
//   token), cut on heading boundaries first, then blank lines (paragraphs), then line ends; a
//   single line longer than the budget is cut at whitespace (at a UTF-8 boundary when it has
//   none). Consecutive chunks of one section overlap by about `overlap_tokens` of whole trailing
//   lines of the previous chunk. Line numbers are 1-based and inclusive; whitespace-only input has
//   no chunks. Chunk text is the file's text of those lines (trailing blank lines dropped), joined
//   by "\n" (a CRLF file gives the same chunks as its LF twin). Headings inside fenced code blocks
//   do not count; a heading directly followed by another heading stays in that next chunk.
// - LocalEmbedding: the `local` embedder. Hashed features of the text — lower-cased word tokens,
//   a light English stem of each, word bigrams, and character 3- and 4-grams of every word —
//   each feature hashed (FNV-1a 64) to a dimension with a hashed sign, weighted by kind and
//   damped by log(1+count), then L2-normalised (common English function words get only a small
//   word feature of their own). Lexical-semantic: texts sharing words, stems or
//   word pieces are near; synonyms with no shared letters are not (this is not a neural model).
//   Same text, same vector, on every machine. Empty (or feature-less) text → the zero vector.
// - FtsMatchQuery: a user's free text as an FTS5 MATCH expression that cannot be a syntax error:
//   every distinct word (case-insensitive; at most 64) becomes a quoted term ("..." with inner
//   quotes doubled), joined by OR; "" when the text has no word at all (the caller then skips the
//   BM25 side). Words are runs of ASCII letters/digits and non-ASCII bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace oc::memory {

struct ChunkOptions {
  size_t target_tokens = 400;
  size_t overlap_tokens = 80;
};

struct TextChunk {
  int line_start = 1;  // 1-based, inclusive
  int line_end = 1;
  std::string text;
  std::string hash;  // ContentHash(text)
};

std::vector<TextChunk> ChunkMarkdown(std::string_view text, const ChunkOptions& options = {});

// Hex SHA-256 of the bytes.
std::string ContentHash(std::string_view text);

// ≈ tokens of the text for an English-like language (characters / 4, rounded up).
size_t EstimateTokens(std::string_view text);

// The `local` embedder's vector (see above). `dims` ≥ 8.
std::vector<float> LocalEmbedding(std::string_view text, size_t dims = 384);
inline constexpr std::string_view kLocalModelName = "hash-v1";  // bump when LocalEmbedding changes

std::string FtsMatchQuery(std::string_view text);

// A short excerpt of `text` for a search result: at most `max_chars` characters (code points, the
// "…" markers included; cut at UTF-8 boundaries), whitespace runs collapsed to one space, starting
// near the first occurrence of a query word (case-insensitive, at a word start) when one occurs,
// with "…" marking cuts.
std::string Snippet(std::string_view text, std::string_view query, size_t max_chars = 240);

}  // namespace oc::memory
