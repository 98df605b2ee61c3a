#include "tools/web_fetch.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <optional>

#include "common/text.h"
#include "tools/html_text.h"

namespace oc::tools::internal {

namespace urls = boost::urls;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kMaxRedirects = 5;

bool InV4Range(uint32_t a, uint32_t base, int prefix) {
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (a & mask) == (base & mask);
}

bool IsBlockedV4(const asio::ip::address_v4& v4) {
  uint32_t a = v4.to_uint();
  static constexpr struct {
    uint32_t base;
    int prefix;
  } kBlocked[] = {
      {0x00000000, 8},   // 0/8 "this network", 0.0.0.0
      {0x0A000000, 8},   // 10/8
      {0x64400000, 10},  // 100.64/10 shared address space
      {0x7F000000, 8},   // 127/8 loopback
      {0xA9FE0000, 16},  // 169.254/16 link-local
      {0xAC100000, 12},  // 172.16/12
      {0xC0A80000, 16},  // 192.168/16
      {0xE0000000, 4},   // multicast
      {0xF0000000, 4},   // reserved, broadcast
  };
  for (const auto& r : kBlocked) {
    if (InV4Range(a, r.base, r.prefix)) return true;
  }
  return false;
}

std::string ShownUrl(const urls::url_view_base& u) { return std::string(u.buffer()); }

struct ContentType {
  std::string mime;     // lower-case, no parameters
  std::string charset;  // lower-case
};

ContentType ParseContentType(std::string_view header) {
  ContentType ct;
  std::string h = AsciiLower(header);
  size_t semi = h.find(';');
  ct.mime = h.substr(0, semi);
  while (!ct.mime.empty() && ct.mime.back() == ' ') ct.mime.pop_back();
  size_t cs = h.find("charset=");
  if (cs != std::string::npos) {
    ct.charset = h.substr(cs + 8);
    ct.charset = ct.charset.substr(0, ct.charset.find_first_of("; "));
    ct.charset.erase(std::remove(ct.charset.begin(), ct.charset.end(), '"'), ct.charset.end());
  }
  return ct;
}

enum class BodyKind { kHtml, kText, kBinary };

bool LooksLikeHtml(std::string_view body) {
  std::string head = AsciiLower(body.substr(0, 1024));
  size_t start = head.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  if (start == std::string::npos) return false;
  std::string_view h(head.data() + start, head.size() - start);
  return h.starts_with("<!doctype html") || h.starts_with("<html") || head.find("<body") != std::string::npos ||
         head.find("<head") != std::string::npos;
}

BodyKind Classify(const ContentType& ct, std::string_view body) {
  if (body.substr(0, 8192).find('\0') != std::string_view::npos) return BodyKind::kBinary;
  const std::string& m = ct.mime;
  if (m == "text/html" || m == "application/xhtml+xml") return BodyKind::kHtml;
  if (m.empty()) return LooksLikeHtml(body) ? BodyKind::kHtml : BodyKind::kText;
  if (m.starts_with("text/") || m.ends_with("+json") || m.ends_with("+xml")) return BodyKind::kText;
  static constexpr std::string_view kTextual[] = {
      "application/json", "application/xml",    "application/javascript", "application/x-javascript",
      "application/yaml", "application/x-yaml", "application/toml",       "application/x-ndjson"};
  for (std::string_view t : kTextual) {
    if (m == t) return BodyKind::kText;
  }
  return BodyKind::kBinary;
}

std::string Decode(std::string_view body, const ContentType& ct) {
  if (ct.charset == "iso-8859-1" || ct.charset == "latin1" || ct.charset == "windows-1252") {
    return Latin1ToUtf8(body);
  }
  return ToValidUtf8(body);
}

agent::ToolOutcome Failure(std::string message) { return agent::ToolOutcome{"web_fetch: " + std::move(message), true}; }

// Checks scheme and host of `u`; returns an error message, or nullopt when it may be fetched.
std::optional<std::string> CheckUrlShape(const urls::url_view_base& u) {
  std::string scheme = AsciiLower(u.scheme());
  if (scheme != "http" && scheme != "https")
    return "only http and https URLs can be fetched, not " + (scheme.empty() ? std::string("this") : scheme);
  if (!u.has_authority() || u.encoded_host().empty()) return "the URL has no host";
  if (u.has_userinfo()) return "URLs with credentials (user@host) are not fetched";
  return std::nullopt;
}

// Resolves the host of `u` and refuses blocked addresses. Returns an error message or nullopt.
asio::awaitable<std::optional<std::string>> CheckHost(asio::any_io_executor loop, const urls::url_view_base& u,
                                                      const std::function<bool(const asio::ip::address&)>& blocked) {
  std::string host = u.host_address();
  std::string service = u.has_port() ? std::string(u.port()) : AsciiLower(u.scheme());
  boost::system::error_code ec;
  auto literal = asio::ip::make_address(host, ec);
  if (!ec) {
    if (blocked(literal)) co_return "refusing " + host + ": a loopback, private or link-local address";
    co_return std::nullopt;
  }
  asio::ip::tcp::resolver resolver(loop);
  auto [rec, results] = co_await resolver.async_resolve(host, service, asio::as_tuple(asio::use_awaitable));
  if (rec) co_return "cannot resolve " + host + ": " + rec.message();
  for (const auto& entry : results) {
    auto address = entry.endpoint().address();
    if (blocked(address)) {
      co_return "refusing " + host + ": it resolves to " + address.to_string() +
          ", a loopback, private or link-local address";
    }
  }
  co_return std::nullopt;
}

std::string Render(const urls::url& final_url, const agent::HttpResponse& r, std::string_view status_text,
                   const std::string& body, bool cut_at_max_bytes, const FetchLimits& limits, bool& binary) {
  ContentType ct = ParseContentType(r.Header("content-type"));
  std::string out = "URL: " + ShownUrl(final_url) + "\nStatus: " + std::string(status_text) + "\n";
  if (!ct.mime.empty()) out += "Content-Type: " + ct.mime + "\n";
  BodyKind kind = Classify(ct, body);
  binary = kind == BodyKind::kBinary;
  if (binary) {
    out += "\n[binary content (" + (ct.mime.empty() ? std::string("no text") : ct.mime) + ", " +
           std::to_string(body.size()) + " bytes) not shown: web_fetch returns text and HTML only]\n";
    return out;
  }
  std::string text = Decode(body, ct);
  if (kind == BodyKind::kHtml) text = HtmlToText(text);
  out += "\n";
  std::string_view shown = Utf8Prefix(text, limits.max_chars);
  out += shown;
  if (shown.size() < text.size()) {
    out += "\n[text cut at " + std::to_string(shown.size()) + " of " + std::to_string(text.size()) + " characters]";
  }
  if (cut_at_max_bytes) out += "\n[the response was cut at " + std::to_string(limits.max_bytes) + " bytes]";
  return out;
}

// Where a Location header sends us from `current` (relative references resolved).
Result<urls::url> RedirectTarget(const urls::url& current, const std::string& location) {
  auto ref = urls::parse_uri_reference(location);
  if (!ref) return MakeError(ErrorCode::kInvalidRequest, "invalid redirect location: " + location);
  urls::url next(current);
  if (!next.resolve(*ref)) return MakeError(ErrorCode::kInvalidRequest, "invalid redirect location: " + location);
  next.remove_fragment();
  return next;
}

}  // namespace

bool IsBlockedAddress(const asio::ip::address& address) {
  if (address.is_v4()) return IsBlockedV4(address.to_v4());
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) return IsBlockedV4(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
  auto b = v6.to_bytes();
  bool first96_zero = std::all_of(b.begin(), b.begin() + 12, [](unsigned char c) { return c == 0; });
  if (first96_zero) {  // ::, ::1 and the deprecated IPv4-compatible form ::a.b.c.d
    if (v6.is_unspecified() || v6.is_loopback()) return true;
    asio::ip::address_v4::bytes_type v4{b[12], b[13], b[14], b[15]};
    return IsBlockedV4(asio::ip::address_v4(v4));
  }
  if ((b[0] & 0xFE) == 0xFC) return true;                  // fc00::/7 unique local
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return true;  // fe80::/10 link-local
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0) return true;  // fec0::/10 site-local (deprecated)
  if (b[0] == 0xFF) return true;                           // multicast
  return false;
}

asio::awaitable<agent::ToolOutcome> WebFetch(asio::any_io_executor loop, agent::HttpClient& http, std::string url,
                                             FetchLimits limits) {
  auto parsed = urls::parse_uri(url);
  if (!parsed) co_return Failure("not a valid absolute URL: " + url);
  urls::url current(*parsed);
  current.remove_fragment();
  auto deadline = Clock::now() + limits.timeout;
  std::function<bool(const asio::ip::address&)> blocked = limits.is_blocked;
  if (!blocked) blocked = IsBlockedAddress;
  for (int redirects = 0;; ++redirects) {
    if (auto bad = CheckUrlShape(current)) co_return Failure(*bad);
    if (!limits.allow_private) {
      // The early check gives a clear error; the connect-time filter below is what holds (rebinding).
      std::optional<std::string> refused = co_await CheckHost(loop, current, blocked);
      if (refused) co_return Failure(*refused + " (tools.webFetch.allowPrivateNetwork is off)");
    }
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (remaining.count() <= 0) co_return Failure("timed out after " + std::to_string(limits.timeout.count()) + " ms");

    agent::HttpRequest req;
    req.method = "GET";
    req.url = ShownUrl(current);
    req.headers.emplace_back("Accept", "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5");
    if (!limits.allow_private) req.allow_address = [blocked](const asio::ip::address& a) { return !blocked(a); };
    std::string body;
    bool cut = false;
    agent::BodySink sink = [&body, &cut, max = limits.max_bytes](std::string_view chunk) {
      size_t room = max - std::min(max, body.size());
      body.append(chunk.substr(0, room));
      if (chunk.size() > room) {
        cut = true;
        return false;  // stop downloading: the rest is not wanted
      }
      return true;
    };
    auto fetched = co_await http.Fetch(std::move(req), sink, remaining);
    if (!fetched.ok() && cut) {
      // The transfer was stopped by the sink, after a 2xx head (the sink only sees 2xx bodies): the
      // head is gone with the aborted exchange, so the type is judged from the bytes.
      agent::HttpResponse partial;
      bool binary = false;
      std::string text = Render(current, partial, "2xx", body, true, limits, binary);
      co_return agent::ToolOutcome{text, binary};
    }
    if (!fetched.ok()) {
      if (fetched.error().code == ErrorCode::kForbidden && !limits.allow_private) {
        std::string address = fetched.error().message;  // "address not allowed: <addr>"
        address.erase(0, address.rfind(": ") == std::string::npos ? 0 : address.rfind(": ") + 2);
        co_return Failure("refusing " + std::string(current.host_address()) + ": when connecting it resolved to " +
                          address +
                          ", a loopback, private or link-local address (tools.webFetch.allowPrivateNetwork is off)");
      }
      if (fetched.error().code == ErrorCode::kTimeout) {
        co_return Failure("timed out after " + std::to_string(limits.timeout.count()) + " ms fetching " +
                          ShownUrl(current));
      }
      co_return Failure(fetched.error().message);
    }
    const agent::HttpResponse& r = *fetched;
    std::string location = r.Header("location");
    if (r.status >= 300 && r.status < 400 && r.status != 304 && !location.empty()) {
      if (redirects >= kMaxRedirects) co_return Failure("too many redirects (more than 5) from " + url);
      auto next = RedirectTarget(current, location);
      if (!next.ok()) co_return Failure(next.error().message);
      current = std::move(*next);
      continue;
    }
    if (body.empty()) body = r.body;
    bool over = body.size() > limits.max_bytes;
    if (over) body.resize(limits.max_bytes);
    bool binary = false;
    std::string text = Render(current, r, std::to_string(r.status), body, over, limits, binary);
    co_return agent::ToolOutcome{text, binary || r.status >= 400};
  }
}

}  // namespace oc::tools::internal
