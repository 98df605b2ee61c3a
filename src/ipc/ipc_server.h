// The kernel's IPC endpoint (SPEC §4): a Unix socket speaking JSONL frames.
//
// The server owns transport concerns only: framing, the bad-input rules of §4, the registration
// gate, parameter validation against the method table, correlation of kernel→app requests, and
// bounded outgoing queues. What a method *does* is the Dispatcher's business (the kernel).
// Everything runs on the one kernel io_context; nothing here is thread-safe.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/async.h"
#include "common/json.h"
#include "protocol/frame.h"
#include "ipc/transport.h"
#include "protocol/methods.h"

namespace oc::ipc {


struct IpcOptions {
  std::filesystem::path socket_path;
  size_t max_frame_bytes = protocol::kDefaultMaxFrameBytes;
  std::chrono::milliseconds request_timeout{30000};  // kernel→app requests
  size_t max_outgoing_bytes = 16 << 20;              // a peer that reads slower is disconnected
};

class Connection;

// Implemented by the kernel. Handlers run only for known app→kernel methods whose params passed
// the schema, and (except app.register) only on registered connections.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  // Answers at once, on the reading path (the common case: no allocation of a coroutine frame,
  // no extra trip through the executor). nullopt: the method needs to wait, so HandleAsync runs it
  // as its own coroutine and the connection keeps reading meanwhile.
  virtual std::optional<Result<json::value>> HandleNow(const std::shared_ptr<Connection>& conn,
                                                      const protocol::MethodSpec& method,
                                                      const protocol::Frame& request) = 0;
  virtual asio::awaitable<Result<json::value>> HandleAsync(std::shared_ptr<Connection> conn,
                                                          const protocol::MethodSpec& method,
                                                          const protocol::Frame& request) = 0;
  virtual void OnDisconnected(Connection& conn) = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::unique_ptr<Transport> transport, const IpcOptions& options, Dispatcher& dispatcher, uint64_t id);

  uint64_t id() const { return id_; }
  const PeerCredentials& peer() const { return peer_; }
  bool open() const { return open_; }

  // Registration state: set by the dispatcher when app.register succeeds.
  bool registered() const { return !app_id_.empty(); }
  const std::string& app_id() const { return app_id_; }
  void MarkRegistered(std::string app_id) { app_id_ = std::move(app_id); }

  // Queue frames for writing. Never blocks; a peer whose backlog passes max_outgoing_bytes is
  // disconnected (it cannot grow kernel memory).
  void Send(const protocol::Frame& frame);
  void SendEvent(std::string event, json::value payload);
  void SendStream(const json::value& request_id, json::value chunk, bool done);

  // Sends a kernel→app request and waits for its response. TIMEOUT when none arrives in time,
  // CONNECTION_CLOSED when the connection drops first; an app error comes back as its Error.
  asio::awaitable<Result<json::value>> Request(std::string method, json::value params,
                                               std::optional<std::chrono::milliseconds> timeout = {});

  // Streams this connection serves (config.watch): the dispatcher registers a cancel hook per
  // request id; stream.cancel and disconnect run it.
  void AddStream(std::string request_id, std::function<void()> on_cancel);
  bool CancelStream(const std::string& request_id);

  void Close();

  // Internal: started by the server.
  asio::awaitable<void> Serve();

  // How long a connection may stay unregistered before it is closed.
  static constexpr std::chrono::seconds kRegisterDeadline{30};

 private:
  asio::awaitable<void> ReadLoop();
  void HandleLine(std::string_view line);
  void HandleRequest(protocol::Frame frame);
  void HandleResponse(protocol::Frame frame);
  void SendError(const json::value& request_id, Error error);
  void WriteMore();
  void FailPending();

  std::unique_ptr<Transport> transport_;
  const IpcOptions& options_;
  Dispatcher& dispatcher_;
  uint64_t id_;
  PeerCredentials peer_;
  bool open_ = true;
  bool closing_ = false;  // a close is scheduled: nothing more is sent or handled
  std::string app_id_;
  protocol::LineSplitter splitter_;
  std::string outgoing_;  // frames queued while a write is in flight
  std::string writing_;   // the buffer of the write in flight
  bool write_in_flight_ = false;
  std::unordered_map<std::string, std::shared_ptr<Pending<Result<json::value>>>> pending_;
  std::unordered_map<std::string, std::function<void()>> streams_;
};

class IpcServer {
 public:
  IpcServer(asio::io_context& io, IpcOptions options, Dispatcher& dispatcher);
  ~IpcServer();

  // Creates the socket directory (0700), replaces a stale socket file (one nobody listens on),
  // refuses to start when another kernel is listening (CONFLICT), binds, sets the socket to 0600.
  Status Listen();
  void Stop();
  // Serves a connection that arrived another way (a WebSocket at the gateway's /ipc).
  void Adopt(std::unique_ptr<Transport> transport);

  size_t connection_count() const { return connections_.size(); }
  const IpcOptions& options() const { return options_; }

 private:
  asio::awaitable<void> AcceptLoop();
  void Serve(std::unique_ptr<Transport> transport);

  asio::io_context& io_;
  IpcOptions options_;
  Dispatcher& dispatcher_;
  asio::local::stream_protocol::acceptor acceptor_;
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections_;
  uint64_t next_id_ = 1;
  bool listening_ = false;
};

}  // namespace oc::ipc
