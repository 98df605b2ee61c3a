#include "openclawos/kernel_client.h"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <deque>
#include <unordered_map>
#include <vector>

#include "common/async.h"
#include "protocol/frame.h"
#include "protocol/methods.h"

namespace openclawos::sdk {
namespace asio = boost::asio;
namespace json = oc::json;
namespace protocol = oc::protocol;
using oc::Error;
using oc::ErrorCode;
using oc::MakeError;
using oc::Result;
using oc::Status;
using namespace std::chrono_literals;

namespace {

using Socket = asio::local::stream_protocol::socket;
using PendingReply = oc::Pending<Result<json::value>>;

std::string EnvOrEmpty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

void LogIfThrown(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("sdk: background task failed: {}", ex.what());
  } catch (...) {
    spdlog::error("sdk: background task failed");
  }
}

// One socket and its write queue. A new one per (re)connection, so the read and write loops of a
// dropped connection can never touch its successor.
struct Connection {
  Connection(asio::io_context& io, size_t max_frame_bytes)
      : socket(io), wake(io), splitter(max_frame_bytes) {}

  void Shutdown() {
    if (!open) return;
    open = false;
    boost::system::error_code ignored;
    socket.close(ignored);
    wake.cancel();
  }

  Socket socket;
  asio::steady_timer wake;  // cancelled to wake the writer (frames queued, or closing)
  std::deque<std::string> outgoing;  // serialised frames; only the writer coroutine writes them
  protocol::LineSplitter splitter;
  bool open = true;
};
using ConnectionPtr = std::shared_ptr<Connection>;

}  // namespace

ClientOptions ResolveClientOptions(ClientOptions o) {
  if (o.socket_path.empty()) o.socket_path = EnvOrEmpty("OPENCLAWOS_SOCKET");
  if (o.socket_path.empty()) {
    std::string runtime_dir = EnvOrEmpty("XDG_RUNTIME_DIR");
    o.socket_path = runtime_dir.empty()
                        ? "/tmp/openclawos-" + std::to_string(::getuid()) + "/kernel.sock"
                        : runtime_dir + "/openclawos/kernel.sock";
  }
  if (o.app_id.empty()) o.app_id = EnvOrEmpty("OPENCLAWOS_APP_ID");
  if (o.spawn_token.empty()) o.spawn_token = EnvOrEmpty("OPENCLAWOS_APP_TOKEN");
  return o;
}

std::chrono::milliseconds ReconnectDelay(int attempt) {
  constexpr auto kFirst = 100ms;
  constexpr auto kMax = 2000ms;
  if (attempt <= 0) return kFirst;
  if (attempt >= 5) return kMax;  // 100 ms << 5 already passes the cap
  return std::min<std::chrono::milliseconds>(kFirst * (1 << attempt), kMax);
}

struct KernelClient::Impl : std::enable_shared_from_this<KernelClient::Impl> {
  enum class State { kIdle, kConnecting, kRegistered, kReconnecting, kClosed };

  Impl(asio::io_context& io_context, ClientOptions opts)
      : io(io_context),
        options(ResolveClientOptions(std::move(opts))),
        heartbeat_timer(io_context),
        reconnect_timer(io_context) {}

  // Runs `task` in the background and keeps this Impl alive until it ends.
  void Spawn(asio::awaitable<void> task) {
    asio::co_spawn(
        io,
        [](std::shared_ptr<Impl> keep_alive, asio::awaitable<void> t) -> asio::awaitable<void> {
          (void)keep_alive;
          co_await std::move(t);
        }(shared_from_this(), std::move(task)),
        LogIfThrown);
  }

  // ---- sending ----

  Status Send(const ConnectionPtr& c, const protocol::Frame& frame) {
    if (!c || !c->open) return MakeError(ErrorCode::kConnectionClosed, "not connected to the kernel");
    std::string line = protocol::SerializeFrame(frame);
    if (line.size() - 1 > options.max_frame_bytes)
      return MakeError(ErrorCode::kInvalidRequest,
                       "frame too large (" + std::to_string(line.size() - 1) + " bytes, limit " +
                           std::to_string(options.max_frame_bytes) + ")");
    c->outgoing.push_back(std::move(line));
    c->wake.cancel();
    return {};
  }

  asio::awaitable<void> WriteLoop(ConnectionPtr c) {
    while (c->open) {
      boost::system::error_code ec;
      if (c->outgoing.empty()) {
        c->wake.expires_at(asio::steady_timer::time_point::max());
        co_await c->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      co_await asio::async_write(c->socket, asio::buffer(c->outgoing.front()),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        ConnectionDown(c, "write failed: " + ec.message());
        co_return;
      }
      c->outgoing.pop_front();
    }
  }

  // Sends a request on `c` and waits for its response (up to `timeout`, default request_timeout).
  asio::awaitable<Result<json::value>> RequestOn(ConnectionPtr c, std::string method, json::value params,
                                                 std::optional<std::chrono::milliseconds> timeout = {}) {
    protocol::Frame frame = protocol::MakeRequest(std::move(method), std::move(params));
    std::string id = frame.id;
    auto reply = std::make_shared<PendingReply>(io.get_executor());
    pending[id] = reply;
    if (Status sent = Send(c, frame); !sent.ok()) {
      pending.erase(id);
      co_return sent.error();
    }
    auto wait = timeout.value_or(options.request_timeout);
    auto answer = co_await reply->Wait(wait);
    pending.erase(id);
    if (!answer)
      co_return MakeError(ErrorCode::kTimeout,
                          frame.method + ": no response within " + std::to_string(wait.count()) + " ms");
    co_return std::move(*answer);
  }

  // The connection to send user requests on: waits for a registration in progress.
  asio::awaitable<Result<ConnectionPtr>> RegisteredConnection() {
    if (state == State::kConnecting || state == State::kReconnecting) {
      auto waiter = std::make_shared<oc::Pending<bool>>(io.get_executor());
      registration_waiters.push_back(waiter);
      auto registered = co_await waiter->Wait(options.request_timeout);
      std::erase(registration_waiters, waiter);
      if (!registered)
        co_return MakeError(ErrorCode::kTimeout, "still reconnecting to the kernel");
    }
    if (state != State::kRegistered || !conn)
      co_return MakeError(ErrorCode::kConnectionClosed, "not connected to the kernel");
    co_return conn;
  }

  void NotifyRegistrationWaiters(bool registered) {
    auto waiters = std::move(registration_waiters);
    registration_waiters.clear();
    for (auto& w : waiters) w->Set(registered);
  }

  // ---- connecting ----

  asio::awaitable<Result<json::value>> Register(json::object params, std::chrono::milliseconds timeout) {
    auto c = std::make_shared<Connection>(io, options.max_frame_bytes);
    boost::system::error_code ec;
    co_await c->socket.async_connect(asio::local::stream_protocol::endpoint(options.socket_path),
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec)
      co_return MakeError(ErrorCode::kConnectionClosed,
                          "cannot connect to " + options.socket_path + ": " + ec.message());
    if (state == State::kClosed) {
      c->Shutdown();
      co_return MakeError(ErrorCode::kConnectionClosed, "client closed");
    }
    conn = c;
    Spawn(ReadLoop(c));
    Spawn(WriteLoop(c));
    Result<json::value> result = co_await RequestOn(c, "app.register", std::move(params), timeout);
    if (result.ok() && !result->is_object())
      result = MakeError(ErrorCode::kInternalError, "app.register answered with a non-object");
    if (result.ok() && (conn != c || !c->open))  // dropped between the answer and this resumption
      result = MakeError(ErrorCode::kConnectionClosed, "connection to the kernel lost while registering");
    if (!result.ok()) {
      if (conn == c) conn.reset();
      c->Shutdown();
      co_return result.error();
    }
    const json::object& reg = result->get_object();
    registration = *result;
    resume_token = std::string(oc::GetString(reg, "token").value_or(""));
    heartbeat_interval = std::chrono::milliseconds(
        std::max<int64_t>(10, oc::GetInt(reg, "heartbeatIntervalMs").value_or(30000)));
    state = State::kRegistered;
    NotifyRegistrationWaiters(true);
    co_return result;
  }

  asio::awaitable<Result<json::value>> Connect(json::value manifest_value) {
    auto keep_alive = shared_from_this();
    if (state == State::kClosed) co_return MakeError(ErrorCode::kConnectionClosed, "client closed");
    if (state != State::kIdle) co_return MakeError(ErrorCode::kConflict, "already connected");
    manifest = std::move(manifest_value);
    state = State::kConnecting;
    json::object params{{"manifest", manifest}};
    if (!options.spawn_token.empty()) params["spawnToken"] = options.spawn_token;
    Result<json::value> result = co_await Register(std::move(params), options.request_timeout);
    if (!result.ok()) {
      if (state != State::kClosed) state = State::kIdle;
      NotifyRegistrationWaiters(false);
      co_return result;
    }
    spdlog::info("sdk: registered with the kernel as {}",
                 oc::GetString(result->get_object(), "appId").value_or("?"));
    if (!heartbeat_running) {
      heartbeat_running = true;
      Spawn(HeartbeatLoop());
    }
    co_return result;
  }

  asio::awaitable<void> ReconnectLoop() {
    auto give_up_at = std::chrono::steady_clock::now() + options.resume_window;
    for (int attempt = 0; state == State::kReconnecting; ++attempt) {
      reconnect_timer.expires_after(ReconnectDelay(attempt));
      boost::system::error_code ec;
      co_await reconnect_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (state != State::kReconnecting) co_return;
      if (std::chrono::steady_clock::now() >= give_up_at) {
        GiveUp(MakeError(ErrorCode::kConnectionClosed,
                         "could not resume within " + std::to_string(options.resume_window.count()) + " ms"));
        co_return;
      }
      json::object params{{"manifest", manifest}, {"resumeToken", resume_token}};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up_at - std::chrono::steady_clock::now());
      auto timeout = std::clamp(left, std::chrono::milliseconds(1), options.request_timeout);
      Result<json::value> result = co_await Register(std::move(params), timeout);
      if (result.ok()) {
        spdlog::info("sdk: reconnected to the kernel after {} attempt(s)", attempt + 1);
        co_return;
      }
      if (state != State::kReconnecting) co_return;
      ErrorCode code = result.error().code;
      if (code != ErrorCode::kConnectionClosed && code != ErrorCode::kTimeout) {
        // The kernel answered and refused the resume: retrying cannot help.
        GiveUp(Error{code, "resume refused: " + result.error().message, {}});
        co_return;
      }
      spdlog::warn("sdk: reconnect attempt {} failed: {}", attempt + 1, result.error().message);
    }
  }

  asio::awaitable<void> HeartbeatLoop() {
    while (state != State::kClosed) {
      heartbeat_timer.expires_after(heartbeat_interval);
      boost::system::error_code ec;
      co_await heartbeat_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (state != State::kRegistered) continue;  // closed: the loop ends; reconnecting: skip a beat
      Result<json::value> beat = co_await RequestOn(conn, "app.heartbeat", json::object());
      if (!beat.ok()) spdlog::warn("sdk: heartbeat failed: {}", beat.error().message);
    }
  }

  // ---- losing the connection ----

  void ConnectionDown(const ConnectionPtr& c, const std::string& why) {
    if (!c->open) return;
    c->Shutdown();
    if (c != conn) return;
    conn.reset();
    Error lost = MakeError(ErrorCode::kConnectionClosed, "connection to the kernel lost: " + why);
    EndStreams(lost);
    FailPending(lost);
    if (state != State::kRegistered) return;  // a registration in progress reports the failure itself
    if (options.auto_reconnect && !resume_token.empty()) {
      spdlog::warn("sdk: {}; reconnecting", lost.message);
      state = State::kReconnecting;
      Spawn(ReconnectLoop());
    } else {
      GiveUp(lost);
    }
  }

  void GiveUp(const Error& why) {
    spdlog::error("sdk: {}", why.message);
    state = State::kClosed;
    heartbeat_timer.cancel();
    NotifyRegistrationWaiters(false);
    if (auto handler = std::move(on_lost)) {
      on_lost = nullptr;
      handler(why);
    }
  }

  void FailPending(const Error& why) {
    auto waiting = std::move(pending);
    pending.clear();
    for (auto& [id, reply] : waiting) reply->Set(Result<json::value>(why));
  }

  // Streams not yet acknowledged are left to Stream(), which reports the error itself.
  void EndStreams(const Error& why) {
    auto running = std::move(streams);
    streams.clear();
    for (auto& [id, on_chunk] : running)
      if (!pending.contains(id)) CallChunkHandler(on_chunk, json::object{{"error", why.ToJson()}}, true);
  }

  void Close() {
    state = State::kClosed;
    heartbeat_timer.cancel();
    reconnect_timer.cancel();
    if (conn) {
      auto c = std::move(conn);
      conn.reset();
      c->Shutdown();
    }
    Error closed = MakeError(ErrorCode::kConnectionClosed, "client closed");
    EndStreams(closed);
    FailPending(closed);
    NotifyRegistrationWaiters(false);
  }

  // ---- receiving ----

  asio::awaitable<void> ReadLoop(ConnectionPtr c) {
    std::array<char, 64 * 1024> buf;
    for (;;) {
      boost::system::error_code ec;
      size_t n = co_await c->socket.async_read_some(asio::buffer(buf),
                                                    asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        ConnectionDown(c, ec == asio::error::eof ? "the kernel closed it" : ec.message());
        co_return;
      }
      c->splitter.Feed(
          std::string_view(buf.data(), n),
          [&](std::string_view line) {
            if (c->open) HandleLine(c, line);
          },
          [&] {
            std::string limit = std::to_string(options.max_frame_bytes);
            spdlog::warn("sdk: dropped a frame from the kernel over {} bytes", limit);
            if (c->open) AnswerBadInput(c, "frame too large (limit " + limit + " bytes)");
          });
    }
  }

  void HandleLine(const ConnectionPtr& c, std::string_view line) {
    Result<protocol::Frame> frame = protocol::ParseFrame(line);
    if (!frame.ok()) {
      spdlog::warn("sdk: ignoring an unreadable frame from the kernel: {}", frame.error().message);
      // The kernel's rule for bad input, mirrored; a response is never answered (no ping-pong).
      Result<json::value> raw = oc::ParseJson(line);
      const json::object* o = raw.ok() ? raw->if_object() : nullptr;
      if (!o || oc::GetString(*o, "type") != "response") AnswerBadInput(c, frame.error().message);
      return;
    }
    switch (frame->type) {
      case protocol::FrameType::kResponse: HandleResponse(std::move(frame).value()); break;
      case protocol::FrameType::kStream: HandleStream(std::move(frame).value()); break;
      case protocol::FrameType::kEvent: HandleEvent(frame.value()); break;
      case protocol::FrameType::kRequest: HandleRequest(c, std::move(frame).value()); break;
    }
  }

  void AnswerBadInput(const ConnectionPtr& c, std::string message) {
    (void)Send(c, protocol::MakeErrorResponse(json::value(nullptr),
                                              MakeError(ErrorCode::kInvalidRequest, std::move(message))));
  }

  void HandleResponse(protocol::Frame frame) {
    Result<json::value> answer =
        frame.success ? Result<json::value>(std::move(frame.result))
                      : Result<json::value>(frame.error.value_or(MakeError(ErrorCode::kUnknownError, "error")));
    if (!frame.request_id.is_string()) {
      if (!answer.ok()) spdlog::warn("sdk: the kernel reported: {}", answer.error().message);
      return;
    }
    std::string id(frame.request_id.get_string());
    if (auto it = pending.find(id); it != pending.end()) {
      auto reply = std::move(it->second);
      pending.erase(it);
      reply->Set(std::move(answer));
      return;
    }
    if (auto it = streams.find(id); it != streams.end() && !answer.ok()) {
      auto on_chunk = std::move(it->second);
      streams.erase(it);
      CallChunkHandler(on_chunk, json::object{{"error", answer.error().ToJson()}}, true);
      return;
    }
    spdlog::debug("sdk: response to unknown request {}", id);
  }

  void HandleStream(protocol::Frame frame) {
    if (!frame.request_id.is_string()) return;
    std::string id(frame.request_id.get_string());
    if (auto it = pending.find(id); it != pending.end()) {
      // The first chunk acknowledges the stream as well as a response would.
      auto reply = std::move(it->second);
      pending.erase(it);
      reply->Set(Result<json::value>(json::value()));
    }
    auto it = streams.find(id);
    if (it == streams.end()) return;  // cancelled or unknown: drop
    StreamChunkHandler on_chunk = it->second;
    if (frame.done) streams.erase(it);
    CallChunkHandler(on_chunk, frame.chunk, frame.done);
  }

  static void CallChunkHandler(const StreamChunkHandler& fn, const json::value& chunk, bool done) {
    try {
      fn(chunk, done);
    } catch (const std::exception& e) {
      spdlog::error("sdk: stream handler threw: {}", e.what());
    }
  }

  void HandleEvent(const protocol::Frame& frame) {
    auto it = event_handlers.find(frame.event);
    if (it == event_handlers.end()) {
      spdlog::debug("sdk: no handler for event {}", frame.event);
      return;
    }
    std::vector<EventHandler> handlers = it->second;  // a handler may add handlers
    for (auto& handler : handlers) {
      try {
        handler(frame.payload);
      } catch (const std::exception& e) {
        spdlog::error("sdk: handler of {} threw: {}", frame.event, e.what());
      }
    }
  }

  void HandleRequest(const ConnectionPtr& c, protocol::Frame frame) {
    json::value request_id(frame.id);
    auto it = request_handlers.find(frame.method);
    if (it == request_handlers.end()) {
      (void)Send(c, protocol::MakeErrorResponse(
                        request_id, MakeError(ErrorCode::kMethodNotFound, "app does not serve " + frame.method)));
      return;
    }
    if (const auto* spec = protocol::FindMethod(frame.method, protocol::Direction::kKernelToApp)) {
      if (Status valid = protocol::ValidateParams(*spec, frame.params); !valid.ok()) {
        (void)Send(c, protocol::MakeErrorResponse(request_id, valid.error()));
        return;
      }
    }
    Spawn(ServeRequest(c, it->second, std::move(frame.method), std::move(request_id), std::move(frame.params)));
  }

  asio::awaitable<void> ServeRequest(ConnectionPtr c, RequestHandler handler, std::string method,
                                     json::value request_id, json::value params) {
    Result<json::value> result = MakeError(ErrorCode::kInternalError, "handler failed");
    try {
      result = co_await handler(std::move(params));
    } catch (const std::exception& e) {
      spdlog::error("sdk: handler of {} threw: {}", method, e.what());
      result = MakeError(ErrorCode::kInternalError, method + " failed: " + e.what());
    }
    if (!c->open) co_return;  // the kernel fails its side of the request itself
    Status sent = result.ok() ? Send(c, protocol::MakeOkResponse(request_id, std::move(result).value()))
                              : Send(c, protocol::MakeErrorResponse(request_id, result.error()));
    if (!sent.ok()) {
      spdlog::error("sdk: cannot answer {}: {}", method, sent.error().message);
      (void)Send(c, protocol::MakeErrorResponse(request_id, MakeError(ErrorCode::kInternalError,
                                                                      "answer too large to send")));
    }
  }

  asio::io_context& io;
  ClientOptions options;
  State state = State::kIdle;
  json::value manifest;
  json::value registration;
  std::string resume_token;
  std::chrono::milliseconds heartbeat_interval{30000};
  bool heartbeat_running = false;
  ConnectionPtr conn;
  std::unordered_map<std::string, std::shared_ptr<PendingReply>> pending;  // by request frame id
  std::unordered_map<std::string, StreamChunkHandler> streams;             // by request frame id
  std::unordered_map<std::string, std::vector<EventHandler>> event_handlers;
  std::unordered_map<std::string, RequestHandler> request_handlers;
  std::function<void(const Error&)> on_lost;
  std::vector<std::shared_ptr<oc::Pending<bool>>> registration_waiters;
  asio::steady_timer heartbeat_timer;
  asio::steady_timer reconnect_timer;
};

KernelClient::KernelClient(asio::io_context& io, ClientOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {}

KernelClient::~KernelClient() {
  impl_->Close();
  // Coroutines may keep the Impl alive a little longer; handlers must not outlive their owner.
  impl_->event_handlers.clear();
  impl_->request_handlers.clear();
  impl_->on_lost = nullptr;
}

asio::awaitable<Result<json::value>> KernelClient::Connect(json::value manifest) {
  auto impl = impl_;
  co_return co_await impl->Connect(std::move(manifest));
}

asio::awaitable<Result<json::value>> KernelClient::Request(std::string method, json::value params) {
  auto impl = impl_;
  Result<ConnectionPtr> c = co_await impl->RegisteredConnection();
  if (!c.ok()) co_return c.error();
  co_return co_await impl->RequestOn(std::move(c).value(), std::move(method), std::move(params));
}

asio::awaitable<Result<std::string>> KernelClient::Stream(std::string method, json::value params,
                                                          StreamChunkHandler on_chunk) {
  auto impl = impl_;
  Result<ConnectionPtr> c = co_await impl->RegisteredConnection();
  if (!c.ok()) co_return c.error();
  protocol::Frame frame = protocol::MakeRequest(std::move(method), std::move(params));
  std::string id = frame.id;
  auto reply = std::make_shared<PendingReply>(impl->io.get_executor());
  impl->streams[id] = std::move(on_chunk);
  impl->pending[id] = reply;
  if (Status sent = impl->Send(c.value(), frame); !sent.ok()) {
    impl->pending.erase(id);
    impl->streams.erase(id);
    co_return sent.error();
  }
  auto answer = co_await reply->Wait(impl->options.request_timeout);
  impl->pending.erase(id);
  if (!answer || !answer->ok()) {
    impl->streams.erase(id);
    if (!answer) co_return MakeError(ErrorCode::kTimeout, frame.method + ": stream not acknowledged in time");
    co_return answer->error();
  }
  co_return id;
}

asio::awaitable<Status> KernelClient::CancelStream(std::string request_id) {
  auto impl = impl_;
  impl->streams.erase(request_id);
  json::object params;
  params["requestId"] = std::move(request_id);
  Result<json::value> result = co_await Request("stream.cancel", std::move(params));
  co_return result.status();
}

void KernelClient::OnEvent(std::string event, EventHandler handler) {
  impl_->event_handlers[std::move(event)].push_back(std::move(handler));
}

void KernelClient::OnRequest(std::string method, RequestHandler handler) {
  impl_->request_handlers[std::move(method)] = std::move(handler);
}

void KernelClient::DropConnectionForTesting() {
  if (impl_->conn) impl_->ConnectionDown(impl_->conn, "dropped for testing");
}

void KernelClient::OnConnectionLost(std::function<void(const Error&)> handler) {
  impl_->on_lost = std::move(handler);
}

void KernelClient::Close() { impl_->Close(); }

bool KernelClient::connected() const {
  return impl_->state == Impl::State::kRegistered && impl_->conn && impl_->conn->open;
}

const json::value& KernelClient::registration() const { return impl_->registration; }

}  // namespace openclawos::sdk
