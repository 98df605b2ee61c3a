// Watches config.json with inotify on the kernel loop and calls back (debounced) when it changes:
// an editor saving in place (close-write) or `openclaw config set` renaming a new file over it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <filesystem>
#include <functional>

#include "common/status.h"

namespace oc::kernel {

class ConfigWatcher {
 public:
  ConfigWatcher(boost::asio::io_context& io, std::filesystem::path file, std::function<void()> on_change);
  ~ConfigWatcher();
  // Starts watching the file's directory. Errors when inotify is unavailable (the kernel then
  // relies on SIGHUP alone).
  Status Start();

 private:
  void ReadMore();
  void Changed();

  std::filesystem::path file_;
  std::function<void()> on_change_;
  boost::asio::posix::stream_descriptor stream_;
  boost::asio::steady_timer debounce_;
  alignas(8) char buf_[4096];
};

}  // namespace oc::kernel
