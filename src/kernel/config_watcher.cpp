#include "kernel/config_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cstring>

namespace oc::kernel {

ConfigWatcher::ConfigWatcher(boost::asio::io_context& io, std::filesystem::path file, std::function<void()> on_change)
    : file_(std::move(file)), on_change_(std::move(on_change)), stream_(io), debounce_(io) {}

ConfigWatcher::~ConfigWatcher() {
  boost::system::error_code ec;
  stream_.close(ec);
}

Status ConfigWatcher::Start() {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return MakeError(ErrorCode::kInternalError, std::string("inotify: ") + std::strerror(errno));
  std::filesystem::path dir = file_.parent_path();
  if (inotify_add_watch(fd, dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE) < 0) {
    int err = errno;
    ::close(fd);
    return MakeError(ErrorCode::kInternalError, "inotify on " + dir.string() + ": " + std::strerror(err));
  }
  stream_.assign(fd);
  ReadMore();
  return {};
}

void ConfigWatcher::ReadMore() {
  stream_.async_read_some(boost::asio::buffer(buf_), [this](boost::system::error_code ec, size_t n) {
    if (ec) return;  // closed
    const std::string name = file_.filename().string();
    for (size_t off = 0; off + sizeof(inotify_event) <= n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf_ + off);
      if (ev->len > 0 && name == ev->name) Changed();
      off += sizeof(inotify_event) + ev->len;
    }
    ReadMore();
  });
}

// Saving a file often takes several events (truncate, write, close, rename): reload once, shortly
// after the last of them.
void ConfigWatcher::Changed() {
  debounce_.expires_after(std::chrono::milliseconds(150));
  debounce_.async_wait([this](boost::system::error_code ec) {
    if (!ec) on_change_();
  });
}

}  // namespace oc::kernel
