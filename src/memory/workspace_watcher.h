// One inotify instance for the memory service (internal), read on the kernel loop through an
// asio::posix::stream_descriptor. The service adds a watch per directory (the workspace, memory/
// and each subdirectory) and maps watch descriptors back to workspaces itself.
//
// Threading: create, call and destroy on the loop. Close() cancels a pending Next().
#pragma once

#include <sys/inotify.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace oc::memory::internal {

namespace asio = boost::asio;

// What the service watches on every directory (the directory itself is never followed if a symlink).
inline constexpr uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                                       IN_MOVED_TO | IN_DELETE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;

struct WatchEvent {
  int wd = -1;
  uint32_t mask = 0;
  std::string name;  // entry name inside the watched directory ("" for events on the directory)
};

class Inotify {
 public:
  // kInternalError naming errno's text when inotify_init1 fails (e.g. the instance limit).
  static Result<std::unique_ptr<Inotify>> Open(asio::any_io_executor loop);
  ~Inotify();

  // The watch descriptor for `dir` (kWatchMask). Errors name errno (ENOSPC = the watch limit).
  Result<int> Watch(const std::filesystem::path& dir);
  void Unwatch(int wd);
  // The next batch of events; kConnectionClosed after Close().
  asio::awaitable<Result<std::vector<WatchEvent>>> Next();
  void Close();

 private:
  explicit Inotify(asio::posix::stream_descriptor fd) : fd_(std::move(fd)) {}
  asio::posix::stream_descriptor fd_;
  std::vector<char> buffer_ = std::vector<char>(64 * 1024);
};

}  // namespace oc::memory::internal
