// The memory service's shared state and the pieces its files share (internal: memory_service.cpp
// runs passes, the embedding drain and the public API; workspace_watcher.cpp watches).
//
// Everything here lives on the kernel loop except Stores, whose members are used under their mutexes
// of the worker pool only (lambdas hopping there capture the Stores, never the ServiceState).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "memory/memory_indexer.h"
#include "memory/memory_service.h"
#include "memory/workspace_watcher.h"

namespace oc::memory::internal {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using ProgressFn = std::function<void(const IndexProgress&)>;

inline constexpr const char* kStopped = "the memory service is stopped";
inline constexpr std::chrono::seconds kEmbedderPause{30};

// Runs the blocking `fn` on `ex` (the pool) and resumes on the caller's executor with
// its result. (Wrapped in optional: co_spawn's awaitable result must be default-constructible.)
template <class Executor, class Fn>
asio::awaitable<std::invoke_result_t<Fn&>> OnExecutor(Executor ex, Fn fn) {
  using R = std::invoke_result_t<Fn&>;
  auto work = [fn = std::move(fn)]() mutable -> asio::awaitable<std::optional<R>> {
    co_return std::optional<R>(fn());
  };
  std::optional<R> result = co_await asio::co_spawn(ex, std::move(work), asio::use_awaitable);
  co_return std::move(*result);
}

struct ServiceStopped;
inline void LogFailure(std::exception_ptr e, const char* what);

// A one-shot completion that any number of loop coroutines await.
class Signal {
 public:
  explicit Signal(asio::any_io_executor ex) : timer_(std::move(ex), Clock::time_point::max()) {}
  void Fire() {
    done_ = true;
    timer_.cancel();
  }
  asio::awaitable<void> Wait() {
    while (!done_) {
      boost::system::error_code ec;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

 private:
  asio::steady_timer timer_;
  bool done_ = false;
};

// The stores, each used by one thread at a time, under its mutex (and destroyed by whoever lets go last).
struct Stores {
  // Each store is used by one pool thread at a time: its job holds the mutex. (Mutexes rather than
  // strands: a strand must not outlive its pool, and coroutine frames on the loop that awaited
  // pool work can outlive the pipeline's pool; a plain pool executor has no such tie.)
  std::mutex writer_mutex, reader_mutex;
  std::unique_ptr<MemoryStore> writer;  // under writer_mutex
  std::unique_ptr<MemoryStore> reader;  // under reader_mutex
  std::set<std::string> warned_large;   // under writer_mutex: files above the limit already warned about
};

// One pass over a workspace; Index() callers await `done` and read `report`.
struct PassRun {
  PassRun(asio::any_io_executor ex, bool force) : done(std::move(ex)), force(force) {}
  Signal done;
  bool force;
  IndexReport report;
  IndexProgress progress;
  std::vector<ProgressFn> listeners;
};

struct DrainResult {
  size_t computed = 0, cached = 0;
  std::string error;
};

// One run of the embedding drain (global: Unembedded() spans all workspaces).
struct DrainRun {
  explicit DrainRun(asio::any_io_executor ex) : done(std::move(ex)) {}
  Signal done;
  DrainResult result;
};

struct Workspace {
  Workspace(asio::any_io_executor ex, fs::path root_path)
      : root(std::move(root_path)), key(WorkspaceKey(root)), debounce(std::move(ex)) {}
  fs::path root;
  std::string key;
  bool removed = false;
  std::shared_ptr<PassRun> running;  // the pass in progress
  bool dirty = false, dirty_force = false;  // another pass must follow the running one
  asio::steady_timer debounce;
  Clock::time_point debounce_due{};
  bool debounce_armed = false;
  std::map<fs::path, int> watched;  // directory → inotify wd
  bool watch_failed_logged = false;
};

struct WatchTarget {
  std::weak_ptr<Workspace> workspace;
  fs::path dir;
};

struct ServiceState {
  ServiceState(MemorySettings s, asio::any_io_executor l, asio::thread_pool& w, agent::HttpClient& h)
      : settings(std::move(s)),
        loop(l),
        workers(w),
        http(h),
        rescan_timer(l) {}

  MemorySettings settings;
  asio::any_io_executor loop;
  asio::thread_pool& workers;
  agent::HttpClient& http;

  std::shared_ptr<Stores> stores = std::make_shared<Stores>();
  std::shared_ptr<Embedder> embedder;
  std::string active_model;  // the store's current model key when it is the embedder's, else ""
  int active_dims = 0;

  std::vector<std::shared_ptr<Workspace>> workspaces;
  std::unique_ptr<Inotify> inotify;
  bool watching = false;
  std::map<int, WatchTarget> watches;
  asio::steady_timer rescan_timer;

  std::shared_ptr<DrainRun> drain;
  bool drain_again = false;
  std::shared_ptr<Signal> switch_done;  // awaited by memory_store until the drain's model switch ends

  // After the embedder failed (unreachable, or a query it could not embed), searches skip the query
  // vector until then instead of waiting for the provider's timeout each time.
  Clock::time_point embedder_retry_at{};

  int64_t embeddings_computed = 0, embeddings_cached = 0;
  std::optional<IndexReport> last_report;
  std::string last_error;
  std::string last_drain_error;  // (logged once until it changes)
  bool stopped = false;
};

using StatePtr = std::shared_ptr<ServiceState>;
using WorkspacePtr = std::shared_ptr<Workspace>;

// Thrown (inside the service only) by Hop/GuardedEmbed once the service is stopped: the worker pool
// and the HTTP client it borrows may be gone by then (the pipeline that owns them was destroyed while
// the loop keeps running), so no work may reach them. Spawn swallows it; the public methods turn it
// into a kStopped error.
struct ServiceStopped {};

// Where blocking work runs: under the writer store's mutex, the reader store's, or no lock.
enum class Lane { kWriter, kReader, kPool };

// `fn` on the worker pool, holding the lane's store mutex, unless the service is stopped.
template <class Fn>
asio::awaitable<std::invoke_result_t<Fn&>> Hop(const StatePtr& s, Lane lane, Fn fn) {
  if (s->stopped) throw ServiceStopped{};
  auto locked = [fn = std::move(fn), stores = s->stores, lane]() mutable {
    std::unique_lock<std::mutex> hold;
    if (lane == Lane::kWriter) hold = std::unique_lock<std::mutex>(stores->writer_mutex);
    if (lane == Lane::kReader) hold = std::unique_lock<std::mutex>(stores->reader_mutex);
    return fn();
  };
  co_return co_await OnExecutor(s->workers.get_executor(), std::move(locked));
}

// embedder.Embed(texts), unless the service is stopped.
template <class EmbedderPtr>
asio::awaitable<Result<std::vector<std::vector<float>>>> GuardedEmbed(const StatePtr& s, const EmbedderPtr& embedder,
                                                                      std::vector<std::string> texts) {
  if (s->stopped) throw ServiceStopped{};
  co_return co_await embedder->Embed(std::move(texts));
}

// Records an embedder failure: a network-like one (timeout, connection), or any when `any_error`,
// pauses query embedding for kEmbedderPause.
void NoteEmbedderDown(ServiceState& s, const Error& error, bool any_error);
// Embeds these chunks now (cache first), unless the model is mid-switch (then the background
// drain will). Used by memory_store, which must not wait for a drain re-embedding everything.
asio::awaitable<Status> EmbedChunks(StatePtr s, std::vector<int64_t> ids);
// Spawns `work` on the loop; an escaping exception is logged.
void Spawn(const StatePtr& s, asio::awaitable<void> work, const char* what);
// A change (watcher, rescan, settings): a pass now, or another one after the running pass.
void Trigger(const StatePtr& s, const WorkspacePtr& w, bool force = false);

// Watching (workspace_watcher.cpp). StartWatching opens inotify (once) and reads it on the loop;
// SyncWatches makes a workspace's watches exactly `dirs` (true when one was added: files created
// before it may have been missed, so another pass should follow); ScheduleDebounced re-indexes a
// workspace after `debounce` of quiet.
void StartWatching(const StatePtr& s);
bool SyncWatches(const StatePtr& s, const WorkspacePtr& w, const std::vector<fs::path>& dirs);
void UnwatchAll(const StatePtr& s, Workspace& w);
void ScheduleDebounced(const StatePtr& s, const WorkspacePtr& w);

inline void LogFailure(std::exception_ptr e, const char* what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const ServiceStopped&) {
    // stopped meanwhile: nothing to report
  } catch (const std::exception& ex) {
    spdlog::error("memory: {} failed: {}", what, ex.what());
  } catch (...) {
    spdlog::error("memory: {} failed", what);
  }
}

}  // namespace oc::memory::internal
