// A small blocking client of the control plane (docs/CONTROL-PLANE.md), used by the CLI and tests.
// It owns its own io_context and only does network I/O inside its calls: while no call runs,
// nothing is read (events wait in the socket; a client idle longer than the server's idle timeout
// is dropped and its next call reports kConnectionClosed). Not thread-safe: one thread at a time.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/json.h"
#include "common/status.h"

namespace oc::gateway {

class ControlClient {
 public:
  // Connects to ws://host:port/ws and performs `connect` with the token and/or password (empty =
  // not sent), announcing client name "openclaw-cli". `timeout` bounds the whole handshake.
  // Errors: kConnectionClosed ("gateway not reachable at host:port") when the TCP connection or
  // WebSocket upgrade fails or the server closes; kTimeout when the gateway does not answer in
  // time; kUnauthorized (server's message) for rejected credentials.
  static Result<std::unique_ptr<ControlClient>> Connect(
      std::string host, uint16_t port, std::string token, std::string password,
      std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ~ControlClient();  // closes the connection (best-effort close handshake, bounded)
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // Sends a request and waits for its response: the payload, or the server's error (code mapped
  // back from its name; unknown names become kUnknownError; data kept). kTimeout when no response
  // comes in time (the connection stays usable; a late response is discarded). kConnectionClosed
  // once the connection is gone. Events arriving meanwhile are kept for NextEvent (at most 4096;
  // the oldest are dropped beyond that). Two-step methods (`agent`): an interim response whose
  // payload is {status:"accepted", runId, ...} is not the answer; Call keeps waiting for the final
  // response to the same request (`timeout` bounds both steps).
  Result<json::value> Call(std::string_view method, json::value params,
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Like Call, but events that arrive while waiting (and those already kept) are handed to
  // `on_event` as they come instead of being kept: for streamed methods such as `agent`. The
  // interim response of a two-step method is handed to it too, in order with the events, as the
  // whole frame ({type:"res", id, ok:true, payload:{status:"accepted", runId, ...}}).
  using EventSink = std::function<void(const json::value& event)>;
  Result<json::value> CallStreaming(std::string_view method, json::value params, const EventSink& on_event,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Returns the next event frame ({type:"event", event, payload, seq}), waiting up to `timeout`;
  // nullopt on timeout; kConnectionClosed when the connection closed and no event is left.
  Result<std::optional<json::value>> NextEvent(std::chrono::milliseconds timeout);

  // The connect response payload ({protocol, server:{version}, methods:[...]}).
  const json::value& hello() const;

 private:
  struct Impl;
  explicit ControlClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One-shot HTTP GET (HTTP/1.1, Connection: close) for tests and the CLI: {status, body}.
// Errors: kConnectionClosed when the server is not reachable or drops the connection; kTimeout.
Result<std::pair<int, std::string>> HttpGet(std::string host, uint16_t port, std::string target,
                                            std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace oc::gateway
