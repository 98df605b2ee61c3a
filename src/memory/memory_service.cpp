// The memory service: workspace passes (scan under the writer lock, then embedding), the global
// embedding drain, inotify watching with debounce, periodic rescans, search, memory_store and status.
//
// Where things run: every coroutine here runs on the kernel loop and only touches State there.
// SQLite and file I/O hop to the worker pool — the writer MemoryStore under `writer_mutex`, the
// read-only one under `reader_mutex` — through Hop(), whose lambdas capture the Stores (never
// the State, whose timers and descriptor belong to the loop). Remote embedding is async HTTP on the
// loop; the local embedder hops to the pool itself.
#include "memory/memory_service.h"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <map>
#include <set>
#include <unordered_map>

#include "memory/memory_service_state.h"

namespace oc::memory {

namespace fs = std::filesystem;

namespace internal {

namespace {

json::object ProgressJson(const IndexProgress& p) {
  return json::object{{"workspace", p.workspace},         {"phase", p.phase},
                      {"filesTotal", p.files_total},     {"filesDone", p.files_done},
                      {"chunksPending", p.chunks_pending}, {"chunksEmbedded", p.chunks_embedded}};
}

bool IsZero(const std::vector<float>& v) {
  for (float x : v)
    if (x != 0.0f) return false;
  return true;
}

void Notify(PassRun& run) {
  for (const auto& listener : run.listeners) listener(run.progress);
}

void SetPhase(PassRun& run, const char* phase) {
  run.progress.phase = phase;
  Notify(run);
}

WorkspacePtr FindWorkspace(const StatePtr& s, const std::string& key) {
  for (const auto& w : s->workspaces)
    if (w->key == key) return w;
  return nullptr;
}

// ---- embedding --------------------------------------------------------------------------------

struct Batch {
  std::vector<StoredChunk> chunks;
  std::unordered_map<std::string, std::vector<float>> cached;
  int64_t pending = 0;  // unembedded chunks in the store before this batch
};

Result<Batch> FetchBatch(MemoryStore& store, size_t limit) {
  Batch b;
  OC_ASSIGN(b.chunks, store.Unembedded(limit));
  std::vector<std::string> hashes;
  for (const auto& c : b.chunks) hashes.push_back(c.hash);
  if (!hashes.empty()) {
    OC_ASSIGN(b.cached, store.CachedVectors(hashes));
  }
  OC_ASSIGN(MemoryCounts counts, store.Counts(""));
  b.pending = counts.chunks - counts.embedded;
  return b;
}

void ReportEmbedProgress(const StatePtr& s, int64_t pending, const DrainResult& result) {
  for (const auto& w : s->workspaces) {
    if (!w->running || w->running->progress.phase != "embedding") continue;
    w->running->progress.chunks_pending = static_cast<size_t>(std::max<int64_t>(pending, 0));
    w->running->progress.chunks_embedded = result.computed + result.cached;
    Notify(*w->running);
  }
}

}  // namespace


void NoteEmbedderDown(ServiceState& s, const Error& error, bool any_error) {
  if (any_error || error.code == ErrorCode::kTimeout || error.code == ErrorCode::kConnectionClosed)
    s.embedder_retry_at = Clock::now() + kEmbedderPause;
}

namespace {

void FireSwitchWaiters(ServiceState& s) {
  if (!s.switch_done) return;
  auto waiters = std::move(s.switch_done);
  waiters->Fire();
}

// Makes the embedder's model the store's: its dimension comes from embedding one probe text (a
// remote model's dimension is only known from an answer), then UseModel drops the old vectors.
asio::awaitable<Status> SwitchModel(StatePtr s) {
  std::shared_ptr<Embedder> embedder = s->embedder;
  std::string key = embedder->model_key();
  std::vector<std::string> probe{"memory embedding dimension probe"};
  auto vectors = co_await GuardedEmbed(s, embedder, std::move(probe));
  if (!vectors.ok()) {
    NoteEmbedderDown(*s, vectors.error(), false);
    co_return vectors.error();
  }
  if (s->embedder != embedder || s->stopped) co_return Status::Ok();  // replaced meanwhile: the caller loops
  if (vectors->empty() || vectors->front().empty())
    co_return MakeError(ErrorCode::kInvalidRequest, key + " returned an empty embedding");
  int dims = static_cast<int>(vectors->front().size());
  auto stores = s->stores;
  auto use = [stores, key, dims]() { return stores->writer->UseModel(key, dims); };
  auto changed = co_await Hop(s, internal::Lane::kWriter, std::move(use));
  if (!changed.ok()) co_return changed.error();
  s->active_model = key;
  s->active_dims = dims;
  if (*changed) spdlog::info("memory: vectors now use {} ({} dimensions)", key, dims);
  co_return Status::Ok();
}

// Embeds one batch: cache hits first, the embedder for the rest (each distinct text once).
asio::awaitable<Status> EmbedBatch(StatePtr s, Batch batch, DrainResult& result) {
  std::vector<MemoryStore::ChunkVector> out;
  std::vector<std::string> texts;                          // distinct texts for the embedder
  std::vector<std::vector<const StoredChunk*>> groups;     // the chunks of each text
  std::unordered_map<std::string, size_t> group_of;        // hash → index in texts/groups
  size_t cached = 0, computed = 0;
  for (const auto& chunk : batch.chunks) {
    if (auto hit = batch.cached.find(chunk.hash); hit != batch.cached.end()) {
      out.push_back(MemoryStore::ChunkVector{chunk.id, chunk.hash, hit->second});
      ++cached;
      continue;
    }
    auto [it, fresh] = group_of.emplace(chunk.hash, texts.size());
    if (fresh) {
      texts.push_back(chunk.text);
      groups.emplace_back();
    }
    groups[it->second].push_back(&chunk);
  }
  if (!texts.empty()) {
    std::shared_ptr<Embedder> embedder = s->embedder;
    size_t count = texts.size();
    auto vectors = co_await GuardedEmbed(s, embedder, std::move(texts));
    if (!vectors.ok()) {
      NoteEmbedderDown(*s, vectors.error(), false);
      co_return vectors.error();
    }
    s->embedder_retry_at = {};
    if (vectors->size() != count)
      co_return MakeError(ErrorCode::kInvalidRequest, "the embedder returned " + std::to_string(vectors->size()) +
                                                          " vectors for " + std::to_string(count) + " texts");
    for (size_t i = 0; i < count; ++i) {
      for (const StoredChunk* chunk : groups[i])
        out.push_back(MemoryStore::ChunkVector{chunk->id, chunk->hash, (*vectors)[i]});
      ++computed;
      cached += groups[i].size() - 1;  // the same text twice in the batch: embedded once
    }
  }
  auto stores = s->stores;
  auto put = [stores, out = std::move(out)]() { return stores->writer->PutVectors(out); };
  Status stored = co_await Hop(s, internal::Lane::kWriter, std::move(put));
  if (!stored.ok()) co_return stored;
  result.computed += computed;
  result.cached += cached;
  s->embeddings_computed += static_cast<int64_t>(computed);
  s->embeddings_cached += static_cast<int64_t>(cached);
  co_return Status::Ok();
}

// Embeds every unembedded chunk (switching the model first when the embedder's differs), batch by
// batch, until none is left or the embedder fails (the chunks then stay pending for a later pass).
asio::awaitable<void> DrainRounds(StatePtr s, DrainResult& result) {
  int64_t last_first_id = -1;
  for (;;) {
    if (s->stopped) {
      result.error = kStopped;
      co_return;
    }
    if (s->active_model.empty() || s->active_model != s->embedder->model_key()) {
      Status switched = co_await SwitchModel(s);
      FireSwitchWaiters(*s);
      if (!switched.ok()) {
        result.error = "embedding model " + s->embedder->model_key() + ": " + switched.error().message;
        co_return;
      }
      continue;
    }
    auto stores = s->stores;
    size_t limit = std::max<size_t>(s->settings.embedding.batch_size, 1);
    auto fetch = [stores, limit]() { return FetchBatch(*stores->writer, limit); };
    auto batch = co_await Hop(s, internal::Lane::kWriter, std::move(fetch));
    if (!batch.ok()) {
      result.error = batch.error().message;
      co_return;
    }
    ReportEmbedProgress(s, batch->pending, result);
    if (batch->chunks.empty()) {
      if (!s->drain_again) co_return;
      s->drain_again = false;  // chunks were added after the fetch began: look once more
      continue;
    }
    if (batch->chunks.front().id == last_first_id) {
      result.error = "embedding made no progress (chunk " + std::to_string(last_first_id) + ")";
      co_return;
    }
    last_first_id = batch->chunks.front().id;
    Status embedded = co_await EmbedBatch(s, std::move(batch).value(), result);
    if (!embedded.ok()) {
      result.error = embedded.error().message;
      co_return;
    }
  }
}

asio::awaitable<void> DrainLoop(StatePtr s, std::shared_ptr<DrainRun> run) {
  try {
    co_await DrainRounds(s, run->result);
  } catch (const std::exception& e) {
    run->result.error = std::string("embedding failed: ") + e.what();
  }
  if (!run->result.error.empty() && run->result.error != kStopped) {
    // Once per distinct failure: a provider that stays down is retried on every pass.
    if (run->result.error != s->last_drain_error)
      spdlog::warn("memory: embedding stopped, chunks stay pending (text search still finds them): {}",
                   run->result.error);
    s->last_error = run->result.error;
  }
  s->last_drain_error = run->result.error;
  FireSwitchWaiters(*s);
  if (s->drain == run) s->drain = nullptr;
  run->done.Fire();
}

// Joins the running drain (asking it to look again) or starts one; returns when it is done.
asio::awaitable<DrainResult> EmbedPending(StatePtr s) {
  if (s->stopped) co_return DrainResult{0, 0, kStopped};
  std::shared_ptr<DrainRun> run = s->drain;
  if (run) {
    s->drain_again = true;
  } else {
    run = std::make_shared<DrainRun>(s->loop);
    s->drain = run;
    s->drain_again = false;
    Spawn(s, DrainLoop(s, run), "embedding");
  }
  co_await run->done.Wait();
  co_return run->result;
}

// Starts a drain in the background, or makes the running one look again.
void KickDrain(const StatePtr& s) {
  if (s->stopped) return;
  if (s->drain) {
    s->drain_again = true;
    return;
  }
  auto drain = [](StatePtr st) -> asio::awaitable<void> { co_await EmbedPending(st); };
  Spawn(s, drain(s), "embedding");
}

Result<Batch> FetchChunks(MemoryStore& store, const std::vector<int64_t>& ids) {
  Batch b;
  for (int64_t id : ids) {
    OC_ASSIGN(auto chunk, store.Chunk(id));
    if (chunk && !chunk->embedded) b.chunks.push_back(std::move(*chunk));
  }
  std::vector<std::string> hashes;
  for (const auto& c : b.chunks) hashes.push_back(c.hash);
  if (!hashes.empty()) {
    OC_ASSIGN(b.cached, store.CachedVectors(hashes));
  }
  return b;
}

void StartPassLoop(const StatePtr& s, const WorkspacePtr& w);

std::shared_ptr<PassRun> StartPass(const StatePtr& s, const WorkspacePtr& w, bool force) {
  auto run = std::make_shared<PassRun>(s->loop, force);
  run->progress.workspace = w->key;
  if (s->stopped || w->removed) {
    run->report.error = kStopped;
    run->done.Fire();
    return run;
  }
  w->running = run;
  StartPassLoop(s, w);
  return run;
}

asio::awaitable<void> RescanLoop(StatePtr s) {
  while (!s->stopped) {
    auto interval = s->settings.rescan_interval;
    if (interval.count() <= 0) interval = std::chrono::hours(24 * 365);  // 0 = no periodic rescans
    s->rescan_timer.expires_after(interval);
    boost::system::error_code ec;
    co_await s->rescan_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (s->stopped) break;
    if (ec) continue;  // cancelled by ApplySettings: re-arm with the new interval
    for (const auto& w : s->workspaces) Trigger(s, w);
  }
}

// ---- passes -----------------------------------------------------------------------------------

void AddOutcome(IndexReport& report, const internal::FileOutcome& o) {
  if (o.removed) ++report.files_removed;
  if (o.content_changed) ++report.files_changed;
  report.chunks_added += o.chunks_added;
  report.chunks_kept += o.chunks_kept;
  report.chunks_removed += o.chunks_removed;
}

// Scans one workspace (one writer hop for the listing, one per file to read, one for removals).
asio::awaitable<void> ScanWorkspace(StatePtr s, WorkspacePtr w, PassRun& run) {
  auto stores = s->stores;
  std::string key = w->key;
  fs::path root = w->root;
  bool force = run.force;
  int64_t now = NowMs();
  auto list = [stores, key, root, force, now]() -> Result<internal::WorkspaceListing> {
    OC_ASSIGN(auto indexed, stores->writer->Files(key));
    return internal::ListWorkspace(root, indexed, force, now, stores->warned_large);
  };
  auto listing = co_await Hop(s, internal::Lane::kWriter, std::move(list));
  if (!listing.ok()) {
    run.report.error = listing.error().message;
    co_return;
  }
  run.report.files_scanned = listing->files;
  run.progress.files_total = listing->files;
  run.progress.files_done = listing->files - listing->candidates.size();
  Notify(run);
  ChunkOptions chunking = s->settings.chunking;
  for (const auto& candidate : listing->candidates) {
    if (s->stopped || w->removed) {
      run.report.error = kStopped;
      co_return;
    }
    auto index = [stores, key, root, candidate, chunking, force]() {
      return internal::IndexFile(*stores->writer, key, root, candidate, chunking, force);
    };
    auto outcome = co_await Hop(s, internal::Lane::kWriter, std::move(index));
    if (outcome.ok()) {
      AddOutcome(run.report, *outcome);
    } else {
      spdlog::warn("memory: indexing {}/{}: {}", key, candidate.stat.path, outcome.error().message);
      run.report.error = outcome.error().message;  // the file keeps its old index; the next pass retries
    }
    ++run.progress.files_done;
    Notify(run);
  }
  if (!listing->vanished.empty() && !s->stopped && !w->removed) {
    std::vector<FileState> vanished = listing->vanished;
    auto remove = [stores, key, vanished]() -> Status {
      for (const auto& f : vanished) OC_TRY(stores->writer->RemoveFile(key, f.path));
      return Status::Ok();
    };
    Status removed = co_await Hop(s, internal::Lane::kWriter, std::move(remove));
    if (removed.ok()) {
      run.report.files_removed += vanished.size();
      for (const auto& f : vanished) run.report.chunks_removed += static_cast<size_t>(f.chunks);
    } else {
      run.report.error = removed.error().message;
    }
  }
  if (SyncWatches(s, w, listing->dirs)) w->dirty = true;
}

asio::awaitable<void> RunPass(StatePtr s, WorkspacePtr w, PassRun& run) {
  auto start = Clock::now();
  SetPhase(run, "scanning");
  co_await ScanWorkspace(s, w, run);
  if (!s->stopped && !w->removed) {
    SetPhase(run, "embedding");
    DrainResult drained = co_await EmbedPending(s);
    run.report.embeddings_computed = drained.computed;
    run.report.embeddings_cached = drained.cached;
    if (run.report.error.empty()) run.report.error = drained.error;
  } else if (run.report.error.empty()) {
    run.report.error = kStopped;
  }
  run.report.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// Runs passes for `w` while requests keep coming (dirty), then leaves it idle.
asio::awaitable<void> PassLoop(StatePtr s, WorkspacePtr w) {
  for (;;) {
    std::shared_ptr<PassRun> run = w->running;
    if (!run) break;
    try {
      co_await RunPass(s, w, *run);
    } catch (const std::exception& e) {
      run->report.error = std::string("indexing failed: ") + e.what();
    }
    s->last_report = run->report;
    if (run->report.error.empty()) {
      s->last_error.clear();
    } else if (run->report.error != kStopped) {
      s->last_error = run->report.error;
    }
    SetPhase(*run, "idle");
    run->done.Fire();
    if (w->dirty && !s->stopped && !w->removed) {
      w->running = std::make_shared<PassRun>(s->loop, w->dirty_force);
      w->running->progress.workspace = w->key;
      w->dirty = w->dirty_force = false;
    } else {
      w->running = nullptr;
    }
  }
}

void StartPassLoop(const StatePtr& s, const WorkspacePtr& w) { Spawn(s, PassLoop(s, w), "indexing"); }

// Index(): the running pass (joined) or a new one.
std::shared_ptr<PassRun> JoinPass(const StatePtr& s, const WorkspacePtr& w, bool force) {
  if (w->running) return w->running;
  return StartPass(s, w, force);
}

void Merge(IndexReport& total, const IndexReport& r, const std::string& workspace) {
  total.files_scanned += r.files_scanned;
  total.files_changed += r.files_changed;
  total.files_removed += r.files_removed;
  total.chunks_added += r.chunks_added;
  total.chunks_removed += r.chunks_removed;
  total.chunks_kept += r.chunks_kept;
  total.embeddings_computed = std::max(total.embeddings_computed, r.embeddings_computed);  // one shared drain
  total.embeddings_cached = std::max(total.embeddings_cached, r.embeddings_cached);
  if (total.error.empty() && !r.error.empty()) total.error = workspace + ": " + r.error;
}

}  // namespace

void Spawn(const StatePtr& s, asio::awaitable<void> work, const char* what) {
  asio::co_spawn(s->loop, std::move(work), [what](std::exception_ptr e) { LogFailure(e, what); });
}

// A change (watcher, rescan, settings): a pass now, or another one after the running pass.
void Trigger(const StatePtr& s, const WorkspacePtr& w, bool force) {
  if (s->stopped || w->removed) return;
  if (w->running) {
    w->dirty = true;
    w->dirty_force = w->dirty_force || force;
    return;
  }
  StartPass(s, w, force);
}

asio::awaitable<Status> EmbedChunks(StatePtr s, std::vector<int64_t> ids) {
  if (ids.empty() || s->stopped) co_return Status::Ok();
  if (Clock::now() < s->embedder_retry_at) co_return Status::Ok();  // provider down: a later pass embeds them
  if (s->active_model.empty() || s->active_model != s->embedder->model_key()) {
    // Only the drain switches models (it owns the vector table meanwhile): wait for its switch, not
    // for the re-embedding after it.
    KickDrain(s);
    if (!s->switch_done) s->switch_done = std::make_shared<Signal>(s->loop);
    std::shared_ptr<Signal> switched = s->switch_done;
    co_await switched->Wait();
    if (s->stopped || s->active_model.empty() || s->active_model != s->embedder->model_key())
      co_return Status::Ok();  // (the switch failed: the drain retries and embeds these too)
  }
  auto stores = s->stores;
  auto fetch = [stores, ids]() { return FetchChunks(*stores->writer, ids); };
  auto batch = co_await Hop(s, internal::Lane::kWriter, std::move(fetch));
  if (!batch.ok()) co_return batch.error();
  DrainResult ignored;
  co_return co_await EmbedBatch(s, std::move(batch).value(), ignored);
}

}  // namespace internal

json::object IndexReport::ToJson() const {
  json::object o{{"filesScanned", files_scanned},
                 {"filesChanged", files_changed},
                 {"filesRemoved", files_removed},
                 {"chunksAdded", chunks_added},
                 {"chunksRemoved", chunks_removed},
                 {"chunksKept", chunks_kept},
                 {"embeddingsComputed", embeddings_computed},
                 {"embeddingsCached", embeddings_cached},
                 {"elapsedMs", elapsed_ms}};
  o["error"] = error.empty() ? json::value(nullptr) : json::value(error);
  return o;
}



// The service's state: everything above, shared with the coroutines in flight.
struct MemoryService::State : internal::ServiceState {
  using ServiceState::ServiceState;
};

// ---- MemoryService ------------------------------------------------------------------------------

using internal::EmbedPending;
using internal::FindWorkspace;
using internal::IsZero;
using internal::ProgressJson;
using internal::JoinPass;
using internal::Merge;
using internal::RescanLoop;
using internal::kStopped;
using internal::Hop;
using internal::PassRun;
using internal::Spawn;
using internal::StatePtr;
using internal::Trigger;
using internal::Workspace;
using internal::WorkspacePtr;
using Clock = std::chrono::steady_clock;

MemoryService::MemoryService(std::shared_ptr<State> state) : state_(std::move(state)) {}

MemoryService::~MemoryService() { Stop(); }

Result<std::unique_ptr<MemoryService>> MemoryService::Open(const fs::path& db_path, MemorySettings settings,
                                                           asio::any_io_executor loop, asio::thread_pool& workers,
                                                           agent::HttpClient& http) {
  OC_ASSIGN(auto writer, MemoryStore::Open(db_path, settings.vec_extension));
  MemoryStore::Options read_only;
  read_only.read_only = true;
  OC_ASSIGN(auto reader, MemoryStore::Open(db_path, settings.vec_extension, read_only));
  OC_ASSIGN(std::unique_ptr<Embedder> embedder, MakeEmbedder(settings.embedding, loop, workers, http));
  OC_ASSIGN(auto current, writer->CurrentModel());
  auto s = std::make_shared<State>(std::move(settings), loop, workers, http);
  std::string key = embedder->model_key();
  if (current && current->first == key) {
    OC_TRY(writer->UseModel(key, current->second).status());
    s->active_model = key;
    s->active_dims = current->second;
  }
  s->stores->writer = std::move(writer);
  s->stores->reader = std::move(reader);
  s->embedder = std::move(embedder);
  if (s->settings.watch) StartWatching(s);
  Spawn(s, RescanLoop(s), "rescanning");
  if (s->active_model.empty() && current) {
    spdlog::info("memory: embedding model changed from {} to {}; re-embedding in the background", current->first, key);
    internal::KickDrain(s);
  }
  return std::unique_ptr<MemoryService>(new MemoryService(std::move(s)));
}

void MemoryService::SetWorkspaces(std::vector<fs::path> workspaces) {
  StatePtr s = state_;
  if (s->stopped) return;
  std::set<std::string> keys;
  for (const auto& p : workspaces) keys.insert(internal::WorkspaceKey(p));
  std::vector<WorkspacePtr> kept;
  for (const auto& w : s->workspaces) {
    if (keys.count(w->key)) {
      kept.push_back(w);
      continue;
    }
    w->removed = true;
    w->debounce.cancel();
    UnwatchAll(s, *w);
    spdlog::info("memory: no longer indexing {}", w->key);
  }
  s->workspaces = std::move(kept);
  // The index of workspaces nobody lists any more is dropped. Posted before any pass below, so a
  // workspace listed again later is re-indexed after the drop, never before it.
  auto stores = s->stores;
  asio::post(s->workers.get_executor(), [stores, keys]() {
    std::lock_guard<std::mutex> hold(stores->writer_mutex);
    auto indexed = stores->writer->Workspaces();
    if (!indexed.ok()) {
      spdlog::warn("memory: listing indexed workspaces: {}", indexed.error().message);
      return;
    }
    for (const auto& key : *indexed)
      if (!keys.count(key))
        if (Status removed = stores->writer->RemoveWorkspace(key); !removed.ok())
          spdlog::warn("memory: dropping the index of {}: {}", key, removed.error().message);
  });
  for (const auto& key : keys) {
    if (FindWorkspace(s, key)) continue;
    auto w = std::make_shared<Workspace>(s->loop, fs::path(key));
    s->workspaces.push_back(w);
    Trigger(s, w);
  }
}

Status MemoryService::ApplySettings(MemorySettings settings) {
  StatePtr s = state_;
  if (s->stopped) return MakeError(ErrorCode::kInternalError, kStopped);
  OC_ASSIGN(std::unique_ptr<Embedder> made, MakeEmbedder(settings.embedding, s->loop, s->workers, s->http));
  if (settings.vec_extension != s->settings.vec_extension)
    spdlog::warn("memory: memory.vecExtension changes take effect after a restart");
  settings.vec_extension = s->settings.vec_extension;
  bool model_changed = made->model_key() != s->embedder->model_key();
  bool chunking_changed = settings.chunking.target_tokens != s->settings.chunking.target_tokens ||
                          settings.chunking.overlap_tokens != s->settings.chunking.overlap_tokens;
  bool interval_changed = settings.rescan_interval != s->settings.rescan_interval;
  bool watch = settings.watch;
  s->settings = std::move(settings);
  s->embedder = std::move(made);  // (the same model may still have a new base URL or key)
  s->embedder_retry_at = {};
  if (interval_changed) s->rescan_timer.cancel();
  if (watch && !s->watching) {
    StartWatching(s);
    for (const auto& w : s->workspaces) Trigger(s, w);  // the pass adds the watches
  } else if (!watch && s->watching) {
    s->watching = false;
    for (const auto& w : s->workspaces) UnwatchAll(s, *w);
  }
  if (chunking_changed)
    for (const auto& w : s->workspaces) Trigger(s, w, /*force=*/true);
  if (model_changed) {
    spdlog::info("memory: embedding model changed to {}; re-embedding in the background", s->embedder->model_key());
    internal::KickDrain(s);
  }
  return Status::Ok();
}

// The coroutines behind the public methods take the state as a parameter, so it is captured when
// the method is called: an awaitable started after the MemoryService is gone still works.
namespace {

asio::awaitable<Result<std::vector<SearchHit>>> SearchIn(StatePtr s, fs::path workspace, std::string query,
                                                         MemoryService::SearchOptions options) {
  if (s->stopped) co_return MakeError(ErrorCode::kInternalError, kStopped);
  if (query.find_first_not_of(" \t\r\n") == std::string::npos)
    co_return MakeError(ErrorCode::kInvalidParams, "query is empty");
  const SearchSettings& settings = s->settings.search;
  SearchQuery q;
  q.workspace = internal::WorkspaceKey(workspace);
  q.text = query;
  q.top_k = options.top_k.value_or(settings.top_k);
  q.min_score = options.min_score.value_or(settings.min_score);
  q.candidates = settings.candidates;
  q.vector_weight = settings.vector_weight;
  q.text_weight = settings.text_weight;
  q.mmr = settings.mmr;
  q.mmr_lambda = settings.mmr_lambda;
  q.path_prefix = options.path_prefix;
  // The query vector only helps when the stored vectors are the embedder's model (not mid-switch),
  // and is not attempted while the provider is known to be unreachable.
  bool use_vector = !s->active_model.empty() && s->active_model == s->embedder->model_key() &&
                    Clock::now() >= s->embedder_retry_at;
  std::shared_ptr<Embedder> embedder = s->embedder;
  std::vector<std::string> texts{query};
  Result<std::vector<std::vector<float>>> vectors = std::vector<std::vector<float>>{};
  if (use_vector) vectors = co_await GuardedEmbed(s, embedder, std::move(texts));
  if (vectors.ok() && !vectors->empty() && !IsZero(vectors->front())) {
    q.vector = std::move(vectors->front());
  } else if (!vectors.ok()) {
    internal::NoteEmbedderDown(*s, vectors.error(), /*any_error=*/true);
    spdlog::warn("memory: cannot embed the query ({}); searching text only", vectors.error().message);
  }
  auto stores = s->stores;
  auto search = [stores, q]() -> Result<std::vector<SearchHit>> {
    auto hits = stores->reader->Search(q);
    if (hits.ok() || !q.vector) return hits;
    // The vector table may be mid-switch to another model: the text side still answers.
    spdlog::warn("memory: vector search failed ({}); searching text only", hits.error().message);
    SearchQuery text_only = q;
    text_only.vector.reset();
    return stores->reader->Search(text_only);
  };
  co_return co_await Hop(s, internal::Lane::kReader, std::move(search));
}

struct Appended {
  StoredMemory stored;
  std::vector<int64_t> new_chunks;
};

asio::awaitable<Result<StoredMemory>> StoreIn(StatePtr s, fs::path workspace, std::string text,
                                              std::vector<std::string> tags) {
  if (s->stopped) co_return MakeError(ErrorCode::kInternalError, kStopped);
  auto stores = s->stores;
  std::string key = internal::WorkspaceKey(workspace);
  fs::path root = key;
  ChunkOptions chunking = s->settings.chunking;
  auto now = std::chrono::system_clock::now();
  // Append and index the day file in one writer job: a search right after finds the entry.
  auto append = [stores, key, root, text, tags, chunking, now]() -> Result<Appended> {
    Appended out;
    OC_ASSIGN(out.stored, internal::AppendMemoryEntry(root, text, tags, now));
    internal::FileCandidate candidate;
    candidate.stat.path = out.stored.path;
    OC_ASSIGN(auto indexed, stores->writer->Files(key));
    for (const auto& f : indexed)
      if (f.path == out.stored.path) candidate.indexed_hash = f.hash;
    auto outcome = internal::IndexFile(*stores->writer, key, root, candidate, chunking, /*force=*/true);
    if (outcome.ok()) {
      out.new_chunks = std::move(outcome->added_ids);
    } else {
      spdlog::warn("memory: indexing {} after memory_store: {}", out.stored.path, outcome.error().message);
    }
    return out;
  };
  auto appended = co_await Hop(s, internal::Lane::kWriter, std::move(append));
  if (!appended.ok()) co_return appended.error();
  // Embed just the new chunks now (a drain may be busy re-embedding everything); when the model
  // is mid-switch, the drain does it in the background and text search finds the entry meanwhile.
  Status embedded = co_await internal::EmbedChunks(s, appended->new_chunks);
  if (!embedded.ok() && !s->stopped)
    spdlog::warn("memory: stored {} but could not embed it yet ({}); text search finds it", appended->stored.path,
                 embedded.error().message);
  co_return appended->stored;
}

asio::awaitable<Result<IndexReport>> IndexIn(StatePtr s, std::optional<fs::path> workspace, bool force,
                                             std::function<void(const IndexProgress&)> progress) {
  if (s->stopped) co_return MakeError(ErrorCode::kInternalError, kStopped);
  auto start = Clock::now();
  std::vector<std::pair<std::string, std::shared_ptr<PassRun>>> runs;
  if (workspace) {
    WorkspacePtr w = FindWorkspace(s, internal::WorkspaceKey(*workspace));
    if (!w) co_return MakeError(ErrorCode::kNotFound, "not a memory workspace: " + workspace->string());
    runs.emplace_back(w->key, JoinPass(s, w, force));
  } else {
    for (const auto& w : s->workspaces) runs.emplace_back(w->key, JoinPass(s, w, force));
  }
  if (progress)
    for (auto& entry : runs) entry.second->listeners.push_back(progress);
  IndexReport total;
  for (auto& entry : runs) {
    co_await entry.second->done.Wait();
    Merge(total, entry.second->report, entry.first);
  }
  if (runs.size() == 1) total.error = runs.front().second->report.error;
  total.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  co_return total;
}

asio::awaitable<Result<std::string>> ReadFileIn(StatePtr s, fs::path workspace, std::string path, int from,
                                                int lines) {
  fs::path root = internal::WorkspaceKey(workspace);
  auto read = [root, path, from, lines]() { return internal::ReadMemoryFile(root, path, from, lines); };
  co_return co_await Hop(s, internal::Lane::kPool, std::move(read));
}

asio::awaitable<json::object> StatusIn(StatePtr s) {
  std::vector<std::string> keys;
  for (const auto& w : s->workspaces) keys.push_back(w->key);
  struct Counted {
    MemoryCounts all;
    std::vector<MemoryCounts> each;
  };
  auto stores = s->stores;
  auto count = [stores, keys]() -> Result<Counted> {
    Counted c;
    OC_ASSIGN(c.all, stores->reader->Counts(""));
    for (const auto& key : keys) {
      OC_ASSIGN(auto one, stores->reader->Counts(key));
      c.each.push_back(std::move(one));
    }
    return c;
  };
  auto counted = co_await Hop(s, internal::Lane::kReader, std::move(count));
  // Mid-switch the stored vectors are another model's: nothing counts as embedded yet.
  bool switching = s->active_model.empty() || s->active_model != s->embedder->model_key();
  json::object o{{"enabled", true},
                 {"provider", s->settings.embedding.provider},
                 {"model", s->embedder->model_key()},
                 {"dims", switching ? 0 : s->active_dims},
                 {"vecExtension", s->settings.vec_extension.string()}};
  json::array workspaces;
  int64_t files = 0, chunks = 0, embedded = 0;
  if (counted.ok()) {
    for (size_t i = 0; i < keys.size(); ++i) {
      const MemoryCounts& c = counted->each[i];
      workspaces.push_back(json::object{{"workspace", keys[i]},
                                        {"files", c.files},
                                        {"chunks", c.chunks},
                                        {"embedded", switching ? 0 : c.embedded}});
    }
    files = counted->all.files;
    chunks = counted->all.chunks;
    embedded = switching ? 0 : counted->all.embedded;
  } else {
    o["error"] = counted.error().message;
  }
  o["workspaces"] = std::move(workspaces);
  o["files"] = files;
  o["chunks"] = chunks;
  o["embedded"] = embedded;
  o["pending"] = chunks - embedded;
  o["embeddingsComputed"] = s->embeddings_computed;
  o["embeddingsCached"] = s->embeddings_cached;
  json::value indexing = nullptr;
  for (const auto& w : s->workspaces)
    if (w->running) {
      indexing = ProgressJson(w->running->progress);
      break;
    }
  o["indexing"] = std::move(indexing);
  o["watching"] = s->watching && s->inotify != nullptr;
  o["lastIndex"] = s->last_report ? json::value(s->last_report->ToJson()) : json::value(nullptr);
  o["lastError"] = s->last_error.empty() ? json::value(nullptr) : json::value(s->last_error);
  co_return o;
}

}  // namespace

// A public call that the service's Stop() overtook answers kStopped (see ServiceStopped).
template <class T>
asio::awaitable<Result<T>> StopSafe(asio::awaitable<Result<T>> work) {
  try {
    co_return co_await std::move(work);
  } catch (const internal::ServiceStopped&) {
  }
  co_return MakeError(ErrorCode::kInternalError, kStopped);
}

asio::awaitable<json::object> StatusStopSafe(asio::awaitable<json::object> work) {
  try {
    co_return co_await std::move(work);
  } catch (const internal::ServiceStopped&) {
  }
  co_return json::object{{"enabled", true}, {"error", kStopped}};
}

asio::awaitable<Result<std::vector<SearchHit>>> MemoryService::Search(fs::path workspace, std::string query,
                                                                      SearchOptions options) {
  return StopSafe(SearchIn(state_, std::move(workspace), std::move(query), std::move(options)));
}

asio::awaitable<Result<StoredMemory>> MemoryService::Store(fs::path workspace, std::string text,
                                                           std::vector<std::string> tags) {
  return StopSafe(StoreIn(state_, std::move(workspace), std::move(text), std::move(tags)));
}

asio::awaitable<Result<IndexReport>> MemoryService::Index(std::optional<fs::path> workspace, bool force,
                                                          std::function<void(const IndexProgress&)> progress) {
  return StopSafe(IndexIn(state_, std::move(workspace), force, std::move(progress)));
}

asio::awaitable<Result<std::string>> MemoryService::ReadFile(fs::path workspace, std::string path, int from,
                                                             int lines) {
  return StopSafe(ReadFileIn(state_, std::move(workspace), std::move(path), from, lines));
}

asio::awaitable<json::object> MemoryService::StatusJson() { return StatusStopSafe(StatusIn(state_)); }

void MemoryService::Stop() {
  StatePtr s = state_;
  if (!s || s->stopped) return;
  s->stopped = true;
  s->watching = false;
  s->rescan_timer.cancel();
  for (const auto& w : s->workspaces) w->debounce.cancel();
  if (s->inotify) s->inotify->Close();
}

fs::path DefaultVecExtensionPath() {
  if (const char* env = std::getenv("OPENCLAWOS_VEC0"); env && *env) return fs::path(env);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return fs::path("lib") / "vec0.so";
  return (exe.parent_path() / ".." / "lib" / "vec0.so").lexically_normal();
}

}  // namespace oc::memory

