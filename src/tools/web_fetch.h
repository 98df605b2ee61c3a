// Internal to oc_tools: the `web_fetch` tool.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "agent/agent.h"
#include "agent/http_client.h"

namespace oc::tools::internal {

namespace asio = boost::asio;

struct FetchLimits {
  size_t max_bytes = 2000000;
  std::chrono::milliseconds timeout{20000};  // the whole fetch, redirects included
  bool allow_private = false;
  size_t max_chars = 50000;  // of the text handed to the model
  // Which addresses are refused when !allow_private; empty means IsBlockedAddress. A seam for tests
  // (a predicate answering differently on its second call stands in for a rebinding DNS server).
  std::function<bool(const asio::ip::address&)> is_blocked = {};
};

// Loopback, unspecified, private (RFC 1918, 100.64/10, fc00::/7, fec0::/10), link-local, broadcast
// and multicast addresses; IPv4-mapped and IPv4-compatible IPv6 addresses are judged by their IPv4
// part.
bool IsBlockedAddress(const asio::ip::address& address);

// GETs `url` (http/https only) and renders it for the model: "URL: <final>\nStatus: <code>\n..."
// then the text. Every host (the first and each of at most 5 redirects) is resolved first and
// refused when any of its addresses is blocked, unless allow_private; the HttpClient then applies
// the same rule to the addresses it connects to (HttpRequest::allow_address), so a DNS server that
// answers a public address to the check and a private one to the connect (rebinding) is refused
// too. Bodies above max_bytes are
// cut (the transfer stops); HTML becomes text, other text types are shown as is, binary types are
// refused. A 4xx/5xx answer is an is_error outcome that still shows the body.
asio::awaitable<agent::ToolOutcome> WebFetch(asio::any_io_executor loop, agent::HttpClient& http, std::string url,
                                             FetchLimits limits);

}  // namespace oc::tools::internal
