// A minimal blocking HTTP/1.1 client for the benchmarks that drive an OpenAI-compatible
// `/v1/chat/completions` endpoint (ours or another gateway's): one keep-alive connection, one
// request at a time. It reads responses framed by Content-Length, by chunked transfer encoding
// (Node answers chunked) or by the end of the connection, and honours `Connection: close`.
// Not thread-safe: one client per thread.
#pragma once

#include <string>

namespace bench {

// A connected TCP socket (TCP_NODELAY) to host:port, where host is an IPv4/IPv6 literal or a name;
// -1 when it cannot connect. `timeout_s` > 0 bounds every later read and write on it.
int ConnectTcpHost(const std::string& host, int port, double timeout_s = 0);

// `POST /v1/chat/completions` with a one-message conversation and no `user`, so a gateway starts a
// fresh session for it. `token` empty: no Authorization header.
std::string ChatCompletionRequest(const std::string& host, const std::string& token, const std::string& model,
                                  const std::string& content, bool stream);

struct HttpResponse {
  int status = 0;        // 0: no complete response (connection failed or broke)
  std::string head;      // status line and header fields, without the blank line
  std::string body;      // de-chunked
};

class KeepAliveClient {
 public:
  // `timeout_s` > 0: a read or write that waits longer fails the exchange.
  KeepAliveClient(std::string host, int port, double timeout_s = 0);
  explicit KeepAliveClient(int port) : KeepAliveClient("127.0.0.1", port) {}
  ~KeepAliveClient();
  KeepAliveClient(const KeepAliveClient&) = delete;
  KeepAliveClient& operator=(const KeepAliveClient&) = delete;

  // Sends `request` (connecting first when needed) and reads one whole response. False when no
  // complete response came (`error` says why); the connection is then dropped and the next call
  // reconnects. A response with `Connection: close` (or framed by the end of the connection) is
  // returned and the connection dropped after it.
  bool Exchange(const std::string& request, HttpResponse& response, std::string& error);

  // Exchange() that succeeds only for a 200 answer carrying a `chat.completion` object.
  bool RoundTrip(const std::string& request);

 private:
  bool Fill(std::string& error);
  bool ReadBody(const std::string& head, std::string& body, bool& until_close, std::string& error);
  bool ReadChunked(std::string& body, std::string& error);
  void Drop();

  std::string host_;
  int port_;
  double timeout_s_;
  int fd_ = -1;
  std::string buf_;
};

// The value of header field `name` (case-insensitive) in `head`, or "" when absent.
std::string HeaderValue(const std::string& head, const std::string& name);

}  // namespace bench
