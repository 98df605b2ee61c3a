#include "memory/workspace_watcher.h"

#include "memory/memory_service_state.h"

#include <unistd.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cerrno>
#include <cstring>

namespace oc::memory::internal {

namespace {

// (Not in the coroutine: inotify_event's flexible array member cannot live in a coroutine frame.)
std::vector<WatchEvent> ParseEvents(const char* data, size_t n) {
  std::vector<WatchEvent> events;
  size_t offset = 0;
  while (offset + sizeof(inotify_event) <= n) {
    inotify_event header;
    std::memcpy(&header, data + offset, sizeof header);  // the buffer is not aligned for it
    const char* name = data + offset + sizeof(inotify_event);
    WatchEvent e;
    e.wd = header.wd;
    e.mask = header.mask;
    if (header.len > 0) e.name.assign(name, ::strnlen(name, header.len));
    events.push_back(std::move(e));
    offset += sizeof(inotify_event) + header.len;
  }
  return events;
}

}  // namespace

Result<std::unique_ptr<Inotify>> Inotify::Open(asio::any_io_executor loop) {
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return MakeError(ErrorCode::kInternalError, std::string("inotify_init1: ") + std::strerror(errno));
  asio::posix::stream_descriptor descriptor(loop);
  boost::system::error_code ec;
  descriptor.assign(fd, ec);
  if (ec) {
    ::close(fd);
    return MakeError(ErrorCode::kInternalError, "inotify descriptor: " + ec.message());
  }
  return std::unique_ptr<Inotify>(new Inotify(std::move(descriptor)));
}

Inotify::~Inotify() { Close(); }

Result<int> Inotify::Watch(const std::filesystem::path& dir) {
  if (!fd_.is_open()) return MakeError(ErrorCode::kConnectionClosed, "inotify is closed");
  int wd = ::inotify_add_watch(fd_.native_handle(), dir.c_str(), kWatchMask);
  if (wd < 0) {
    std::string why = std::strerror(errno);
    if (errno == ENOSPC) why += " (fs.inotify.max_user_watches reached)";
    return MakeError(ErrorCode::kInternalError, "inotify_add_watch " + dir.string() + ": " + why);
  }
  return wd;
}

void Inotify::Unwatch(int wd) {
  if (fd_.is_open()) ::inotify_rm_watch(fd_.native_handle(), wd);  // EINVAL when already gone: fine
}

asio::awaitable<Result<std::vector<WatchEvent>>> Inotify::Next() {
  if (!fd_.is_open()) co_return MakeError(ErrorCode::kConnectionClosed, "inotify is closed");
  boost::system::error_code ec;
  size_t n = co_await fd_.async_read_some(asio::buffer(buffer_), asio::redirect_error(asio::use_awaitable, ec));
  if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor || !fd_.is_open())
    co_return MakeError(ErrorCode::kConnectionClosed, "inotify is closed");
  if (ec) co_return MakeError(ErrorCode::kInternalError, "reading inotify events: " + ec.message());
  co_return ParseEvents(buffer_.data(), n);
}

void Inotify::Close() {
  boost::system::error_code ec;
  if (fd_.is_open()) fd_.close(ec);
}

// ---- the service's watching ---------------------------------------------------------------------

// ---- watching ---------------------------------------------------------------------------------

bool AddWatch(const StatePtr& s, const WorkspacePtr& w, const fs::path& dir) {
  if (!s->inotify || !s->watching || w->watched.count(dir)) return false;
  auto wd = s->inotify->Watch(dir);
  if (!wd.ok()) {
    if (!w->watch_failed_logged)
      spdlog::warn("memory: cannot watch {}: {}; re-scanning it every {} s instead", dir.string(),
                   wd.error().message, s->settings.rescan_interval.count() / 1000);
    w->watch_failed_logged = true;
    return false;
  }
  w->watched[dir] = *wd;
  s->watches[*wd] = WatchTarget{w, dir};
  return true;
}

void UnwatchAll(const StatePtr& s, Workspace& w) {
  for (const auto& [dir, wd] : w.watched) {
    if (s->inotify) s->inotify->Unwatch(wd);
    s->watches.erase(wd);
  }
  w.watched.clear();
}

// Watches exactly `dirs` (the pass's listing). True when a directory was newly watched: files
// created in it before the watch existed may have been missed, so another pass follows.
bool SyncWatches(const StatePtr& s, const WorkspacePtr& w, const std::vector<fs::path>& dirs) {
  if (!s->inotify || !s->watching || w->removed) return false;
  std::set<fs::path> want(dirs.begin(), dirs.end());
  for (auto it = w->watched.begin(); it != w->watched.end();) {
    if (want.count(it->first)) {
      ++it;
      continue;
    }
    s->inotify->Unwatch(it->second);
    s->watches.erase(it->second);
    it = w->watched.erase(it);
  }
  bool added = false;
  for (const auto& dir : dirs) added = AddWatch(s, w, dir) || added;
  return added;
}

asio::awaitable<void> DebounceThenIndex(StatePtr s, WorkspacePtr w) {
  while (!s->stopped && !w->removed && Clock::now() < w->debounce_due) {
    w->debounce.expires_at(w->debounce_due);
    boost::system::error_code ec;
    co_await w->debounce.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  w->debounce_armed = false;
  Trigger(s, w);
}

void ScheduleDebounced(const StatePtr& s, const WorkspacePtr& w) {
  if (s->stopped || w->removed) return;
  w->debounce_due = Clock::now() + s->settings.debounce;
  if (w->debounce_armed) return;
  w->debounce_armed = true;
  Spawn(s, DebounceThenIndex(s, w), "debounce");
}

bool EndsWithMd(const std::string& name) {
  return name.size() > 3 && name.compare(name.size() - 3, 3, ".md") == 0;
}

void HandleWatchEvent(const StatePtr& s, const WatchEvent& e) {
  if (e.mask & IN_Q_OVERFLOW) {  // events were lost: look at everything
    for (const auto& w : s->workspaces) ScheduleDebounced(s, w);
    return;
  }
  auto it = s->watches.find(e.wd);
  if (it == s->watches.end()) return;
  WorkspacePtr w = it->second.workspace.lock();
  fs::path dir = it->second.dir;
  if (!w || w->removed) return;
  bool is_root = dir == w->root;
  if (e.mask & IN_IGNORED) {  // the directory is gone (or unwatched)
    w->watched.erase(dir);
    s->watches.erase(it);
    ScheduleDebounced(s, w);
    return;
  }
  bool self = e.mask & (IN_DELETE_SELF | IN_MOVE_SELF);
  bool is_dir = e.mask & IN_ISDIR;
  bool relevant = is_root ? (self || e.name == "MEMORY.md" || e.name == "memory") : (self || is_dir || EndsWithMd(e.name));
  if (!relevant) return;
  // A new directory is watched at once; the pass that follows adds whatever is nested in it.
  if (is_dir && (e.mask & (IN_CREATE | IN_MOVED_TO)) && (!is_root || e.name == "memory")) AddWatch(s, w, dir / e.name);
  ScheduleDebounced(s, w);
}

asio::awaitable<void> WatchLoop(StatePtr s) {
  while (!s->stopped && s->inotify) {
    auto events = co_await s->inotify->Next();
    if (s->stopped) break;
    if (!events.ok()) {
      spdlog::warn("memory: inotify stopped ({}); re-scanning every {} s instead", events.error().message,
                   s->settings.rescan_interval.count() / 1000);
      s->watching = false;
      break;
    }
    for (const auto& e : *events) HandleWatchEvent(s, e);
  }
}

void StartWatching(const StatePtr& s) {
  if (s->inotify) {
    s->watching = true;
    return;
  }
  auto opened = Inotify::Open(s->loop);
  if (!opened.ok()) {
    spdlog::warn("memory: {}; re-scanning every {} s instead of watching", opened.error().message,
                 s->settings.rescan_interval.count() / 1000);
    return;
  }
  s->inotify = std::move(opened).value();
  s->watching = true;
  Spawn(s, WatchLoop(s), "watching");
}

}  // namespace oc::memory::internal
