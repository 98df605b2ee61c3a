#include "memory/memory_text.h"
#include "common/text.h"
#include "tools/html_text.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace oc::memory {
namespace {

// ---- helpers ----

bool ValidUtf8(std::string_view s) { return oc::tools::ToValidUtf8(s) == s; }

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0;
  for (size_t i = 0; i < a.size(); ++i) dot += static_cast<double>(a[i]) * b[i];
  return dot;  // both unit length
}

double Norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

// "line <n> ..." padded to about `width` characters.
std::string NumberedLine(int n, size_t width) {
  std::string s = "line " + std::to_string(n) + " ";
  while (s.size() < width) s += "word ";
  return s;
}

// Every chunk's invariants against the file it came from.
void ExpectWellFormed(const std::vector<TextChunk>& chunks, int line_count) {
  int previous_start = 0, previous_end = 0;
  for (const TextChunk& c : chunks) {
    EXPECT_GE(c.line_start, 1);
    EXPECT_LE(c.line_start, c.line_end);
    EXPECT_LE(c.line_end, line_count);
    EXPECT_GE(c.line_start, previous_start);
    EXPECT_GE(c.line_end, previous_end);
    EXPECT_FALSE(c.text.empty());
    EXPECT_NE(c.text.back(), '\n');
    EXPECT_EQ(c.hash, ContentHash(c.text));
    previous_start = c.line_start;
    previous_end = c.line_end;
  }
}

// ---- ChunkMarkdown ----

TEST(ChunkMarkdownTest, EmptyAndWhitespaceOnlyInputHasNoChunks) {
  EXPECT_TRUE(ChunkMarkdown("").empty());
  EXPECT_TRUE(ChunkMarkdown("   \n\t\n\r\n  \n").empty());
  EXPECT_TRUE(ChunkMarkdown("\n\n\n").empty());
}

TEST(ChunkMarkdownTest, SmallFileIsOneChunkWithItsLinesAndNoTrailingBlankLines) {
  auto chunks = ChunkMarkdown("\n\nI prefer Postgres.\nAnd tea.\n\n\n");
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].line_start, 3);
  EXPECT_EQ(chunks[0].line_end, 4);
  EXPECT_EQ(chunks[0].text, "I prefer Postgres.\nAnd tea.");
  EXPECT_EQ(chunks[0].hash, ContentHash("I prefer Postgres.\nAnd tea."));
}

TEST(ChunkMarkdownTest, HeadingsStartNewChunksButATitleStaysWithItsFirstSection) {
  std::string md =
      "# Notes\n"           // 1
      "\n"                  // 2
      "## Databases\n"      // 3
      "I prefer Postgres.\n"  // 4
      "\n"                  // 5
      "## Pets\n"           // 6
      "The cat is Tom.\n"   // 7
      "#hashtag is text\n"  // 8 (no space after '#': not a heading)
      "## Empty\n"          // 9
      "\n";
  auto chunks = ChunkMarkdown(md);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].line_start, 1);
  EXPECT_EQ(chunks[0].line_end, 4);
  EXPECT_EQ(chunks[0].text, "# Notes\n\n## Databases\nI prefer Postgres.");
  EXPECT_EQ(chunks[1].line_start, 6);
  EXPECT_EQ(chunks[1].line_end, 8);
  EXPECT_EQ(chunks[1].text, "## Pets\nThe cat is Tom.\n#hashtag is text");
  EXPECT_EQ(chunks[2].line_start, 9);
  EXPECT_EQ(chunks[2].text, "## Empty");
  ExpectWellFormed(chunks, 10);
}

TEST(ChunkMarkdownTest, HashLinesInsideFencedCodeAreNotHeadings) {
  std::string md = "## Script\nRun this:\n```sh\n# install\nmake\n```\n~~~\n# also code\n~~~\nDone.\n";
  auto chunks = ChunkMarkdown(md);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].line_start, 1);
  EXPECT_EQ(chunks[0].line_end, 10);
}

TEST(ChunkMarkdownTest, CutsAtParagraphBoundariesWithinTheBudget) {
  // 20 tokens = 80 characters per chunk; paragraphs of two 25-character lines (51 characters).
  std::string md;
  for (int p = 0; p < 6; ++p) {
    md += "paragraph " + std::to_string(p) + " first line.\n";
    md += "paragraph " + std::to_string(p) + " second line\n\n";
  }
  ChunkOptions options{20, 0};
  auto chunks = ChunkMarkdown(md, options);
  ASSERT_EQ(chunks.size(), 6u);
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].line_start, static_cast<int>(3 * i + 1)) << i;
    EXPECT_EQ(chunks[i].line_end, static_cast<int>(3 * i + 2)) << i;
    EXPECT_LE(oc::Utf8Length(chunks[i].text), 80u);
  }
  ExpectWellFormed(chunks, 18);
}

TEST(ChunkMarkdownTest, ConsecutiveChunksOfASectionOverlapByWholeTrailingLines) {
  std::string md;
  for (int i = 1; i <= 40; ++i) md += NumberedLine(i, 19) + "\n";  // 20 characters with the newline
  md += "# Next section\n";
  for (int i = 42; i <= 50; ++i) md += NumberedLine(i, 19) + "\n";
  ChunkOptions options{25, 10};  // 100 characters, 40 of overlap: 4 lines per chunk, 1 carried
  auto chunks = ChunkMarkdown(md, options);
  ExpectWellFormed(chunks, 50);
  ASSERT_GE(chunks.size(), 4u);
  bool crossed_heading = false;
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    const TextChunk& a = chunks[i];
    const TextChunk& b = chunks[i + 1];
    EXPECT_LE(oc::Utf8Length(a.text), 100u);
    if (b.line_start == 41) {  // a new section: no overlap into it
      EXPECT_EQ(a.line_end, 40);
      crossed_heading = true;
      continue;
    }
    EXPECT_LT(b.line_start, a.line_end + 1) << "chunk " << i + 1 << " has no overlap";
    EXPECT_GT(b.line_start, a.line_start);
    // The carried lines are whole lines of the previous chunk, within the overlap budget.
    std::string carried;
    for (int l = b.line_start; l <= a.line_end; ++l) carried += NumberedLine(l, 19) + "\n";
    carried.pop_back();
    EXPECT_LE(oc::Utf8Length(carried), 40u);
    EXPECT_EQ(b.text.compare(0, carried.size(), carried), 0);
    EXPECT_NE(a.text.find(carried), std::string::npos);
  }
  EXPECT_TRUE(crossed_heading);
  EXPECT_EQ(chunks.back().line_end, 50);
}

TEST(ChunkMarkdownTest, EveryNonBlankLineIsCovered) {
  std::string md;
  std::mt19937 rng(7);
  int lines = 0;
  for (int i = 0; i < 400; ++i, ++lines) {
    int kind = static_cast<int>(rng() % 10);
    if (kind == 0) md += "\n";
    else if (kind == 1) md += "## Heading " + std::to_string(i) + "\n";
    else md += NumberedLine(i, 10 + rng() % 120) + "\n";
  }
  for (size_t overlap : {0, 5, 40}) {
    ChunkOptions options{30, overlap};
    auto chunks = ChunkMarkdown(md, options);
    ExpectWellFormed(chunks, lines);
    std::vector<bool> covered(lines + 1, false);
    for (const auto& c : chunks) {
      for (int l = c.line_start; l <= c.line_end; ++l) covered[l] = true;
    }
    int line_no = 1;
    size_t pos = 0;
    while (pos < md.size()) {
      size_t nl = md.find('\n', pos);
      std::string line = md.substr(pos, nl - pos);
      if (line.find_first_not_of(' ') != std::string::npos) {
        EXPECT_TRUE(covered[line_no]) << line_no;
      }
      pos = nl + 1;
      ++line_no;
    }
  }
}

TEST(ChunkMarkdownTest, LongLineIsCutAtWhitespaceIntoPiecesOfThatLine) {
  std::string words;
  for (int i = 0; i < 200; ++i) words += "word" + std::to_string(i) + " ";
  std::string md = "intro\n\n" + words + "\n\nafter\n";
  ChunkOptions options{10, 4};  // 40 characters
  auto chunks = ChunkMarkdown(md, options);
  ExpectWellFormed(chunks, 5);
  ASSERT_GE(chunks.size(), 3u);
  EXPECT_EQ(chunks.front().text, "intro");
  EXPECT_EQ(chunks.back().text, "after");
  std::string rebuilt;
  for (size_t i = 1; i + 1 < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].line_start, 3);
    EXPECT_EQ(chunks[i].line_end, 3);
    EXPECT_LE(oc::Utf8Length(chunks[i].text), 40u);
    EXPECT_NE(chunks[i].text.front(), ' ');
    EXPECT_NE(chunks[i].text.back(), ' ');
    rebuilt += chunks[i].text + " ";
  }
  EXPECT_EQ(rebuilt, words);  // no word was broken, nothing lost
}

TEST(ChunkMarkdownTest, LongLineWithoutWhitespaceIsCutAtUtf8Boundaries) {
  std::string line;
  for (int i = 0; i < 100; ++i) line += "日本語é";  // 3-, 3-, 3- and 2-byte characters
  auto chunks = ChunkMarkdown(line, ChunkOptions{8, 0});  // 32 characters
  ASSERT_EQ(chunks.size(), (400u + 31) / 32);
  std::string rebuilt;
  for (const auto& c : chunks) {
    EXPECT_TRUE(ValidUtf8(c.text));
    EXPECT_LE(oc::Utf8Length(c.text), 32u);
    rebuilt += c.text;
  }
  EXPECT_EQ(rebuilt, line);
}

TEST(ChunkMarkdownTest, CrlfGivesTheSameChunksAsLf) {
  std::string lf = "# Title\nfirst line\nsecond line\n\n## Two\nmore text\n";
  std::string crlf;
  for (char c : lf) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  auto a = ChunkMarkdown(lf);
  auto b = ChunkMarkdown(crlf);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].text, b[i].text);
    EXPECT_EQ(a[i].line_start, b[i].line_start);
    EXPECT_EQ(a[i].line_end, b[i].line_end);
    EXPECT_EQ(b[i].text.find('\r'), std::string::npos);
  }
}

TEST(ChunkMarkdownTest, DefaultOptionsGiveChunksOfAboutFourHundredTokens) {
  std::string md;
  std::mt19937 rng(11);
  for (int p = 0; p < 120; ++p) {
    if (p % 30 == 0) md += "## Part " + std::to_string(p / 30) + "\n\n";
    int sentences = 2 + static_cast<int>(rng() % 5);
    for (int s = 0; s < sentences; ++s) md += "This is sentence " + std::to_string(s) + " of paragraph " + std::to_string(p) + ", saying little.\n";
    md += "\n";
  }
  auto chunks = ChunkMarkdown(md);
  ASSERT_GT(chunks.size(), 4u);
  size_t big = 0;
  for (const auto& c : chunks) {
    EXPECT_LE(EstimateTokens(c.text), 400u);
    if (EstimateTokens(c.text) >= 200) ++big;
  }
  EXPECT_GE(big, chunks.size() - 4);  // only a section's last chunk may be small
}

// ---- ContentHash / EstimateTokens ----

TEST(ContentHashTest, IsHexSha256) {
  EXPECT_EQ(ContentHash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ContentHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ContentHash(std::string_view("a\0b", 3)).size(), 64u);
  EXPECT_NE(ContentHash(std::string_view("a\0b", 3)), ContentHash("a"));
}

TEST(EstimateTokensTest, FourCharactersPerTokenRoundedUp) {
  EXPECT_EQ(EstimateTokens(""), 0u);
  EXPECT_EQ(EstimateTokens("abcd"), 1u);
  EXPECT_EQ(EstimateTokens("abcde"), 2u);
  EXPECT_EQ(EstimateTokens("日本語です"), 2u);  // characters, not bytes
  EXPECT_EQ(EstimateTokens(std::string(1600, 'x')), 400u);
}

// ---- LocalEmbedding ----

TEST(LocalEmbeddingTest, DeterministicUnitLengthAndSized) {
  auto a = LocalEmbedding("I prefer Postgres over MySQL");
  auto b = LocalEmbedding("I prefer Postgres over MySQL");
  ASSERT_EQ(a.size(), 384u);
  EXPECT_EQ(a, b);
  EXPECT_NEAR(Norm(a), 1.0, 1e-5);
  for (float x : a) EXPECT_TRUE(std::isfinite(x));
  auto small = LocalEmbedding("hello world", 8);
  ASSERT_EQ(small.size(), 8u);
  EXPECT_NEAR(Norm(small), 1.0, 1e-5);
  EXPECT_EQ(LocalEmbedding("POSTGRES Database"), LocalEmbedding("postgres database"));
}

TEST(LocalEmbeddingTest, TextWithoutWordsIsTheZeroVector) {
  for (const char* text : {"", "   ", "!!! ... ???", "\n\t"}) {
    auto v = LocalEmbedding(text);
    ASSERT_EQ(v.size(), 384u);
    EXPECT_EQ(Norm(v), 0.0) << text;
  }
}

TEST(LocalEmbeddingTest, IsStableAcrossMachines) {
  // Pinned values: a change here changes every stored vector, so kLocalModelName must be bumped
  // together with the new expectation.
  auto v = LocalEmbedding("I prefer Postgres over MySQL", 16);
  std::string printed;
  for (float x : v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f ", x);
    printed += buf;
  }
  EXPECT_EQ(kLocalModelName, "hash-v1");
  EXPECT_EQ(printed,
            "0.2352 0.5712 0.1008 -0.1680 0.1008 -0.1008 0.0000 0.0336 -0.1344 0.0336 -0.4818 -0.1008 0.0000 "
            "0.0000 -0.3024 0.4536 ");
}

TEST(LocalEmbeddingTest, RelatedSentencesAreClearlyNearerThanUnrelatedOnes) {
  auto stored = LocalEmbedding("I prefer Postgres over MySQL");
  auto query = LocalEmbedding("which database do I prefer, postgres?");
  auto cat = LocalEmbedding("the cat sat on the mat");
  double related = Cosine(stored, query);
  double unrelated = Cosine(cat, query);
  std::printf("cos(stored, query) = %.3f, cos(cat, query) = %.3f\n", related, unrelated);
  EXPECT_GT(related, 0.3);
  EXPECT_LT(std::abs(unrelated), 0.1);
  EXPECT_GT(related - unrelated, 0.25);

  // Stems and word pieces: inflections meet, shared pieces count.
  double inflected = Cosine(LocalEmbedding("she preferred storing databases"), LocalEmbedding("prefers to store a database"));
  double pieces = Cosine(LocalEmbedding("postgresql"), LocalEmbedding("postgres"));
  double none = Cosine(LocalEmbedding("postgresql"), LocalEmbedding("kitten"));
  std::printf("inflected = %.3f, pieces = %.3f, none = %.3f\n", inflected, pieces, none);
  EXPECT_GT(inflected, 0.4);
  EXPECT_GT(pieces, 0.4);
  EXPECT_LT(std::abs(none), 0.1);
}

TEST(LocalEmbeddingTest, FourHundredTokenChunkEmbedsWellUnderAMillisecond) {
  std::string chunk;
  std::mt19937 rng(3);
  const char* words[] = {"memory", "postgres", "indexing", "the", "agent", "remembers", "preferences", "quickly",
                         "workspace", "search", "vector", "of", "chunks", "embedding", "local", "hybrid"};
  while (chunk.size() < 1600) chunk += std::string(words[rng() % 16]) + (rng() % 9 == 0 ? ".\n" : " ");
  ASSERT_EQ(EstimateTokens(chunk), 400u + (chunk.size() > 1600));
  double best_ms = 1e9;
  for (int round = 0; round < 5; ++round) {  // the best round: the machine is shared
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i) {
      auto v = LocalEmbedding(chunk);
      ASSERT_EQ(v.size(), 384u);
    }
    auto t1 = std::chrono::steady_clock::now();
    best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(t1 - t0).count() / 50);
  }
  std::printf("LocalEmbedding of a 400-token chunk: %.3f ms\n", best_ms);
#if defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(best_ms, 10.0);
#else
  EXPECT_LT(best_ms, 1.0);
#endif
}

// ---- FtsMatchQuery against a real FTS5 table ----

class FtsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sqlite3_open(":memory:", &db_), SQLITE_OK);
    // The tokenizer of memory_fts (store/migrations.cpp).
    Exec("CREATE VIRTUAL TABLE docs USING fts5(text, tokenize='porter unicode61 remove_diacritics 2')");
    for (const char* doc : {"I prefer Postgres over MySQL", "the cat sat on the mat", "NEAR the AND gate, OR not",
                            "Café crème at noon", "cats chasing mice"}) {
      sqlite3_stmt* st = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(db_, "INSERT INTO docs(text) VALUES (?)", -1, &st, nullptr), SQLITE_OK);
      sqlite3_bind_text(st, 1, doc, -1, SQLITE_TRANSIENT);
      ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
      sqlite3_finalize(st);
    }
  }
  void TearDown() override { sqlite3_close(db_); }

  void Exec(const char* sql) { ASSERT_EQ(sqlite3_exec(db_, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db_); }

  // Rowids matching `match`, or an error message.
  std::vector<int64_t> Match(const std::string& match, std::string* error) {
    std::vector<int64_t> rows;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY rank", -1, &st, nullptr) != SQLITE_OK) {
      *error = sqlite3_errmsg(db_);
      return rows;
    }
    sqlite3_bind_text(st, 1, match.data(), static_cast<int>(match.size()), SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) rows.push_back(sqlite3_column_int64(st, 0));
    if (rc != SQLITE_DONE) *error = sqlite3_errmsg(db_);
    sqlite3_finalize(st);
    return rows;
  }

  // The query of `text` runs without error (or is "" = skipped by the caller).
  void ExpectRuns(const std::string& text) {
    std::string match = FtsMatchQuery(text);
    if (match.empty()) return;
    std::string error;
    Match(match, &error);
    EXPECT_EQ(error, "") << "text: " << text << "\nmatch: " << match;
  }

  sqlite3* db_ = nullptr;
};

TEST_F(FtsTest, WordsBecomeQuotedTermsJoinedByOr) {
  EXPECT_EQ(FtsMatchQuery("hello world"), "\"hello\" OR \"world\"");
  EXPECT_EQ(FtsMatchQuery("  Foo foo FOO  "), "\"Foo\"");
  EXPECT_EQ(FtsMatchQuery("!!! ?? --"), "");
  EXPECT_EQ(FtsMatchQuery(""), "");
  EXPECT_EQ(FtsMatchQuery("a \"quoted\" phrase"), "\"a\" OR \"quoted\" OR \"phrase\"");
  EXPECT_EQ(FtsMatchQuery("text:foo NEAR(a b)"), "\"text\" OR \"foo\" OR \"NEAR\" OR \"a\" OR \"b\"");
}

TEST_F(FtsTest, OperatorsAndPunctuationAreNeverSyntax) {
  for (const char* text : {"AND", "OR", "NOT", "NEAR", "foo AND", "OR bar", "NOT postgres", "NEAR(cat mat, 2)",
                           "cat*", "^cat", "*", "^", "(", ")", "((cat)", "text:cat", "docs:cat", "{text}: cat",
                           "\"", "\"\"\"", "cat\"mat", "'single'", "a + b - c", "col:", ":", "-cat", "cat -",
                           "…", "« »", "\xE2\x80\x8B", "naïve café", "日本語", "\xFF\xFE bad utf8 \xC3", "\x01\x02",
                           "rowid:1", "rank", "x NOT NOT y", "AND OR NOT", "_", "__init__", "c++ / c#"}) {
    ExpectRuns(text);
  }
}

TEST_F(FtsTest, RandomBytesNeverProduceAnError) {
  std::mt19937 rng(42);
  const std::string alphabet = "aZ09 \"'*^():-+{}[],.NEARORANDNOT\t\n\\/\xC3\xA9\xE2\x80\xA6\xFF";
  for (int i = 0; i < 2000; ++i) {
    std::string text;
    size_t len = rng() % 24;
    for (size_t k = 0; k < len; ++k) {
      text += (rng() % 4 == 0) ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
    }
    ExpectRuns(text);
    if (HasFailure()) return;
  }
}

TEST_F(FtsTest, FindsWhatTheWordsSayIncludingStems) {
  std::string error;
  auto rows = Match(FtsMatchQuery("which database do I prefer, postgres?"), &error);
  ASSERT_EQ(error, "");
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0], 1);
  rows = Match(FtsMatchQuery("NOT postgres"), &error);  // NOT is a word here, not an operator
  EXPECT_NE(std::find(rows.begin(), rows.end(), 1), rows.end());
  rows = Match(FtsMatchQuery("cat"), &error);  // porter: cats → cat
  EXPECT_NE(std::find(rows.begin(), rows.end(), 5), rows.end());
  rows = Match(FtsMatchQuery("cafe"), &error);  // diacritics removed
  EXPECT_EQ(rows, std::vector<int64_t>{4});
}

// ---- Snippet ----

std::string LongText() {
  std::string t;
  for (int i = 0; i < 60; ++i) t += "filler" + std::to_string(i) + " ";
  t += "the Postgres decision was final ";
  for (int i = 60; i < 120; ++i) t += "filler" + std::to_string(i) + " ";
  return t;
}

TEST(SnippetTest, ShortTextIsWholeWithWhitespaceCollapsed) {
  EXPECT_EQ(Snippet("  I prefer\n\n  Postgres\t over MySQL \n", "postgres"), "I prefer Postgres over MySQL");
  EXPECT_EQ(Snippet("", "x"), "");
  EXPECT_EQ(Snippet("   \n ", "x"), "");
}

TEST(SnippetTest, StartsNearTheFirstQueryWordWithMarkedCuts) {
  std::string s = Snippet(LongText(), "which DATABASE, postgres?", 80);
  EXPECT_LE(oc::Utf8Length(s), 80u);
  EXPECT_NE(s.find("Postgres decision"), std::string::npos) << s;
  EXPECT_EQ(s.rfind("\xE2\x80\xA6", 0), 0u) << s;                       // starts with …
  EXPECT_EQ(s.compare(s.size() - 3, 3, "\xE2\x80\xA6"), 0) << s;       // ends with …
  EXPECT_NE(s.find("filler"), std::string::npos);                     // context before and after
  EXPECT_GT(s.find("Postgres"), 3u);
}

TEST(SnippetTest, WithoutAHitItIsTheStart) {
  std::string s = Snippet(LongText(), "kangaroo", 60);
  EXPECT_LE(oc::Utf8Length(s), 60u);
  EXPECT_EQ(s.rfind("filler0 filler1", 0), 0u) << s;
  ASSERT_EQ(s.compare(s.size() - 3, 3, "\xE2\x80\xA6"), 0);
  std::string body = s.substr(0, s.size() - 3);
  std::string text = LongText();
  ASSERT_EQ(text.rfind(body, 0), 0u) << s;
  EXPECT_EQ(text[body.size()], ' ') << s;  // ends at a whole word
}

TEST(SnippetTest, MatchesWholeWordStartsOnly) {
  std::string text = "concatenate " + LongText() + " cat";
  std::string s = Snippet(text, "cat", 40);
  EXPECT_LE(oc::Utf8Length(s), 40u);
  EXPECT_NE(s.find("cat"), std::string::npos);
  EXPECT_EQ(s.find("concatenate"), std::string::npos) << s;  // the hit is the word at the end
  EXPECT_EQ(s.compare(s.size() - 3, 3, "cat"), 0) << s;        // the tail fits: no trailing marker
}

TEST(SnippetTest, Utf8IsNeverCutInsideACharacter) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "日本語é";
  text += " Ziel ";
  for (int i = 0; i < 200; ++i) text += "ñandú";
  for (size_t max : {1, 2, 3, 5, 17, 64, 240}) {
    std::string s = Snippet(text, "ziel", max);
    EXPECT_TRUE(ValidUtf8(s)) << max;
    EXPECT_LE(oc::Utf8Length(s), max);
  }
  EXPECT_NE(Snippet(text, "ziel", 64).find("Ziel"), std::string::npos);
  EXPECT_EQ(Snippet(text, "ziel", 0), "");
}

}  // namespace
}  // namespace oc::memory
