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
  size_t max_send_queue_bytes = 16 << 20;  // and at most this many bytes queued per client
  size_t max_in_flight = 64;  // requests per client still running; more get FORBIDDEN at once
  // Per-client (remote IP) request limit over HTTP requests and WebSocket request frames:
  // at most `rate_limit_max_requests` per `rate_limit_window`. Over it HTTP answers 429 with
  // Retry-After; a WebSocket request gets FORBIDDEN {data.retryAfterMs}. 0 = no limit.
  int64_t rate_limit_max_requests = 600;
  std::chrono::milliseconds rate_limit_window = std::chrono::seconds(60);
  // A streamed HTTP answer (SSE) whose client takes no data for this long is cut off.
  std::chrono::milliseconds stream_write_timeout = std::chrono::seconds(30);
  // `tick` events {ts} are broadcast this often (0 = never) so clients notice a dead connection.
  std::chrono::milliseconds tick_interval = std::chrono::seconds(30);
  // Time allowed for the HTTP request / upgrade and for the first (connect) frame.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  // A WebSocket client silent this long is dropped; the server pings it at half this time.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(120);
};

struct ClientInfo {
  uint64_t id = 0;     // unique per server, from 1
  std::string name;    // connect.params.client.name, else client.id, else "client-<id>"
  std::string remote;  // "ip:port" of the peer
  // Sends an interim response {type:"res", id, ok:true, payload} for the request being handled
  // (the two-step `agent` answer: {runId, status:"accepted"} first, the final result later).
  // Set only for the ClientInfo handed to a method handler; a no-op once the client is gone.
  std::function<void(json::value payload)> acknowledge;
};

// An HTTP request as a route handler sees it.
struct HttpRequest {
  std::string method;  // "GET", "POST", ... as sent
  std::string path;    // the target without the query string (percent-encoding kept)
  std::string query;   // after '?', "" when none
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string remote;         // "ip:port" of the peer
  bool authenticated = false;  // valid bearer/cookie credentials, or no auth configured
  // The first header with this lower-case name; "" when absent.
  std::string_view Header(std::string_view lower_name) const;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::string body;
  static HttpResponse Json(unsigned status, const json::value& body);
  // {"error":{"code":"<ErrorCode name>","message"}}: the control plane's error shape.
  static HttpResponse Error(unsigned status, ErrorCode code, std::string_view message);
};

// Lets a route handler stream its answer (server-sent events) instead of returning it whole.
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  // Sends the status line and headers of `head` (its body is ignored); the body follows as chunks
  // (Transfer-Encoding: chunked). Call at most once. false when the client is gone.
  virtual asio::awaitable<bool> Begin(HttpResponse head) = 0;
  // Sends one chunk. false once the client is gone or took nothing for
  // ControlSettings::stream_write_timeout: the handler should stop then.
  virtual asio::awaitable<bool> Write(std::string data) = 0;
  virtual bool streaming() const = 0;  // Begin was called
};

// Answers one HTTP request. When the handler called responder.Begin, the returned response is
// ignored and the stream is ended (last chunk) when the handler returns; otherwise the returned
// response is sent. Runs on the loop; an exception becomes 500.
using HttpHandler = std::function<asio::awaitable<HttpResponse>(const HttpRequest&, HttpResponder&)>;

enum class RouteMatch {
  kExact,   // the path only
  kPrefix,  // the path and everything under it ("/apps/notes/" matches "/apps/notes/a/b")
};

// A control method. Runs on the loop as its own coroutine; several may be in flight per client and
// their responses may go out in any order. The ClientInfo reference stays valid until the handler
// finishes. An error Result becomes {ok:false, error:{code, message, data?}}; a thrown exception
// becomes INTERNAL_ERROR.
using ControlHandler =
    std::function<asio::awaitable<Result<json::value>>(const ClientInfo&, json::value params)>;

// A refused authentication (issue 8's audit log): a WebSocket connect with missing or wrong
// credentials, a 401 answer on HTTP (a route's access rule or the handler's own, e.g. /v1/* and
// /hooks/*), or an /ipc upgrade without the right bearer credentials. Never carries the credential.
struct AuthFailure {
  std::string surface;  // "ws" | "http" | "ipc"
  std::string path;     // the request path ("/ws" for a connect frame)
  std::string remote;   // "ip:port" of the peer
  std::string reason;
};

// Who may call an HTTP route. kAuthenticated requires `Authorization: Bearer <token or password>`
// (or the cookie `openclaw_auth=<token or password>`, which the Control UI sets so iframes and
// asset loads carry it) when auth is configured (401 otherwise); with no auth configured it is
// open. kPublic routes still see HttpRequest::authenticated.
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
  // Called on the loop for every AuthFailure (see there); replaces the previous handler.
  void SetAuthFailureHandler(std::function<void(const AuthFailure&)> handler);
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
  // Registers or replaces a route for every HTTP method (the handler answers 405 itself where it
  // wants to). Exact routes are tried first, then the longest matching prefix route. A browser
  // preflight (OPTIONS with Access-Control-Request-Method) is answered by the server: 204 with the
  // CORS headers when the Origin is allowed (gateway.cors.origins or the gateway's own origin),
  // 403 otherwise; responses to an allowed Origin carry Access-Control-Allow-Origin.
  void AddHttpRoute(std::string path, HttpHandler handler, HttpAccess access,
                    RouteMatch match = RouteMatch::kExact);
  void RemoveHttpRoute(std::string_view path);
  // Connected, authenticated clients: [{id, name, remote, connectedAt}]. Also broadcast as the
  // `presence` event {clients} whenever a client connects or disconnects.
  json::value Presence() const;

  // Closes the listener and every connection (abruptly). Idempotent.
  void Stop();
  // Connected, authenticated WebSocket clients.
  size_t client_count() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;  // shared with the connection coroutines so they can outlive us
};

}  // namespace oc::gateway
