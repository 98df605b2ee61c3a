// Long-term memory benchmark (docs/PERFORMANCE.md "Long-term memory"): index throughput with the
// local embedder, and search latency at several corpus sizes for every way of finding a chunk —
// vec0 float KNN (memory_vec), vec0 int8 and bit KNN (+ rescoring with the float vectors), FTS5
// BM25, MemoryStore::Search (vector only, text only, hybrid) — next to a brute-force dot-product
// scan in plain C++ over the same vectors held in memory, all measured in the same run, with
// recall against the exact answers. Prints figures, asserts nothing.
//
//   memory_bench [--quick] [--sizes 10000,100000[,1000000]] [--queries 200] [--index-chunks 5000]
//                [--data-dir <build>/bench-data] [--rebuild] [--search-only]
//   --search-only: skip the vec0 comparisons and the exact BM25 timing (faster at 1M)
//   --quick: a smoke run (2000 chunks, 50 queries, 1000 chunks indexed)
//
// The corpus is synthetic but shaped like memory files: dated logs and notes made of sentences
// over a Zipf-distributed vocabulary (a list of common English words plus generated words),
// chunked by ChunkMarkdown (400 tokens, 80 overlap) and embedded by LocalEmbedding (384 dims).
// Building a corpus is slow at 1M chunks, so each is kept in <data-dir>/memory-<N>.db and reused.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "bench_util.h"
#include "memory/memory_service.h"
#include "memory/memory_store.h"
#include "memory/memory_store_index.h"
#include "memory/memory_text.h"
#include "store/database.h"

namespace {

namespace fs = std::filesystem;
using oc::memory::MemoryStore;
using Clock = std::chrono::steady_clock;

constexpr int kDims = 384;
constexpr const char* kWorkspace = "/bench/workspace";
constexpr const char* kModel = "local/hash-v1-384";

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "memory_bench: %s\n", why.c_str());
  std::exit(1);
}

template <class T>
T Check(oc::Result<T> result, const char* what) {
  if (!result.ok()) Die(std::string(what) + ": " + result.error().message);
  return std::move(result).value();
}
void Check(const oc::Status& status, const char* what) {
  if (!status.ok()) Die(std::string(what) + ": " + status.error().message);
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// ---- Synthetic memory files ----

// Function words first (the most frequent in any English text), then content words of the kind
// memories are made of; generated words make up the long tail.
const char* const kFunctionWords[] = {
    "the", "of", "and", "to", "a", "in", "is", "it", "that", "for", "was", "on", "with", "as", "he", "she", "they",
    "be", "at", "by", "this", "had", "not", "are", "but", "from", "or", "have", "an", "we", "you", "which", "were",
    "her", "his", "all", "there", "can", "been", "if", "more", "when", "will", "would", "who", "so", "no", "do",
    "does", "what", "about", "up", "out", "them", "some", "then", "than", "into", "could", "only", "other", "also",
    "its", "over", "after", "just", "like", "our", "my", "me", "how", "where", "while", "because", "before"};
const char* const kContentWords[] = {
    "user", "prefers", "project", "deploy", "server", "database", "postgres", "mysql", "meeting", "friday",
    "monday", "release", "bug", "fix", "review", "team", "customer", "invoice", "budget", "travel", "flight", "hotel",
    "berlin", "paris", "london", "tokyo", "coffee", "tea", "lunch", "dinner", "birthday", "gift", "sister", "brother",
    "mother", "father", "doctor", "appointment", "password", "backup", "laptop", "phone", "email", "calendar",
    "reminder", "deadline", "contract", "lawyer", "bank", "account", "transfer", "garden", "tomatoes", "recipe",
    "pasta", "bread", "running", "marathon", "gym", "yoga", "book", "novel", "author", "movie", "concert", "guitar",
    "piano", "lesson", "school", "teacher", "homework", "kubernetes", "docker", "cluster", "latency", "cache",
    "index", "query", "schema", "migration", "api", "token", "key", "rotation", "certificate", "domain", "dns",
    "router", "wifi", "printer", "office", "rent", "landlord", "apartment", "car", "insurance", "repair", "mechanic",
    "tyres", "winter", "summer", "holiday", "beach", "mountain", "hiking", "camera", "photos", "album", "wedding",
    "anniversary", "allergy", "peanuts", "vegetarian", "spicy", "food", "restaurant", "booking", "table", "quiet",
    "morning", "evening", "weekend", "always", "never", "usually", "likes", "hates", "wants", "needs", "asked",
    "decided", "agreed", "moved", "started", "finished", "planned", "cancelled", "postponed", "confirmed", "paid",
    "ordered", "shipped", "returned", "broken", "working", "slow", "fast", "cheap", "expensive", "important",
    "urgent", "later", "today", "tomorrow", "yesterday", "next", "week", "month", "year"};
const char* const kSyllables[] = {"ka", "lo", "mer", "tin", "sa", "ro", "vel", "dun", "pi", "gar", "nex", "tho",
                                  "ul", "bre", "zo", "fi", "mon", "dra", "se", "qu", "ly", "an", "or", "ix"};

class TextGenerator {
 public:
  explicit TextGenerator(uint64_t seed) : random_(seed) {
    for (const char* w : kFunctionWords) words_.push_back(w);
    for (const char* w : kContentWords) words_.push_back(w);
    std::set<std::string> seen(words_.begin(), words_.end());
    std::uniform_int_distribution<size_t> syllable(0, std::size(kSyllables) - 1), count(2, 4);
    while (words_.size() < 8000) {
      std::string w;
      for (size_t n = count(random_); n > 0; --n) w += kSyllables[syllable(random_)];
      if (seen.insert(w).second) words_.push_back(w);
    }
    // Zipf (s = 1) over the vocabulary: common words first.
    double total = 0;
    for (size_t r = 1; r <= words_.size(); ++r) total += 1.0 / static_cast<double>(r);
    double acc = 0;
    for (size_t r = 1; r <= words_.size(); ++r) cdf_.push_back(acc += 1.0 / static_cast<double>(r) / total);
  }

  std::string Word() {
    const double u = std::uniform_real_distribution<double>(0, 1)(random_);
    const size_t i = std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
    return words_[std::min(i, words_.size() - 1)];
  }
  // A word of rank > the function words (what a query's key words are).
  std::string ContentWord() {
    for (;;) {
      std::string w = Word();
      if (std::find(std::begin(kFunctionWords), std::end(kFunctionWords), w) == std::end(kFunctionWords)) return w;
    }
  }
  std::string FunctionWord() { return kFunctionWords[random_() % 12]; }
  std::string Sentence() {
    std::string s;
    for (int n = std::uniform_int_distribution<int>(6, 18)(random_); n > 0; --n) s += (s.empty() ? "" : " ") + Word();
    s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    return s + ".";
  }
  // A dated log (as memory_store writes) or a topic note of paragraphs.
  std::string File(int index) {
    std::ostringstream out;
    if (index % 2 == 0) {
      out << "# 2026-" << (1 + index % 12) << "-" << (1 + index % 28) << "\n\n";
      for (int n = std::uniform_int_distribution<int>(8, 40)(random_); n > 0; --n) {
        out << "- " << (8 + n % 12) << ":" << (10 + n % 50) << " " << Sentence() << "\n";
      }
      return out.str();
    }
    out << "# " << Word() << " " << Word() << "\n\n";
    for (int p = std::uniform_int_distribution<int>(2, 8)(random_); p > 0; --p) {
      if (p % 3 == 0) out << "## " << Word() << "\n\n";
      for (int n = std::uniform_int_distribution<int>(2, 6)(random_); n > 0; --n) out << Sentence() << " ";
      out << "\n\n";
    }
    return out.str();
  }
  std::mt19937_64& random() { return random_; }

 private:
  std::mt19937_64 random_;
  std::vector<std::string> words_;
  std::vector<double> cdf_;
};

// ---- Building a corpus ----

struct IndexTimes {
  size_t chunks = 0;
  double chunk_ms = 0, embed_ms = 0, store_ms = 0;
};

// Indexes files until `chunks` chunks exist, as the memory service does: ChunkMarkdown (+ content
// hashes), LocalEmbedding, ReplaceFile, PutVectors. `extra` also fills the comparison tables
// (vec0 int8[384] and bit[384]; memory_vec itself is vec0 float[384] cosine).
IndexTimes IndexCorpus(MemoryStore& store, size_t chunks, bool bulk, bool extra) {
  TextGenerator generator(42);
  IndexTimes times;
  oc::store::Database& db = store.database();
  std::optional<oc::store::Database::Transaction> batch;
  for (int file = 0; times.chunks < chunks; ++file) {
    if (bulk && file % 500 == 0) {
      if (batch) Check(batch->Commit(), "commit");
      batch.emplace(Check(db.Begin(), "begin"));
    }
    const std::string text = generator.File(file);
    auto t0 = Clock::now();
    std::vector<oc::memory::TextChunk> pieces = oc::memory::ChunkMarkdown(text);
    if (pieces.size() > chunks - times.chunks) pieces.resize(chunks - times.chunks);
    auto t1 = Clock::now();
    std::vector<MemoryStore::ChunkVector> vectors;
    for (const auto& piece : pieces) vectors.push_back({0, piece.hash, oc::memory::LocalEmbedding(piece.text, kDims)});
    auto t2 = Clock::now();
    oc::memory::FileState state{"memory/file-" + std::to_string(file) + ".md", "memory",
                                oc::memory::ContentHash(text), static_cast<int64_t>(text.size()), 0, 0};
    auto diff = Check(store.ReplaceFile(kWorkspace, state, pieces), "ReplaceFile");
    for (size_t i = 0; i < vectors.size(); ++i) vectors[i].chunk_id = diff.added[i];
    Check(store.PutVectors(vectors), "PutVectors");
    if (extra) {
      for (const auto& v : vectors) {
        const std::string bytes = oc::memory::VectorBytes(v.vector);
        const oc::store::Blob blob{bytes};
        Check(db.Run("INSERT INTO bench_int8(chunk_id, workspace, embedding) "
                     "VALUES (?1, ?2, vec_quantize_int8(?3, 'unit'))",
                     {v.chunk_id, std::string_view(kWorkspace), blob}),
              "bench_int8");
        Check(db.Run("INSERT INTO bench_bit(chunk_id, workspace, embedding) VALUES (?1, ?2, vec_quantize_binary(?3))",
                     {v.chunk_id, std::string_view(kWorkspace), blob}), "bench_bit");
      }
    }
    auto t3 = Clock::now();
    times.chunk_ms += Ms(t1 - t0);
    times.embed_ms += Ms(t2 - t1);
    times.store_ms += Ms(t3 - t2);
    times.chunks += pieces.size();
    if (bulk && file % 2000 == 0 && file > 0) std::fprintf(stderr, "  ... %zu chunks\n", times.chunks);
  }
  if (batch) Check(batch->Commit(), "commit");
  return times;
}

void CreateComparisonTables(oc::store::Database& db) {
  Check(db.Exec("CREATE VIRTUAL TABLE bench_int8 USING vec0(chunk_id INTEGER PRIMARY KEY, workspace TEXT "
                "PARTITION KEY, embedding int8[384]);"
                "CREATE VIRTUAL TABLE bench_bit USING vec0(chunk_id INTEGER PRIMARY KEY, workspace TEXT "
                "PARTITION KEY, embedding bit[384]);"
                "CREATE TABLE bench_done(chunks INTEGER NOT NULL)"),
        "comparison tables");
}

std::unique_ptr<MemoryStore> OpenCorpus(const fs::path& dir, size_t chunks, bool rebuild, const fs::path& vec0) {
  const fs::path path = dir / ("memory-" + std::to_string(chunks) + ".db");
  if (fs::exists(path) && !rebuild) {
    auto store = Check(MemoryStore::Open(path, vec0), "open corpus");
    auto done = store->database().QueryInt("SELECT chunks FROM bench_done");
    if (done.ok() && done->value_or(0) == static_cast<int64_t>(chunks)) return store;
    store.reset();
  }
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
  std::fprintf(stderr, "building %s (%zu chunks; cached for later runs)\n", path.c_str(), chunks);
  auto store = Check(MemoryStore::Open(path, vec0), "create corpus");
  Check(store->UseModel(kModel, kDims), "UseModel");
  CreateComparisonTables(store->database());
  const auto start = Clock::now();
  IndexTimes times = IndexCorpus(*store, chunks, /*bulk=*/true, /*extra=*/true);
  Check(store->database().Run("INSERT INTO bench_done(chunks) VALUES (?1)", {static_cast<int64_t>(times.chunks)}),
        "bench_done");
  std::fprintf(stderr, "built in %.1f s\n", Ms(Clock::now() - start) / 1000);
  return store;
}

// ---- Queries and the exact answer ----

struct Vectors {
  std::vector<int64_t> ids;
  std::vector<float> data;  // ids.size() x kDims, row-major
};

Vectors LoadVectors(oc::store::Database& db) {
  Vectors v;
  Check(db.Query("SELECT c.id, e.vector FROM memory_chunks AS c JOIN memory_embedding_cache AS e "
                 "ON e.model = c.model AND e.hash = c.hash ORDER BY c.id",
                 {}, [&](const oc::store::Row& row) {
                   std::string_view bytes = row.BlobBytes(1);
                   if (bytes.size() != kDims * sizeof(float)) return;
                   v.ids.push_back(row.Int(0));
                   const size_t at = v.data.size();
                   v.data.resize(at + kDims);
                   std::memcpy(v.data.data() + at, bytes.data(), bytes.size());
                 }),
        "load vectors");
  return v;
}

struct Query {
  std::string text;
  std::vector<float> vector;
};

// Queries look like questions: two function words and three key words — of a random chunk for
// half of them (an answer exists), drawn from the vocabulary for the other half.
std::vector<Query> MakeQueries(oc::store::Database& db, size_t count, size_t chunks) {
  TextGenerator generator(7);
  std::vector<Query> queries;
  std::uniform_int_distribution<int64_t> pick(1, static_cast<int64_t>(chunks));
  while (queries.size() < count) {
    std::vector<std::string> key_words;
    if (queries.size() % 2 == 0) {
      auto text = Check(db.QueryText("SELECT text FROM memory_chunks WHERE id >= ?1 ORDER BY id LIMIT 1",
                                     {pick(generator.random())}), "query source");
      std::istringstream in(text.value_or(""));
      std::vector<std::string> words;
      for (std::string w; in >> w;) {
        while (!w.empty() && !std::isalpha(static_cast<unsigned char>(w.back()))) w.pop_back();
        if (w.size() >= 3 && std::isalpha(static_cast<unsigned char>(w[0])) &&
            std::find(std::begin(kFunctionWords), std::end(kFunctionWords), w) == std::end(kFunctionWords)) {
          words.push_back(w);
        }
      }
      for (int n = 0; n < 3 && !words.empty(); ++n) key_words.push_back(words[generator.random()() % words.size()]);
    } else {
      for (int n = 0; n < 3; ++n) key_words.push_back(generator.ContentWord());
    }
    Query q;
    q.text = generator.FunctionWord() + " " + generator.FunctionWord();
    for (const std::string& w : key_words) q.text += " " + w;
    q.vector = oc::memory::LocalEmbedding(q.text, kDims);
    queries.push_back(std::move(q));
  }
  return queries;
}

float Dot(const float* a, const float* b) {
  // Eight partial sums: plain C++ the compiler may keep in vector registers.
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < kDims; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += a[i + j] * b[i + j];
  }
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// The exact top k by dot product (vectors are unit length: cosine).
std::vector<int64_t> BruteForce(const Vectors& v, const std::vector<float>& q, size_t k) {
  std::vector<std::pair<float, int64_t>> heap;  // min-heap of the best k
  auto worse = [](const auto& a, const auto& b) { return a.first > b.first; };
  for (size_t i = 0; i < v.ids.size(); ++i) {
    const float s = Dot(v.data.data() + i * kDims, q.data());
    if (heap.size() < k) {
      heap.emplace_back(s, v.ids[i]);
      std::push_heap(heap.begin(), heap.end(), worse);
    } else if (s > heap.front().first) {
      std::pop_heap(heap.begin(), heap.end(), worse);
      heap.back() = {s, v.ids[i]};
      std::push_heap(heap.begin(), heap.end(), worse);
    }
  }
  std::sort(heap.begin(), heap.end(), worse);
  std::vector<int64_t> ids;
  for (const auto& [s, id] : heap) ids.push_back(id);
  return ids;
}

double Recall(const std::vector<int64_t>& exact, const std::vector<int64_t>& found) {
  if (exact.empty()) return 1;
  std::unordered_set<int64_t> want(exact.begin(), exact.end());
  size_t hit = 0;
  for (int64_t id : found) hit += want.count(id);
  return static_cast<double>(hit) / static_cast<double>(exact.size());
}

// ---- Measured methods ----

std::vector<int64_t> Knn(oc::store::Database& db, std::string_view sql, oc::store::Blob query, size_t k) {
  std::vector<int64_t> ids;
  Check(db.Query(sql, {query, static_cast<int64_t>(k), std::string_view(kWorkspace)},
                 [&](const oc::store::Row& row) { ids.push_back(row.Int(0)); }),
        "knn");
  return ids;
}

// Candidates from a coarse KNN, rescored with the exact vectors (as MemoryStore does with the cache).
std::vector<int64_t> Rescore(const std::vector<int64_t>& ids, const Vectors& v, const std::vector<float>& q,
                             size_t k) {
  std::vector<std::pair<float, int64_t>> scored;
  for (int64_t id : ids) {
    const size_t row = std::lower_bound(v.ids.begin(), v.ids.end(), id) - v.ids.begin();
    if (row < v.ids.size() && v.ids[row] == id) scored.emplace_back(Dot(v.data.data() + row * kDims, q.data()), id);
  }
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<int64_t> out;
  for (size_t i = 0; i < std::min(k, scored.size()); ++i) out.push_back(scored[i].second);
  return out;
}

struct Figure {
  std::string name;
  std::vector<double> ms;
  double recall = -1;  // mean recall@10 against the exact float answer; -1 = not applicable
};

// "Search(): hybrid, top 6 (defaults)" -> "search_hybrid_top_6_defaults", for bench::Record.
std::string Slug(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!out.empty() && out.back() != '_') out += '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

void Print(size_t chunks, const std::vector<Figure>& figures, double brute_p50) {
  std::printf("\n%zu chunks\n", chunks);
  for (const Figure& f : figures) {
    const std::string name = "memory." + std::to_string(chunks) + "." + Slug(f.name);
    bench::Record(name + ".p50", Percentile(f.ms, 0.5), "ms");
    bench::Record(name + ".p99", Percentile(f.ms, 0.99), "ms");
    if (f.recall >= 0) bench::Record(name + ".recall", f.recall, "x");
  }
  std::printf("  %-64s %9s %9s %8s\n", "method", "p50 ms", "p99 ms", "recall");
  for (const Figure& f : figures) {
    char recall[32] = "-";
    if (f.recall >= 0) std::snprintf(recall, sizeof recall, "%.3f", f.recall);
    std::printf("  %-64s %9.2f %9.2f %8s\n", f.name.c_str(), Percentile(f.ms, 0.5), Percentile(f.ms, 0.99),
                recall);
  }
  for (const Figure& f : figures) {
    if (f.name.rfind("vec0 float", 0) == 0 && brute_p50 > 0) {
      std::printf("  ratio vec0 float / brute force (p50): %.1fx\n", Percentile(f.ms, 0.5) / brute_p50);
    }
  }
}

template <class Fn>
Figure Measure(const std::string& name, const std::vector<Query>& queries, Fn&& run,
               const std::vector<std::vector<int64_t>>* exact = nullptr) {
  Figure figure{name, {}, exact ? 0.0 : -1.0};
  for (size_t i = 0; i < queries.size(); ++i) {
    const auto start = Clock::now();
    std::vector<int64_t> found = run(queries[i]);
    figure.ms.push_back(Ms(Clock::now() - start));
    if (exact) figure.recall += Recall((*exact)[i], found) / static_cast<double>(queries.size());
  }
  return figure;
}

// The exact BM25 answer: every word of the query, no budget (what Search()'s text side approximates).
std::vector<int64_t> ExactBm25(oc::store::Database& db, const std::string& text, size_t k) {
  std::vector<int64_t> ids;
  const std::string match = oc::memory::FtsMatchQuery(text);
  Check(db.Query("SELECT c.id FROM memory_fts JOIN memory_chunks AS c ON c.id = memory_fts.rowid "
                 "WHERE memory_fts MATCH ?1 AND c.workspace = ?2 ORDER BY bm25(memory_fts) LIMIT ?3",
                 {std::string_view(match), std::string_view(kWorkspace), static_cast<int64_t>(k)},
                 [&](const oc::store::Row& row) { ids.push_back(row.Int(0)); }),
        "exact bm25");
  return ids;
}

// Search() through a read-only store, as the memory service runs it.
auto SearchWith(MemoryStore& store, bool text, bool vector, size_t top_k) {
  return [&store, text, vector, top_k](const Query& q) {
    oc::memory::SearchQuery query;
    query.workspace = kWorkspace;
    if (text) query.text = q.text;
    if (vector) query.vector = q.vector;
    query.top_k = top_k;
    std::vector<int64_t> ids;
    for (const auto& hit : Check(store.Search(query), "Search")) ids.push_back(hit.chunk_id);
    return ids;
  };
}

void MeasureVec0(oc::store::Database& db, const Vectors& vectors, const std::vector<Query>& queries,
                 const std::vector<std::vector<int64_t>>& exact, std::vector<Figure>& figures) {
  auto knn = [&db](std::string sql, size_t k) {
    return [&db, sql, k](const Query& q) {
      const std::string bytes = oc::memory::VectorBytes(q.vector);
      return Knn(db, sql, oc::store::Blob{bytes}, k);
    };
  };
  const std::string float_knn =
      "SELECT chunk_id FROM memory_vec WHERE embedding MATCH ?1 AND k = ?2 AND workspace = ?3";
  const std::string int8_knn = "SELECT chunk_id FROM bench_int8 WHERE embedding MATCH vec_quantize_int8(?1, 'unit') "
                               "AND k = ?2 AND workspace = ?3";
  const std::string bit_knn = "SELECT chunk_id FROM bench_bit WHERE embedding MATCH vec_quantize_binary(?1) "
                              "AND k = ?2 AND workspace = ?3";
  figures.push_back(Measure("vec0 float[384] cosine KNN k=10", queries, knn(float_knn, 10), &exact));
  figures.push_back(Measure("vec0 int8[384] KNN k=10", queries, knn(int8_knn, 10), &exact));
  auto int8_coarse = knn(int8_knn, 40);
  figures.push_back(Measure("vec0 int8[384] KNN k=40 + float rescore", queries, [&, int8_coarse](const Query& q) {
    return Rescore(int8_coarse(q), vectors, q.vector, 10);
  }, &exact));
  for (size_t k : {40, 160}) {
    auto coarse = knn(bit_knn, k);
    figures.push_back(Measure("vec0 bit[384] KNN k=" + std::to_string(k) + " + float rescore", queries,
                              [&, coarse](const Query& q) { return Rescore(coarse(q), vectors, q.vector, 10); },
                              &exact));
  }
}

// How flat the neighbourhoods are: the mean exact cosine of the 1st, 10th and 100th neighbour.
void PrintNeighbourhood(const Vectors& vectors, const std::vector<Query>& queries) {
  double at[3] = {0, 0, 0};
  for (const Query& q : queries) {
    const std::vector<int64_t> top = BruteForce(vectors, q.vector, 100);
    const size_t ranks[3] = {0, 9, 99};
    for (int i = 0; i < 3; ++i) {
      if (top.size() <= ranks[i]) continue;
      const size_t row = std::lower_bound(vectors.ids.begin(), vectors.ids.end(), top[ranks[i]]) - vectors.ids.begin();
      at[i] += Dot(vectors.data.data() + row * kDims, q.vector.data()) / static_cast<double>(queries.size());
    }
  }
  std::printf("  exact neighbours, mean cosine: 1st %.3f, 10th %.3f, 100th %.3f\n", at[0], at[1], at[2]);
}

// Search() through a fresh read-only store (as the memory service runs it); its first vector search
// builds the int8 copy, timed on its own. Adds the figures; returns the build time in ms.
double MeasureSearch(const fs::path& path, const fs::path& vec0, oc::store::Database& db, const Vectors& vectors,
                     const std::vector<Query>& queries, const std::vector<std::vector<int64_t>>& exact,
                     bool search_only, std::vector<Figure>& figures) {
  MemoryStore::Options options;
  options.read_only = true;
  const size_t need = vectors.ids.size() * oc::memory::internal::Int8Index::BytesPerVector(kDims);
  const bool fits = need <= options.max_index_bytes;
  if (!fits) options.max_index_bytes = need + (size_t{64} << 20);  // measured anyway; the output says so
  auto reader = Check(MemoryStore::Open(path, vec0, options), "open reader");
  const auto build_start = Clock::now();
  SearchWith(*reader, false, true, 10)(queries.front());
  const double build_ms = Ms(Clock::now() - build_start);
  figures.push_back(Measure("Search(): vector only, top 10", queries, SearchWith(*reader, false, true, 10), &exact));
  std::vector<std::vector<int64_t>> exact_text;
  Figure exact_bm25 = Measure("FTS5 exact BM25, all words, top 6", queries, [&](const Query& q) {
    exact_text.push_back(ExactBm25(db, q.text, 6));
    return exact_text.back();
  });
  if (!search_only) figures.push_back(std::move(exact_bm25));
  figures.push_back(Measure("Search(): FTS only (BM25, budget), top 6", queries, SearchWith(*reader, true, false, 6),
                            &exact_text));
  figures.back().name += " [recall vs exact BM25]";
  figures.push_back(Measure("Search(): hybrid, top 6 (defaults)", queries, SearchWith(*reader, true, true, 6)));
  if (!fits) {
    MemoryStore::Options vec0_only;
    vec0_only.read_only = true;
    vec0_only.max_index_bytes = 0;
    auto fallback = Check(MemoryStore::Open(path, vec0, vec0_only), "open reader");
    std::vector<Query> few(queries.begin(), queries.begin() + std::min<size_t>(queries.size(), 20));
    figures.push_back(
        Measure("Search(): hybrid, default cap (vec0 KNN), 20 q", few, SearchWith(*fallback, true, true, 6)));
  }
  return build_ms;
}

void RunSize(size_t chunks, size_t query_count, const fs::path& dir, bool rebuild, const fs::path& vec0,
             bool search_only) {
  auto store = OpenCorpus(dir, chunks, rebuild, vec0);
  oc::store::Database& db = store->database();
  const Vectors vectors = LoadVectors(db);
  const std::vector<Query> queries = MakeQueries(db, query_count, vectors.ids.size());
  std::vector<std::vector<int64_t>> exact;
  std::vector<Figure> figures;
  figures.push_back(Measure("brute force, C++ over floats in memory", queries, [&](const Query& q) {
    exact.push_back(BruteForce(vectors, q.vector, 10));
    return exact.back();
  }));
  const double brute_p50 = Percentile(figures.back().ms, 0.5);
  if (!search_only) MeasureVec0(db, vectors, queries, exact, figures);
  const fs::path path = dir / ("memory-" + std::to_string(chunks) + ".db");
  const double build_ms = MeasureSearch(path, vec0, db, vectors, queries, exact, search_only, figures);
  Print(vectors.ids.size(), figures, brute_p50);
  PrintNeighbourhood(vectors, queries);
  const size_t need = vectors.ids.size() * oc::memory::internal::Int8Index::BytesPerVector(kDims);
  std::printf("  int8 copy: built by the first search in %.0f ms, %.1f MiB%s\n", build_ms,
              static_cast<double>(need) / (1 << 20),
              need <= MemoryStore::Options{}.max_index_bytes
                  ? ""
                  : " (over the default 256 MiB max_index_bytes: raised for this run)");
}

void RunIndexThroughput(size_t chunks, const fs::path& dir, const fs::path& vec0) {
  const fs::path path = dir / "memory-index-throughput.db";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
  {
    auto store = Check(MemoryStore::Open(path, vec0), "open");
    Check(store->UseModel(kModel, kDims), "UseModel");
    const auto start = Clock::now();
    IndexTimes t = IndexCorpus(*store, chunks, /*bulk=*/false, /*extra=*/false);
    const double total = Ms(Clock::now() - start);
    std::printf("index throughput (fresh state.db, %zu chunks, one transaction per file and per vector batch): "
                "%.0f chunks/s\n  per chunk: chunk+hash %.1f us, LocalEmbedding %.1f us, "
                "ReplaceFile+PutVectors %.1f us\n",
                t.chunks, t.chunks / (total / 1000), 1000 * t.chunk_ms / t.chunks, 1000 * t.embed_ms / t.chunks,
                1000 * t.store_ms / t.chunks);
    bench::Record("memory.index.throughput", t.chunks / (total / 1000), "/s");
  }
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
}

std::vector<size_t> ParseSizes(const std::string& list) {
  std::vector<size_t> sizes;
  std::istringstream in(list);
  for (std::string item; std::getline(in, item, ',');) sizes.push_back(std::stoul(item));
  return sizes;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes = {10000, 100000};
  size_t queries = 200, index_chunks = 5000;
  bool rebuild = false, search_only = false;
  const fs::path exe = fs::read_symlink("/proc/self/exe");
  fs::path dir = exe.parent_path().parent_path() / "bench-data";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--sizes" && has_value) sizes = ParseSizes(argv[++i]);
    else if (arg == "--queries" && has_value) queries = std::stoul(argv[++i]);
    else if (arg == "--index-chunks" && has_value) index_chunks = std::stoul(argv[++i]);
    else if (arg == "--data-dir" && has_value) dir = argv[++i];
    else if (arg == "--rebuild") rebuild = true;
    else if (arg == "--search-only") search_only = true;
    else if (arg == "--quick") sizes = {2000}, queries = 50, index_chunks = 1000;
    else Die("usage: memory_bench [--quick] [--sizes N,N,...] [--queries Q] [--index-chunks N] [--data-dir DIR] "
             "[--rebuild] [--search-only]");
  }
  fs::create_directories(dir);
  const fs::path vec0 = oc::memory::DefaultVecExtensionPath();
  std::printf("memory_bench: %d dims, local embedder, vec0 %s, data in %s\n", kDims, vec0.c_str(), dir.c_str());
  RunIndexThroughput(index_chunks, dir, vec0);
  for (size_t n : sizes) RunSize(n, queries, dir, rebuild, vec0, search_only);
  return 0;
}
