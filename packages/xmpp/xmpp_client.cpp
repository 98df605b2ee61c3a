#include "xmpp_client.h"

#include <poll.h>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstring>
#include <map>

#include <spdlog/spdlog.h>

namespace oc::xmpp {

namespace asio = boost::asio;

namespace {

// xmpp_initialize/xmpp_shutdown once per process (libstrophe's global TLS and DNS state).
struct LibraryGuard {
  LibraryGuard() { xmpp_initialize(); }
  ~LibraryGuard() { xmpp_shutdown(); }
};
void EnsureLibrary() { static LibraryGuard guard; }

// libstrophe's sockopt callback has no userdata: the owning client is found by connection.
std::map<xmpp_conn_t*, XmppClient*>& ClientsByConn() {
  static std::map<xmpp_conn_t*, XmppClient*> clients;
  return clients;
}

const char* StreamErrorName(xmpp_error_type_t type) {
  static constexpr const char* kNames[] = {
      "bad-format", "bad-namespace-prefix", "conflict", "connection-timeout", "host-gone", "host-unknown",
      "improper-addressing", "internal-server-error", "invalid-from", "invalid-id", "invalid-namespace",
      "invalid-xml", "not-authorized", "policy-violation", "remote-connection-failed", "resource-constraint",
      "restricted-xml", "see-other-host", "system-shutdown", "undefined-condition", "unsupported-encoding",
      "unsupported-stanza-type", "unsupported-version", "xml-not-well-formed"};
  size_t i = static_cast<size_t>(type);
  return i < std::size(kNames) ? kNames[i] : "stream error";
}

std::string Attribute(xmpp_stanza_t* stanza, const char* name) {
  const char* v = stanza ? xmpp_stanza_get_attribute(stanza, name) : nullptr;
  return v ? v : "";
}

std::string TextOf(xmpp_stanza_t* stanza) {
  if (!stanza) return {};
  char* text = xmpp_stanza_get_text(stanza);
  if (!text) return {};
  std::string out(text);
  xmpp_free(xmpp_stanza_get_context(stanza), text);
  return out;
}

constexpr const char* kMucUserNs = "http://jabber.org/protocol/muc#user";

}  // namespace

long ConnectionFlags(TlsMode mode) {
  long flags = XMPP_CONN_FLAG_DISABLE_SM;
  switch (mode) {
    case TlsMode::kRequired: return flags | XMPP_CONN_FLAG_MANDATORY_TLS;
    case TlsMode::kTrust: return flags | XMPP_CONN_FLAG_MANDATORY_TLS | XMPP_CONN_FLAG_TRUST_TLS;
    case TlsMode::kDisabled: return flags | XMPP_CONN_FLAG_DISABLE_TLS;
  }
  return flags | XMPP_CONN_FLAG_MANDATORY_TLS;
}

MessageStanza ReadMessage(xmpp_stanza_t* message) {
  MessageStanza m;
  m.from = Attribute(message, "from");
  m.type = Attribute(message, "type");
  m.id = Attribute(message, "id");
  m.body = TextOf(xmpp_stanza_get_child_by_name(message, "body"));
  m.origin_id = Attribute(xmpp_stanza_get_child_by_name_and_ns(message, "origin-id", "urn:xmpp:sid:0"), "id");
  m.delayed = xmpp_stanza_get_child_by_name_and_ns(message, "delay", "urn:xmpp:delay") != nullptr;
  m.muc_user = xmpp_stanza_get_child_by_name_and_ns(message, "x", kMucUserNs) != nullptr;
  return m;
}

PresenceStanza ReadPresence(xmpp_stanza_t* presence) {
  PresenceStanza p;
  p.from = Attribute(presence, "from");
  p.type = Attribute(presence, "type");
  if (xmpp_stanza_t* x = xmpp_stanza_get_child_by_name_and_ns(presence, "x", kMucUserNs)) {
    for (xmpp_stanza_t* c = xmpp_stanza_get_children(x); c; c = xmpp_stanza_get_next(c)) {
      const char* name = xmpp_stanza_get_name(c);
      if (!name) continue;
      if (std::strcmp(name, "item") == 0) {
        p.real_jid = Attribute(c, "jid");
        p.nick_change = Attribute(c, "nick");
      } else if (std::strcmp(name, "status") == 0) {
        p.status_codes.push_back(std::atoi(Attribute(c, "code").c_str()));
      }
    }
  }
  if (xmpp_stanza_t* error = xmpp_stanza_get_child_by_name(presence, "error")) {
    for (xmpp_stanza_t* c = xmpp_stanza_get_children(error); c; c = xmpp_stanza_get_next(c)) {
      const char* name = xmpp_stanza_get_name(c);
      if (name && std::strcmp(name, "text") != 0 && p.error_condition.empty()) p.error_condition = name;
    }
  }
  return p;
}

XmppClient::XmppClient(asio::io_context& io, Callbacks callbacks)
    : io_(io), callbacks_(std::move(callbacks)), tick_(io), alive_(std::make_shared<bool>(true)) {
  EnsureLibrary();
  log_.handler = &XmppClient::OnLog;
  log_.userdata = this;
  ctx_.reset(xmpp_ctx_new(nullptr, &log_));
  Tick();
}

XmppClient::~XmppClient() {
  *alive_ = false;
  tick_.cancel();
  suppress_callbacks_ = true;
  DropConnection();
}

void XmppClient::OnLog(void* self, xmpp_log_level_t level, const char* area, const char* msg) {
  // DEBUG carries raw stanzas, including the SASL exchange: never logged.
  if (level == XMPP_LEVEL_DEBUG) return;
  auto* client = static_cast<XmppClient*>(self);
  if (level == XMPP_LEVEL_INFO) {
    spdlog::debug("libstrophe {}: {}", area, msg);
    return;
  }
  client->last_problem_ = std::string(area) + ": " + msg;
  if (level == XMPP_LEVEL_WARN) spdlog::debug("libstrophe {}: {}", area, msg);
  else spdlog::debug("libstrophe error {}: {}", area, msg);  // the app logs the outcome once
}

Status XmppClient::Connect(const XmppSettings& settings, const std::string& address) {
  if (in_pump_) return MakeError(ErrorCode::kInternalError, "Connect called from a libstrophe callback");
  DropConnection();
  if (!ctx_) return MakeError(ErrorCode::kInternalError, "libstrophe context could not be created");
  conn_.reset(xmpp_conn_new(ctx_.get()));
  if (!conn_) return MakeError(ErrorCode::kInternalError, "libstrophe connection could not be created");
  xmpp_conn_t* conn = conn_.get();
  ClientsByConn()[conn] = this;
  if (xmpp_conn_set_flags(conn, ConnectionFlags(settings.tls)) != XMPP_EOK)
    return MakeError(ErrorCode::kInternalError, "libstrophe refused the connection flags");
  xmpp_conn_set_jid(conn, settings.jid.Full().c_str());
  xmpp_conn_set_pass(conn, settings.password.c_str());
  xmpp_conn_set_sockopt_callback(conn, &XmppClient::OnSocket);
  xmpp_handler_add(conn, &XmppClient::OnMessage, nullptr, "message", nullptr, this);
  xmpp_handler_add(conn, &XmppClient::OnPresence, nullptr, "presence", nullptr, this);
  last_problem_.clear();
  ever_online_ = false;
  unsigned short port = address.empty() ? 0 : settings.port;
  int rc = xmpp_connect_client(conn, address.empty() ? nullptr : address.c_str(), port, &XmppClient::OnConnection, this);
  if (rc != XMPP_EOK) {
    std::string why = last_problem_.empty() ? "error " + std::to_string(rc) : last_problem_;
    DropConnection();
    return MakeError(ErrorCode::kConnectionClosed, "could not start connecting: " + why);
  }
  Kick();
  return Status();
}

void XmppClient::Disconnect() {
  if (conn_ && !xmpp_conn_is_disconnected(conn_.get())) {
    xmpp_disconnect(conn_.get());
    Kick();
  }
}

std::string XmppClient::bound_jid() const {
  const char* jid = conn_ && online_ ? xmpp_conn_get_bound_jid(conn_.get()) : nullptr;
  return jid ? jid : "";
}

StanzaPtr XmppClient::NewMessage(const std::string& type, const std::string& to, const std::string& body) {
  std::string id = NewId();
  StanzaPtr message(xmpp_message_new(ctx_.get(), type.c_str(), to.c_str(), id.empty() ? nullptr : id.c_str()));
  if (message) xmpp_message_set_body(message.get(), body.c_str());
  return message;
}

StanzaPtr XmppClient::NewPresence(const std::string& to) {
  StanzaPtr presence(xmpp_presence_new(ctx_.get()));
  if (presence && !to.empty()) xmpp_stanza_set_to(presence.get(), to.c_str());
  return presence;
}

StanzaPtr XmppClient::NewStanza(const std::string& name) {
  StanzaPtr stanza(xmpp_stanza_new(ctx_.get()));
  if (stanza) xmpp_stanza_set_name(stanza.get(), name.c_str());
  return stanza;
}

std::string XmppClient::NewId() {
  char* id = xmpp_uuid_gen(ctx_.get());
  if (!id) return {};
  std::string out(id);
  xmpp_free(ctx_.get(), id);
  return out;
}

Status XmppClient::Send(xmpp_stanza_t* stanza) {
  if (!online_ || !conn_) return MakeError(ErrorCode::kConnectionClosed, "not connected to the XMPP server");
  if (!stanza) return MakeError(ErrorCode::kInternalError, "no stanza to send");
  xmpp_send(conn_.get(), stanza);
  Kick();
  return Status();
}

asio::awaitable<Status> XmppClient::Flush(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer progress(io_);
  std::shared_ptr<bool> alive = alive_;
  while (true) {
    if (!*alive || !online_ || !conn_)
      co_return MakeError(ErrorCode::kConnectionClosed, "the XMPP connection ended before the message was written");
    if (xmpp_conn_send_queue_len(conn_.get()) == 0) co_return Status();
    if (std::chrono::steady_clock::now() >= deadline)
      co_return MakeError(ErrorCode::kTimeout, "the XMPP server did not take the message in time");
    progress.expires_at(deadline);
    waiters_.insert(&progress);
    boost::system::error_code ec;
    co_await progress.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (*alive) waiters_.erase(&progress);
  }
}

void XmppClient::DropConnection() {
  ReleaseSocket();
  online_ = false;
  if (conn_) {
    xmpp_conn_t* conn = conn_.get();
    bool quiet = suppress_callbacks_;
    suppress_callbacks_ = true;  // releasing a live connection fires its DISCONNECT handler
    conn_.reset();
    suppress_callbacks_ = quiet;
    ClientsByConn().erase(conn);
  }
  ReleaseSocket();
  NotifyWaiters();
}

int XmppClient::OnSocket(xmpp_conn_t* conn, void* sock) {
  auto it = ClientsByConn().find(conn);
  if (it != ClientsByConn().end()) it->second->AdoptSocket(*static_cast<int*>(sock));
  // TCP keepalive finds a server that vanished without closing the connection.
  return xmpp_sockopt_cb_keepalive(conn, sock);
}

void XmppClient::OnConnection(xmpp_conn_t*, xmpp_conn_event_t event, int error, xmpp_stream_error_t* stream_error,
                              void* self) {
  auto* client = static_cast<XmppClient*>(self);
  if (event == XMPP_CONN_CONNECT) {
    client->online_ = true;
    client->ever_online_ = true;
    if (!client->suppress_callbacks_ && client->callbacks_.online) client->callbacks_.online();
    return;
  }
  if (event == XMPP_CONN_RAW_CONNECT) return;
  client->online_ = false;
  client->ReleaseSocket();
  client->NotifyWaiters();
  std::string reason;
  if (stream_error) {
    reason = std::string("stream error ") + StreamErrorName(stream_error->type);
    if (stream_error->text) reason += std::string(": ") + stream_error->text;
  } else if (error != 0) {
    reason = std::strerror(error);
  } else if (!client->last_problem_.empty()) {
    reason = client->last_problem_;
  } else {
    reason = client->ever_online_ ? "connection closed"
                                  : "connection closed before login (server down, refusing or unreachable)";
  }
  if (!client->suppress_callbacks_ && client->callbacks_.offline) client->callbacks_.offline(reason);
}

int XmppClient::OnMessage(xmpp_conn_t*, xmpp_stanza_t* stanza, void* self) {
  auto* client = static_cast<XmppClient*>(self);
  if (!client->suppress_callbacks_ && client->callbacks_.message) client->callbacks_.message(stanza);
  return 1;  // keep the handler
}

int XmppClient::OnPresence(xmpp_conn_t*, xmpp_stanza_t* stanza, void* self) {
  auto* client = static_cast<XmppClient*>(self);
  if (!client->suppress_callbacks_ && client->callbacks_.presence) client->callbacks_.presence(stanza);
  return 1;
}

}  // namespace oc::xmpp
