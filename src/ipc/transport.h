// The byte pipe under an IPC connection: the kernel's Unix socket, or a WebSocket at the gateway's
// /ipc for apps on another host (SPEC §4). Connection speaks JSONL over either.
#pragma once

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace oc::ipc {

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);  // -1: unknown (a remote peer)
  gid_t gid = static_cast<gid_t>(-1);
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual boost::asio::any_io_executor executor() const = 0;
  // The next bytes from the peer, valid until the next call; nullopt once closed or failed.
  // A message-framed transport returns one whole message (one frame) per call.
  virtual boost::asio::awaitable<std::optional<std::string_view>> Read() = 0;
  virtual bool message_framed() const = 0;
  // Writes one or more '\n'-terminated frames; `data` stays valid until `done` runs (on the
  // executor). At most one write is in flight. A message-framed transport sends one message per frame.
  virtual void Write(std::string_view data, std::function<void(bool ok)> done) = 0;
  virtual void Close() = 0;
  // SO_PEERCRED for the Unix socket; unknown (uid -1) for a remote peer, which therefore can never
  // present a spawn token.
  virtual PeerCredentials peer() const = 0;
  virtual std::string describe() const = 0;  // "unix", "ws 203.0.113.5:40212"
};

std::unique_ptr<Transport> MakeUnixTransport(boost::asio::local::stream_protocol::socket socket);

}  // namespace oc::ipc
