// The app restart_bench kills and times (bench/restart_bench.cpp). Once the kernel has acknowledged
// its app.ready (OnReady), it sends "ready <pid>" as one datagram to the Unix socket named by
// $OC_RESTART_PROBE_SOCKET (set by the bench through apps.restart-probe.env). Otherwise it idles.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "openclawos/app.h"

namespace {

class RestartProbe : public openclawos::sdk::App {
 protected:
  void OnReady() override {
    const char* path = std::getenv("OC_RESTART_PROBE_SOCKET");
    if (!path || !*path) {
      spdlog::warn("OC_RESTART_PROBE_SOCKET is not set: nobody to tell");
      return;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (std::strlen(path) >= sizeof(addr.sun_path)) {
      spdlog::error("socket path too long: {}", path);
      return;
    }
    std::memcpy(addr.sun_path, path, std::strlen(path) + 1);
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      spdlog::error("socket: {}", std::strerror(errno));
      return;
    }
    // One small datagram to a local socket: does not block the loop in practice.
    std::string message = "ready " + std::to_string(::getpid());
    if (::sendto(fd, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0)
      spdlog::error("sendto {}: {}", path, std::strerror(errno));
    ::close(fd);
  }
};

}  // namespace

int main() {
  RestartProbe probe;
  return probe.Run();
}
