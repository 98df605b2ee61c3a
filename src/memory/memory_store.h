// The memory tables of state.db (SPEC §9; schema in store/migrations.cpp v3) and hybrid search.
//
// A MemoryStore is one SQLite connection with the sqlite-vec extension loaded. It is synchronous:
// the memory service calls it from the worker pool, one thread at a time per store (a writer
// store under a lock, a read-only store for searches), never from the kernel loop.
//
// Vectors: `memory_vec` is a vec0 table `(chunk_id INTEGER PRIMARY KEY, workspace TEXT partition
// key, embedding float[D] distance_metric=cosine)`, created by UseModel() for the model's
// dimension D; the float vectors are also in memory_embedding_cache by (model, content hash). A
// chunk has a vector iff memory_chunks.model is the current model key. Every change to a chunk's
// vector is appended to `memory_vec_changes (seq, chunk_id, workspace)` in the same transaction
// (the newest kVectorChangesKept entries are kept), so a store can follow another's writes.
//
// Hybrid search (Search): the vector side takes the `candidates` nearest chunks of the workspace
// by cosine, vector_score = cosine similarity clamped to 0..1. It scans an in-process int8 copy of
// the workspace's vectors and rescores the best 2 x `candidates` with the exact float vectors of
// the cache. The copy (D + 44 bytes a chunk: ~41 MiB at 100k chunks of 384 dims) is built by the
// workspace's first vector search (~1 s at 100k chunks), then brought up to date from
// memory_vec_changes whenever the database changed. vec0 KNN (`embedding MATCH ? AND k = ? AND
// workspace = ?`, exact) answers instead inside an open transaction (uncommitted changes) or when
// the copy would pass Options::max_index_bytes. Why: sqlite-vec 0.1.9 (a build without SIMD) takes
// 34 ms for a KNN over 100k float vectors here, the whole int8 vector side 7 ms at the same
// recall@10 of 1.0 (docs/PERFORMANCE.md "Long-term memory"). The text side takes the `candidates` best BM25
// matches of FtsMatchQuery(text) in the workspace, text_score = s / s_best with s = -bm25 (the
// query's best text match scores 1: an absolute squashing fails on small memories, where FTS5 clamps
// the IDF of a term found in most chunks to ~0); to bound its cost, words are taken rarest first while the
// chunks containing them add up to at most kTextBudget (the rarest word always), and when even that
// word is in more chunks, the newest kTextBudget of them are ranked. A chunk found by one side
// only scores 0 on the other. score = vector_weight * vector_score + text_weight * text_score
// (weights used as given). Then: results below min_score dropped; chunks with the same content
// hash de-duplicated (best kept); optional MMR re-ranking (lambda * relevance - (1 - lambda) * max
// cosine similarity to the already picked; a chunk without a vector counts as dissimilar); the
// first top_k returned, best first. Either side may be absent (no vector, or no model yet: text
// only; no words: vector only). A query vector whose size is not the current model's dimension is
// kInvalidParams.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "memory/memory_text.h"

namespace oc::store {
class Database;
}
namespace oc::memory::internal {
class Int8Index;
}

namespace oc::memory {

struct FileState {
  std::string path;  // relative to the workspace, '/'-separated
  std::string source = "memory";
  std::string hash;  // ContentHash of the file
  int64_t size = 0;
  int64_t mtime_ms = 0;
  int64_t chunks = 0;  // (Files() fills it)
};

struct StoredChunk {
  int64_t id = 0;
  std::string workspace, path, source;
  int line_start = 0, line_end = 0;
  std::string text, hash;
  bool embedded = false;  // has a vector for the current model
  int64_t updated_at = 0;
};

struct ChunkDiff {
  std::vector<int64_t> added;  // new chunk rows (no vector yet)
  size_t kept = 0;             // unchanged chunks (same hash): rows, vectors and ids kept; lines updated
  size_t removed = 0;
};

struct SearchQuery {
  std::string workspace;
  std::string text;                          // for BM25 and the snippet
  std::optional<std::vector<float>> vector;  // the query's embedding (current model), if any
  size_t top_k = 6;
  size_t candidates = 0;  // per side; 0 = max(4 * top_k, 20)
  double vector_weight = 0.7, text_weight = 0.3, min_score = 0;
  bool mmr = false;
  double mmr_lambda = 0.7;
  std::string path_prefix;  // only chunks whose path starts with it ("" = all)
};

struct SearchHit {
  int64_t chunk_id = 0;
  std::string path, source;
  int line_start = 0, line_end = 0;
  double score = 0, vector_score = 0, text_score = 0;
  std::string snippet;  // Snippet(text, query)
  std::string text;     // the whole chunk
};

struct MemoryCounts {
  int64_t files = 0, chunks = 0, embedded = 0;  // embedded: chunks with a current-model vector
  std::string model;                             // current model key ("" before UseModel)
  int dims = 0;
  int64_t cached_vectors = 0;  // rows of the embedding cache (all models)
};

class MemoryStore {
 public:
  struct Options {
    bool read_only = false;  // a searcher: no UseModel/ReplaceFile/...; the writer creates the tables
    // Memory the in-process int8 vector copies of all workspaces may take (≈ D + 44 bytes per
    // chunk); a workspace that does not fit is searched with vec0 KNN. 0 = always vec0.
    size_t max_index_bytes = size_t{256} << 20;
  };
  // Opens `db_path` (migrated by the kernel already; opening migrates it otherwise) and loads the
  // sqlite-vec extension from `vec_extension` into this connection. A missing file is kNotFound, an
  // unloadable one (or not sqlite-vec) kInternalError, both with the message
  // "memory: cannot load sqlite-vec from <file>: <reason>. Run scripts/install-deps.sh, set
  // memory.vecExtension to the file, or set memory.enabled to false." (<reason>: "no such file" or
  // SQLite's). The database's own errors are store::Database::Open's.
  static Result<std::unique_ptr<MemoryStore>> Open(const std::filesystem::path& db_path,
                                                   const std::filesystem::path& vec_extension, Options options);
  static Result<std::unique_ptr<MemoryStore>> Open(const std::filesystem::path& db_path,
                                                   const std::filesystem::path& vec_extension) {
    return Open(db_path, vec_extension, Options{});
  }
  ~MemoryStore();

  // Makes (model_key, dims) the current vector model. Unchanged: nothing happens (false). Changed
  // (or first use): memory_vec is dropped and created for `dims`, every chunk becomes unembedded,
  // memory_meta records the model (true). The embedding cache is kept (vectors by model).
  Result<bool> UseModel(const std::string& model_key, int dims);
  // The current model (memory_meta), when one is set. A read-only store re-reads it on each call.
  Result<std::optional<std::pair<std::string, int>>> CurrentModel();

  // Files indexed under `workspace`, by path.
  Result<std::vector<FileState>> Files(const std::string& workspace);
  // Makes the file's chunks equal to `chunks` in one transaction: a chunk whose hash equals an
  // existing chunk's of this file keeps that row (id, vector; its lines and updated_at change);
  // other old chunks are deleted with their vectors; new ones are inserted unembedded. The file row
  // is created or updated from `file`.
  Result<ChunkDiff> ReplaceFile(const std::string& workspace, const FileState& file,
                                const std::vector<TextChunk>& chunks);
  // Deletes the file's row, chunks and vectors (ok when it was not indexed).
  Status RemoveFile(const std::string& workspace, const std::string& path);
  // Workspaces that have indexed files (so the service can drop those no agent uses any more).
  Result<std::vector<std::string>> Workspaces();
  Status RemoveWorkspace(const std::string& workspace);

  // Chunks without a current-model vector, lowest id first.
  Result<std::vector<StoredChunk>> Unembedded(size_t limit);
  // Cached vectors of the current model for these content hashes (missing hashes are absent).
  Result<std::unordered_map<std::string, std::vector<float>>> CachedVectors(const std::vector<std::string>& hashes);
  // Stores each chunk's vector in memory_vec, marks it embedded, and caches it by (model, hash) —
  // one transaction. Chunks deleted meanwhile are skipped. Every vector must have the model's dims
  // (kInvalidParams otherwise, nothing written).
  struct ChunkVector {
    int64_t chunk_id;
    std::string hash;
    std::vector<float> vector;
  };
  Status PutVectors(const std::vector<ChunkVector>& vectors);

  Result<std::vector<SearchHit>> Search(const SearchQuery& query);
  Result<std::optional<StoredChunk>> Chunk(int64_t id);
  // Counts for one workspace ("" = all).
  Result<MemoryCounts> Counts(const std::string& workspace);

  store::Database& database() { return *db_; }

 private:
  explicit MemoryStore(std::unique_ptr<store::Database> db);
  struct Indexes;      // the in-process vector copies, by workspace (memory_store.cpp)
  struct SearchModel;  // the current model as memory_meta records it

  static Result<std::optional<SearchModel>> ReadModel(store::Database& db);
  Status RequireWritable() const;
  // Deletes one chunk row and, when it has one, its vec0 row (logged as a vector change).
  Status DeleteChunk(int64_t id, bool embedded, const std::string& workspace);
  Status LogVectorChange(int64_t chunk_id, const std::string& workspace);
  Status TrimVectorChanges();
  // The workspace's int8 copy, up to date with the committed database; nullptr when it would
  // not fit max_index_bytes (or the option is 0).
  Result<internal::Int8Index*> FreshIndex(const std::string& workspace, const SearchModel& model);
  // The vector side's candidate ids from the int8 copy, best first; nullopt when vec0 KNN must
  // answer instead (open transaction, copy too large).
  Result<std::optional<std::vector<int64_t>>> IndexedNearest(const SearchQuery& query, const SearchModel& model,
                                                             size_t k);

  std::unique_ptr<store::Database> db_;
  bool read_only_ = false;
  size_t max_index_bytes_ = 0;
  std::unique_ptr<Indexes> indexes_;
};

// Entries of memory_vec_changes kept; a store further behind rebuilds its copy.
inline constexpr int64_t kVectorChangesKept = 50000;
// Chunks whose BM25 one search computes at most (see Search above).
inline constexpr int64_t kTextBudget = 20000;

// The vector as the float32 bytes vec0 and the cache store (host byte order: little-endian here).
std::string VectorBytes(const std::vector<float>& v);
std::vector<float> VectorFromBytes(std::string_view bytes);

}  // namespace oc::memory
