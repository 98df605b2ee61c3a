// Outbound HTTP(S) over Beast. One Fetch = (pooled or new) connection, write the request, read the
// header, then either stream the body to the sink (2xx with a sink) or collect it. A single timer
// bounds the whole Fetch: when it fires it closes the socket (or cancels the resolver), which makes
// the pending operation fail, and the Fetch reports kTimeout.
#include "agent/http_client.h"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <cctype>
#include <cerrno>
#include <deque>
#include <map>
#include <optional>

#include "common/text.h"

namespace oc::agent {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxIdlePerOrigin = 8;
constexpr auto kMaxIdleAge = std::chrono::seconds(30);
constexpr uint32_t kMaxHeaderBytes = 64 * 1024;
constexpr auto kUseEc = asio::as_tuple(asio::use_awaitable);

// The parts of a URL a request needs.
struct Target {
  bool tls = false;
  std::string host;         // for DNS, SNI and certificate checks (IPv6 without brackets)
  std::string port;
  std::string host_header;  // host[:port] as in the URL
  std::string path;         // path and query ("/" when empty)
  std::string origin;       // pool key
};

Result<Target> ParseTarget(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return MakeError(ErrorCode::kInvalidParams, "malformed URL '" + std::string(url) + "'");
  const boost::urls::url_view& u = *parsed;
  Target t;
  if (u.scheme_id() == boost::urls::scheme::https) {
    t.tls = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    return MakeError(ErrorCode::kInvalidParams, "URL '" + std::string(url) + "' is not http:// or https://");
  }
  t.host = u.host_address();
  if (t.host.empty()) return MakeError(ErrorCode::kInvalidParams, "URL '" + std::string(url) + "' has no host");
  t.port = u.has_port() && !u.port().empty() ? std::string(u.port()) : (t.tls ? "443" : "80");
  t.host_header = u.encoded_host_and_port();
  t.path = u.encoded_target();
  if (t.path.empty() || t.path.front() != '/') t.path.insert(0, "/");
  t.origin = std::string(t.tls ? "https://" : "http://") + t.host + ":" + t.port;
  return t;
}

// Header names and values must not smuggle line breaks (a key pasted with a newline would otherwise
// inject headers or a second request).
bool IsSafeHeader(std::string_view name, std::string_view value) {
  if (name.empty() || name.find_first_of(std::string_view(":\r\n \t\0", 6)) != std::string_view::npos) return false;
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool IsIpLiteral(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// An idle keep-alive connection is usable when the server has not closed it and sent nothing
// unasked (a non-blocking peek would block).
bool LooksAlive(tcp::socket& socket) {
  if (!socket.is_open()) return false;
  char byte;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

namespace {

struct Connection {
  std::optional<tcp::socket> plain;
  std::optional<beast::ssl_stream<tcp::socket>> tls;
  beast::flat_buffer buffer;  // bytes read past the end of one response stay for the next
  Clock::time_point idle_since;

  tcp::socket& socket() { return plain ? *plain : tls->next_layer(); }
  void Close() {
    error_code ignored;
    socket().close(ignored);
  }
};

// What the timer may need to interrupt, shared between a Fetch and its timer handler.
struct FetchState {
  bool finished = false;
  bool timed_out = false;
  tcp::resolver* resolver = nullptr;  // set while resolving
  std::shared_ptr<Connection> conn;   // set while connecting or exchanging

  void Abort() {
    timed_out = true;
    if (resolver) resolver->cancel();
    if (conn) conn->Close();
  }
};

using AddressFilter = std::function<bool(const asio::ip::address&)>;

struct Exchanged {
  std::optional<Error> error;
  bool got_some = false;  // a byte of the response arrived (then a retry could duplicate it)
  bool keep_alive = false;
  HttpResponse response;
};

Error NetworkError(const Target& t, std::string_view stage, const error_code& ec) {
  return MakeError(ErrorCode::kConnectionClosed,
                   std::string(stage) + " " + t.origin + " failed: " + ec.message());
}

template <class Stream>
asio::awaitable<void> ReadBody(Stream& stream, Connection& conn, http::response_parser<http::string_body>& parser,
                               const BodySink& sink, const Target& t, Exchanged& out) {
  bool streaming = sink && parser.get().result_int() / 100 == 2;
  if (!streaming) {
    auto [ec, n] = co_await http::async_read(stream, conn.buffer, parser, kUseEc);
    if (ec == http::error::body_limit) {
      out.error = MakeError(ErrorCode::kInvalidRequest, "response body from " + t.origin + " exceeds the size limit");
    } else if (ec) {
      out.error = NetworkError(t, "reading the response from", ec);
    } else {
      out.response.body = std::move(parser.get().body());
    }
    co_return;
  }
  while (!parser.is_done()) {
    auto [ec, n] = co_await http::async_read_some(stream, conn.buffer, parser, kUseEc);
    if (ec == http::error::body_limit) {
      out.error = MakeError(ErrorCode::kInvalidRequest, "response body from " + t.origin + " exceeds the size limit");
      co_return;
    }
    if (ec) {
      out.error = NetworkError(t, "reading the response from", ec);
      co_return;
    }
    std::string& body = parser.get().body();
    if (body.empty()) continue;
    bool keep_going = sink(body);
    body.clear();
    if (!keep_going) {
      out.error =
          MakeError(ErrorCode::kConnectionClosed, "aborted: the receiver stopped the transfer from " + t.origin);
      co_return;
    }
  }
}

// Writes the request and reads the answer on an established connection.
template <class Stream>
asio::awaitable<Exchanged> Exchange(Stream& stream, Connection& conn, const http::request<http::string_body>& req,
                                    const BodySink& sink, size_t max_body_bytes, const Target& t) {
  Exchanged out;
  auto [wec, written] = co_await http::async_write(stream, req, kUseEc);
  if (wec) {
    out.error = NetworkError(t, "sending the request to", wec);
    co_return out;
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body_bytes);
  parser.header_limit(kMaxHeaderBytes);
  if (req.method() == http::verb::head) parser.skip(true);
  auto [hec, n] = co_await http::async_read_header(stream, conn.buffer, parser, kUseEc);
  out.got_some = parser.got_some();
  if (hec == http::error::body_limit) {
    out.error = MakeError(ErrorCode::kInvalidRequest, "response body from " + t.origin + " exceeds the size limit");
    co_return out;
  }
  if (hec) {
    out.error = NetworkError(t, "reading the response from", hec);
    co_return out;
  }
  out.response.status = static_cast<int>(parser.get().result_int());
  for (const auto& field : parser.get()) {
    out.response.headers.emplace_back(AsciiLower(field.name_string()), std::string(field.value()));
  }
  co_await ReadBody(stream, conn, parser, sink, t, out);
  out.keep_alive = !out.error && parser.is_done() && parser.get().keep_alive();
  co_return out;
}

// The resolved endpoints `allow` accepts (all of them without a filter); kForbidden naming the
// first refused address when none is left.
Result<std::vector<tcp::endpoint>> AllowedEndpoints(const tcp::resolver::results_type& resolved,
                                                    const AddressFilter& allow) {
  std::vector<tcp::endpoint> kept;
  std::optional<asio::ip::address> refused;
  for (const auto& entry : resolved) {
    asio::ip::address address = entry.endpoint().address();
    if (!allow || allow(address)) {
      kept.push_back(entry.endpoint());
    } else if (!refused) {
      refused = address;
    }
  }
  if (kept.empty() && refused) {
    return MakeError(ErrorCode::kForbidden, "address not allowed: " + refused->to_string());
  }
  return kept;
}

}  // namespace

struct HttpClient::Impl : std::enable_shared_from_this<HttpClient::Impl> {
  Impl(asio::any_io_executor ex, size_t max_body, std::string ca_pem)
      : executor(std::move(ex)), max_body_bytes(max_body), extra_ca_pem(std::move(ca_pem)) {}

  asio::awaitable<Result<HttpResponse>> Fetch(HttpRequest request, BodySink sink, std::chrono::milliseconds timeout);
  asio::awaitable<Result<HttpResponse>> FetchOnce(const Target& t, const http::request<http::string_body>& req,
                                                  const BodySink& sink, const AddressFilter& allow,
                                                  FetchState& st);
  asio::awaitable<Result<std::shared_ptr<Connection>>> Connect(const Target& t, const AddressFilter& allow,
                                                               FetchState& st);
  Result<ssl::context*> TlsContext();
  std::shared_ptr<Connection> TakeIdle(const std::string& origin, const AddressFilter& allow);
  void PutIdle(const std::string& origin, std::shared_ptr<Connection> conn);

  asio::any_io_executor executor;
  size_t max_body_bytes;
  std::string extra_ca_pem;
  std::unique_ptr<ssl::context> tls_context;  // made on the first https request
  std::map<std::string, std::deque<std::shared_ptr<Connection>>> idle;  // by origin, oldest first
};

Result<ssl::context*> HttpClient::Impl::TlsContext() {
  if (tls_context) return tls_context.get();
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  ctx->set_default_verify_paths(ec);  // no system store is not fatal: extra_ca_pem may suffice
  ctx->set_verify_mode(ssl::verify_peer);
  if (!extra_ca_pem.empty()) {
    ctx->add_certificate_authority(asio::buffer(extra_ca_pem), ec);
    if (ec) {
      return MakeError(ErrorCode::kConnectionClosed, "TLS: the extra CA certificate does not load: " + ec.message());
    }
  }
  tls_context = std::move(ctx);
  return tls_context.get();
}

std::shared_ptr<Connection> HttpClient::Impl::TakeIdle(const std::string& origin, const AddressFilter& allow) {
  auto it = idle.find(origin);
  if (it == idle.end()) return nullptr;
  std::shared_ptr<Connection> found;
  auto& queue = it->second;
  // Newest first. Dead or stale connections are dropped; live ones the filter refuses stay pooled
  // for requests without (or with another) filter.
  for (size_t i = queue.size(); i-- > 0 && !found;) {
    Connection& conn = *queue[i];
    bool fresh = Clock::now() - conn.idle_since < kMaxIdleAge;
    if (!fresh || conn.buffer.size() != 0 || !LooksAlive(conn.socket())) {
      queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    if (allow) {
      error_code ec;
      tcp::endpoint peer = conn.socket().remote_endpoint(ec);
      if (ec || !allow(peer.address())) continue;
    }
    found = std::move(queue[i]);
    queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(i));
  }
  if (queue.empty()) idle.erase(it);
  return found;
}

void HttpClient::Impl::PutIdle(const std::string& origin, std::shared_ptr<Connection> conn) {
  auto& queue = idle[origin];
  if (queue.size() >= kMaxIdlePerOrigin) queue.pop_front();
  conn->idle_since = Clock::now();
  queue.push_back(std::move(conn));
}

asio::awaitable<Result<std::shared_ptr<Connection>>> HttpClient::Impl::Connect(const Target& t,
                                                                              const AddressFilter& allow,
                                                                              FetchState& st) {
  tcp::resolver resolver(executor);
  st.resolver = &resolver;
  auto [rec, resolved] = co_await resolver.async_resolve(t.host, t.port, kUseEc);
  st.resolver = nullptr;
  if (st.timed_out) co_return MakeError(ErrorCode::kTimeout, "timed out");
  if (rec) co_return NetworkError(t, "resolving", rec);
  auto endpoints = AllowedEndpoints(resolved, allow);
  if (!endpoints.ok()) co_return endpoints.error();

  auto conn = std::make_shared<Connection>();
  if (t.tls) {
    auto ctx = TlsContext();
    if (!ctx.ok()) co_return ctx.error();
    conn->tls.emplace(executor, **ctx);
  } else {
    conn->plain.emplace(executor);
  }
  st.conn = conn;
  auto [cec, endpoint] = co_await asio::async_connect(conn->socket(), *endpoints, kUseEc);
  if (st.timed_out) co_return MakeError(ErrorCode::kTimeout, "timed out");
  if (cec) co_return NetworkError(t, "connecting to", cec);
  error_code ignored;
  conn->socket().set_option(tcp::no_delay(true), ignored);
  if (t.tls) {
    // SNI carries names only; certificate checks cover names and IP addresses alike.
    if (!IsIpLiteral(t.host)) SSL_set_tlsext_host_name(conn->tls->native_handle(), t.host.c_str());
    conn->tls->set_verify_callback(ssl::host_name_verification(t.host));
    auto [hec] = co_await conn->tls->async_handshake(ssl::stream_base::client, kUseEc);
    if (st.timed_out) co_return MakeError(ErrorCode::kTimeout, "timed out");
    if (hec) co_return NetworkError(t, "TLS handshake with", hec);
  }
  co_return conn;
}

// One try on a pooled connection, and one more on a fresh connection when the pooled one turned
// out to be dead before the server said anything.
asio::awaitable<Result<HttpResponse>> HttpClient::Impl::FetchOnce(const Target& t,
                                                                  const http::request<http::string_body>& req,
                                                                  const BodySink& sink, const AddressFilter& allow,
                                                                  FetchState& st) {
  for (int round = 0; round < 2; ++round) {
    std::shared_ptr<Connection> conn = round == 0 ? TakeIdle(t.origin, allow) : nullptr;
    bool reused = conn != nullptr;
    if (!conn) {
      auto connected = co_await Connect(t, allow, st);
      if (!connected.ok()) co_return connected.error();
      conn = std::move(connected).value();
    }
    st.conn = conn;
    Exchanged out;  // (g++ 12 miscompiles co_await inside ?: — keep these as statements)
    if (conn->tls) {
      out = co_await Exchange(*conn->tls, *conn, req, sink, max_body_bytes, t);
    } else {
      out = co_await Exchange(*conn->plain, *conn, req, sink, max_body_bytes, t);
    }
    st.conn = nullptr;
    if (st.timed_out) co_return MakeError(ErrorCode::kTimeout, "timed out");
    if (!out.error) {
      if (out.keep_alive) PutIdle(t.origin, std::move(conn));
      co_return std::move(out.response);
    }
    bool stale = reused && !out.got_some && out.error->code == ErrorCode::kConnectionClosed &&
                 out.error->message.rfind("aborted", 0) != 0;
    if (!stale) co_return *out.error;
  }
  co_return MakeError(ErrorCode::kInternalError, "unreachable");
}

asio::awaitable<Result<HttpResponse>> HttpClient::Impl::Fetch(HttpRequest request, BodySink sink,
                                                              std::chrono::milliseconds timeout) {
  auto self = shared_from_this();  // a Fetch keeps the pool alive even if the client goes away
  auto target = ParseTarget(request.url);
  if (!target.ok()) co_return target.error();
  for (const auto& [name, value] : request.headers) {
    if (!IsSafeHeader(name, value)) {
      co_return MakeError(ErrorCode::kInvalidParams, "invalid HTTP header '" + name + "'");
    }
  }

  http::request<http::string_body> req;
  http::verb verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) {
    req.method_string(request.method);
  } else {
    req.method(verb);
  }
  req.target(target->path);
  req.version(11);
  req.set(http::field::host, target->host_header);
  req.set(http::field::user_agent, "openclawos/" OPENCLAWOS_KERNEL_VERSION);
  for (const auto& [name, value] : request.headers) req.set(name, value);
  req.body() = std::move(request.body);
  req.keep_alive(true);
  req.prepare_payload();

  auto st = std::make_shared<FetchState>();
  asio::steady_timer timer(executor);
  timer.expires_after(timeout);
  timer.async_wait([st](const error_code& ec) {
    if (!ec && !st->finished) st->Abort();
  });
  std::optional<Result<HttpResponse>> result;
  try {
    result.emplace(co_await FetchOnce(*target, req, sink, request.allow_address, *st));
  } catch (const std::exception& e) {  // allocation failures, a throwing sink
    result.emplace(MakeError(ErrorCode::kInternalError, std::string("HTTP client: ") + e.what()));
  }
  st->finished = true;
  timer.cancel();
  if (st->timed_out) {
    co_return MakeError(ErrorCode::kTimeout,
                        "request to " + target->origin + " timed out after " + std::to_string(timeout.count()) + " ms");
  }
  co_return std::move(*result);
}

HttpClient::HttpClient(asio::any_io_executor executor, size_t max_body_bytes, std::string extra_ca_pem)
    : impl_(std::make_shared<Impl>(std::move(executor), max_body_bytes, std::move(extra_ca_pem))) {}

HttpClient::~HttpClient() = default;

asio::awaitable<Result<HttpResponse>> HttpClient::Fetch(HttpRequest request, BodySink on_chunk,
                                                        std::chrono::milliseconds timeout) {
  std::shared_ptr<Impl> impl = impl_;
  co_return co_await impl->Fetch(std::move(request), std::move(on_chunk), timeout);
}

size_t HttpClient::idle_connections() const {
  size_t n = 0;
  for (const auto& [origin, queue] : impl_->idle) n += queue.size();
  return n;
}

}  // namespace oc::agent
