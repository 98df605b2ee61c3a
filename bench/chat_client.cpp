#include "chat_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace bench {

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void SetTimeouts(int fd, double timeout_s) {
  if (timeout_s <= 0) return;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_s);
  tv.tv_usec = static_cast<suseconds_t>((timeout_s - static_cast<double>(tv.tv_sec)) * 1e6);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

bool SendAll(int fd, const std::string& data, std::string& error) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = std::string("send: ") + std::strerror(errno);
      return false;
    }
    sent += static_cast<size_t>(n);
  }
  return true;
}

std::string JsonEscaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

}  // namespace

int ConnectTcpHost(const std::string& host, int port, double timeout_s) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    SetTimeouts(fd, timeout_s);
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return fd;
}

std::string ChatCompletionRequest(const std::string& host, const std::string& token, const std::string& model,
                                  const std::string& content, bool stream) {
  std::string body = R"({"model":")" + JsonEscaped(model) + R"(","messages":[{"role":"user","content":")" +
                     JsonEscaped(content) + "\"}]" + (stream ? R"(,"stream":true})" : "}");
  std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: " + host +
                        "\r\nContent-Type: application/json\r\nAccept: " +
                        (stream ? "text/event-stream" : "application/json") + "\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  return request + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string HeaderValue(const std::string& head, const std::string& name) {
  const std::string lower = Lower(head);
  const std::string key = "\r\n" + Lower(name) + ":";
  size_t at = lower.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  size_t end = head.find("\r\n", at);
  std::string value = head.substr(at, end == std::string::npos ? std::string::npos : end - at);
  const size_t first = value.find_first_not_of(" \t");
  const size_t last = value.find_last_not_of(" \t");
  return first == std::string::npos ? "" : value.substr(first, last - first + 1);
}

KeepAliveClient::KeepAliveClient(std::string host, int port, double timeout_s)
    : host_(std::move(host)), port_(port), timeout_s_(timeout_s) {}

KeepAliveClient::~KeepAliveClient() { Drop(); }

void KeepAliveClient::Drop() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  buf_.clear();
}

bool KeepAliveClient::Fill(std::string& error) {
  char chunk[16384];
  ssize_t got;
  do got = read(fd_, chunk, sizeof(chunk));
  while (got < 0 && errno == EINTR);
  if (got < 0) {
    error = (errno == EAGAIN || errno == EWOULDBLOCK) ? "timed out waiting for the response"
                                                      : std::string("read: ") + std::strerror(errno);
    return false;
  }
  if (got == 0) {
    error = "connection closed by the server";
    return false;
  }
  buf_.append(chunk, static_cast<size_t>(got));
  return true;
}

// Chunked transfer coding: "<hex size>[;ext]\r\n<data>\r\n" ... "0\r\n" [trailers] "\r\n".
bool KeepAliveClient::ReadChunked(std::string& body, std::string& error) {
  for (;;) {
    size_t line_end;
    while ((line_end = buf_.find("\r\n")) == std::string::npos)
      if (!Fill(error)) return false;
    char* end = nullptr;
    const unsigned long size = std::strtoul(buf_.c_str(), &end, 16);
    if (end == buf_.c_str()) {
      error = "malformed chunk size";
      return false;
    }
    if (size == 0) {
      // Skip trailer fields up to the empty line.
      size_t trailer_end;
      while ((trailer_end = buf_.find("\r\n\r\n", line_end)) == std::string::npos)
        if (!Fill(error)) return false;
      buf_.erase(0, trailer_end + 4);
      return true;
    }
    while (buf_.size() < line_end + 2 + size + 2)
      if (!Fill(error)) return false;
    body.append(buf_, line_end + 2, size);
    buf_.erase(0, line_end + 2 + size + 2);
  }
}

bool KeepAliveClient::ReadBody(const std::string& head, std::string& body, bool& until_close, std::string& error) {
  if (Lower(HeaderValue(head, "Transfer-Encoding")).find("chunked") != std::string::npos) return ReadChunked(body, error);
  const std::string length = HeaderValue(head, "Content-Length");
  if (!length.empty()) {
    const size_t n = std::strtoul(length.c_str(), nullptr, 10);
    while (buf_.size() < n)
      if (!Fill(error)) return false;
    body = buf_.substr(0, n);
    buf_.erase(0, n);
    return true;
  }
  // Neither: the body runs to the end of the connection.
  until_close = true;
  std::string ignored;
  while (Fill(ignored)) {
  }
  body = std::move(buf_);
  buf_.clear();
  return true;
}

bool KeepAliveClient::Exchange(const std::string& request, HttpResponse& response, std::string& error) {
  response = HttpResponse{};
  const bool reused = fd_ >= 0;
  if (fd_ < 0 && (fd_ = ConnectTcpHost(host_, port_, timeout_s_)) < 0) {
    error = "cannot connect to " + host_ + ":" + std::to_string(port_) + ": " + std::strerror(errno);
    return false;
  }
  if (!SendAll(fd_, request, error)) {
    Drop();
    // A kept-alive connection the server closed meanwhile: retry once on a fresh one.
    return reused ? Exchange(request, response, error) : false;
  }
  size_t head_end;
  while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (!Fill(error)) {
      const bool nothing_read = buf_.empty();
      Drop();
      const bool peer_closed = error.find("closed") != std::string::npos || error.find("reset") != std::string::npos;
      if (reused && nothing_read && peer_closed) return Exchange(request, response, error);
      return false;
    }
  }
  response.head = buf_.substr(0, head_end);
  buf_.erase(0, head_end + 4);
  if (response.head.compare(0, 5, "HTTP/") != 0 || response.head.size() < 12) {
    error = "not an HTTP response";
    Drop();
    return false;
  }
  const int status = std::atoi(response.head.c_str() + 9);
  bool until_close = false;
  if (!ReadBody(response.head, response.body, until_close, error)) {
    Drop();
    return false;
  }
  response.status = status;
  if (until_close || Lower(HeaderValue(response.head, "Connection")) == "close") Drop();
  return true;
}

bool KeepAliveClient::RoundTrip(const std::string& request) {
  HttpResponse response;
  std::string error;
  return Exchange(request, response, error) && response.status == 200 &&
         response.body.find("\"chat.completion\"") != std::string::npos;
}

}  // namespace bench
