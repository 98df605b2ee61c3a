#include "memory/memory_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_set>
#include <utility>

#include "common/json.h"
#include "memory/memory_store_index.h"
#include "store/database.h"

namespace oc::memory {

namespace {

using store::Blob;
using store::Row;

// The int8 scan hands this many times the wanted candidates to the exact rescoring
// (bench/memory_bench.cpp: recall@10 against exact float search is 1.0 at 2x).
constexpr size_t kRescoreOversample = 2;
// When a path prefix filters, vec0 KNN fetches this many times more (it cannot filter on the path).
constexpr size_t kPrefixOversample = 4;
// sqlite-vec's limit on k.
constexpr size_t kMaxKnn = 4096;
// The text side fetches this many times the wanted candidates before the workspace filter.
constexpr size_t kWorkspaceSlack = 4;

// memory_meta.vector_format: the layout of memory_vec; another value makes UseModel rebuild it.
constexpr std::string_view kVectorFormat = "vec0-float-cosine";

constexpr std::string_view kVecHint =
    ". Run scripts/install-deps.sh, set memory.vecExtension to the file, or set memory.enabled to false.";

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) return 0;
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  if (na <= 0 || nb <= 0) return 0;
  return dot / std::sqrt(na * nb);
}

Status PutMeta(store::Database& db, std::string_view key, std::string_view value) {
  return db.Run("INSERT INTO memory_meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
                {key, value});
}

StoredChunk ReadStoredChunk(const Row& row) {
  // Columns: id, workspace, path, source, line_start, line_end, text, hash, model IS NOT NULL, updated_at
  StoredChunk chunk;
  chunk.id = row.Int(0);
  chunk.workspace = row.Text(1);
  chunk.path = row.Text(2);
  chunk.source = row.Text(3);
  chunk.line_start = static_cast<int>(row.Int(4));
  chunk.line_end = static_cast<int>(row.Int(5));
  chunk.text = row.Text(6);
  chunk.hash = row.Text(7);
  chunk.embedded = row.Int(8) != 0;
  chunk.updated_at = row.Int(9);
  return chunk;
}

// ---- Search helpers ----

struct Candidate {
  SearchHit hit;
  std::string hash, model;  // model: the chunk's (NULL → "": no vector)
  std::vector<float> vector;
};
using Candidates = std::unordered_map<int64_t, Candidate>;

void FillLocation(Candidate& c, const Row& row, int first) {
  // Columns from `first`: path, source, line_start, line_end, hash, model
  c.hit.path = row.Text(first);
  c.hit.source = row.Text(first + 1);
  c.hit.line_start = static_cast<int>(row.Int(first + 2));
  c.hit.line_end = static_cast<int>(row.Int(first + 3));
  c.hash = row.Text(first + 4);
  c.model = row.Text(first + 5);
}

// Keeps the `want` best by vector score.
void AddVectorCandidates(std::vector<Candidate> found, size_t want, Candidates& out) {
  std::sort(found.begin(), found.end(), [](const Candidate& a, const Candidate& b) {
    if (a.hit.vector_score != b.hit.vector_score) return a.hit.vector_score > b.hit.vector_score;
    return a.hit.chunk_id < b.hit.chunk_id;
  });
  if (found.size() > want) found.resize(want);
  for (Candidate& c : found) out.emplace(c.hit.chunk_id, std::move(c));
}

// The int8 copy's candidates with their exact cosine from the cached float vectors.
Status RescoreCandidates(store::Database& db, const SearchQuery& query, const std::string& model,
                         const std::vector<int64_t>& ids, size_t want, Candidates& out) {
  std::vector<Candidate> found;
  for (int64_t id : ids) {
    OC_TRY(db.Query("SELECT c.path, c.source, c.line_start, c.line_end, c.hash, c.model, e.vector "
                    "FROM memory_chunks AS c JOIN memory_embedding_cache AS e ON e.model = c.model AND e.hash = c.hash "
                    "WHERE c.id = ?1 AND c.workspace = ?2 AND c.model = ?3",
                    {id, std::string_view(query.workspace), std::string_view(model)}, [&](const Row& row) {
                      Candidate c;
                      c.hit.chunk_id = id;
                      FillLocation(c, row, 0);
                      c.vector = VectorFromBytes(row.BlobBytes(6));
                      c.hit.vector_score = std::clamp(Cosine(*query.vector, c.vector), 0.0, 1.0);
                      found.push_back(std::move(c));
                    }));
  }
  AddVectorCandidates(std::move(found), want, out);
  return Status::Ok();
}

// vec0 KNN (exact cosine), over-fetching when a path prefix filters.
Status VecKnnCandidates(store::Database& db, const SearchQuery& query, size_t want, Candidates& out) {
  const std::string bytes = VectorBytes(*query.vector);
  const size_t k = std::min(kMaxKnn, want * (query.path_prefix.empty() ? 1 : kPrefixOversample));
  std::vector<Candidate> found;
  OC_TRY(db.Query("SELECT v.chunk_id, v.distance, c.path, c.source, c.line_start, c.line_end, c.hash, c.model "
                  "FROM (SELECT chunk_id, distance FROM memory_vec WHERE embedding MATCH ?1 AND k = ?2 "
                  "AND workspace = ?3) AS v JOIN memory_chunks AS c ON c.id = v.chunk_id "
                  "WHERE substr(c.path, 1, length(?4)) = ?4",
                  {Blob{bytes}, static_cast<int64_t>(k), std::string_view(query.workspace),
                   std::string_view(query.path_prefix)},
                  [&](const Row& row) {
                    Candidate c;
                    c.hit.chunk_id = row.Int(0);
                    FillLocation(c, row, 2);
                    c.hit.vector_score = std::clamp(1.0 - row.Real(1), 0.0, 1.0);
                    found.push_back(std::move(c));
                  }));
  AddVectorCandidates(std::move(found), want, out);
  return Status::Ok();
}

// The quoted terms of an FtsMatchQuery expression (`"a" OR "b""c"` → `"a"`, `"b""c"`).
std::vector<std::string> MatchTerms(std::string_view match) {
  std::vector<std::string> terms;
  size_t i = 0;
  while ((i = match.find('"', i)) != std::string_view::npos) {
    size_t j = i + 1;
    while (j < match.size() && !(match[j] == '"' && (j + 1 >= match.size() || match[j + 1] != '"'))) {
      j += match[j] == '"' ? 2 : 1;
    }
    terms.emplace_back(match.substr(i, j + 1 - i));
    i = j + 1;
  }
  return terms;
}

// The MATCH expression BM25 runs: the rarest terms whose matches add up to at most kTextBudget
// (at least the rarest one); "" when no term matches anything.
Result<std::string> BudgetedMatch(store::Database& db, const std::string& match) {
  std::vector<std::string> terms = MatchTerms(match);
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
  if (terms.size() <= 1) return match;
  std::vector<std::pair<int64_t, std::string>> by_count;  // matches, capped at budget + 1
  for (std::string& term : terms) {
    OC_ASSIGN(auto count,
              db.QueryInt("SELECT count(*) FROM (SELECT 1 FROM memory_fts WHERE memory_fts MATCH ?1 LIMIT ?2)",
                          {std::string_view(term), kTextBudget + 1}));
    if (count.value_or(0) > 0) by_count.emplace_back(*count, std::move(term));
  }
  std::sort(by_count.begin(), by_count.end());
  std::string budgeted;
  int64_t total = 0;
  for (const auto& [count, term] : by_count) {
    if (!budgeted.empty() && total + count > kTextBudget) break;
    total += count;
    budgeted += (budgeted.empty() ? "" : " OR ") + term;
  }
  return budgeted;
}

// Text side: the `want` best BM25 matches in the workspace. BM25 is computed for at most
// kTextBudget chunks (the newest when more match); the workspace filter runs on the best
// `want * kWorkspaceSlack` of them, then on all when that was not enough.
Status TextCandidates(store::Database& db, const SearchQuery& query, const std::string& match, size_t want,
                      Candidates& out) {
  OC_ASSIGN(std::string terms, BudgetedMatch(db, match));
  if (terms.empty()) return Status::Ok();
  size_t fetch = query.path_prefix.empty() ? want * kWorkspaceSlack : static_cast<size_t>(kTextBudget);
  for (;;) {
    std::vector<std::pair<int64_t, double>> scored;
    OC_TRY(db.Query("SELECT id, score FROM (SELECT rowid AS id, bm25(memory_fts) AS score FROM memory_fts "
                    "WHERE memory_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2) ORDER BY score LIMIT ?3",
                    {std::string_view(terms), kTextBudget, static_cast<int64_t>(fetch)},
                    [&](const Row& row) { scored.emplace_back(row.Int(0), row.Real(1)); }));
    size_t kept = 0;
    for (const auto& [id, bm25] : scored) {
      OC_TRY(db.Query("SELECT path, source, line_start, line_end, hash, model FROM memory_chunks "
                      "WHERE id = ?1 AND workspace = ?2 AND substr(path, 1, length(?3)) = ?3",
                      {id, std::string_view(query.workspace), std::string_view(query.path_prefix)},
                      [&](const Row& row) {
                        auto [it, inserted] = out.try_emplace(id);
                        if (inserted) {
                          it->second.hit.chunk_id = id;
                          FillLocation(it->second, row, 0);
                        }
                        it->second.hit.text_score = std::max(0.0, -bm25);  // normalised by the caller
                        ++kept;
                      }));
      if (kept >= want) break;
    }
    if (kept >= want || scored.size() < fetch || fetch >= static_cast<size_t>(kTextBudget)) return Status::Ok();
    fetch = static_cast<size_t>(kTextBudget);
  }
}

// The candidates' vectors for MMR: those the vector side did not bring, from the cache.
Status LoadVectors(store::Database& db, const std::vector<Candidate*>& list) {
  for (Candidate* c : list) {
    if (!c->vector.empty() || c->model.empty()) continue;
    OC_TRY(db.Query("SELECT vector FROM memory_embedding_cache WHERE model = ?1 AND hash = ?2",
                    {std::string_view(c->model), std::string_view(c->hash)},
                    [&](const Row& row) { c->vector = VectorFromBytes(row.BlobBytes(0)); }));
  }
  return Status::Ok();
}

// Greedy maximal marginal relevance: each pick maximises lambda * score - (1 - lambda) * the
// highest cosine similarity to an earlier pick.
std::vector<Candidate*> MmrOrder(std::vector<Candidate*> list, size_t top_k, double lambda) {
  std::vector<Candidate*> picked;
  std::vector<double> max_similarity(list.size(), 0.0);
  std::vector<bool> taken(list.size(), false);
  while (picked.size() < top_k && picked.size() < list.size()) {
    size_t best = list.size();
    double best_value = 0;
    for (size_t i = 0; i < list.size(); ++i) {
      if (taken[i]) continue;
      const double value = lambda * list[i]->hit.score - (1 - lambda) * max_similarity[i];
      if (best == list.size() || value > best_value) {
        best = i;
        best_value = value;
      }
    }
    taken[best] = true;
    picked.push_back(list[best]);
    for (size_t i = 0; i < list.size(); ++i) {
      if (taken[i] || list[i]->vector.empty() || list[best]->vector.empty()) continue;
      max_similarity[i] = std::max(max_similarity[i], Cosine(list[i]->vector, list[best]->vector));
    }
  }
  return picked;
}

// Scores, drops below min_score, de-duplicates by content hash and orders by score.
std::vector<Candidate*> Rank(Candidates& candidates, const SearchQuery& query) {
  std::vector<Candidate*> list;
  for (auto& [id, c] : candidates) {
    c.hit.score = query.vector_weight * c.hit.vector_score + query.text_weight * c.hit.text_score;
    if (c.hit.score >= query.min_score) list.push_back(&c);
  }
  std::sort(list.begin(), list.end(), [](const Candidate* a, const Candidate* b) {
    if (a->hit.score != b->hit.score) return a->hit.score > b->hit.score;
    return a->hit.chunk_id < b->hit.chunk_id;
  });
  std::unordered_set<std::string_view> hashes;
  std::erase_if(list, [&](const Candidate* c) { return !hashes.insert(c->hash).second; });
  return list;
}

}  // namespace

// ---- The in-process vector copies ----

namespace {

// Brings `index` up to date with memory_vec_changes (from, to]: each logged chunk of the workspace
// is re-read (present with a vector: put; otherwise: removed), so replaying is idempotent.
Status ApplyVectorChanges(store::Database& db, const std::string& workspace, const std::string& model, int64_t from,
                          int64_t to, internal::Int8Index& index) {
  std::unordered_set<int64_t> changed;
  OC_TRY(db.Query("SELECT chunk_id FROM memory_vec_changes WHERE seq > ?1 AND seq <= ?2 AND workspace = ?3",
                  {from, to, std::string_view(workspace)}, [&](const Row& row) { changed.insert(row.Int(0)); }));
  for (int64_t id : changed) {
    std::vector<float> vector;
    OC_TRY(db.Query("SELECT e.vector FROM memory_chunks AS c JOIN memory_embedding_cache AS e "
                    "ON e.model = c.model AND e.hash = c.hash WHERE c.id = ?1 AND c.workspace = ?2 AND c.model = ?3",
                    {id, std::string_view(workspace), std::string_view(model)},
                    [&](const Row& row) { vector = VectorFromBytes(row.BlobBytes(0)); }));
    if (vector.empty()) index.Remove(id);
    else index.Put(id, vector);
  }
  return Status::Ok();
}

// The workspace's vectors of `model` as a new int8 copy. Two sequential scans merged by hash (a
// join would seek the cache once per chunk: 10x slower at 100k chunks): the chunk hashes in rowid
// order, then the model's cached vectors in key order.
Result<std::unique_ptr<internal::Int8Index>> LoadIndex(store::Database& db, const std::string& workspace,
                                                       const std::string& model, int dims) {
  std::vector<std::pair<std::string, int64_t>> by_hash;
  OC_TRY(db.Query("SELECT hash, id FROM memory_chunks WHERE +workspace = ?1 AND model = ?2",
                  {std::string_view(workspace), std::string_view(model)},
                  [&](const Row& row) { by_hash.emplace_back(row.Text(0), row.Int(1)); }));
  std::sort(by_hash.begin(), by_hash.end());
  auto index = std::make_unique<internal::Int8Index>(dims);
  if (by_hash.empty()) return index;
  size_t next = 0;
  OC_TRY(db.Query("SELECT hash, vector FROM memory_embedding_cache WHERE model = ?1 AND hash >= ?2 ORDER BY hash",
                  {std::string_view(model), std::string_view(by_hash.front().first)}, [&](const Row& row) {
                    const std::string hash = row.Text(0);
                    while (next < by_hash.size() && by_hash[next].first < hash) ++next;
                    if (next == by_hash.size() || by_hash[next].first != hash) return;
                    const std::vector<float> vector = VectorFromBytes(row.BlobBytes(1));
                    for (; next < by_hash.size() && by_hash[next].first == hash; ++next) {
                      index->Put(by_hash[next].second, vector);
                    }
                  }));
  return index;
}

}  // namespace

struct MemoryStore::SearchModel {
  std::string key;
  int dims = 0;
  std::string epoch;   // bumped by every UseModel that changes the model
  std::string format;  // kVectorFormat when memory_vec is this build's layout
};

struct MemoryStore::Indexes {
  struct Workspace {
    std::string model, epoch;
    int64_t last_seq = 0;          // memory_vec_changes applied up to here
    bool too_large = false;        // does not fit max_index_bytes (re-checked when the log moves)
    std::unique_ptr<internal::Int8Index> index;
  };
  std::unordered_map<std::string, Workspace> by_workspace;

  size_t BytesExcept(const std::string& workspace) const {
    size_t bytes = 0;
    for (const auto& [name, w] : by_workspace) {
      if (name != workspace && w.index) bytes += w.index->bytes();
    }
    return bytes;
  }
};

// ---- Vectors as bytes ----

std::string VectorBytes(const std::vector<float>& v) {
  std::string bytes(v.size() * sizeof(float), '\0');
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

std::vector<float> VectorFromBytes(std::string_view bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// ---- Open ----

MemoryStore::MemoryStore(std::unique_ptr<store::Database> db)
    : db_(std::move(db)), indexes_(std::make_unique<Indexes>()) {}
MemoryStore::~MemoryStore() = default;

Result<std::unique_ptr<MemoryStore>> MemoryStore::Open(const std::filesystem::path& db_path,
                                                       const std::filesystem::path& vec_extension,
                                                       Options options) {
  store::DatabaseOptions db_options;
  db_options.read_only = options.read_only;
  OC_ASSIGN(auto db, store::Database::Open(db_path, db_options));
  const std::string where = vec_extension.empty() ? "(no path configured)" : vec_extension.string();
  Status loaded = db->LoadExtension(vec_extension);
  if (!loaded.ok()) {
    const bool missing = loaded.error().code == ErrorCode::kNotFound;
    const std::string reason = missing ? "no such file" : loaded.error().message;
    return MakeError(missing ? ErrorCode::kNotFound : ErrorCode::kInternalError,
                     "memory: cannot load sqlite-vec from " + where + ": " + reason + std::string(kVecHint));
  }
  // Another loadable extension would load just as well: check it is sqlite-vec.
  if (!db->QueryText("SELECT vec_version()").ok()) {
    return MakeError(ErrorCode::kInternalError, "memory: cannot load sqlite-vec from " + where +
                                                    ": the file is not sqlite-vec (no vec_version())" +
                                                    std::string(kVecHint));
  }
  // Searches read scattered pages (chunk rows, cached vectors, FTS doclists): mapping the file
  // saves a read() per page (a third of a 100k-chunk search's time went to the kernel's copies).
  OC_TRY(db->Exec("PRAGMA mmap_size = 1073741824"));
  std::unique_ptr<MemoryStore> memory(new MemoryStore(std::move(db)));
  memory->read_only_ = options.read_only;
  memory->max_index_bytes_ = options.max_index_bytes;
  return memory;
}

Status MemoryStore::RequireWritable() const {
  if (read_only_) return MakeError(ErrorCode::kInvalidRequest, "memory store is read-only");
  return Status::Ok();
}

// ---- Model ----

Result<std::optional<MemoryStore::SearchModel>> MemoryStore::ReadModel(store::Database& db) {
  MemoryStore::SearchModel model;
  OC_TRY(db.Query("SELECT key, value FROM memory_meta "
                  "WHERE key IN ('vector_model', 'vector_dims', 'vector_epoch', 'vector_format')",
                  {}, [&](const Row& row) {
                    const std::string key = row.Text(0);
                    if (key == "vector_model") model.key = row.Text(1);
                    if (key == "vector_dims") model.dims = std::atoi(row.Text(1).c_str());
                    if (key == "vector_epoch") model.epoch = row.Text(1);
                    if (key == "vector_format") model.format = row.Text(1);
                  }));
  if (model.key.empty() || model.dims <= 0) return std::optional<MemoryStore::SearchModel>();
  return std::optional<MemoryStore::SearchModel>(std::move(model));
}

Result<bool> MemoryStore::UseModel(const std::string& model_key, int dims) {
  OC_TRY(RequireWritable());
  if (model_key.empty()) return MakeError(ErrorCode::kInvalidParams, "embedding model key is empty");
  if (dims < 1 || dims > 8192) {
    return MakeError(ErrorCode::kInvalidParams, "embedding dimension " + std::to_string(dims) + " is out of range");
  }
  OC_TRY(db_->Exec("CREATE TABLE IF NOT EXISTS memory_vec_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                   "chunk_id INTEGER NOT NULL, workspace TEXT NOT NULL)"));
  OC_ASSIGN(auto current, ReadModel(*db_));
  if (current && current->key == model_key && current->dims == dims && current->format == kVectorFormat) {
    return false;
  }
  // The one statement with a value spliced in: vec0 takes the dimension only in its DDL.
  const std::string ddl =
      "CREATE VIRTUAL TABLE memory_vec USING vec0(chunk_id INTEGER PRIMARY KEY, workspace TEXT PARTITION KEY, "
      "embedding float[" +
      std::to_string(dims) + "] distance_metric=cosine)";
  OC_TRY(db_->InTransaction([&]() -> Status {
    OC_TRY(db_->Exec("DROP TABLE IF EXISTS memory_vec"));
    OC_TRY(db_->Exec(ddl));
    OC_TRY(db_->Run("UPDATE memory_chunks SET model = NULL WHERE model IS NOT NULL"));
    OC_TRY(db_->Run("DELETE FROM memory_vec_changes"));
    OC_TRY(PutMeta(*db_, "vector_model", model_key));
    OC_TRY(PutMeta(*db_, "vector_dims", std::to_string(dims)));
    OC_TRY(PutMeta(*db_, "vector_format", kVectorFormat));
    return db_->Run("INSERT INTO memory_meta(key, value) VALUES ('vector_epoch', '1') "
                    "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1");
  }));
  return true;
}

Result<std::optional<std::pair<std::string, int>>> MemoryStore::CurrentModel() {
  OC_ASSIGN(auto model, ReadModel(*db_));
  if (!model) return std::optional<std::pair<std::string, int>>();
  return std::optional<std::pair<std::string, int>>(std::make_pair(model->key, model->dims));
}

// ---- Files and chunks ----

Result<std::vector<FileState>> MemoryStore::Files(const std::string& workspace) {
  std::vector<FileState> files;
  OC_TRY(db_->Query("SELECT f.path, f.source, f.hash, f.size, f.mtime_ms, "
                    "(SELECT count(*) FROM memory_chunks AS c WHERE c.file_id = f.id) "
                    "FROM memory_files AS f WHERE f.workspace = ?1 ORDER BY f.path",
                    {std::string_view(workspace)}, [&](const Row& row) {
                      FileState file;
                      file.path = row.Text(0);
                      file.source = row.Text(1);
                      file.hash = row.Text(2);
                      file.size = row.Int(3);
                      file.mtime_ms = row.Int(4);
                      file.chunks = row.Int(5);
                      files.push_back(std::move(file));
                    }));
  return files;
}

Status MemoryStore::LogVectorChange(int64_t chunk_id, const std::string& workspace) {
  return db_->Run("INSERT INTO memory_vec_changes(chunk_id, workspace) VALUES (?1, ?2)",
                  {chunk_id, std::string_view(workspace)});
}

Status MemoryStore::TrimVectorChanges() {
  return db_->Run("DELETE FROM memory_vec_changes WHERE seq <= (SELECT max(seq) FROM memory_vec_changes) - ?1",
                  {kVectorChangesKept});
}

Status MemoryStore::DeleteChunk(int64_t id, bool embedded, const std::string& workspace) {
  if (embedded) {
    OC_TRY(db_->Run("DELETE FROM memory_vec WHERE chunk_id = ?1", {id}));
    OC_TRY(LogVectorChange(id, workspace));
  }
  return db_->Run("DELETE FROM memory_chunks WHERE id = ?1", {id});
}

Result<ChunkDiff> MemoryStore::ReplaceFile(const std::string& workspace, const FileState& file,
                                           const std::vector<TextChunk>& chunks) {
  OC_TRY(RequireWritable());
  if (workspace.empty() || file.path.empty()) {
    return MakeError(ErrorCode::kInvalidParams, "memory file needs a workspace and a path");
  }
  const int64_t now = NowMs();
  ChunkDiff diff;
  OC_TRY(db_->InTransaction([&]() -> Status {
    OC_ASSIGN(auto file_id, db_->QueryInt(
                                "INSERT INTO memory_files(workspace, path, source, hash, size, mtime_ms, indexed_at) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(workspace, path) DO UPDATE SET "
                                "source = ?3, hash = ?4, size = ?5, mtime_ms = ?6, indexed_at = ?7 RETURNING id",
                                {std::string_view(workspace), std::string_view(file.path),
                                 std::string_view(file.source), std::string_view(file.hash), file.size,
                                 file.mtime_ms, now}));
    if (!file_id) return MakeError(ErrorCode::kInternalError, "memory_files upsert returned no id");
    // Old chunks by hash, each (id, embedded), lowest id last so pop_back reuses it first.
    std::unordered_map<std::string, std::vector<std::pair<int64_t, bool>>> old;
    OC_TRY(db_->Query("SELECT id, hash, model IS NOT NULL FROM memory_chunks WHERE file_id = ?1 ORDER BY id DESC",
                      {*file_id}, [&](const Row& row) { old[row.Text(1)].emplace_back(row.Int(0), row.Int(2) != 0); }));
    for (const TextChunk& chunk : chunks) {
      const std::string hash = chunk.hash.empty() ? ContentHash(chunk.text) : chunk.hash;
      auto reusable = old.find(hash);
      if (reusable != old.end() && !reusable->second.empty()) {
        const int64_t id = reusable->second.back().first;
        reusable->second.pop_back();
        OC_TRY(db_->Run("UPDATE memory_chunks SET line_start = ?2, line_end = ?3, source = ?4, updated_at = ?5 "
                        "WHERE id = ?1",
                        {id, int64_t{chunk.line_start}, int64_t{chunk.line_end}, std::string_view(file.source), now}));
        ++diff.kept;
        continue;
      }
      OC_ASSIGN(int64_t id, db_->Insert("INSERT INTO memory_chunks(file_id, workspace, path, source, line_start, "
                                        "line_end, text, hash, model, created_at, updated_at) "
                                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, ?9)",
                                        {*file_id, std::string_view(workspace), std::string_view(file.path),
                                         std::string_view(file.source), int64_t{chunk.line_start},
                                         int64_t{chunk.line_end}, std::string_view(chunk.text),
                                         std::string_view(hash), now}));
      diff.added.push_back(id);
    }
    for (const auto& [hash, rows] : old) {
      for (const auto& [id, embedded] : rows) {
        OC_TRY(DeleteChunk(id, embedded, workspace));
        ++diff.removed;
      }
    }
    return diff.removed ? TrimVectorChanges() : Status::Ok();
  }));
  return diff;
}

Status MemoryStore::RemoveFile(const std::string& workspace, const std::string& path) {
  OC_TRY(RequireWritable());
  return db_->InTransaction([&]() -> Status {
    OC_ASSIGN(auto file_id, db_->QueryInt("SELECT id FROM memory_files WHERE workspace = ?1 AND path = ?2",
                                          {std::string_view(workspace), std::string_view(path)}));
    if (!file_id) return Status::Ok();
    std::vector<std::pair<int64_t, bool>> rows;
    OC_TRY(db_->Query("SELECT id, model IS NOT NULL FROM memory_chunks WHERE file_id = ?1", {*file_id},
                      [&](const Row& row) { rows.emplace_back(row.Int(0), row.Int(1) != 0); }));
    for (const auto& [id, embedded] : rows) OC_TRY(DeleteChunk(id, embedded, workspace));
    OC_TRY(db_->Run("DELETE FROM memory_files WHERE id = ?1", {*file_id}));
    return TrimVectorChanges();
  });
}

Result<std::vector<std::string>> MemoryStore::Workspaces() {
  std::vector<std::string> workspaces;
  OC_TRY(db_->Query("SELECT DISTINCT workspace FROM memory_files ORDER BY workspace", {},
                    [&](const Row& row) { workspaces.push_back(row.Text(0)); }));
  return workspaces;
}

Status MemoryStore::RemoveWorkspace(const std::string& workspace) {
  OC_TRY(RequireWritable());
  return db_->InTransaction([&]() -> Status {
    std::vector<int64_t> embedded;
    OC_TRY(db_->Query("SELECT id FROM memory_chunks WHERE workspace = ?1 AND model IS NOT NULL",
                      {std::string_view(workspace)}, [&](const Row& row) { embedded.push_back(row.Int(0)); }));
    for (int64_t id : embedded) {
      OC_TRY(db_->Run("DELETE FROM memory_vec WHERE chunk_id = ?1", {id}));
      OC_TRY(LogVectorChange(id, workspace));
    }
    OC_TRY(db_->Run("DELETE FROM memory_chunks WHERE workspace = ?1", {std::string_view(workspace)}));
    OC_TRY(db_->Run("DELETE FROM memory_files WHERE workspace = ?1", {std::string_view(workspace)}));
    return TrimVectorChanges();
  });
}

// ---- Embeddings ----

Result<std::vector<StoredChunk>> MemoryStore::Unembedded(size_t limit) {
  std::vector<StoredChunk> chunks;
  OC_TRY(db_->Query("SELECT id, workspace, path, source, line_start, line_end, text, hash, model IS NOT NULL, "
                    "updated_at FROM memory_chunks WHERE model IS NULL ORDER BY id LIMIT ?1",
                    {static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX))},
                    [&](const Row& row) { chunks.push_back(ReadStoredChunk(row)); }));
  return chunks;
}

Result<std::unordered_map<std::string, std::vector<float>>> MemoryStore::CachedVectors(
    const std::vector<std::string>& hashes) {
  std::unordered_map<std::string, std::vector<float>> vectors;
  OC_ASSIGN(auto model, ReadModel(*db_));
  if (!model) return vectors;
  for (const std::string& hash : hashes) {
    OC_TRY(db_->Query("SELECT vector FROM memory_embedding_cache WHERE model = ?1 AND hash = ?2 AND dims = ?3",
                      {std::string_view(model->key), std::string_view(hash), int64_t{model->dims}},
                      [&](const Row& row) {
                        std::vector<float> v = VectorFromBytes(row.BlobBytes(0));
                        if (static_cast<int>(v.size()) == model->dims) vectors[hash] = std::move(v);
                      }));
  }
  return vectors;
}

Status MemoryStore::PutVectors(const std::vector<ChunkVector>& vectors) {
  OC_TRY(RequireWritable());
  OC_ASSIGN(auto model, ReadModel(*db_));
  if (!model) return MakeError(ErrorCode::kInvalidRequest, "no embedding model is set (UseModel first)");
  for (const ChunkVector& v : vectors) {
    if (static_cast<int>(v.vector.size()) != model->dims) {
      return MakeError(ErrorCode::kInvalidParams, "vector of chunk " + std::to_string(v.chunk_id) + " has " +
                                                      std::to_string(v.vector.size()) + " dimensions; " +
                                                      model->key + " has " + std::to_string(model->dims));
    }
  }
  const int64_t now = NowMs();
  return db_->InTransaction([&]() -> Status {
    for (const ChunkVector& v : vectors) {
      std::optional<std::pair<std::string, bool>> chunk;  // workspace, embedded
      OC_TRY(db_->Query("SELECT workspace, model IS NOT NULL FROM memory_chunks WHERE id = ?1", {v.chunk_id},
                        [&](const Row& row) { chunk.emplace(row.Text(0), row.Int(1) != 0); }));
      if (!chunk) continue;  // deleted meanwhile
      const std::string bytes = VectorBytes(v.vector);
      if (chunk->second) OC_TRY(db_->Run("DELETE FROM memory_vec WHERE chunk_id = ?1", {v.chunk_id}));
      OC_TRY(db_->Run("INSERT INTO memory_vec(chunk_id, workspace, embedding) VALUES (?1, ?2, ?3)",
                      {v.chunk_id, std::string_view(chunk->first), Blob{bytes}}));
      OC_TRY(db_->Run("UPDATE memory_chunks SET model = ?2 WHERE id = ?1", {v.chunk_id, std::string_view(model->key)}));
      // The cached vector is the one searches rescore with: the newest wins.
      OC_TRY(db_->Run("INSERT INTO memory_embedding_cache(model, hash, dims, vector, created_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(model, hash) DO UPDATE SET dims = ?3, vector = ?4",
                      {std::string_view(model->key), std::string_view(v.hash), int64_t{model->dims}, Blob{bytes},
                       now}));
      OC_TRY(LogVectorChange(v.chunk_id, chunk->first));
    }
    return TrimVectorChanges();
  });
}

// ---- Search ----

Result<internal::Int8Index*> MemoryStore::FreshIndex(const std::string& workspace, const SearchModel& model) {
  if (max_index_bytes_ == 0) return nullptr;
  std::optional<int64_t> min_seq, max_seq;
  OC_TRY(db_->Query("SELECT min(seq), max(seq) FROM memory_vec_changes", {}, [&](const Row& row) {
    min_seq = row.OptInt(0);
    max_seq = row.OptInt(1);
  }));
  const int64_t head = max_seq.value_or(0);
  Indexes::Workspace& entry = indexes_->by_workspace[workspace];
  const bool same_model = entry.model == model.key && entry.epoch == model.epoch;
  const bool behind_log = min_seq && *min_seq > entry.last_seq + 1;  // trimmed past what we applied
  if (same_model && entry.too_large && head == entry.last_seq) return nullptr;
  const size_t pending = static_cast<size_t>(std::max<int64_t>(0, head - entry.last_seq));
  if (same_model && entry.index && !behind_log && pending <= entry.index->size()) {
    if (pending > 0) {
      OC_TRY(ApplyVectorChanges(*db_, workspace, model.key, entry.last_seq, head, *entry.index));
      entry.last_seq = head;
    }
    return entry.index.get();
  }
  // (Re)build. The log head is read first: changes committed while loading are replayed later
  // (replaying is idempotent).
  entry = Indexes::Workspace{model.key, model.epoch, head, false, nullptr};
  OC_ASSIGN(auto chunks, db_->QueryInt("SELECT count(*) FROM memory_chunks WHERE workspace = ?1",
                                       {std::string_view(workspace)}));
  const size_t need = static_cast<size_t>(chunks.value_or(0)) * internal::Int8Index::BytesPerVector(model.dims);
  if (need + indexes_->BytesExcept(workspace) > max_index_bytes_) {
    entry.too_large = true;
    return nullptr;
  }
  OC_ASSIGN(entry.index, LoadIndex(*db_, workspace, model.key, model.dims));
  return entry.index.get();
}

Result<std::optional<std::vector<int64_t>>> MemoryStore::IndexedNearest(const SearchQuery& query,
                                                                        const SearchModel& model, size_t k) {
  // Inside a transaction this connection may see uncommitted changes the copy must not absorb.
  if (!sqlite3_get_autocommit(db_->handle())) return std::optional<std::vector<int64_t>>();
  OC_ASSIGN(internal::Int8Index * index, FreshIndex(query.workspace, model));
  if (!index) return std::optional<std::vector<int64_t>>();
  if (query.path_prefix.empty()) return std::optional<std::vector<int64_t>>(index->Top(*query.vector, k));
  // Paths in [prefix, prefix + 0xFF): every UTF-8 path that starts with the prefix.
  const std::string end = query.path_prefix + '\xff';
  std::vector<int64_t> ids;
  OC_TRY(db_->Query("SELECT id FROM memory_chunks WHERE workspace = ?1 AND path >= ?2 AND path < ?3",
                    {std::string_view(query.workspace), std::string_view(query.path_prefix), std::string_view(end)},
                    [&](const Row& row) { ids.push_back(row.Int(0)); }));
  return std::optional<std::vector<int64_t>>(index->Top(*query.vector, k, &ids));
}

Result<std::vector<SearchHit>> MemoryStore::Search(const SearchQuery& query) {
  if (query.workspace.empty()) return MakeError(ErrorCode::kInvalidParams, "memory search needs a workspace");
  const size_t want = query.candidates ? query.candidates : std::max<size_t>(4 * query.top_k, 20);
  Candidates candidates;
  if (query.vector && !query.vector->empty()) {
    OC_ASSIGN(auto model, ReadModel(*db_));
    if (model && static_cast<int>(query.vector->size()) != model->dims) {
      return MakeError(ErrorCode::kInvalidParams, "query vector has " + std::to_string(query.vector->size()) +
                                                      " dimensions; " + model->key + " has " +
                                                      std::to_string(model->dims));
    }
    if (model) {
      OC_ASSIGN(auto nearest, IndexedNearest(query, *model, want * kRescoreOversample));
      if (nearest) OC_TRY(RescoreCandidates(*db_, query, model->key, *nearest, want, candidates));
      else OC_TRY(VecKnnCandidates(*db_, query, want, candidates));
    }
  }
  const std::string match = FtsMatchQuery(query.text);
  if (!match.empty()) OC_TRY(TextCandidates(*db_, query, match, want, candidates));
  // BM25 relative to the best text match of this query (which scores 1). An absolute squashing
  // such as s/(1+s) fails on small memories: FTS5 clamps the IDF of a term found in more than
  // half of the chunks to ~0, so with a handful of chunks every BM25 score is ~1e-6.
  double best_bm25 = 0;
  for (const auto& [id, c] : candidates) best_bm25 = std::max(best_bm25, c.hit.text_score);
  if (best_bm25 > 0)
    for (auto& [id, c] : candidates) c.hit.text_score /= best_bm25;

  std::vector<Candidate*> ranked = Rank(candidates, query);
  if (query.mmr) {
    OC_TRY(LoadVectors(*db_, ranked));
    ranked = MmrOrder(std::move(ranked), query.top_k, query.mmr_lambda);
  } else if (ranked.size() > query.top_k) {
    ranked.resize(query.top_k);
  }
  std::vector<SearchHit> hits;
  hits.reserve(ranked.size());
  for (Candidate* c : ranked) {
    OC_ASSIGN(auto text, db_->QueryText("SELECT text FROM memory_chunks WHERE id = ?1", {c->hit.chunk_id}));
    c->hit.text = text.value_or("");
    c->hit.snippet = Snippet(c->hit.text, query.text);
    hits.push_back(std::move(c->hit));
  }
  return hits;
}

Result<std::optional<StoredChunk>> MemoryStore::Chunk(int64_t id) {
  std::optional<StoredChunk> chunk;
  OC_TRY(db_->Query("SELECT id, workspace, path, source, line_start, line_end, text, hash, model IS NOT NULL, "
                    "updated_at FROM memory_chunks WHERE id = ?1",
                    {id}, [&](const Row& row) { chunk = ReadStoredChunk(row); }));
  return chunk;
}

Result<MemoryCounts> MemoryStore::Counts(const std::string& workspace) {
  MemoryCounts counts;
  const std::string_view ws(workspace);
  std::optional<int64_t> files, chunks, unembedded, cached;
  if (workspace.empty()) {
    OC_ASSIGN(files, db_->QueryInt("SELECT count(*) FROM memory_files"));
    OC_ASSIGN(chunks, db_->QueryInt("SELECT count(*) FROM memory_chunks"));
    OC_ASSIGN(unembedded, db_->QueryInt("SELECT count(*) FROM memory_chunks WHERE model IS NULL"));
  } else {
    OC_ASSIGN(files, db_->QueryInt("SELECT count(*) FROM memory_files WHERE workspace = ?1", {ws}));
    OC_ASSIGN(chunks, db_->QueryInt("SELECT count(*) FROM memory_chunks WHERE workspace = ?1", {ws}));
    // `+workspace`: count through the small partial index of unembedded chunks.
    OC_ASSIGN(unembedded,
              db_->QueryInt("SELECT count(*) FROM memory_chunks WHERE model IS NULL AND +workspace = ?1", {ws}));
  }
  OC_ASSIGN(cached, db_->QueryInt("SELECT count(*) FROM memory_embedding_cache"));
  counts.files = files.value_or(0);
  counts.chunks = chunks.value_or(0);
  counts.embedded = counts.chunks - unembedded.value_or(0);
  counts.cached_vectors = cached.value_or(0);
  OC_ASSIGN(auto model, ReadModel(*db_));
  if (model) {
    counts.model = model->key;
    counts.dims = model->dims;
  }
  return counts;
}

}  // namespace oc::memory
