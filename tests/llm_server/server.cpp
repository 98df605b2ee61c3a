// oc-test-llm: a local server speaking the chat wire formats of OpenAI, Anthropic, Gemini and Ollama,
// scripted per test (behaviour in llm_script.h; usage in tests/integration/llm_server.py).
//
//   oc-test-llm [--host 127.0.0.1] [--port 0] [--max-recorded 10000] [--reply TEXT] [--verbose]
//   --reply: the answer when no script step fits (default: echo the last message)
//
// Prints "PORT <n>" on stdout once listening (nothing else ever goes to stdout, so a parent that
// stops reading the pipe cannot block it); exits with 0 on SIGTERM/SIGINT. One io_context thread,
// one coroutine per connection, HTTP/1.1 keep-alive, TCP_NODELAY (streamed answers are many small
// writes); streamed answers use chunked transfer encoding, one SSE event (or NDJSON line) per HTTP
// chunk.
// Beast stays inside this file.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>

#include "llm_script.h"

namespace oc::testllm {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr size_t kMaxBodyBytes = 256u << 20;
constexpr auto kIdleTimeout = std::chrono::minutes(10);  // an idle keep-alive connection
constexpr auto kWriteTimeout = std::chrono::seconds(60);

bool g_verbose = false;

auto Await(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

void LogException(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "oc-test-llm: connection task failed: %s\n", ex.what());
  }
}

std::string ToStd(beast::string_view s) { return std::string(s.data(), s.size()); }

IncomingRequest ToIncoming(http::request<http::string_body>& req) {
  IncomingRequest in;
  in.method = ToStd(req.method_string());
  std::string target = ToStd(req.target());
  const size_t question = target.find('?');
  in.path = target.substr(0, question);
  if (question != std::string::npos) in.query = target.substr(question + 1);
  in.authorization = ToStd(req[http::field::authorization]);
  for (const auto& field : req) {
    std::string name = ToStd(field.name_string());
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    in.headers[name] = ToStd(field.value());
  }
  in.body = std::move(req.body());
  return in;
}

asio::awaitable<void> Sleep(int64_t ms) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(std::chrono::milliseconds(ms));
  error_code ec;
  co_await timer.async_wait(Await(ec));
}

// Abrupt end: no more bytes, no terminating chunk; the peer sees the connection close.
void Abort(beast::tcp_stream& stream) {
  error_code ignored;
  stream.socket().close(ignored);
}

// A scripted hang: answer nothing, and return once the client closes its side.
asio::awaitable<void> WaitForPeerToLeave(beast::tcp_stream& stream) {
  stream.expires_never();
  char sink[4096];
  for (;;) {
    error_code ec;
    co_await stream.async_read_some(asio::buffer(sink), Await(ec));
    if (ec) co_return;
  }
}

template <class Message>
void ApplyHeaders(Message& res, const PlannedResponse& plan, unsigned version, bool keep_alive) {
  res.version(version);
  res.result(static_cast<unsigned>(plan.status));
  res.set(http::field::server, "oc-test-llm");
  for (const auto& [name, value] : plan.headers) res.set(name, value);
  res.keep_alive(keep_alive);
}

// Sends the header, then one HTTP chunk per event. Returns whether the connection may be reused.
asio::awaitable<bool> WriteStreamed(beast::tcp_stream& stream, const PlannedResponse& plan, unsigned version,
                                    bool keep_alive) {
  http::response<http::empty_body> res;
  ApplyHeaders(res, plan, version, keep_alive);
  res.chunked(true);
  http::response_serializer<http::empty_body> serializer(res);
  error_code ec;
  stream.expires_after(kWriteTimeout);
  co_await http::async_write_header(stream, serializer, Await(ec));
  if (ec) co_return false;
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    if (plan.drop_after_chunks && i == *plan.drop_after_chunks) break;
    if (i > 0 && plan.chunk_delay_ms > 0) co_await Sleep(plan.chunk_delay_ms);
    if (plan.chunks[i].empty()) continue;  // an empty chunk would end the body
    stream.expires_after(kWriteTimeout);
    co_await asio::async_write(stream, http::make_chunk(asio::buffer(plan.chunks[i])), Await(ec));
    if (ec) co_return false;
  }
  if (plan.drop_after_chunks) {
    Abort(stream);
    co_return false;
  }
  stream.expires_after(kWriteTimeout);
  co_await asio::async_write(stream, http::make_chunk_last(), Await(ec));
  co_return !ec && keep_alive;
}

// Carries out a planned response. Returns whether the connection may be reused.
asio::awaitable<bool> Respond(beast::tcp_stream& stream, const PlannedResponse& plan, unsigned version,
                              bool keep_alive) {
  if (plan.delay_ms > 0) co_await Sleep(plan.delay_ms);
  if (plan.hang) {
    co_await WaitForPeerToLeave(stream);
    co_return false;
  }
  if (plan.streamed) co_return co_await WriteStreamed(stream, plan, version, keep_alive);
  if (plan.drop_after_chunks) {  // a dropped non-streamed answer: the connection closes unanswered
    Abort(stream);
    co_return false;
  }
  http::response<http::string_body> res;
  ApplyHeaders(res, plan, version, keep_alive);
  res.body() = plan.body;
  res.prepare_payload();
  error_code ec;
  stream.expires_after(kWriteTimeout);
  co_await http::async_write(stream, res, Await(ec));
  co_return !ec && keep_alive;
}

// Answers a request that could not be read (garbage, too large); nothing when the peer just left.
asio::awaitable<void> ReplyToBadHttp(beast::tcp_stream& stream, error_code read_error) {
  if (read_error.category() != http::make_error_code(http::error::end_of_stream).category() ||
      read_error == http::error::end_of_stream || read_error == http::error::partial_message) {
    co_return;
  }
  const bool too_large = read_error == http::error::body_limit;
  PlannedResponse plan;
  plan.status = too_large ? 413 : 400;
  plan.headers.emplace_back("Content-Type", "application/json");
  plan.body = ErrorBody(too_large ? "request body too large" : "malformed HTTP request: " + read_error.message(),
                        "invalid_request_error", nullptr, nullptr);
  co_await Respond(stream, plan, 11, false);
}

struct ConnectionCount {
  explicit ConnectionCount(LlmScript& s) : script(s) { script.ConnectionOpened(); }
  ~ConnectionCount() { script.ConnectionClosed(); }
  LlmScript& script;
};

asio::awaitable<void> ServeConnection(beast::tcp_stream stream, LlmScript& script) {
  ConnectionCount count(script);
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBodyBytes);
    stream.expires_after(kIdleTimeout);
    error_code ec;
    co_await http::async_read(stream, buffer, parser, Await(ec));
    if (ec) {
      co_await ReplyToBadHttp(stream, ec);
      break;
    }
    http::request<http::string_body>& req = parser.get();
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();
    IncomingRequest in = ToIncoming(req);
    if (g_verbose) std::fprintf(stderr, "oc-test-llm: %s %s\n", in.method.c_str(), in.path.c_str());
    const PlannedResponse plan = script.Handle(in);
    if (!co_await Respond(stream, plan, version, keep_alive)) break;
  }
  if (stream.socket().is_open()) {
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
}

asio::awaitable<void> AcceptLoop(tcp::acceptor& acceptor, LlmScript& script) {
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(Await(ec));
    if (ec) {
      if (!acceptor.is_open()) co_return;
      co_await Sleep(10);  // e.g. out of file descriptors: do not spin
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(acceptor.get_executor(), ServeConnection(beast::tcp_stream(std::move(socket)), script),
                   LogException);
  }
}

struct Options {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  size_t max_recorded = 10000;
  std::optional<std::string> reply;
};

bool IsSmallNumber(const std::string& s) {
  return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos;
}

// Accepts "--name value" and "--name=value". Returns nullopt (after printing why) on bad usage.
std::optional<Options> ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if ((arg == "--host" || arg == "--port" || arg == "--max-recorded" || arg == "--reply") && i + 1 < argc) {
      value = argv[++i];
    }
    if (arg == "--verbose") {
      g_verbose = true;
    } else if (arg == "--host" && !value.empty()) {
      o.host = value;
    } else if (arg == "--port" && IsSmallNumber(value) && std::stoul(value) <= 65535) {
      o.port = static_cast<unsigned>(std::stoul(value));
    } else if (arg == "--max-recorded" && IsSmallNumber(value)) {
      o.max_recorded = std::stoul(value);
    } else if (arg == "--reply") {
      o.reply = value;
    } else {
      std::fprintf(stderr, "usage: oc-test-llm [--host 127.0.0.1] [--port 0] [--max-recorded 10000] [--reply TEXT] [--verbose]\n");
      return std::nullopt;
    }
  }
  return o;
}

bool Listen(tcp::acceptor& acceptor, const Options& options) {
  error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.host, ec);
  if (ec) {
    std::fprintf(stderr, "oc-test-llm: --host must be an IP address: %s\n", options.host.c_str());
    return false;
  }
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::fprintf(stderr, "oc-test-llm: cannot listen on %s:%u: %s\n", options.host.c_str(), options.port,
                 ec.message().c_str());
    return false;
  }
  return true;
}

int Run(int argc, char** argv) {
  std::optional<Options> options = ParseArgs(argc, argv);
  if (!options) return 2;
  std::signal(SIGPIPE, SIG_IGN);
  // Outlives the io_context: connection frames destroyed with it still update the counters.
  LlmScript script(options->max_recorded, options->reply);
  asio::io_context io(1);
  tcp::acceptor acceptor(io);
  if (!Listen(acceptor, *options)) return 1;
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](error_code ec, int) {
    if (ec) return;
    error_code ignored;
    acceptor.close(ignored);
    io.stop();
  });
  asio::co_spawn(io, AcceptLoop(acceptor, script), LogException);
  std::printf("PORT %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
  std::fflush(stdout);
  io.run();
  return 0;
}

}  // namespace
}  // namespace oc::testllm

int main(int argc, char** argv) { return oc::testllm::Run(argc, argv); }
