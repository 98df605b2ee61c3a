// The outbound HTTP(S) client of the kernel (LLM providers now; embeddings and platform APIs later).
// Beast over Asio coroutines on the caller's executor; TLS through OpenSSL with the system's CA
// store, hostname verification and SNI. Keep-alive connections are pooled per origin (scheme, host,
// port) and reused, so a burst of model calls to a local server does not pay a handshake each.
//
// Pooling: a connection goes back to the pool only after a complete response that allows keep-alive;
// at most 8 idle connections per origin, each dropped after 30 s idle or when the server closed it.
// A request that fails on a reused connection before any byte of the answer arrived is sent once
// more on a fresh connection (the server closed the idle connection meanwhile).
//
// Contract: Fetch never throws; errors are values: kTimeout when `timeout` passes (the connection is
// closed), kConnectionClosed for connect/reset/TLS failures (message says which), kInvalidParams
// for a malformed URL or a header containing a line break, kForbidden when `allow_address` rejects
// every address of the host. Redirects are not followed (the 3xx is
// returned like any status). Any HTTP status is a success at this level. Response bodies above
// `max_body_bytes` fail with kInvalidRequest. Threading: one HttpClient per executor (the kernel loop).
// Destroying the client closes its idle connections; a Fetch still in flight keeps the shared state
// alive until it completes.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace oc::agent {

struct HttpRequest {
  std::string method = "POST";
  std::string url;  // http:// or https://
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Optional connect-time address filter (SSRF / DNS-rebinding guard): checked against every address
  // the host resolves to when a new connection is made (also the retry on a fresh connection), so a
  // name that resolved to a public address for the caller's own check cannot connect elsewhere.
  // Endpoints whose address it rejects are skipped; when none is left the Fetch fails with
  // kForbidden "address not allowed: <addr>" (the first rejected address) and nothing is sent. A
  // pooled idle connection is reused only when its peer address passes. Redirects are not followed
  // here: a caller following them sets the filter on each request. Called on the Fetch's executor.
  std::function<bool(const boost::asio::ip::address&)> allow_address = {};
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;  // empty when streamed to `on_chunk`
  // The first header with this (lower-case) name, or "".
  std::string Header(std::string_view name) const;
};

// Receives body bytes as they arrive (chunked or not). Return false to abort the transfer (the
// Fetch then fails with kConnectionClosed "aborted").
using BodySink = std::function<bool(std::string_view chunk)>;

class HttpClient {
 public:
  // `extra_ca_pem`: PEM certificate(s) trusted in addition to the system CA store (a self-signed
  // local server, a corporate proxy's CA; the TLS tests use it). A PEM that does not load makes every
  // https Fetch fail with kConnectionClosed saying so; plain http is unaffected.
  explicit HttpClient(boost::asio::any_io_executor executor, size_t max_body_bytes = 64 << 20,
                      std::string extra_ca_pem = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request`; when `on_chunk` is set and the status is 2xx, the body is streamed to it
  // instead of being collected (error bodies are always collected, so callers can report them).
  boost::asio::awaitable<Result<HttpResponse>> Fetch(HttpRequest request, BodySink on_chunk,
                                                     std::chrono::milliseconds timeout);
  // Idle pooled connections right now (tests).
  size_t idle_connections() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace oc::agent
