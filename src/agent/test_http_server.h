// Test-only: a local HTTP/1.1 server on 127.0.0.1 (optionally TLS) that records every request and
// answers with canned raw bytes, so tests decide the wire exactly: chunk boundaries, pauses,
// abrupt closes and resets. Runs on the test's io_context; header-only so each test file can use it.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"

namespace oc::agent::test_server {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

struct CapturedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  bool HasHeader(const std::string& name) const { return headers.count(name) > 0; }
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  json::value Json() const { return json::parse(body); }
};

struct CannedAnswer {
  enum class Then { kKeepOpen, kClose, kReset };
  std::vector<std::string> pieces;  // raw bytes, written one after another
  std::chrono::milliseconds gap{0};  // pause before each piece after the first
  Then then = Then::kKeepOpen;
  bool silent = false;  // never answer; the connection stays open until the client goes
};

// "HTTP/1.1 <status> <reason>\r\n<headers>Content-Length: n\r\n\r\n<body>".
inline std::string RawResponse(int status, std::string_view reason, std::string_view extra_headers,
                               std::string_view body, std::string_view content_type = "application/json") {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  out += "Content-Type: " + std::string(content_type) + "\r\n";
  out += extra_headers;
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out += body;
  return out;
}

// A 200 text/event-stream head with chunked transfer-encoding, then `chunks` encoded as HTTP chunks
// and the terminating zero chunk.
inline std::string RawChunkedStream(const std::vector<std::string>& chunks, bool terminate = true) {
  std::string out =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string& c : chunks) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", c.size());
    out += size;
    out += c;
    out += "\r\n";
  }
  if (terminate) out += "0\r\n\r\n";
  return out;
}

// Cuts `s` into pieces of `n` bytes (the last may be shorter).
inline std::vector<std::string> SplitEvery(const std::string& s, size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size(); i += n) out.push_back(s.substr(i, n));
  return out;
}

class TestHttpServer {
 public:
  using Handler = std::function<CannedAnswer(const CapturedRequest&)>;

  // With `tls`, connections are TLS (the context holds the server certificate).
  explicit TestHttpServer(asio::any_io_executor ex, asio::ssl::context* tls = nullptr)
      : state_(std::make_shared<State>(ex)) {
    state_->tls = tls;
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    state_->acceptor.open(endpoint.protocol());
    state_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    state_->acceptor.bind(endpoint);
    state_->acceptor.listen();
    asio::co_spawn(ex, AcceptLoop(state_), asio::detached);
  }
  ~TestHttpServer() {
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
    for (auto& weak : state_->sockets) {
      if (auto s = weak.lock()) s->close(ignored);
    }
  }
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  uint16_t port() const { return state_->acceptor.local_endpoint().port(); }
  std::string base_url() const {
    return std::string(state_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
  }
  // Answers in order of arrival; when the queue runs dry, 599 "no canned answer".
  void Queue(CannedAnswer a) { state_->queue.push_back(std::move(a)); }
  void set_handler(Handler h) { state_->handler = std::move(h); }
  const std::vector<CapturedRequest>& requests() const { return state_->requests; }
  int accepts() const { return state_->accepts; }

 private:
  struct State {
    explicit State(asio::any_io_executor ex) : acceptor(ex) {}
    tcp::acceptor acceptor;
    asio::ssl::context* tls = nullptr;
    std::deque<CannedAnswer> queue;
    Handler handler;
    std::vector<CapturedRequest> requests;
    std::vector<std::weak_ptr<tcp::socket>> sockets;
    int accepts = 0;
  };

  static CannedAnswer Next(State& st, const CapturedRequest& req) {
    if (st.handler) return st.handler(req);
    if (st.queue.empty()) return CannedAnswer{{RawResponse(599, "No Canned Answer", "", "")}};
    CannedAnswer a = std::move(st.queue.front());
    st.queue.pop_front();
    return a;
  }

  static asio::awaitable<void> AcceptLoop(std::shared_ptr<State> st) {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(st->acceptor.get_executor());
      auto [ec] = co_await st->acceptor.async_accept(*socket, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      ++st->accepts;
      st->sockets.push_back(socket);
      asio::co_spawn(st->acceptor.get_executor(), Serve(st, socket), asio::detached);
    }
  }

  static asio::awaitable<void> Serve(std::shared_ptr<State> st, std::shared_ptr<tcp::socket> socket) {
    if (!st->tls) {
      co_await ServeStream(st, *socket);
      co_return;
    }
    auto stream = std::make_shared<asio::ssl::stream<tcp::socket>>(std::move(*socket), *st->tls);
    st->sockets.push_back(std::shared_ptr<tcp::socket>(stream, &stream->next_layer()));
    auto [ec] = co_await stream->async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    co_await ServeStream(st, *stream);
  }

  template <class Stream>
  static asio::awaitable<void> ServeStream(std::shared_ptr<State> st, Stream& stream) {
    auto& socket = stream.lowest_layer();
    constexpr auto use_ec = asio::as_tuple(asio::use_awaitable);
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      auto [ec, n] = co_await http::async_read(stream, buffer, req, use_ec);
      if (ec) co_return;
      CapturedRequest captured{std::string(req.method_string()), std::string(req.target()), {}, req.body()};
      for (const auto& field : req) {
        std::string name(field.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        captured.headers[name] = std::string(field.value());
      }
      st->requests.push_back(captured);
      CannedAnswer answer = Next(*st, captured);
      if (answer.silent) {
        char byte;
        co_await asio::async_read(stream, asio::buffer(&byte, 1), use_ec);  // until the client leaves
        co_return;
      }
      for (size_t i = 0; i < answer.pieces.size(); ++i) {
        if (i > 0 && answer.gap.count() > 0) {
          asio::steady_timer timer(socket.get_executor());
          timer.expires_after(answer.gap);
          co_await timer.async_wait(use_ec);
        }
        auto [wec, written] = co_await asio::async_write(stream, asio::buffer(answer.pieces[i]), use_ec);
        if (wec) co_return;
      }
      boost::system::error_code ignored;
      if (answer.then == CannedAnswer::Then::kReset) {
        socket.set_option(tcp::socket::linger(true, 0), ignored);  // close with RST
        socket.close(ignored);
        co_return;
      }
      if (answer.then == CannedAnswer::Then::kClose) {
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
        co_return;
      }
    }
  }

  std::shared_ptr<State> state_;
};

// Runs `aw` on `io` until it finishes (other work, like the server, stays pending) and returns its
// value; rethrows what it threw.
template <class T>
T RunCoroutine(asio::io_context& io, asio::awaitable<T> aw) {
  std::optional<T> result;
  std::exception_ptr error;
  auto wrapper = [&]() -> asio::awaitable<void> { result.emplace(co_await std::move(aw)); };
  asio::co_spawn(io, wrapper(), [&](std::exception_ptr e) {
    error = e;
    io.stop();
  });
  io.restart();
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

// Lets the loop run for `d` (e.g. so a FIN sent by the server arrives).
inline void RunFor(asio::io_context& io, std::chrono::milliseconds d) {
  io.restart();
  io.run_for(d);
}

}  // namespace oc::agent::test_server
