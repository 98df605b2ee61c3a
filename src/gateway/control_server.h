// The gateway's control plane (SPEC §11): HTTP and a WebSocket JSON protocol at /ws on one port.
// Wire format, auth and limits are described in docs/CONTROL-PLANE.md.
//
// Threading: everything runs on the io_context given to the constructor; no thread per
// connection. ControlServer is not thread-safe: call its methods from the thread running that
// io_context, or before the loop runs / after it stopped (use asio::post from other threads).
// The server must be destroyed on the loop thread or while the loop is not running.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>
#include <string_view>

#include "common/json.h"
#include "ipc/transport.h"
#include "common/status.h"

namespace oc {
namespace asio = boost::asio;
}

namespace oc::gateway {

// Version of the control-plane protocol reported in the connect response.
inline constexpr int kControlProtocolVersion = 1;

struct ControlSettings {
  std::string host = "127.0.0.1";  // an IP address literal or "localhost"
  uint16_t port = 18789;           // 0 = ephemeral (tests); see ControlServer::port()
  std::string auth_token;          // gateway.auth.token; empty = not configured
  std::string auth_password;       // gateway.auth.password; empty = not configured
  size_t max_ws_frame_bytes = 1 << 20;  // larger incoming messages close that connection
  size_t max_body_bytes = 1 << 20;      // larger HTTP request bodies get 413
  // Browser origins allowed to open /ws ("*" = any). The gateway's own loopback origin is always
  // allowed; a WebSocket upgrade carrying any other Origin is refused (403), so a web page the user
  // visits cannot drive the control plane. Clients that send no Origin (CLI, apps) are unaffected.
  std::vector<std::string> cors_origins;
  size_t max_send_queue = 1024;         // frames; a client whose queue would exceed it is dropped
  // Time allowed for the HTTP request / upgrade and for the first (connect) frame.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  // A WebSocket client silent this long is dropped; the server pings it at half this time.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(120);
};

struct ClientInfo {
  uint64_t id = 0;     // unique per server, from 1
  std::string name;    // connect.params.client.name, else client.id, else "client-<id>"
  std::string remote;  // "ip:port" of the peer
};

// A control method. Runs on the loop as its own coroutine; several may be in flight per client and
// their responses may go out in any order. The ClientInfo reference stays valid until the handler
// finishes. An error Result becomes {ok:false, error:{code, message, data?}}; a thrown exception
// becomes INTERNAL_ERROR.
using ControlHandler =
    std::function<asio::awaitable<Result<json::value>>(const ClientInfo&, json::value params)>;

// Who may call an HTTP GET route. kAuthenticated requires `Authorization: Bearer <token or
// password>` when auth is configured (401 otherwise); with no auth configured it is open.
enum class HttpAccess { kPublic, kAuthenticated };

class ControlServer {
 public:
  ControlServer(asio::io_context& io, ControlSettings settings);
  ~ControlServer();  // Stop()
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds and starts accepting. Errors: kForbidden when the host is not loopback and neither token
  // nor password is set; kInvalidParams for a bad address; kConflict when the port is in use or
  // Listen was already called; kInternalError for other socket errors.
  Status Listen();
  // The bound port (useful with port 0); 0 before a successful Listen.
  uint16_t port() const;

  // Registers or replaces a method; before or after Listen. "connect" is reserved.
  void AddMethod(std::string name, ControlHandler handler);
  bool HasMethod(std::string_view name) const;
  // Apps on another host speak the IPC protocol over a WebSocket at /ipc (SPEC §4): one frame per
  // text message. The upgrade needs `Authorization: Bearer <gateway token or password>`, so /ipc
  // is refused (403) while no gateway credentials are configured, and 401 without the right ones.
  // Accepted connections are handed to `handler` (the kernel's IPC server); until one is set,
  // /ipc answers 503.
  void SetIpcHandler(std::function<void(std::unique_ptr<ipc::Transport>)> handler);
  // Later requests get METHOD_NOT_FOUND; calls already running finish normally.
  void RemoveMethod(std::string_view name);

  // Sends {type:"event", event, payload, seq} to every connected, authenticated client. seq starts
  // at 1 and increases by one per Broadcast. A client whose send queue overflows is disconnected.
  void Broadcast(std::string_view event, json::value payload);

  // Extra HTTP GET route (exact path, query string ignored) answered with the handler's JSON and
  // status 200. The handler runs on the loop and must not block. Other paths answer 404
  // {"error":{"code":"NOT_FOUND",...}}.
  void AddHttpGet(std::string path, std::function<json::value()> handler,
                  HttpAccess access = HttpAccess::kPublic);

  // Closes the listener and every connection (abruptly). Idempotent.
  void Stop();
  // Connected, authenticated WebSocket clients.
  size_t client_count() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;  // shared with the connection coroutines so they can outlive us
};

}  // namespace oc::gateway
