// Blocking control-plane client. Every call starts asynchronous Beast operations on a private
// io_context and runs it until the call's condition holds or its deadline passes. One read is kept
// outstanding across calls, so a timed-out wait leaves the connection intact.
#include "gateway/control_client.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>
#include <functional>

namespace oc::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxBufferedEvents = 4096;
constexpr std::string_view kClientName = "openclaw-cli";
constexpr auto kCloseGrace = std::chrono::milliseconds(500);

std::string Millis(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

// {ok:true, payload:{status:"accepted", runId, ...}}: the first of a two-step method's answers.
bool IsInterim(const json::object& response) {
  if (GetBool(response, "ok") != true) return false;
  const json::value* payload = response.if_contains("payload");
  const json::object* p = payload ? payload->if_object() : nullptr;
  return p && GetString(*p, "status") == "accepted" && p->contains("runId");
}

}  // namespace

struct ControlClient::Impl {
  Impl(std::string host_in, uint16_t port_in)
      : ws(io), host(std::move(host_in)), port(port_in), endpoint(host + ":" + std::to_string(port)) {}
  ~Impl();

  Status Open(Clock::time_point deadline, std::chrono::milliseconds timeout);
  Result<json::value> Request(std::string_view method, json::value params, Clock::time_point deadline,
                              std::chrono::milliseconds timeout, const EventSink* on_event = nullptr);
  Status Write(std::string text, Clock::time_point deadline);
  void StartRead();
  void OnMessage(std::string_view text);
  bool RunUntil(Clock::time_point deadline, const std::function<bool()>& done);
  void Drain(const std::function<bool()>& done);
  void Abort(std::string reason);
  Error ClosedError() const {
    return MakeError(ErrorCode::kConnectionClosed, "connection to gateway at " + endpoint + " closed: " + close_reason);
  }

  asio::io_context io;
  websocket::stream<tcp::socket> ws;
  std::string host;
  uint16_t port;
  std::string endpoint;  // "host:port" for messages
  beast::flat_buffer read_buffer;
  std::string write_buffer;
  bool reading = false;
  bool closed = false;
  std::string close_reason;
  std::string awaited_id;  // the one Call waiting; other responses are late and dropped
  bool streaming = false;  // the waiting call hands interim responses to its callback
  std::optional<json::value> awaited_response;
  std::deque<json::value> events;
  json::value hello;
  uint64_t next_id = 1;
};

// Runs handlers until `done()` or the deadline. Returns done().
bool ControlClient::Impl::RunUntil(Clock::time_point deadline, const std::function<bool()>& done) {
  while (!done()) {
    io.restart();
    if (io.run_one_until(deadline) == 0) return done();  // deadline passed or nothing left to run
  }
  return true;
}

// After a cancel or close, lets the aborted operations finish so no handler outlives its captures.
void ControlClient::Impl::Drain(const std::function<bool()>& done) {
  while (!done()) {
    io.restart();
    if (io.run_one() == 0) return;
  }
}

void ControlClient::Impl::Abort(std::string reason) {
  if (!closed) close_reason = std::move(reason);
  closed = true;
  error_code ignored;
  ws.next_layer().close(ignored);
}

void ControlClient::Impl::StartRead() {
  if (reading || closed) return;
  reading = true;
  ws.async_read(read_buffer, [this](error_code ec, size_t) {
    reading = false;
    if (ec) {
      if (!closed) close_reason = ec == websocket::error::closed ? "closed by the gateway" : ec.message();
      closed = true;
      return;
    }
    OnMessage(std::string_view(static_cast<const char*>(read_buffer.data().data()), read_buffer.size()));
    read_buffer.consume(read_buffer.size());
    StartRead();
  });
}

void ControlClient::Impl::OnMessage(std::string_view text) {
  auto parsed = ParseJson(text);
  if (!parsed.ok() || !parsed->is_object()) return;  // not ours to interpret
  const json::object& o = parsed->get_object();
  const auto type = GetString(o, "type");
  if (type == "res") {
    const json::value* id = o.if_contains("id");
    if (awaited_id.empty() || !id || !id->is_string() || id->get_string() != awaited_id) return;  // late
    if (IsInterim(o)) {
      // The acknowledgement of a two-step method: the final response follows. A streaming call sees
      // it in order with the events; a plain Call has no use for it.
      if (streaming) events.push_back(std::move(*parsed));
      return;
    }
    awaited_response = std::move(*parsed);
  } else if (type == "event") {
    if (events.size() >= kMaxBufferedEvents) events.pop_front();
    events.push_back(std::move(*parsed));
  }
}

Status ControlClient::Impl::Write(std::string text, Clock::time_point deadline) {
  if (closed) return ClosedError();
  write_buffer = std::move(text);
  bool done = false;
  error_code result;
  ws.async_write(asio::buffer(write_buffer), [&](error_code ec, size_t) {
    result = ec;
    done = true;
  });
  StartRead();  // keep reading so pings, events and a close are handled while we write
  if (!RunUntil(deadline, [&] { return done; })) {
    Abort("write timed out");
    Drain([&] { return done; });
    return MakeError(ErrorCode::kTimeout, "gateway at " + endpoint + " did not accept the request in time");
  }
  if (result) {
    Abort(result.message());
    return ClosedError();
  }
  return Status::Ok();
}

Result<json::value> ControlClient::Impl::Request(std::string_view method, json::value params,
                                                 Clock::time_point deadline, std::chrono::milliseconds timeout,
                                                 const EventSink* on_event) {
  if (closed) return ClosedError();
  const std::string id = "c" + std::to_string(next_id++);
  json::object frame{{"type", "req"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
  awaited_id = id;
  awaited_response.reset();
  streaming = on_event && *on_event;
  OC_TRY(Write(json::serialize(frame), deadline));
  StartRead();
  RunUntil(deadline, [&] {
    while (on_event && *on_event && !events.empty()) {
      json::value e = std::move(events.front());
      events.pop_front();
      (*on_event)(e);
    }
    return awaited_response.has_value() || closed;
  });
  awaited_id.clear();
  streaming = false;
  if (!awaited_response) {
    if (closed) return ClosedError();
    return MakeError(ErrorCode::kTimeout, "no response to " + std::string(method) + " within " + Millis(timeout));
  }
  json::value response = std::move(*awaited_response);
  awaited_response.reset();
  const json::object& o = response.get_object();
  if (GetBool(o, "ok") == true) {
    const json::value* payload = o.if_contains("payload");
    return payload ? *payload : json::value(nullptr);
  }
  const json::value* error = o.if_contains("error");
  return error ? Error::FromJson(*error) : MakeError(ErrorCode::kUnknownError, "error response without error");
}

Status ControlClient::Impl::Open(Clock::time_point deadline, std::chrono::milliseconds timeout) {
  auto unreachable = [&](const std::string& why) {
    return MakeError(ErrorCode::kConnectionClosed, "gateway not reachable at " + endpoint + ": " + why);
  };
  bool done = false;
  error_code ec;
  tcp::resolver resolver(io);
  tcp::resolver::results_type addresses;
  resolver.async_resolve(host, std::to_string(port), [&](error_code e, tcp::resolver::results_type r) {
    ec = e;
    addresses = std::move(r);
    done = true;
  });
  if (!RunUntil(deadline, [&] { return done; })) {
    resolver.cancel();
    Drain([&] { return done; });
    return unreachable("name resolution timed out");
  }
  if (ec) return unreachable(ec.message());

  done = false;
  asio::async_connect(ws.next_layer(), addresses, [&](error_code e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  if (!RunUntil(deadline, [&] { return done; })) {
    Abort("connect timed out");
    Drain([&] { return done; });
    return unreachable("connect timed out after " + Millis(timeout));
  }
  if (ec) return unreachable(ec.message());

  done = false;
  ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
    req.set(http::field::user_agent, std::string(kClientName) + "/" OPENCLAWOS_KERNEL_VERSION);
  }));
  ws.async_handshake(endpoint, "/ws", [&](error_code e) {
    ec = e;
    done = true;
  });
  if (!RunUntil(deadline, [&] { return done; })) {
    Abort("WebSocket upgrade timed out");
    Drain([&] { return done; });
    return MakeError(ErrorCode::kTimeout, "gateway at " + endpoint + " did not answer within " + Millis(timeout));
  }
  if (ec) {
    Abort(ec.message());
    return unreachable("WebSocket upgrade failed: " + ec.message());
  }
  ws.text(true);
  return Status::Ok();
}

ControlClient::Impl::~Impl() {
  if (!closed) {
    // Polite close handshake, bounded; the pending read (if any) consumes the server's reply.
    bool done = false;
    ws.async_close(websocket::close_code::normal, [&](error_code) { done = true; });
    RunUntil(Clock::now() + kCloseGrace, [&] { return done; });
    Abort("closed");
    Drain([&] { return done; });
  }
  Abort("closed");
  Drain([&] { return !reading; });
}

ControlClient::ControlClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ControlClient::~ControlClient() = default;

Result<std::unique_ptr<ControlClient>> ControlClient::Connect(std::string host, uint16_t port, std::string token,
                                                              std::string password,
                                                              std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto impl = std::make_unique<Impl>(std::move(host), port);
  OC_TRY(impl->Open(deadline, timeout));
  json::object auth;
  if (!token.empty()) auth["token"] = token;
  if (!password.empty()) auth["password"] = password;
  json::object params{{"client", json::object{{"name", kClientName}, {"version", OPENCLAWOS_KERNEL_VERSION}}},
                      {"auth", std::move(auth)}};
  auto hello = impl->Request("connect", std::move(params), deadline, timeout);
  if (!hello.ok()) {
    Error error = hello.error();
    if (error.code == ErrorCode::kTimeout) {
      error.message = "gateway at " + impl->endpoint + " did not answer connect within " + Millis(timeout);
    }
    return error;
  }
  impl->hello = std::move(hello).value();
  return std::unique_ptr<ControlClient>(new ControlClient(std::move(impl)));
}

Result<json::value> ControlClient::Call(std::string_view method, json::value params,
                                        std::chrono::milliseconds timeout) {
  return impl_->Request(method, std::move(params), Clock::now() + timeout, timeout);
}

Result<json::value> ControlClient::CallStreaming(std::string_view method, json::value params,
                                                 const EventSink& on_event, std::chrono::milliseconds timeout) {
  return impl_->Request(method, std::move(params), Clock::now() + timeout, timeout, &on_event);
}

Result<std::optional<json::value>> ControlClient::NextEvent(std::chrono::milliseconds timeout) {
  Impl& c = *impl_;
  c.StartRead();
  c.RunUntil(Clock::now() + timeout, [&] { return !c.events.empty() || c.closed; });
  if (!c.events.empty()) {
    json::value event = std::move(c.events.front());
    c.events.pop_front();
    return std::optional<json::value>(std::move(event));
  }
  if (c.closed) return c.ClosedError();
  return std::optional<json::value>();
}

const json::value& ControlClient::hello() const { return impl_->hello; }

Result<std::pair<int, std::string>> HttpGet(std::string host, uint16_t port, std::string target,
                                            std::chrono::milliseconds timeout) {
  asio::io_context io;
  const std::string endpoint = host + ":" + std::to_string(port);
  const auto deadline = Clock::now() + timeout;
  std::optional<Result<std::pair<int, std::string>>> out;
  auto fail = [&](const error_code& ec) {
    if (ec == beast::error::timeout) {
      out = MakeError(ErrorCode::kTimeout, "gateway at " + endpoint + " did not answer within " + Millis(timeout));
    } else {
      out = MakeError(ErrorCode::kConnectionClosed, "gateway not reachable at " + endpoint + ": " + ec.message());
    }
  };
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        error_code ec;
        auto await = asio::redirect_error(asio::use_awaitable, ec);
        tcp::resolver resolver(io);
        auto addresses = co_await resolver.async_resolve(host, std::to_string(port), await);
        if (ec) {
          fail(ec);
          co_return;
        }
        beast::tcp_stream stream(io);
        stream.expires_at(deadline);
        co_await stream.async_connect(addresses, await);
        if (ec) {
          fail(ec);
          co_return;
        }
        http::request<http::empty_body> req(http::verb::get, target, 11);
        req.set(http::field::host, endpoint);
        req.set(http::field::user_agent, std::string(kClientName) + "/" OPENCLAWOS_KERNEL_VERSION);
        req.keep_alive(false);
        co_await http::async_write(stream, req, await);
        if (ec) {
          fail(ec);
          co_return;
        }
        beast::flat_buffer buffer;
        http::response<http::string_body> res;
        co_await http::async_read(stream, buffer, res, await);
        if (ec) {
          fail(ec);
          co_return;
        }
        out = std::pair<int, std::string>(res.result_int(), std::move(res.body()));
        error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      },
      asio::detached);
  try {
    io.run();
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternalError, std::string("HTTP GET failed: ") + e.what());
  }
  if (!out) return MakeError(ErrorCode::kInternalError, "HTTP GET did not complete");
  return std::move(*out);
}

}  // namespace oc::gateway
