// The C++ app SDK's connection to the kernel (SPEC §4): one Unix socket speaking JSONL frames built
// with the shared wire declarations of protocol/frame.h.
//
// Threading: a KernelClient and every handler it calls live on one io_context, run by one thread.
// No method is thread-safe; call them from that thread (inside its coroutines or handlers).
// Handlers never block: an EventHandler runs inline while frames are read, a RequestHandler runs as
// its own coroutine, so a slow handler never stalls the reading of other frames.
// Lifetime: the client may be destroyed while coroutines it started are still suspended; they hold
// its shared state and end quietly once the io_context runs them (operations are cancelled by
// Close(), which the destructor calls). Handlers are kept until the client is destroyed.
// Errors: every failure is an oc::Error. A kernel error response comes back with the kernel's code;
// local failures use TIMEOUT (no answer in request_timeout) and CONNECTION_CLOSED (not connected,
// connection lost before the answer, or Close() called).
// Bad input from the kernel: lines that are not valid frames (or too long) are logged and answered
// with INVALID_REQUEST (requestId null), the kernel's own rule; malformed responses are only logged.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "common/json.h"
#include "common/status.h"

namespace openclawos::sdk {

struct ClientOptions {
  std::string socket_path;  // empty: $OPENCLAWOS_SOCKET, then the default path of SPEC §2
  std::string app_id;       // empty: $OPENCLAWOS_APP_ID (informational: the manifest id is what registers)
  std::string spawn_token;  // empty: $OPENCLAWOS_APP_TOKEN; sent as app.register's spawnToken when set
  size_t max_frame_bytes = 1 << 20;  // larger incoming lines are dropped; larger outgoing frames refused
  std::chrono::milliseconds request_timeout{30000};
  bool auto_reconnect = true;
  // How long reconnection keeps trying after a drop (the kernel's ipc.resumeWindowMs, default 10 s:
  // later, it would refuse the resume anyway).
  std::chrono::milliseconds resume_window{10000};
};

// Fills the empty fields of `options` from the environment; the socket path falls back to
// $XDG_RUNTIME_DIR/openclawos/kernel.sock, else /tmp/openclawos-<uid>/kernel.sock (SPEC §2).
ClientOptions ResolveClientOptions(ClientOptions options);

// Delay before reconnect attempt `attempt` (0-based): 100 ms doubling per attempt, capped at 2 s.
std::chrono::milliseconds ReconnectDelay(int attempt);

using EventHandler = std::function<void(const oc::json::value& payload)>;
using RequestHandler =
    std::function<boost::asio::awaitable<oc::Result<oc::json::value>>(oc::json::value params)>;
using StreamChunkHandler = std::function<void(const oc::json::value& chunk, bool done)>;

class KernelClient {
 public:
  KernelClient(boost::asio::io_context& io, ClientOptions options);
  ~KernelClient();
  KernelClient(const KernelClient&) = delete;
  KernelClient& operator=(const KernelClient&) = delete;

  // Connects and sends app.register {manifest, spawnToken}. On success returns the register result
  // {appId, token, protocolVersion, kernelVersion, heartbeatIntervalMs, grants}, starts the heartbeat
  // (app.heartbeat every heartbeatIntervalMs, default 30000) and enables reconnection. Errors:
  // CONNECTION_CLOSED when the socket cannot be reached, the kernel's refusal (FORBIDDEN, ...), TIMEOUT;
  // the connection is closed again on any error. CONFLICT when already connected.
  // Reconnection: when an established connection drops (not through Close()) and auto_reconnect is
  // set, the client retries with ReconnectDelay() and re-registers with {manifest, resumeToken: token}.
  // Requests in flight fail with CONNECTION_CLOSED; requests made meanwhile wait (up to
  // request_timeout) for the new registration; heartbeats pause. A refused resume, or no success
  // within resume_window, ends the client (see OnConnectionLost).
  boost::asio::awaitable<oc::Result<oc::json::value>> Connect(oc::json::value manifest);

  // Sends a request and waits for the response correlated by requestId: its `result`, or its `error`
  // as an oc::Error with the same code. INVALID_REQUEST (nothing sent, the connection stays usable)
  // when the frame would exceed max_frame_bytes. Concurrent requests are written whole, one frame
  // after another, in call order.
  boost::asio::awaitable<oc::Result<oc::json::value>> Request(std::string method, oc::json::value params);

  // Starts a streaming request (e.g. config.watch). Returns its requestId once the kernel has
  // acknowledged it (a success response or the first chunk), or the kernel's error. Every stream
  // frame's chunk is then passed to on_chunk until one with done=true. If the connection drops, or
  // the kernel answers with an error after streaming began, on_chunk gets {"error": {code, message}}
  // with done=true.
  boost::asio::awaitable<oc::Result<std::string>> Stream(std::string method, oc::json::value params,
                                                         StreamChunkHandler on_chunk);
  // Stops delivering chunks of the stream at once and sends stream.cancel {requestId}.
  boost::asio::awaitable<oc::Status> CancelStream(std::string request_id);

  // Adds a handler for an exact event name ("app:shutdown", "hook:agent_end", "config:changed").
  // Several handlers per event run in the order added. Exceptions are caught and logged.
  void OnEvent(std::string event, EventHandler handler);
  // Sets the handler of a kernel→app request method (tool.invoke, gateway.invoke, http.request,
  // provider.complete), replacing an earlier one. Params of methods in the protocol table are
  // validated first (INVALID_PARAMS). No handler → METHOD_NOT_FOUND. An exception → INTERNAL_ERROR.
  void OnRequest(std::string method, RequestHandler handler);
  // Called once when the client stops for good without Close(): the connection dropped and
  // auto_reconnect is off, or the kernel refused the resume. App uses it to exit.
  void OnConnectionLost(std::function<void(const oc::Error& why)> handler);

  // Closes the connection, stops heartbeat and reconnection, fails waiting requests with
  // CONNECTION_CLOSED. Idempotent; the client cannot be connected again afterwards.
  void Close();
  // True while registered on a live connection.
  bool connected() const;
  // Test hook: drops the socket as if the connection broke, so reconnect + resume run for real.
  void DropConnectionForTesting();
  // The register result of the current (or last) registration; null before the first.
  const oc::json::value& registration() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace openclawos::sdk
