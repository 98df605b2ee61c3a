// Long-term memory as the kernel uses it (SPEC §9): indexing of the agents' workspaces, the
// embedding queue, hybrid search and memory_store's writes. The pipeline owns one MemoryService;
// the memory tools, the `memory.*` control methods and `openclaw memory` go through it.
//
// Files: `MEMORY.md` and `memory/**/*.md` of each workspace (symlinks not followed, files above
// 10 MB skipped with a warning). Indexing a workspace compares every file's size+mtime, then its
// content hash, with memory_files: unchanged files cost a stat; a changed file is re-chunked
// (ChunkMarkdown) and ReplaceFile keeps the rows (and vectors) of unchanged chunks; a vanished
// file's chunks are removed. Chunks without a vector are then embedded in batches: the cache by
// (model, content hash) first, the embedder only for the rest — so no text is embedded twice.
//
// Watching: an inotify watch on each workspace, its memory/ tree (new subdirectories are added
// as they appear) — events are coalesced for `debounce` and the workspace re-indexed. When inotify
// is unavailable (limit reached) the service logs it and re-scans every `rescan_interval` instead.
//
// Model changes: ApplySettings with another embedding provider/model switches the vector table
// (MemoryStore::UseModel) and re-embeds every chunk in the background; search keeps answering
// (text side only, plus whatever has been re-embedded) meanwhile. The kernel never blocks: file
// I/O, chunking, local embedding and SQLite run on the worker pool; remote embedding is async HTTP
// on the loop.
//
// Threading: create and call on the kernel loop. Stop() before destruction cancels watches and
// waits for nothing (work in flight finishes on its own and finds the service stopped).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/http_client.h"
#include "common/json.h"
#include "common/status.h"
#include "memory/embedder.h"
#include "memory/memory_store.h"
#include "memory/memory_text.h"

namespace oc::memory {

struct SearchSettings {
  double vector_weight = 0.7, text_weight = 0.3;
  size_t top_k = 6;
  double min_score = 0.15;  // the config default (memory.search.minScore)
  bool mmr = false;
  double mmr_lambda = 0.7;
  size_t candidates = 0;  // 0: SearchQuery's default
};

// From the config's `memory` section (docs/CONFIG.md); the kernel fills it.
struct MemorySettings {
  std::filesystem::path vec_extension;  // resolved path of vec0.so
  EmbedderSettings embedding;
  ChunkOptions chunking;
  SearchSettings search;
  bool watch = true;
  std::chrono::milliseconds debounce{300};
  std::chrono::milliseconds rescan_interval{60000};
};

struct IndexProgress {
  size_t files_total = 0, files_done = 0;
  size_t chunks_pending = 0, chunks_embedded = 0;  // of this pass
  std::string phase;                                // "scanning" | "embedding" | "idle"
  std::string workspace;                            // the workspace's path (Index() of all reports each)
};

struct IndexReport {
  size_t files_scanned = 0, files_changed = 0, files_removed = 0;
  size_t chunks_added = 0, chunks_removed = 0, chunks_kept = 0;
  size_t embeddings_computed = 0, embeddings_cached = 0;
  int64_t elapsed_ms = 0;
  std::string error;  // "" = ok; else why the pass stopped (e.g. the embedder failed; retried later)
  // {filesScanned, filesChanged, filesRemoved, chunksAdded, chunksRemoved, chunksKept,
  //  embeddingsComputed, embeddingsCached, elapsedMs, error? (only when not "")}
  json::object ToJson() const;
};

struct StoredMemory {
  std::string path;  // relative, e.g. "memory/2026-11-22.md"
  int line_start = 0, line_end = 0;
};

class MemoryService {
 public:
  // Opens the memory store (loading vec0), creates the embedder and makes its model current
  // (re-embedding in the background when it changed). Errors: the store's (vec0 missing or
  // unloadable: the message names the file and the fix) or MakeEmbedder's.
  static Result<std::unique_ptr<MemoryService>> Open(const std::filesystem::path& db_path, MemorySettings settings,
                                                     asio::any_io_executor loop, asio::thread_pool& workers,
                                                     agent::HttpClient& http);
  ~MemoryService();

  // The workspaces to index and watch (absolute paths). Each new one is indexed in the background
  // and watched; ones no longer listed stop being watched and their index is dropped.
  void SetWorkspaces(std::vector<std::filesystem::path> workspaces);
  // A reloaded config. A new embedding model re-embeds in the background; other settings apply
  // to the next search or pass. Errors as MakeEmbedder's (the old settings stay).
  Status ApplySettings(MemorySettings settings);

  // Hybrid search in `workspace` (one of SetWorkspaces'). `overrides` null fields keep the settings.
  struct SearchOptions {
    std::optional<size_t> top_k;
    std::optional<double> min_score;
    std::string path_prefix;
  };
  asio::awaitable<Result<std::vector<SearchHit>>> Search(std::filesystem::path workspace, std::string query,
                                                         SearchOptions options);
  // memory_store: appends "- HH:MM <text>" (UTC; tags as " #tag") under a "# YYYY-MM-DD" heading
  // of memory/YYYY-MM-DD.md (created when missing), then indexes that file before returning, so
  // a search right after finds it. kInvalidParams for empty text or text above 8000 characters.
  asio::awaitable<Result<StoredMemory>> Store(std::filesystem::path workspace, std::string text,
                                              std::vector<std::string> tags);
  // Indexes now: one workspace or all (nullopt), `force` re-chunks files even when unchanged.
  // Waits for the pass (and its embedding) to finish; `progress` is called on the loop as it goes.
  // A pass already running for a workspace is joined (its report returned) rather than repeated.
  asio::awaitable<Result<IndexReport>> Index(std::optional<std::filesystem::path> workspace, bool force,
                                             std::function<void(const IndexProgress&)> progress);
  // A line range of a memory file (MEMORY.md or memory/**.md of `workspace`): lines from `from`
  // (1-based), at most `lines` (0 = to the end). kNotFound for a missing file, kForbidden for a
  // path outside MEMORY.md/memory/ or escaping the workspace.
  asio::awaitable<Result<std::string>> ReadFile(std::filesystem::path workspace, std::string path, int from, int lines);

  // (named StatusJson: a member called Status would hide oc::Status in this class)
  // {enabled:true, provider, model, dims, vecExtension, workspaces:[{workspace, files, chunks,
  //  embedded}], files, chunks, embedded, pending, embeddingsComputed (by the embedder since start),
  //  embeddingsCached (cache hits since start), indexing: IndexProgress|null, watching: bool,
  //  lastIndex: IndexReport|null, lastError: string|null}
  asio::awaitable<json::object> StatusJson();

  void Stop();

 private:
  struct State;
  explicit MemoryService(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;  // shared with work in flight on the worker pool
};

// The default location of vec0.so: $OPENCLAWOS_VEC0 when set, else <directory of the running
// executable>/../lib/vec0.so (the build puts it there, like packages/ and ui/).
std::filesystem::path DefaultVecExtensionPath();

}  // namespace oc::memory
