#include "ipc/ipc_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

namespace oc::ipc {
namespace fs = std::filesystem;
using asio::local::stream_protocol;

namespace {

PeerCredentials ReadPeerCredentials(int fd) {
  PeerCredentials out;
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    out.pid = cred.pid;
    out.uid = cred.uid;
    out.gid = cred.gid;
  }
  return out;
}

class UnixTransport : public Transport {
 public:
  explicit UnixTransport(stream_protocol::socket socket)
      : socket_(std::move(socket)), executor_(socket_.get_executor()), peer_(ReadPeerCredentials(socket_.native_handle())) {}

  asio::any_io_executor executor() const override { return executor_; }
  bool message_framed() const override { return false; }
  PeerCredentials peer() const override { return peer_; }
  std::string describe() const override { return "unix pid " + std::to_string(peer_.pid); }

  asio::awaitable<std::optional<std::string_view>> Read() override {
    boost::system::error_code ec;
    size_t n = co_await socket_.async_read_some(asio::buffer(buf_), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return std::nullopt;
    co_return std::string_view(buf_.data(), n);
  }

  void Write(std::string_view data, std::function<void(bool)> done) override {
    asio::async_write(socket_, asio::buffer(data),
                      [done = std::move(done)](boost::system::error_code ec, size_t) { done(!ec); });
  }

  void Close() override {
    boost::system::error_code ec;
    socket_.shutdown(stream_protocol::socket::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  stream_protocol::socket socket_;
  asio::any_io_executor executor_;
  PeerCredentials peer_;
  std::array<char, 64 * 1024> buf_;
};

// True when something accepts connections on `path` (another kernel is running).
bool SocketIsLive(asio::io_context& io, const fs::path& path) {
  stream_protocol::socket probe(io);
  boost::system::error_code ec;
  probe.connect(stream_protocol::endpoint(path.string()), ec);
  return !ec;
}

}  // namespace

std::unique_ptr<Transport> MakeUnixTransport(stream_protocol::socket socket) {
  return std::make_unique<UnixTransport>(std::move(socket));
}

// ---------------------------------------------------------------------------------------------
// Connection

Connection::Connection(std::unique_ptr<Transport> transport, const IpcOptions& options, Dispatcher& dispatcher,
                       uint64_t id)
    : transport_(std::move(transport)),
      options_(options),
      dispatcher_(dispatcher),
      id_(id),
      peer_(transport_->peer()),
      splitter_(options.max_frame_bytes) {}

asio::awaitable<void> Connection::Serve() {
  auto self = shared_from_this();
  // A connection that never registers is closed after a while: it holds a kernel fd for nothing.
  asio::steady_timer register_deadline(transport_->executor());
  register_deadline.expires_after(kRegisterDeadline);
  register_deadline.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto c = weak.lock(); !ec && c && !c->registered()) c->Close();
  });
  try {
    co_await ReadLoop();
  } catch (const std::exception& e) {
    spdlog::error("ipc: connection {} failed: {}", id_, e.what());
  }
  register_deadline.cancel();
  Close();
}

asio::awaitable<void> Connection::ReadLoop() {
  auto on_line = [this](std::string_view line) {
    if (open_ && !closing_) HandleLine(line);  // nothing more is handled once closing
  };
  auto on_oversize = [this] {
    SendError(nullptr, MakeError(ErrorCode::kInvalidRequest,
                                 "frame too large (limit " + std::to_string(options_.max_frame_bytes) + " bytes)"));
  };
  while (open_) {
    auto data = co_await transport_->Read();
    if (!data) break;
    splitter_.Feed(*data, on_line, on_oversize);
    if (transport_->message_framed()) splitter_.Feed("\n", on_line, on_oversize);  // a message is a line
  }
}

void Connection::HandleLine(std::string_view line) {
  auto frame = protocol::ParseFrame(line);
  if (!frame.ok()) {
    SendError(nullptr, frame.error());
    return;
  }
  switch (frame->type) {
    case protocol::FrameType::kRequest:
      HandleRequest(std::move(frame).value());
      break;
    case protocol::FrameType::kResponse:
      HandleResponse(std::move(frame).value());
      break;
    case protocol::FrameType::kEvent:
    case protocol::FrameType::kStream:
      // Apps have no events or streams to send the kernel in protocol 1.0; ignored, not fatal.
      spdlog::debug("ipc: ignoring {} frame from connection {}", protocol::FrameTypeName(frame->type), id_);
      break;
  }
}

void Connection::HandleRequest(protocol::Frame frame) {
  const protocol::MethodSpec* spec = protocol::FindMethod(frame.method, protocol::Direction::kAppToKernel);
  json::value request_id(frame.id);
  if (!spec) {
    SendError(request_id, MakeError(ErrorCode::kMethodNotFound, "unknown method: " + frame.method));
    return;
  }
  if (spec->requires_registration && !registered()) {
    SendError(request_id, MakeError(ErrorCode::kAppNotRegistered,
                                    "call app.register before " + frame.method));
    return;
  }
  if (Status s = protocol::ValidateParams(*spec, frame.params); !s.ok()) {
    SendError(request_id, s.error());
    return;
  }
  auto self = shared_from_this();
  if (auto now = dispatcher_.HandleNow(self, *spec, frame)) {
    if (!open_) return;
    if (now->ok())
      Send(protocol::MakeOkResponse(std::move(request_id), std::move(*now).value()));
    else
      SendError(request_id, now->error());
    return;
  }
  // A method that waits runs as its own coroutine so it never stalls this connection's reads (it
  // may itself wait for a frame from this same peer).
  asio::co_spawn(
      transport_->executor(),
      [self, spec, frame = std::move(frame)]() mutable -> asio::awaitable<void> {
        Result<json::value> result = co_await self->dispatcher_.HandleAsync(self, *spec, frame);
        if (!self->open_) co_return;
        if (result.ok())
          self->Send(protocol::MakeOkResponse(json::value(frame.id), std::move(result).value()));
        else
          self->SendError(json::value(frame.id), result.error());
      },
      [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("ipc: handler failed: {}", ex.what());
        }
      });
}

void Connection::HandleResponse(protocol::Frame frame) {
  if (!frame.request_id.is_string()) return;
  auto it = pending_.find(std::string(frame.request_id.get_string()));
  if (it == pending_.end()) {
    spdlog::debug("ipc: response to unknown request {} from connection {}",
                  json::serialize(frame.request_id), id_);
    return;
  }
  auto pending = std::move(it->second);
  pending_.erase(it);
  if (frame.success)
    pending->Set(Result<json::value>(std::move(frame.result)));
  else
    pending->Set(Result<json::value>(frame.error.value_or(MakeError(ErrorCode::kUnknownError, "error"))));
}

void Connection::SendError(const json::value& request_id, Error error) {
  Send(protocol::MakeErrorResponse(request_id, std::move(error)));
}

void Connection::Send(const protocol::Frame& frame) {
  if (!open_ || closing_) return;
  outgoing_ += protocol::SerializeFrame(frame);
  if (outgoing_.size() + writing_.size() > options_.max_outgoing_bytes) {
    spdlog::warn("ipc: connection {} ({}) is not reading; disconnecting", id_,
                 app_id_.empty() ? "unregistered" : app_id_);
    // Closed from the loop, never from inside Send: callers may be iterating over state that
    // closing changes (streams, sessions).
    closing_ = true;
    outgoing_.clear();
    asio::post(transport_->executor(), [self = shared_from_this()] { self->Close(); });
    return;
  }
  if (!write_in_flight_) WriteMore();
}

void Connection::WriteMore() {
  if (!open_ || outgoing_.empty()) {
    write_in_flight_ = false;
    return;
  }
  write_in_flight_ = true;
  writing_.clear();
  writing_.swap(outgoing_);  // every frame queued so far goes out in one write
  transport_->Write(writing_, [self = shared_from_this()](bool ok) {
    self->writing_.clear();
    if (!ok) {
      self->write_in_flight_ = false;
      self->Close();
      return;
    }
    self->WriteMore();
  });
}

void Connection::SendEvent(std::string event, json::value payload) {
  Send(protocol::MakeEvent(std::move(event), std::move(payload)));
}

void Connection::SendStream(const json::value& request_id, json::value chunk, bool done) {
  Send(protocol::MakeStream(request_id, std::move(chunk), done));
}

asio::awaitable<Result<json::value>> Connection::Request(std::string method, json::value params,
                                                         std::optional<std::chrono::milliseconds> timeout) {
  if (!open_) co_return MakeError(ErrorCode::kConnectionClosed, "connection closed");
  protocol::Frame frame = protocol::MakeRequest(std::move(method), std::move(params));
  auto pending = std::make_shared<Pending<Result<json::value>>>(transport_->executor());
  std::string id = frame.id;
  pending_[id] = pending;
  Send(frame);
  auto self = shared_from_this();  // keep alive across the wait
  auto result = co_await pending->Wait(timeout.value_or(options_.request_timeout));
  pending_.erase(id);
  if (!result) co_return MakeError(ErrorCode::kTimeout, frame.method + " timed out");
  co_return std::move(*result);
}

void Connection::AddStream(std::string request_id, std::function<void()> on_cancel) {
  streams_[std::move(request_id)] = std::move(on_cancel);
}

bool Connection::CancelStream(const std::string& request_id) {
  auto it = streams_.find(request_id);
  if (it == streams_.end()) return false;
  auto cancel = std::move(it->second);
  streams_.erase(it);
  if (cancel) cancel();
  return true;
}

void Connection::FailPending() {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, p] : pending) p->Set(MakeError(ErrorCode::kConnectionClosed, "connection closed"));
}

void Connection::Close() {
  if (!open_) return;
  open_ = false;
  transport_->Close();
  FailPending();
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, cancel] : streams)
    if (cancel) cancel();
  dispatcher_.OnDisconnected(*this);
}

// ---------------------------------------------------------------------------------------------
// IpcServer

IpcServer::IpcServer(asio::io_context& io, IpcOptions options, Dispatcher& dispatcher)
    : io_(io), options_(std::move(options)), dispatcher_(dispatcher), acceptor_(io) {}

IpcServer::~IpcServer() { Stop(); }

Status IpcServer::Listen() {
  const fs::path& path = options_.socket_path;
  std::error_code fec;
  fs::path dir = path.parent_path();
  if (!dir.empty()) {
    fs::create_directories(dir, fec);
    if (fec) return MakeError(ErrorCode::kInternalError, "cannot create " + dir.string() + ": " + fec.message());
    if (::chmod(dir.c_str(), 0700) != 0)
      return MakeError(ErrorCode::kInternalError, "cannot set mode 0700 on " + dir.string());
  }
  if (fs::exists(fs::symlink_status(path))) {
    if (!fs::is_socket(fs::symlink_status(path)))
      return MakeError(ErrorCode::kConflict, path.string() + " exists and is not a socket");
    if (SocketIsLive(io_, path))
      return MakeError(ErrorCode::kConflict, "another kernel is listening on " + path.string());
    fs::remove(path, fec);
  }
  boost::system::error_code ec;
  acceptor_.open(stream_protocol(), ec);
  if (!ec) acceptor_.bind(stream_protocol::endpoint(path.string()), ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return MakeError(ErrorCode::kInternalError, "cannot listen on " + path.string() + ": " + ec.message());
  if (::chmod(path.c_str(), 0600) != 0)
    return MakeError(ErrorCode::kInternalError, "cannot set mode 0600 on " + path.string());
  listening_ = true;
  asio::co_spawn(io_, AcceptLoop(), asio::detached);
  return {};
}

asio::awaitable<void> IpcServer::AcceptLoop() {
  while (listening_) {
    boost::system::error_code ec;
    stream_protocol::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (!listening_ || ec == asio::error::operation_aborted) break;
      // Out of fds (EMFILE) and the like: pause instead of spinning on the error.
      spdlog::warn("ipc: accept failed: {}", ec.message());
      asio::steady_timer pause(io_, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    Serve(MakeUnixTransport(std::move(socket)));
  }
}

void IpcServer::Serve(std::unique_ptr<Transport> transport) {
  uint64_t id = next_id_++;
  auto conn = std::make_shared<Connection>(std::move(transport), options_, dispatcher_, id);
  connections_[id] = conn;
  asio::co_spawn(io_, conn->Serve(), [this, id](std::exception_ptr) { connections_.erase(id); });
}

void IpcServer::Adopt(std::unique_ptr<Transport> transport) {
  if (!listening_) {
    transport->Close();
    return;
  }
  spdlog::info("ipc: remote connection over {}", transport->describe());
  Serve(std::move(transport));
}

void IpcServer::Stop() {
  if (!listening_ && connections_.empty()) return;
  bool was_listening = listening_;
  listening_ = false;
  boost::system::error_code ec;
  acceptor_.close(ec);
  auto conns = connections_;
  for (auto& [id, c] : conns) c->Close();
  if (was_listening) {
    std::error_code fec;
    fs::remove(options_.socket_path, fec);
  }
}

}  // namespace oc::ipc
