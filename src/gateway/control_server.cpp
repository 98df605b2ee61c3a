// Control-plane server: one coroutine per connection reads HTTP; a WebSocket upgrade at /ws turns
// the connection into a control session with a reader coroutine, a writer coroutine draining a
// bounded queue, and one coroutine per request. Beast stays inside this file.
#include "gateway/control_server.h"

#include "common/secure_compare.h"
#include "common/http_text.h"
#include "common/redact.h"
#include "common/text.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <exception>
#include <map>
#include <unordered_map>
#include <vector>

namespace oc::gateway {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using BeastRequest = http::request<http::string_body>;
using BeastResponse = http::response<http::string_body>;
using Frame = std::shared_ptr<const std::string>;  // serialised once, shared by every recipient

constexpr std::string_view kServerName = "openclawos/" OPENCLAWOS_KERNEL_VERSION;

auto Await(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// Coroutines report unexpected exceptions here instead of tearing down io_context::run().
void LogException(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("gateway: connection task failed: {}", ex.what());
  } catch (...) {
    spdlog::error("gateway: connection task failed with a non-standard exception");
  }
}


std::string_view ToStd(beast::string_view s) { return {s.data(), s.size()}; }

std::string_view TargetPath(std::string_view target) { return target.substr(0, target.find('?')); }

// The host part of a Host header or origin ("[::1]:18789" → "[::1]", "a.b:80" → "a.b").
std::string_view HostName(std::string_view host) {
  if (!host.empty() && host.front() == '[') return host.substr(0, host.find(']') + 1);
  return host.substr(0, host.find(':'));
}

Frame ResponseFrame(const json::value& id, json::value payload) {
  json::object o;
  o["type"] = "res";
  o["id"] = id;
  o["ok"] = true;
  o["payload"] = std::move(payload);
  return std::make_shared<const std::string>(json::serialize(o));
}

Frame ErrorFrame(const json::value& id, const Error& error) {
  json::object o;
  o["type"] = "res";
  o["id"] = id;
  o["ok"] = false;
  o["error"] = error.ToJson();
  return std::make_shared<const std::string>(json::serialize(o));
}

struct Request {
  json::value id;
  std::string method;
  json::value params;
};

// Parses {type:"req", id, method, params?}. `id` is filled as soon as it is readable so an error
// about the rest of the frame can still be correlated by the client.
Result<Request> ParseRequest(std::string_view text, json::value& id) {
  OC_ASSIGN(json::value v, ParseJson(text));
  const json::object* o = v.if_object();
  if (!o) return MakeError(ErrorCode::kInvalidRequest, "frame is not a JSON object");
  if (const json::value* i = o->if_contains("id"); i && (i->is_string() || i->is_number())) id = *i;
  if (GetString(*o, "type") != "req") return MakeError(ErrorCode::kInvalidRequest, "expected type \"req\"");
  if (id.is_null()) return MakeError(ErrorCode::kInvalidRequest, "missing id (string or number)");
  auto method = GetString(*o, "method");
  if (!method || method->empty()) return MakeError(ErrorCode::kInvalidRequest, "missing method");
  Request r{id, std::string(*method), json::object()};
  if (const json::value* p = o->if_contains("params"); p && !p->is_null()) r.params = *p;
  return r;
}

BeastResponse JsonResponse(http::status status, const json::value& body, unsigned version, bool keep_alive) {
  BeastResponse res(status, version);
  res.set(http::field::server, kServerName);
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.body() = Redact(json::serialize(body));
  res.prepare_payload();
  return res;
}

BeastResponse JsonError(http::status status, ErrorCode code, std::string message, unsigned version,
                       bool keep_alive) {
  json::object error;
  error["code"] = ErrorCodeName(code);
  error["message"] = std::move(message);
  return JsonResponse(status, json::object{{"error", std::move(error)}}, version, keep_alive);
}

// One accepted socket. The WebSocket stream wraps it from the start so an upgrade needs no move;
// plain HTTP uses the stream's lowest layer directly.
struct Connection {
  Connection(tcp::socket socket, uint64_t id)
      : ws(std::move(socket)), wake(ws.get_executor()), connect_deadline(ws.get_executor()) {
    info.id = id;
  }
  websocket::stream<beast::tcp_stream> ws;
  ClientInfo info;
  bool open = true;
  bool authenticated = false;
  bool close_after_flush = false;  // set after a rejected connect: flush, close handshake, drop
  std::deque<Frame> send_queue;    // front = frame being written
  asio::steady_timer wake;         // the writer sleeps on it while the queue is empty
  asio::steady_timer connect_deadline;
  int64_t connected_at_ms = 0;
  size_t in_flight = 0;  // requests whose handler has not answered yet
  size_t queued_bytes = 0;  // bytes of the frames in send_queue
};

}  // namespace

class ControlServer::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, ControlSettings settings)
      : io_(io), settings_(std::move(settings)), acceptor_(io) {}

  Status Listen();
  void Stop();
  void Broadcast(std::string_view event, json::value payload);
  size_t ClientCount() const;
  bool OriginAllowed(std::string_view origin) const;
  bool HostAllowed(std::string_view host) const;
  std::function<void(std::unique_ptr<ipc::Transport>)> ipc_handler_;
  std::function<void(const AuthFailure&)> auth_failure_handler_;
  void ReportAuthFailure(std::string surface, std::string path, const std::string& remote, std::string reason) {
    if (auth_failure_handler_) auth_failure_handler_(AuthFailure{std::move(surface), std::move(path), remote, std::move(reason)});
  }

  uint16_t port_ = 0;
  std::map<std::string, ControlHandler, std::less<>> methods_;
  struct Route {
    HttpHandler handler;
    HttpAccess access;
    RouteMatch match;
  };
  std::map<std::string, Route, std::less<>> http_routes_;
  json::value Presence() const;
  HttpResponse AuthCookie(const HttpRequest& request) const;

 private:
  asio::awaitable<void> AcceptLoop(std::shared_ptr<Impl> self);
  asio::awaitable<void> ServeConnection(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c);
  asio::awaitable<void> ReplyToBadHttp(std::shared_ptr<Connection> c, error_code read_error);
  // Answers one plain HTTP request; false when the connection must close afterwards.
  asio::awaitable<bool> ServeHttp(std::shared_ptr<Connection> c, const BeastRequest& req);
  const Route* FindRoute(std::string_view path) const;
  std::optional<BeastResponse> Preflight(const BeastRequest& req) const;
  bool HttpAuthorized(const BeastRequest& req) const;
  bool CredentialMatches(std::string_view credential) const;
  // Counts one request from `remote`; the wait in ms until it would be allowed, 0 = allowed.
  int64_t RateLimitWait(std::string_view remote);
  asio::awaitable<void> TickLoop(std::shared_ptr<Impl> self);
  void SchedulePresence();

  asio::awaitable<void> RunWebSocket(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c,
                                     BeastRequest upgrade);
  asio::awaitable<void> ReadLoop(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c);
  asio::awaitable<void> WriteLoop(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c);
  asio::awaitable<void> RunHandler(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c,
                                   ControlHandler handler, json::value id, json::value params);
  bool HandleConnect(const std::shared_ptr<Connection>& c, std::string_view text);
  void DispatchRequest(const std::shared_ptr<Impl>& self, const std::shared_ptr<Connection>& c,
                       std::string_view text);
  bool CredentialsValid(const json::object* auth) const;
  json::value HelloPayload() const;
  void ArmConnectDeadline(const std::shared_ptr<Connection>& c);
  void RejectAndClose(const std::shared_ptr<Connection>& c, const json::value& id, std::string why);
  void Send(const std::shared_ptr<Connection>& c, Frame frame);
  void CloseConnection(const std::shared_ptr<Connection>& c);
  asio::awaitable<void> RunIpcUpgrade(std::shared_ptr<Connection> c, BeastRequest upgrade);

  bool AuthConfigured() const { return !settings_.auth_token.empty() || !settings_.auth_password.empty(); }

  asio::io_context& io_;
  ControlSettings settings_;
  tcp::acceptor acceptor_;
  bool listening_ = false;
  bool stopped_ = false;
  uint64_t next_connection_id_ = 1;
  uint64_t next_seq_ = 1;
  struct RateWindow {
    std::chrono::steady_clock::time_point start;
    int64_t count = 0;
  };
  std::unordered_map<std::string, RateWindow> rate_windows_;  // remote IP → its current window
  std::chrono::steady_clock::time_point last_rate_prune_{};
  std::unique_ptr<asio::steady_timer> tick_timer_;
  bool presence_scheduled_ = false;
  size_t authenticated_clients_ = 0;  // open and past connect: kept, not counted, per broadcast
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections_;
};

// ---- listening -------------------------------------------------------------------------------

Status ControlServer::Impl::Listen() {
  if (listening_ || stopped_) return MakeError(ErrorCode::kConflict, "control server already listening or stopped");
  const std::string host = settings_.host == "localhost" ? "127.0.0.1" : settings_.host;
  const std::string where = host + ":" + std::to_string(settings_.port);
  error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) return MakeError(ErrorCode::kInvalidParams, "gateway.host '" + settings_.host + "' is not an IP address");
  if (!address.is_loopback() && !AuthConfigured()) {
    return MakeError(ErrorCode::kForbidden,
                     "refusing to bind the gateway to non-loopback address " + host +
                         " without gateway.auth.token or gateway.auth.password");
  }
  if (!AuthConfigured() && std::find(settings_.cors_origins.begin(), settings_.cors_origins.end(), "*") !=
                               settings_.cors_origins.end())
    spdlog::warn("gateway: gateway.cors.origins allows \"*\" and no gateway.auth is set: any web page the "
                 "user opens can drive this gateway; set gateway.auth.token");
  const tcp::endpoint endpoint(address, settings_.port);
  auto fail = [&](std::string_view step) -> Status {
    error_code ignored;
    acceptor_.close(ignored);
    const ErrorCode code = ec == asio::error::address_in_use ? ErrorCode::kConflict : ErrorCode::kInternalError;
    return MakeError(code, "gateway cannot " + std::string(step) + " " + where + ": " + ec.message());
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open a socket for");
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("configure");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  port_ = acceptor_.local_endpoint(ec).port();
  listening_ = true;
  asio::co_spawn(io_, AcceptLoop(shared_from_this()), LogException);
  if (settings_.tick_interval.count() > 0) asio::co_spawn(io_, TickLoop(shared_from_this()), LogException);
  spdlog::info("gateway: listening on {}:{} (auth {})", host, port_, AuthConfigured() ? "on" : "off");
  return Status::Ok();
}

asio::awaitable<void> ControlServer::Impl::AcceptLoop(std::shared_ptr<Impl> self) {
  while (acceptor_.is_open()) {
    tcp::socket socket(io_);
    error_code ec;
    co_await acceptor_.async_accept(socket, Await(ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
      // e.g. EMFILE: pause instead of spinning on the error.
      spdlog::warn("gateway: accept failed: {}", ec.message());
      asio::steady_timer pause(io_, std::chrono::milliseconds(100));
      co_await pause.async_wait(Await(ec));
      continue;
    }
    const tcp::endpoint peer = socket.remote_endpoint(ec);
    auto c = std::make_shared<Connection>(std::move(socket), next_connection_id_++);
    c->info.remote = ec ? "unknown" : peer.address().to_string() + ":" + std::to_string(peer.port());
    connections_[c->info.id] = c;
    // An exception out of a connection (a bug) must still release its socket.
    asio::co_spawn(io_, ServeConnection(self, c), [weak = weak_from_this(), c](std::exception_ptr e) {
      LogException(e);
      if (auto alive = weak.lock(); e && alive) alive->CloseConnection(c);
    });
  }
}

void ControlServer::Impl::Stop() {
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  if (tick_timer_) tick_timer_->cancel();
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& [id, c] : connections_) all.push_back(c);
  for (auto& c : all) CloseConnection(c);
}

void ControlServer::Impl::CloseConnection(const std::shared_ptr<Connection>& c) {
  connections_.erase(c->info.id);
  if (!c->open) return;
  c->open = false;
  c->send_queue.clear();
  c->queued_bytes = 0;
  c->wake.cancel();
  c->connect_deadline.cancel();
  beast::get_lowest_layer(c->ws).close();  // aborts the pending read and write
  if (c->authenticated) {
    --authenticated_clients_;
    spdlog::info("gateway: client {} ({}) disconnected", c->info.id, c->info.name);
    SchedulePresence();
  }
}

json::value ControlServer::Impl::Presence() const {
  std::vector<const Connection*> live;
  for (const auto& [id, c] : connections_)
    if (c->authenticated && c->open) live.push_back(c.get());
  std::sort(live.begin(), live.end(), [](const Connection* a, const Connection* b) { return a->info.id < b->info.id; });
  json::array clients;
  for (const Connection* c : live) {
    clients.push_back(json::object{{"id", c->info.id}, {"name", c->info.name}, {"remote", c->info.remote},
                                   {"connectedAt", c->connected_at_ms}});
  }
  return clients;
}

// Posted, not sent at once: a disconnect can happen inside a Broadcast (queue overflow), and a
// nested broadcast would reach some clients before the event being sent (seq out of order).
void ControlServer::Impl::SchedulePresence() {
  if (presence_scheduled_ || stopped_) return;
  presence_scheduled_ = true;
  asio::post(io_, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    self->presence_scheduled_ = false;
    if (!self->stopped_ && self->ClientCount() > 0)
      self->Broadcast("presence", json::object{{"clients", self->Presence()}});
  });
}

asio::awaitable<void> ControlServer::Impl::TickLoop(std::shared_ptr<Impl> /*keeps us alive*/) {
  tick_timer_ = std::make_unique<asio::steady_timer>(io_);
  while (!stopped_) {
    tick_timer_->expires_after(settings_.tick_interval);
    error_code ec;
    co_await tick_timer_->async_wait(Await(ec));
    if (ec || stopped_) break;
    if (ClientCount() > 0) Broadcast("tick", json::object{{"ts", NowMs()}});
  }
}

size_t ControlServer::Impl::ClientCount() const { return authenticated_clients_; }

// ---- HTTP ------------------------------------------------------------------------------------

asio::awaitable<void> ControlServer::Impl::ServeConnection(std::shared_ptr<Impl> self,
                                                           std::shared_ptr<Connection> c) {
  beast::tcp_stream& stream = beast::get_lowest_layer(c->ws);
  beast::flat_buffer buffer;
  while (c->open) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(settings_.max_body_bytes);
    stream.expires_after(settings_.handshake_timeout);
    error_code ec;
    co_await http::async_read(stream, buffer, parser, Await(ec));
    if (ec) {
      co_await ReplyToBadHttp(c, ec);
      break;
    }
    if (websocket::is_upgrade(parser.get()) && TargetPath(ToStd(parser.get().target())) == "/ipc") {
      co_await RunIpcUpgrade(c, parser.release());
      co_return;
    }
    if (websocket::is_upgrade(parser.get()) && TargetPath(ToStd(parser.get().target())) == "/ws") {
      std::string origin(ToStd(parser.get()[http::field::origin]));
      if (!origin.empty() && !OriginAllowed(origin)) {
        spdlog::warn("gateway: refused WebSocket from {} with Origin {}", c->info.remote, origin);
        BeastResponse res = JsonError(http::status::forbidden, ErrorCode::kForbidden,
                                     "origin " + origin + " is not allowed (gateway.cors.origins)", 11, false);
        stream.expires_after(settings_.handshake_timeout);
        co_await http::async_write(stream, res, Await(ec));
        break;
      }
      co_await RunWebSocket(self, c, parser.release());
      co_return;
    }
    const BeastRequest req = parser.release();
    stream.expires_never();  // a handler may take long (a model turn); writes set their own timeouts
    if (!co_await ServeHttp(c, req)) break;
  }
  if (c->open) {
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
  CloseConnection(c);
}

// Answers a request that could not be read: 413 for a too-large body, 400 for garbage; nothing
// when the peer simply went away or timed out.
asio::awaitable<void> ControlServer::Impl::ReplyToBadHttp(std::shared_ptr<Connection> c, error_code read_error) {
  if (!c->open || read_error.category() != http::make_error_code(http::error::end_of_stream).category() ||
      read_error == http::error::end_of_stream || read_error == http::error::partial_message) {
    co_return;
  }
  const bool too_large = read_error == http::error::body_limit;
  BeastResponse res = too_large ? JsonError(http::status::payload_too_large, ErrorCode::kInvalidRequest,
                                           "request body over " + std::to_string(settings_.max_body_bytes) + " bytes",
                                           11, false)
                               : JsonError(http::status::bad_request, ErrorCode::kInvalidRequest,
                                           "malformed HTTP request: " + read_error.message(), 11, false);
  beast::tcp_stream& stream = beast::get_lowest_layer(c->ws);
  stream.expires_after(settings_.handshake_timeout);
  error_code ec;
  co_await http::async_write(stream, res, Await(ec));
}

// With auth configured every request is checked anyway; without (loopback only) the Host must be
// a loopback name or the host of a configured origin.
bool ControlServer::Impl::HostAllowed(std::string_view host) const {
  if (AuthConfigured()) return true;
  const std::string_view name = HostName(host);
  if (name == "127.0.0.1" || name == "localhost" || name == "[::1]") return true;
  for (const auto& origin : settings_.cors_origins) {
    const size_t scheme = origin.find("://");
    if (scheme != std::string::npos && HostName(std::string_view(origin).substr(scheme + 3)) == name) return true;
  }
  return false;
}

// The gateway's own pages (served from loopback on this port) and the configured origins.
bool ControlServer::Impl::OriginAllowed(std::string_view origin) const {
  for (const auto& allowed : settings_.cors_origins)
    if (allowed == "*" || allowed == origin) return true;
  const std::string port = ":" + std::to_string(port_);
  for (const char* host : {"http://127.0.0.1", "http://localhost", "http://[::1]"})
    if (origin == std::string(host) + port) return true;
  return false;
}

namespace {

// Streams a chunked answer on the connection's socket; every write has its own deadline so a
// client that stops reading cannot hold the handler (or kernel memory) forever.
class ChunkedResponder : public HttpResponder {
 public:
  ChunkedResponder(beast::tcp_stream& stream, std::chrono::milliseconds write_timeout,
                   std::vector<std::pair<std::string, std::string>> extra_headers)
      : stream_(stream), timeout_(write_timeout), extra_headers_(std::move(extra_headers)) {}

  asio::awaitable<bool> Begin(HttpResponse head) override {
    if (begun_) co_return ok_;
    begun_ = true;
    http::response<http::empty_body> res(static_cast<http::status>(head.status), 11);
    res.set(http::field::server, kServerName);
    res.set(http::field::content_type, head.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : extra_headers_) res.set(name, value);
    for (const auto& [name, value] : head.headers) res.set(name, value);
    res.keep_alive(false);
    res.chunked(true);
    http::response_serializer<http::empty_body> serializer(res);
    error_code ec;
    stream_.expires_after(timeout_);
    co_await http::async_write_header(stream_, serializer, Await(ec));
    ok_ = !ec;
    co_return ok_;
  }

  asio::awaitable<bool> Write(std::string data) override {
    if (!begun_ || !ok_) co_return false;
    if (data.empty()) co_return true;  // an empty chunk would end the body
    RedactInPlace(data);  // SSE streams (chat completions) carry model output
    error_code ec;
    stream_.expires_after(timeout_);
    co_await asio::async_write(stream_, http::make_chunk(asio::buffer(data)), Await(ec));
    ok_ = !ec;
    co_return ok_;
  }

  bool streaming() const override { return begun_; }

  asio::awaitable<void> Finish() {
    if (!begun_ || !ok_) co_return;
    error_code ec;
    stream_.expires_after(timeout_);
    co_await asio::async_write(stream_, http::make_chunk_last(), Await(ec));
  }

 private:
  beast::tcp_stream& stream_;
  std::chrono::milliseconds timeout_;
  std::vector<std::pair<std::string, std::string>> extra_headers_;
  bool begun_ = false;
  bool ok_ = true;
};

HttpRequest ToHttpRequest(const BeastRequest& req, const std::string& remote, bool authenticated) {
  HttpRequest r;
  r.method = std::string(ToStd(req.method_string()));
  const std::string_view target = ToStd(req.target());
  const size_t q = target.find('?');
  r.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
  for (const auto& field : req) {
    r.headers.emplace_back(AsciiLower(ToStd(field.name_string())), std::string(ToStd(field.value())));
  }
  r.body = req.body();
  r.remote = remote;
  r.authenticated = authenticated;
  return r;
}

// Bodies worth scanning for secrets: JSON and text (images and fonts are left alone).
bool IsTextual(std::string_view content_type) {
  return content_type.starts_with("text/") || content_type.find("json") != std::string_view::npos ||
         content_type.find("javascript") != std::string_view::npos || content_type.find("xml") != std::string_view::npos;
}

// `head`: the answer to a HEAD request (headers, the length of the body it would have, no body).
BeastResponse ToBeastResponse(HttpResponse in, bool keep_alive, bool head) {
  BeastResponse res(static_cast<http::status>(in.status), 11);
  res.set(http::field::server, kServerName);
  res.set(http::field::content_type, in.content_type);
  bool has_cache_control = false;
  for (const auto& [name, value] : in.headers) {
    has_cache_control |= beast::iequals(name, "cache-control");
    res.set(name, value);
  }
  if (!has_cache_control) res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  // 1xx, 204 and 304 never carry a body or a Content-Length (RFC 9110 §8.6); Beast would throw.
  if (in.status < 200 || in.status == 204 || in.status == 304) return res;
  if (head) {
    res.content_length(in.body.size());
    return res;
  }
  res.body() = std::move(in.body);
  if (IsTextual(in.content_type)) RedactInPlace(res.body());  // HTTP API answers, errors, pages
  res.prepare_payload();
  return res;
}

std::string_view RemoteIp(std::string_view remote) {
  // "1.2.3.4:56" or "::1:56" (asio prints v6 without brackets): the part before the last ':'.
  const size_t colon = remote.rfind(':');
  return colon == std::string_view::npos ? remote : remote.substr(0, colon);
}

// Every value of cookie `name` in a Cookie header ("a=1; b=2"), percent-decoded. All of them:
// another page on this host can plant a cookie of the same name that the browser sends first.
std::vector<std::string> CookieValues(std::string_view header, std::string_view name) {
  std::vector<std::string> values;
  while (!header.empty()) {
    const size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header.remove_prefix(semi == std::string_view::npos ? header.size() : semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    const std::string_view raw = pair.substr(eq + 1);
    values.push_back(oc::http::PercentDecode(raw).value_or(std::string(raw)));
  }
  return values;
}

// Header names a browser asks to send (Access-Control-Request-Headers), echoed when they are
// plain tokens: the OpenAI SDK sends several X-Stainless-* headers of its own.
bool IsHeaderList(std::string_view list) {
  if (list.empty() || list.size() > 1024) return false;
  for (char ch : list)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == ',' || ch == ' ')) return false;
  return true;
}


constexpr std::string_view kAuthCookie = "openclaw_auth";
constexpr std::string_view kCorsAllowHeaders =
    "Authorization, Content-Type, Idempotency-Key, X-OpenClaw-Token, X-OpenClaw-Session-Key, X-OpenClaw-Agent-Id";

}  // namespace

const ControlServer::Impl::Route* ControlServer::Impl::FindRoute(std::string_view path) const {
  if (auto exact = http_routes_.find(path); exact != http_routes_.end() && exact->second.match == RouteMatch::kExact)
    return &exact->second;
  const Route* best = nullptr;
  size_t best_length = 0;
  // Prefix routes are few (/, /apps/<app>/, /canvas/): a scan is cheaper than a trie here.
  for (const auto& [prefix, route] : http_routes_) {
    if (route.match != RouteMatch::kPrefix || prefix.size() < best_length) continue;
    const bool under = path.substr(0, prefix.size()) == prefix;
    // "/apps/x/" also answers "/apps/x" (no trailing slash).
    const bool bare = !prefix.empty() && prefix.back() == '/' && path == std::string_view(prefix).substr(0, prefix.size() - 1);
    if (under || bare) {
      best = &route;
      best_length = prefix.size();
    }
  }
  return best;
}

// A browser's CORS preflight: answered here for every route so handlers never see OPTIONS from a
// browser. nullopt when the request is not a preflight.
std::optional<BeastResponse> ControlServer::Impl::Preflight(const BeastRequest& req) const {
  const std::string_view origin = ToStd(req[http::field::origin]);
  if (req.method() != http::verb::options || origin.empty() ||
      req.find(http::field::access_control_request_method) == req.end())
    return std::nullopt;
  if (!OriginAllowed(origin))
    return JsonError(http::status::forbidden, ErrorCode::kForbidden,
                     "origin " + std::string(origin) + " is not allowed (gateway.cors.origins)", req.version(), false);
  BeastResponse res(http::status::no_content, req.version());
  res.set(http::field::server, kServerName);
  res.set(http::field::access_control_allow_origin, origin);
  res.set(http::field::vary, "Origin");
  res.set(http::field::access_control_allow_methods, "GET, POST, PUT, PATCH, DELETE, OPTIONS");
  const std::string_view asked = ToStd(req[http::field::access_control_request_headers]);
  res.set(http::field::access_control_allow_headers, IsHeaderList(asked) ? asked : kCorsAllowHeaders);
  res.set(http::field::access_control_max_age, "600");
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

int64_t ControlServer::Impl::RateLimitWait(std::string_view remote) {
  if (settings_.rate_limit_max_requests <= 0) return 0;
  const auto now = std::chrono::steady_clock::now();
  const auto window = std::chrono::duration_cast<std::chrono::steady_clock::duration>(settings_.rate_limit_window);
  if (rate_windows_.size() > 4096 && now - last_rate_prune_ >= window) {  // bounded memory, pruned once per window
    last_rate_prune_ = now;
    std::erase_if(rate_windows_, [&](const auto& entry) { return now - entry.second.start >= window; });
  }
  RateWindow& w = rate_windows_[std::string(RemoteIp(remote))];
  if (w.count == 0 || now - w.start >= window) w = RateWindow{now, 0};
  if (w.count >= settings_.rate_limit_max_requests) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(w.start + window - now).count();
    return std::max<int64_t>(wait, 1);
  }
  ++w.count;
  return 0;
}

asio::awaitable<bool> ControlServer::Impl::ServeHttp(std::shared_ptr<Connection> c, const BeastRequest& req) {
  beast::tcp_stream& stream = beast::get_lowest_layer(c->ws);
  const unsigned version = req.version();
  bool keep_alive = req.keep_alive();
  const std::string path(TargetPath(ToStd(req.target())));
  const std::string origin(ToStd(req[http::field::origin]));
  const bool origin_allowed = !origin.empty() && OriginAllowed(origin);
  std::optional<BeastResponse> early;
  std::vector<std::pair<std::string, std::string>> cors;
  if (origin_allowed) cors = {{"Access-Control-Allow-Origin", origin}, {"Vary", "Origin"}};
  const Route* route = nullptr;
  const bool authorized = HttpAuthorized(req);  // checked once: the access rule and the handler both need it

  if (int64_t wait_ms = RateLimitWait(c->info.remote); wait_ms > 0) {
    early = JsonError(http::status::too_many_requests, ErrorCode::kForbidden, "rate limit exceeded; retry later",
                      version, keep_alive);
    early->set(http::field::retry_after, std::to_string((wait_ms + 999) / 1000));
  } else if (!HostAllowed(ToStd(req[http::field::host]))) {
    // DNS rebinding: a web page whose name now points at 127.0.0.1 is "same origin" with us and
    // sends no Origin on GETs. Without credentials to check, the Host header is what tells.
    early = JsonError(http::status::misdirected_request, ErrorCode::kForbidden,
                      "Host is not this gateway's (set gateway.auth to serve other host names)", version, false);
  } else if (auto preflight = Preflight(req)) {
    early = std::move(*preflight);
  } else if (!origin.empty() && !origin_allowed && req.method() != http::verb::get &&
             req.method() != http::verb::head) {
    // A page on another site may send "simple" cross-origin POSTs without a preflight; with no
    // auth configured (loopback) that would let any web page drive the agent.
    early = JsonError(http::status::forbidden, ErrorCode::kForbidden,
                      "origin " + origin + " is not allowed (gateway.cors.origins)", version, keep_alive);
  } else if (route = FindRoute(path); !route) {
    early = path == "/ws" ? JsonError(http::status::upgrade_required, ErrorCode::kInvalidRequest,
                                      "/ws expects a WebSocket upgrade", version, keep_alive)
                          : JsonError(http::status::not_found, ErrorCode::kNotFound, "no route for " + path, version,
                                      keep_alive);
  } else if (route->access == HttpAccess::kAuthenticated && !authorized) {
    early = JsonError(http::status::unauthorized, ErrorCode::kUnauthorized,
                      "missing or invalid Authorization: Bearer credentials", version, keep_alive);
    early->set(http::field::www_authenticate, "Bearer");
  }
  error_code ec;
  if (early) {
    if (early->result() == http::status::unauthorized) ReportAuthFailure("http", path, c->info.remote, "missing or invalid credentials");
    for (const auto& [name, value] : cors) early->set(name, value);
    stream.expires_after(settings_.handshake_timeout);
    co_await http::async_write(stream, *early, Await(ec));
    co_return !ec && early->keep_alive();
  }

  const HttpRequest request = ToHttpRequest(req, c->info.remote, authorized);
  const HttpHandler handler = route->handler;  // a copy: the route may be removed meanwhile
  ChunkedResponder responder(stream, settings_.stream_write_timeout, cors);
  HttpResponse answer;
  try {
    answer = co_await handler(request, responder);
  } catch (const std::exception& e) {
    spdlog::error("gateway: {} {} failed: {}", request.method, path, e.what());
    answer = HttpResponse::Error(500, ErrorCode::kInternalError, "handler failed");
  }
  if (answer.status == 401) ReportAuthFailure("http", path, c->info.remote, "refused by " + path);
  if (!c->open) co_return false;
  if (responder.streaming()) {
    co_await responder.Finish();
    co_return false;  // a streamed answer ends the connection
  }
  for (auto& header : cors) answer.headers.push_back(std::move(header));
  BeastResponse res = ToBeastResponse(std::move(answer), keep_alive, req.method() == http::verb::head);
  stream.expires_after(std::max(settings_.handshake_timeout, settings_.stream_write_timeout));
  co_await http::async_write(stream, res, Await(ec));
  co_return !ec && keep_alive;
}

// POST with `Authorization: Bearer <token or password>` → 204 setting the HttpOnly cookie;
// DELETE → 204 clearing it. Without auth configured there is nothing to carry: 204, no cookie.
HttpResponse ControlServer::Impl::AuthCookie(const HttpRequest& request) const {
  HttpResponse answer;
  answer.status = 204;
  if (request.method == "DELETE") {
    answer.headers.emplace_back("Set-Cookie", std::string(kAuthCookie) + "=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/");
    return answer;
  }
  if (request.method != "POST") {
    HttpResponse refused = HttpResponse::Error(405, ErrorCode::kInvalidRequest, "use POST or DELETE");
    refused.headers.emplace_back("Allow", "POST, DELETE");
    return refused;
  }
  if (!AuthConfigured()) return answer;
  const std::string_view credential = oc::http::BearerCredential(request.Header("authorization"));
  if (credential.empty() || !CredentialMatches(credential)) {
    HttpResponse refused = HttpResponse::Error(401, ErrorCode::kUnauthorized, "missing or invalid Authorization: Bearer credentials");
    refused.headers.emplace_back("WWW-Authenticate", "Bearer");
    return refused;
  }
  answer.headers.emplace_back("Set-Cookie", std::string(kAuthCookie) + "=" + oc::http::PercentEncode(credential) +
                                                "; HttpOnly; SameSite=Strict; Path=/");
  return answer;
}

bool ControlServer::Impl::CredentialMatches(std::string_view credential) const {
  bool ok = false;
  if (!settings_.auth_token.empty()) ok |= ConstantTimeEquals(credential, settings_.auth_token);
  if (!settings_.auth_password.empty()) ok |= ConstantTimeEquals(credential, settings_.auth_password);
  return ok;
}

bool ControlServer::Impl::HttpAuthorized(const BeastRequest& req) const {
  if (!AuthConfigured()) return true;
  const std::string_view bearer = oc::http::BearerCredential(ToStd(req[http::field::authorization]));
  if (!bearer.empty() && CredentialMatches(bearer)) return true;
  for (auto it = req.find(http::field::cookie); it != req.end() && it->name() == http::field::cookie; ++it) {
    for (const std::string& cookie : CookieValues(ToStd(it->value()), kAuthCookie))
      if (CredentialMatches(cookie)) return true;
  }
  return false;
}

// ---- IPC over WebSocket (/ipc) ---------------------------------------------------------------

namespace {

// An IPC connection carried by a WebSocket: one frame per text message. Owns the accepted
// connection from the moment of the upgrade; the gateway no longer counts it as a client.
class WebSocketIpcTransport : public ipc::Transport {
 public:
  explicit WebSocketIpcTransport(std::shared_ptr<Connection> c) : c_(std::move(c)), executor_(c_->ws.get_executor()) {}

  asio::any_io_executor executor() const override { return executor_; }
  bool message_framed() const override { return true; }
  ipc::PeerCredentials peer() const override { return {}; }
  std::string describe() const override { return "ws " + c_->info.remote; }

  asio::awaitable<std::optional<std::string_view>> Read() override {
    buffer_.clear();
    error_code ec;
    co_await c_->ws.async_read(buffer_, Await(ec));
    if (ec) co_return std::nullopt;
    message_ = beast::buffers_to_string(buffer_.data());
    co_return std::string_view(message_);
  }

  void Write(std::string_view data, std::function<void(bool)> done) override {
    asio::co_spawn(c_->ws.get_executor(), WriteFrames(c_, data, std::move(done)), asio::detached);
  }

  void Close() override {
    if (!c_->open) return;
    c_->open = false;
    beast::get_lowest_layer(c_->ws).close();
  }

 private:
  static asio::awaitable<void> WriteFrames(std::shared_ptr<Connection> c, std::string_view data,
                                           std::function<void(bool)> done) {
    bool ok = true;
    while (ok && !data.empty()) {
      size_t nl = data.find('\n');
      std::string_view frame = data.substr(0, nl);
      data.remove_prefix(nl == std::string_view::npos ? data.size() : nl + 1);
      if (frame.empty()) continue;
      error_code ec;
      c->ws.text(true);
      co_await c->ws.async_write(asio::buffer(frame.data(), frame.size()), Await(ec));
      ok = !ec;
    }
    done(ok);
  }

  std::shared_ptr<Connection> c_;
  asio::any_io_executor executor_;
  beast::flat_buffer buffer_;
  std::string message_;
};

}  // namespace

asio::awaitable<void> ControlServer::Impl::RunIpcUpgrade(std::shared_ptr<Connection> c, BeastRequest upgrade) {
  beast::tcp_stream& stream = beast::get_lowest_layer(c->ws);
  std::optional<BeastResponse> refusal;
  std::string origin(ToStd(upgrade[http::field::origin]));
  if (!ipc_handler_) {
    refusal = JsonError(http::status::service_unavailable, ErrorCode::kInternalError, "IPC is not ready", 11, false);
  } else if (!AuthConfigured()) {
    refusal = JsonError(http::status::forbidden, ErrorCode::kForbidden,
                        "remote apps need gateway.auth.token or gateway.auth.password", 11, false);
  } else if (!HttpAuthorized(upgrade)) {
    refusal = JsonError(http::status::unauthorized, ErrorCode::kUnauthorized,
                        "missing or invalid Authorization: Bearer credentials", 11, false);
  } else if (!origin.empty() && !OriginAllowed(origin)) {
    refusal = JsonError(http::status::forbidden, ErrorCode::kForbidden, "origin " + origin + " is not allowed", 11, false);
  }
  error_code ec;
  if (refusal) {
    spdlog::warn("gateway: refused /ipc from {}", c->info.remote);
    if (refusal->result() == http::status::unauthorized) ReportAuthFailure("ipc", "/ipc", c->info.remote, "invalid credentials");
    stream.expires_after(settings_.handshake_timeout);
    co_await http::async_write(stream, *refusal, Await(ec));
    CloseConnection(c);
    co_return;
  }
  stream.expires_never();  // the WebSocket keeps its own timeouts: pings while idle
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.handshake_timeout = settings_.handshake_timeout;
  c->ws.set_option(timeouts);
  c->ws.read_message_max(settings_.max_ws_frame_bytes);
  co_await c->ws.async_accept(upgrade, Await(ec));
  connections_.erase(c->info.id);  // an IPC connection now, not a control client
  if (ec) {
    c->open = false;
    stream.close();
    co_return;
  }
  ipc_handler_(std::make_unique<WebSocketIpcTransport>(std::move(c)));
}

// ---- WebSocket session -----------------------------------------------------------------------

asio::awaitable<void> ControlServer::Impl::RunWebSocket(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c,
                                                        BeastRequest upgrade) {
  auto& ws = c->ws;
  beast::get_lowest_layer(ws).expires_never();  // the WebSocket stream runs its own timeouts
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = settings_.handshake_timeout;
  timeouts.idle_timeout = settings_.idle_timeout.count() > 0
                              ? std::chrono::steady_clock::duration(settings_.idle_timeout)
                              : websocket::stream_base::none();
  timeouts.keep_alive_pings = settings_.idle_timeout.count() > 0;
  ws.set_option(timeouts);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, kServerName); }));
  ws.read_message_max(settings_.max_ws_frame_bytes);
  error_code ec;
  co_await ws.async_accept(upgrade, Await(ec));
  if (ec) {
    spdlog::debug("gateway: WebSocket upgrade from {} failed: {}", c->info.remote, ec.message());
    CloseConnection(c);
    co_return;
  }
  ws.text(true);
  ArmConnectDeadline(c);
  asio::co_spawn(io_, WriteLoop(self, c), LogException);
  co_await ReadLoop(self, c);
}

asio::awaitable<void> ControlServer::Impl::ReadLoop(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c) {
  beast::flat_buffer buffer;
  while (c->open) {
    buffer.clear();
    error_code ec;
    co_await c->ws.async_read(buffer, Await(ec));
    if (ec) {
      if (ec == websocket::error::message_too_big) {
        spdlog::warn("gateway: client {} ({}) sent a message over {} bytes; closing it", c->info.id, c->info.remote,
                     settings_.max_ws_frame_bytes);
      } else {
        spdlog::debug("gateway: client {} read ended: {}", c->info.id, ec.message());
      }
      break;
    }
    if (!c->open) break;
    const std::string_view text(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (!c->authenticated) {
      if (!HandleConnect(c, text)) break;
      continue;
    }
    if (!c->ws.got_text()) {
      Send(c, ErrorFrame(nullptr, MakeError(ErrorCode::kInvalidRequest, "binary frames are not supported")));
      continue;
    }
    DispatchRequest(self, c, text);
  }
  // After a rejected connect the writer still owes the error frame and the close handshake.
  if (!c->close_after_flush) CloseConnection(c);
}

asio::awaitable<void> ControlServer::Impl::WriteLoop(std::shared_ptr<Impl> /*keeps us alive*/, std::shared_ptr<Connection> c) {
  error_code ec;
  while (c->open) {
    if (c->send_queue.empty()) {
      if (c->close_after_flush) {
        co_await c->ws.async_close(websocket::close_code::policy_error, Await(ec));
        CloseConnection(c);
        break;
      }
      c->wake.expires_at(asio::steady_timer::time_point::max());
      co_await c->wake.async_wait(Await(ec));
      continue;
    }
    const Frame frame = c->send_queue.front();  // keeps the bytes alive even if the queue is cleared
    co_await c->ws.async_write(asio::buffer(*frame), Await(ec));
    if (!c->open) break;
    if (ec) {
      spdlog::debug("gateway: write to client {} failed: {}", c->info.id, ec.message());
      CloseConnection(c);
      break;
    }
    c->queued_bytes -= frame->size();
    c->send_queue.pop_front();
  }
}

void ControlServer::Impl::Send(const std::shared_ptr<Connection>& c, Frame frame) {
  if (!c->open || c->close_after_flush) return;
  // The one exit of every control frame (responses, errors, events, chat streams): no secret value
  // leaves in clear text, even when an agent or an app echoes one (common/redact.h).
  if (auto redacted = RedactIfNeeded(*frame)) frame = std::make_shared<const std::string>(std::move(*redacted));
  if (c->send_queue.size() >= settings_.max_send_queue ||
      c->queued_bytes + frame->size() > settings_.max_send_queue_bytes) {
    spdlog::warn("gateway: client {} ({}) is not reading: {} frames ({} bytes) queued; disconnecting", c->info.id,
                 c->info.name.empty() ? c->info.remote : c->info.name, c->send_queue.size(), c->queued_bytes);
    CloseConnection(c);
    return;
  }
  c->queued_bytes += frame->size();
  c->send_queue.push_back(std::move(frame));
  c->wake.cancel();
}

void ControlServer::Impl::ArmConnectDeadline(const std::shared_ptr<Connection>& c) {
  c->connect_deadline.expires_after(settings_.handshake_timeout);
  c->connect_deadline.async_wait([weak_self = weak_from_this(), weak_conn = std::weak_ptr<Connection>(c)](
                                     error_code ec) {
    if (ec) return;
    auto self = weak_self.lock();
    auto conn = weak_conn.lock();
    if (!self || !conn || conn->authenticated || !conn->open) return;
    spdlog::warn("gateway: client {} sent no connect frame in time; closing", conn->info.remote);
    self->CloseConnection(conn);
  });
}

void ControlServer::Impl::RejectAndClose(const std::shared_ptr<Connection>& c, const json::value& id,
                                         std::string why) {
  spdlog::warn("gateway: rejected connection from {}: {}", c->info.remote, why);
  Send(c, ErrorFrame(id, MakeError(ErrorCode::kUnauthorized, std::move(why))));
  c->close_after_flush = true;
  c->wake.cancel();
}

bool ControlServer::Impl::CredentialsValid(const json::object* auth) const {
  if (!AuthConfigured()) return true;  // loopback only: Listen refuses anything else
  if (!auth) return false;
  bool ok = false;
  if (auto token = GetString(*auth, "token"); token && !settings_.auth_token.empty())
    ok |= ConstantTimeEquals(*token, settings_.auth_token);
  if (auto password = GetString(*auth, "password"); password && !settings_.auth_password.empty())
    ok |= ConstantTimeEquals(*password, settings_.auth_password);
  return ok;
}

bool ControlServer::Impl::HandleConnect(const std::shared_ptr<Connection>& c, std::string_view text) {
  json::value id = nullptr;
  auto req = ParseRequest(text, id);
  if (!req.ok() || req->method != "connect") {
    RejectAndClose(c, id, "the first frame must be a connect request");
    return false;
  }
  const json::object* params = req->params.if_object();
  if (!CredentialsValid(params ? GetObject(*params, "auth") : nullptr)) {
    ReportAuthFailure("ws", "/ws", c->info.remote, "invalid credentials");
    RejectAndClose(c, id, "invalid credentials");
    return false;
  }
  c->authenticated = true;
  ++authenticated_clients_;
  c->connected_at_ms = NowMs();
  c->connect_deadline.cancel();
  const json::object* client = params ? GetObject(*params, "client") : nullptr;
  std::optional<std::string_view> name;
  if (client) name = GetString(*client, "name");
  if (client && (!name || name->empty())) name = GetString(*client, "id");
  c->info.name = name && !name->empty() ? std::string(*name) : "client-" + std::to_string(c->info.id);
  spdlog::info("gateway: client {} ({}) connected from {}", c->info.id, c->info.name, c->info.remote);
  Send(c, ResponseFrame(id, HelloPayload()));
  SchedulePresence();
  return true;
}

json::value ControlServer::Impl::HelloPayload() const {
  json::array methods;
  for (const auto& [name, handler] : methods_) methods.emplace_back(name);
  return json::object{{"protocol", kControlProtocolVersion},
                      {"server", json::object{{"version", OPENCLAWOS_KERNEL_VERSION}}},
                      {"methods", std::move(methods)}};
}

void ControlServer::Impl::DispatchRequest(const std::shared_ptr<Impl>& self, const std::shared_ptr<Connection>& c,
                                          std::string_view text) {
  json::value id = nullptr;
  auto req = ParseRequest(text, id);
  if (!req.ok()) {
    Send(c, ErrorFrame(id, req.error()));
    return;
  }
  if (req->method == "connect") {
    Send(c, ErrorFrame(id, MakeError(ErrorCode::kInvalidRequest, "already connected")));
    return;
  }
  if (int64_t wait_ms = RateLimitWait(c->info.remote); wait_ms > 0) {
    Send(c, ErrorFrame(id, MakeError(ErrorCode::kForbidden, "rate limit exceeded; retry later",
                                     json::object{{"retryAfterMs", wait_ms}})));
    return;
  }
  if (c->in_flight >= settings_.max_in_flight) {
    Send(c, ErrorFrame(id, MakeError(ErrorCode::kForbidden, "too many requests in flight (at most " +
                                                                std::to_string(settings_.max_in_flight) + ")")));
    return;
  }
  auto method = methods_.find(req->method);
  if (method == methods_.end()) {
    Send(c, ErrorFrame(id, MakeError(ErrorCode::kMethodNotFound, "unknown method: " + req->method)));
    return;
  }
  // A copy of the handler: RemoveMethod during the call must not pull it from under us.
  asio::co_spawn(io_, RunHandler(self, c, method->second, std::move(req->id), std::move(req->params)),
                 LogException);
}

asio::awaitable<void> ControlServer::Impl::RunHandler(std::shared_ptr<Impl> /*keeps us alive*/, std::shared_ptr<Connection> c,
                                                      ControlHandler handler, json::value id, json::value params) {
  Result<json::value> result = MakeError(ErrorCode::kInternalError, "handler did not run");
  ++c->in_flight;
  ClientInfo info = c->info;
  info.acknowledge = [weak_self = weak_from_this(), weak_conn = std::weak_ptr<Connection>(c), id](json::value payload) {
    auto self = weak_self.lock();
    auto conn = weak_conn.lock();
    if (self && conn && conn->open) self->Send(conn, ResponseFrame(id, std::move(payload)));
  };
  try {
    result = co_await handler(info, std::move(params));
  } catch (const std::exception& e) {
    result = MakeError(ErrorCode::kInternalError, std::string("handler failed: ") + e.what());
  }
  --c->in_flight;
  if (!c->open) co_return;
  Send(c, result.ok() ? ResponseFrame(id, std::move(result).value()) : ErrorFrame(id, result.error()));
}

void ControlServer::Impl::Broadcast(std::string_view event, json::value payload) {
  json::object o;
  o["type"] = "event";
  o["event"] = event;
  o["payload"] = std::move(payload);
  o["seq"] = next_seq_++;
  const Frame frame = std::make_shared<const std::string>(json::serialize(o));
  std::vector<std::shared_ptr<Connection>> targets;  // Send may drop a client from the map
  for (const auto& [id, c] : connections_)
    if (c->authenticated) targets.push_back(c);
  for (const auto& c : targets) Send(c, frame);
}

// ---- public surface --------------------------------------------------------------------------

ControlServer::ControlServer(asio::io_context& io, ControlSettings settings)
    : impl_(std::make_shared<Impl>(io, std::move(settings))) {
  // The browser's credential cookie, set by the server so it can be HttpOnly: cookies are not
  // separated by port, and a page on another localhost port must not read the gateway token.
  std::weak_ptr<Impl> weak = impl_;
  AddHttpRoute("/auth/cookie", [weak](const HttpRequest& request, HttpResponder&) -> asio::awaitable<HttpResponse> {
    auto self = weak.lock();
    if (!self) co_return HttpResponse::Error(503, ErrorCode::kInternalError, "gateway stopping");
    co_return self->AuthCookie(request);
  }, HttpAccess::kPublic);
}

ControlServer::~ControlServer() { impl_->Stop(); }

Status ControlServer::Listen() { return impl_->Listen(); }
uint16_t ControlServer::port() const { return impl_->port_; }

void ControlServer::AddMethod(std::string name, ControlHandler handler) {
  if (name == "connect") {
    spdlog::error("gateway: method name 'connect' is reserved for the handshake; not registered");
    return;
  }
  impl_->methods_[std::move(name)] = std::move(handler);
}

void ControlServer::SetAuthFailureHandler(std::function<void(const AuthFailure&)> handler) {
  impl_->auth_failure_handler_ = std::move(handler);
}

void ControlServer::SetIpcHandler(std::function<void(std::unique_ptr<ipc::Transport>)> handler) {
  impl_->ipc_handler_ = std::move(handler);
}

bool ControlServer::HasMethod(std::string_view name) const {
  return name == "connect" || impl_->methods_.find(name) != impl_->methods_.end();
}

void ControlServer::RemoveMethod(std::string_view name) {
  if (auto it = impl_->methods_.find(name); it != impl_->methods_.end()) impl_->methods_.erase(it);
}

void ControlServer::Broadcast(std::string_view event, json::value payload) {
  impl_->Broadcast(event, std::move(payload));
}

void ControlServer::AddHttpGet(std::string path, std::function<json::value()> handler, HttpAccess access) {
  HttpHandler get = [handler = std::move(handler)](const HttpRequest& request,
                                                   HttpResponder&) -> asio::awaitable<HttpResponse> {
    if (request.method != "GET" && request.method != "HEAD") {
      HttpResponse refused = HttpResponse::Error(405, ErrorCode::kInvalidRequest, "only GET is allowed on " + request.path);
      refused.headers.emplace_back("Allow", "GET");
      co_return refused;
    }
    co_return HttpResponse::Json(200, handler());
  };
  AddHttpRoute(std::move(path), std::move(get), access, RouteMatch::kExact);
}

void ControlServer::AddHttpRoute(std::string path, HttpHandler handler, HttpAccess access, RouteMatch match) {
  impl_->http_routes_[std::move(path)] = Impl::Route{std::move(handler), access, match};
}

void ControlServer::RemoveHttpRoute(std::string_view path) {
  if (auto it = impl_->http_routes_.find(path); it != impl_->http_routes_.end()) impl_->http_routes_.erase(it);
}

json::value ControlServer::Presence() const { return impl_->Presence(); }

std::string_view HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return value;
  return {};
}

HttpResponse HttpResponse::Json(unsigned status, const json::value& body) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

HttpResponse HttpResponse::Error(unsigned status, ErrorCode code, std::string_view message) {
  return Json(status, json::object{{"error", json::object{{"code", ErrorCodeName(code)}, {"message", message}}}});
}

void ControlServer::Stop() { impl_->Stop(); }
size_t ControlServer::client_count() const { return impl_->ClientCount(); }

}  // namespace oc::gateway
