// Control-plane server: one coroutine per connection reads HTTP; a WebSocket upgrade at /ws turns
// the connection into a control session with a reader coroutine, a writer coroutine draining a
// bounded queue, and one coroutine per request. Beast stays inside this file.
#include "gateway/control_server.h"

#include "common/secure_compare.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
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
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;
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
  }
}


std::string_view ToStd(beast::string_view s) { return {s.data(), s.size()}; }

std::string_view TargetPath(std::string_view target) { return target.substr(0, target.find('?')); }

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

HttpResponse JsonResponse(http::status status, const json::value& body, unsigned version, bool keep_alive) {
  HttpResponse res(status, version);
  res.set(http::field::server, kServerName);
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.body() = json::serialize(body);
  res.prepare_payload();
  return res;
}

HttpResponse JsonError(http::status status, ErrorCode code, std::string message, unsigned version,
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
  std::function<void(std::unique_ptr<ipc::Transport>)> ipc_handler_;

  uint16_t port_ = 0;
  std::map<std::string, ControlHandler, std::less<>> methods_;
  struct HttpRoute {
    std::function<json::value()> handler;
    HttpAccess access;
  };
  std::map<std::string, HttpRoute, std::less<>> http_routes_;

 private:
  asio::awaitable<void> AcceptLoop(std::shared_ptr<Impl> self);
  asio::awaitable<void> ServeConnection(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c);
  asio::awaitable<void> ReplyToBadHttp(std::shared_ptr<Connection> c, error_code read_error);
  HttpResponse HandleHttp(const HttpRequest& req) const;
  bool HttpAuthorized(const HttpRequest& req) const;

  asio::awaitable<void> RunWebSocket(std::shared_ptr<Impl> self, std::shared_ptr<Connection> c,
                                     HttpRequest upgrade);
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
  asio::awaitable<void> RunIpcUpgrade(std::shared_ptr<Connection> c, HttpRequest upgrade);

  bool AuthConfigured() const { return !settings_.auth_token.empty() || !settings_.auth_password.empty(); }

  asio::io_context& io_;
  ControlSettings settings_;
  tcp::acceptor acceptor_;
  bool listening_ = false;
  bool stopped_ = false;
  uint64_t next_connection_id_ = 1;
  uint64_t next_seq_ = 1;
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
    asio::co_spawn(io_, ServeConnection(self, c), LogException);
  }
}

void ControlServer::Impl::Stop() {
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& [id, c] : connections_) all.push_back(c);
  for (auto& c : all) CloseConnection(c);
}

void ControlServer::Impl::CloseConnection(const std::shared_ptr<Connection>& c) {
  connections_.erase(c->info.id);
  if (!c->open) return;
  c->open = false;
  c->send_queue.clear();
  c->wake.cancel();
  c->connect_deadline.cancel();
  beast::get_lowest_layer(c->ws).close();  // aborts the pending read and write
  if (c->authenticated) spdlog::info("gateway: client {} ({}) disconnected", c->info.id, c->info.name);
}

size_t ControlServer::Impl::ClientCount() const {
  size_t n = 0;
  for (const auto& [id, c] : connections_) n += c->authenticated && c->open;
  return n;
}

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
        HttpResponse res = JsonError(http::status::forbidden, ErrorCode::kForbidden,
                                     "origin " + origin + " is not allowed (gateway.cors.origins)", 11, false);
        stream.expires_after(settings_.handshake_timeout);
        co_await http::async_write(stream, res, Await(ec));
        break;
      }
      co_await RunWebSocket(self, c, parser.release());
      co_return;
    }
    HttpResponse res = HandleHttp(parser.get());
    const bool keep_alive = res.keep_alive();
    stream.expires_after(settings_.handshake_timeout);
    co_await http::async_write(stream, res, Await(ec));
    if (ec || !keep_alive) break;
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
  HttpResponse res = too_large ? JsonError(http::status::payload_too_large, ErrorCode::kInvalidRequest,
                                           "request body over " + std::to_string(settings_.max_body_bytes) + " bytes",
                                           11, false)
                               : JsonError(http::status::bad_request, ErrorCode::kInvalidRequest,
                                           "malformed HTTP request: " + read_error.message(), 11, false);
  beast::tcp_stream& stream = beast::get_lowest_layer(c->ws);
  stream.expires_after(settings_.handshake_timeout);
  error_code ec;
  co_await http::async_write(stream, res, Await(ec));
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

HttpResponse ControlServer::Impl::HandleHttp(const HttpRequest& req) const {
  const unsigned version = req.version();
  const bool keep_alive = req.keep_alive();
  const std::string_view path = TargetPath(ToStd(req.target()));
  auto route = http_routes_.find(path);
  if (route == http_routes_.end()) {
    if (path == "/ws") {
      return JsonError(http::status::upgrade_required, ErrorCode::kInvalidRequest,
                       "/ws expects a WebSocket upgrade", version, keep_alive);
    }
    return JsonError(http::status::not_found, ErrorCode::kNotFound, "no route for " + std::string(path),
                     version, keep_alive);
  }
  if (req.method() != http::verb::get) {
    HttpResponse res = JsonError(http::status::method_not_allowed, ErrorCode::kInvalidRequest,
                                 "only GET is allowed on " + std::string(path), version, keep_alive);
    res.set(http::field::allow, "GET");
    return res;
  }
  if (route->second.access == HttpAccess::kAuthenticated && !HttpAuthorized(req)) {
    HttpResponse res = JsonError(http::status::unauthorized, ErrorCode::kUnauthorized,
                                 "missing or invalid Authorization: Bearer credentials", version, keep_alive);
    res.set(http::field::www_authenticate, "Bearer");
    return res;
  }
  try {
    return JsonResponse(http::status::ok, route->second.handler(), version, keep_alive);
  } catch (const std::exception& e) {
    spdlog::error("gateway: GET {} failed: {}", path, e.what());
    return JsonError(http::status::internal_server_error, ErrorCode::kInternalError, "handler failed", version,
                     keep_alive);
  }
}

bool ControlServer::Impl::HttpAuthorized(const HttpRequest& req) const {
  if (!AuthConfigured()) return true;
  std::string_view header = ToStd(req[http::field::authorization]);
  constexpr std::string_view kBearer = "bearer ";
  if (header.size() <= kBearer.size()) return false;
  for (size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kBearer[i]) return false;
  }
  std::string_view credential = header.substr(kBearer.size());
  while (!credential.empty() && credential.front() == ' ') credential.remove_prefix(1);
  while (!credential.empty() && credential.back() == ' ') credential.remove_suffix(1);
  bool ok = false;
  if (!settings_.auth_token.empty()) ok |= ConstantTimeEquals(credential, settings_.auth_token);
  if (!settings_.auth_password.empty()) ok |= ConstantTimeEquals(credential, settings_.auth_password);
  return ok;
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

asio::awaitable<void> ControlServer::Impl::RunIpcUpgrade(std::shared_ptr<Connection> c, HttpRequest upgrade) {
  beast::tcp_stream& stream = beast::get_lowest_layer(c->ws);
  std::optional<HttpResponse> refusal;
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
                                                        HttpRequest upgrade) {
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
    c->send_queue.pop_front();
  }
}

void ControlServer::Impl::Send(const std::shared_ptr<Connection>& c, Frame frame) {
  if (!c->open || c->close_after_flush) return;
  if (c->send_queue.size() >= settings_.max_send_queue) {
    spdlog::warn("gateway: client {} ({}) is not reading: over {} frames queued; disconnecting", c->info.id,
                 c->info.name.empty() ? c->info.remote : c->info.name, settings_.max_send_queue);
    CloseConnection(c);
    return;
  }
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
    RejectAndClose(c, id, "invalid credentials");
    return false;
  }
  c->authenticated = true;
  c->connect_deadline.cancel();
  const json::object* client = params ? GetObject(*params, "client") : nullptr;
  std::optional<std::string_view> name;
  if (client) name = GetString(*client, "name");
  if (client && (!name || name->empty())) name = GetString(*client, "id");
  c->info.name = name && !name->empty() ? std::string(*name) : "client-" + std::to_string(c->info.id);
  spdlog::info("gateway: client {} ({}) connected from {}", c->info.id, c->info.name, c->info.remote);
  Send(c, ResponseFrame(id, HelloPayload()));
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
  try {
    result = co_await handler(c->info, std::move(params));
  } catch (const std::exception& e) {
    result = MakeError(ErrorCode::kInternalError, std::string("handler failed: ") + e.what());
  }
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
    : impl_(std::make_shared<Impl>(io, std::move(settings))) {}

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
  impl_->http_routes_[std::move(path)] = Impl::HttpRoute{std::move(handler), access};
}

void ControlServer::Stop() { impl_->Stop(); }
size_t ControlServer::client_count() const { return impl_->ClientCount(); }

}  // namespace oc::gateway
