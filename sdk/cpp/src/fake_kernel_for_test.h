// Test-only: the kernel's end of the IPC socket, scripted from a test thread with blocking calls
// (plain POSIX sockets, so it shares nothing with the Asio code under test). Every wait has a
// deadline so a failing test ends instead of hanging.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "protocol/frame.h"

namespace openclawos::sdk::testing {

class FakeKernel {
 public:
  static constexpr int kWaitMs = 5000;

  FakeKernel() {
    char tmpl[] = "/tmp/oc-sdk-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/kernel.sock";
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listen_fd_, 8) != 0)
      std::abort();
  }
  ~FakeKernel() {
    Disconnect();
    ::close(listen_fd_);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  FakeKernel(const FakeKernel&) = delete;
  FakeKernel& operator=(const FakeKernel&) = delete;

  const std::string& socket_path() const { return path_; }
  const std::string& dir() const { return dir_; }

  // Accepts the next connection (replacing the current one). False when none comes in time.
  bool Accept(int wait_ms = kWaitMs) {
    if (!WaitReadable(listen_fd_, wait_ms)) return false;
    Disconnect();
    fd_ = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    buffer_.clear();
    return fd_ >= 0;
  }

  // The next frame from the app; nullopt on timeout, EOF or an unparseable line.
  std::optional<oc::protocol::Frame> ReadFrame(int wait_ms = kWaitMs) {
    std::optional<std::string> line = ReadLine(wait_ms);
    if (!line) return std::nullopt;
    auto frame = oc::protocol::ParseFrame(*line);
    if (!frame.ok()) return std::nullopt;
    return std::move(frame).value();
  }

  // The next request, which must be for `method`; heartbeats met on the way are answered and
  // skipped. Anything else (or nothing in time) gives nullopt.
  std::optional<oc::protocol::Frame> ExpectRequest(std::string_view method, int wait_ms = kWaitMs) {
    for (;;) {
      auto frame = ReadFrame(wait_ms);
      if (!frame) return std::nullopt;
      if (frame->type == oc::protocol::FrameType::kRequest && frame->method == "app.heartbeat" &&
          method != "app.heartbeat") {
        Reply(*frame, oc::json::object{{"ok", true}});
        continue;
      }
      if (frame->type != oc::protocol::FrameType::kRequest || frame->method != method) return std::nullopt;
      return frame;
    }
  }

  // The next frame, which must be the response to `request_id`.
  std::optional<oc::protocol::Frame> ExpectResponse(const std::string& request_id, int wait_ms = kWaitMs) {
    auto frame = ReadFrame(wait_ms);
    if (!frame || frame->type != oc::protocol::FrameType::kResponse) return std::nullopt;
    if (!frame->request_id.is_string() || frame->request_id.get_string() != request_id) return std::nullopt;
    return frame;
  }

  // True when the app closed the connection (EOF) within the wait.
  bool WaitForEof(int wait_ms = kWaitMs) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (!WaitReadable(fd_, 50)) continue;
      char c[4096];
      ssize_t n = ::read(fd_, c, sizeof(c));
      if (n <= 0) return true;
    }
    return false;
  }

  void SendRaw(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  void Send(const oc::protocol::Frame& frame) { SendRaw(oc::protocol::SerializeFrame(frame)); }
  void Reply(const oc::protocol::Frame& request, oc::json::value result) {
    Send(oc::protocol::MakeOkResponse(oc::json::value(request.id), std::move(result)));
  }
  void ReplyError(const oc::protocol::Frame& request, oc::Error error) {
    Send(oc::protocol::MakeErrorResponse(oc::json::value(request.id), std::move(error)));
  }
  // Sends a kernel→app request; returns its id.
  std::string SendRequest(std::string method, oc::json::value params) {
    auto frame = oc::protocol::MakeRequest(std::move(method), std::move(params));
    Send(frame);
    return frame.id;
  }
  void SendEvent(std::string event, oc::json::value payload) {
    Send(oc::protocol::MakeEvent(std::move(event), std::move(payload)));
  }

  void Disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  static oc::json::object RegisterResult(int64_t heartbeat_ms = 60000, std::string token = "resume-1") {
    return oc::json::object{{"appId", "test-app"},
                            {"token", std::move(token)},
                            {"protocolVersion", "1.0"},
                            {"kernelVersion", "2026.11.0"},
                            {"heartbeatIntervalMs", heartbeat_ms},
                            {"grants", oc::json::object()}};
  }

  // Accept + app.register answered with RegisterResult(). Returns the register request.
  std::optional<oc::protocol::Frame> AcceptAndRegister(int64_t heartbeat_ms = 60000) {
    if (!Accept()) return std::nullopt;
    auto reg = ExpectRequest("app.register");
    if (reg) Reply(*reg, RegisterResult(heartbeat_ms));
    return reg;
  }

 private:
  static bool WaitReadable(int fd, int wait_ms) {
    if (fd < 0) return false;
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, wait_ms) > 0;
  }

  std::optional<std::string> ReadLine(int wait_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    for (;;) {
      if (size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !WaitReadable(fd_, static_cast<int>(left.count()))) return std::nullopt;
      char chunk[65536];
      ssize_t n = ::read(fd_, chunk, sizeof(chunk));
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  std::string dir_;
  std::string path_;
  int listen_fd_ = -1;
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace openclawos::sdk::testing
