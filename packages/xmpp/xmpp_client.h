// One libstrophe client connection driven by the app's Asio loop (no thread, no polling loop).
//
// libstrophe has its own loop (xmpp_run_once: write the send queue, fire timed handlers, select()
// on the socket, read and parse). We call xmpp_run_once(ctx, 0) — which never waits — whenever
// Asio sees the connection's socket readable (or writable while a connect or a write is pending),
// right after every Send(), and on a 1 s housekeeping tick for libstrophe's timers (connect and
// disconnect timeouts). The socket is learnt from libstrophe's sockopt callback, which it calls for
// every socket it creates; Asio only watches it (it is released, never closed: libstrophe owns it).
//
// Threading: everything (constructor, calls, callbacks) on the io_context's one thread.
// Ownership: every libstrophe handle is held by RAII wrappers; the callbacks receive borrowed
// stanzas valid only during the call.
#pragma once

#include <strophe.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/status.h"
#include "xmpp_rules.h"

namespace oc::xmpp {

struct CtxDeleter {
  void operator()(xmpp_ctx_t* ctx) const { xmpp_ctx_free(ctx); }
};
struct ConnDeleter {
  void operator()(xmpp_conn_t* conn) const { xmpp_conn_release(conn); }
};
struct StanzaDeleter {
  void operator()(xmpp_stanza_t* stanza) const { xmpp_stanza_release(stanza); }
};
using CtxPtr = std::unique_ptr<xmpp_ctx_t, CtxDeleter>;
using ConnPtr = std::unique_ptr<xmpp_conn_t, ConnDeleter>;
using StanzaPtr = std::unique_ptr<xmpp_stanza_t, StanzaDeleter>;

// libstrophe's connection flags for a TLS mode (XMPP_CONN_FLAG_*). Stream management (XEP-0198) is
// always off: a lost connection starts a new session, so nothing is resent behind the app's back.
long ConnectionFlags(TlsMode mode);

// Reads the fields the app needs out of a borrowed <message> / <presence>.
MessageStanza ReadMessage(xmpp_stanza_t* message);
PresenceStanza ReadPresence(xmpp_stanza_t* presence);

class XmppClient {
 public:
  struct Callbacks {
    std::function<void()> online;                        // logged in, resource bound
    std::function<void(std::string reason)> offline;     // a connection ended or an attempt failed
    std::function<void(xmpp_stanza_t*)> message;         // every <message>
    std::function<void(xmpp_stanza_t*)> presence;        // every <presence>
  };

  XmppClient(boost::asio::io_context& io, Callbacks callbacks);
  ~XmppClient();
  XmppClient(const XmppClient&) = delete;
  XmppClient& operator=(const XmppClient&) = delete;

  // Starts one connection attempt with a fresh libstrophe connection (any previous one is dropped).
  // `address` is where to connect: an IP address resolved by the caller, or "" to let libstrophe
  // look up the domain's SRV record. online() or offline() follows. Error when libstrophe refuses to
  // start (then no callback follows).
  Status Connect(const XmppSettings& settings, const std::string& address);
  // Closes the stream politely (offline() follows), or drops an attempt in progress.
  void Disconnect();
  bool online() const { return online_; }
  // The JID the server bound for us ("" when offline).
  std::string bound_jid() const;

  // New stanzas, owned by the caller until sent.
  StanzaPtr NewMessage(const std::string& type, const std::string& to, const std::string& body);
  StanzaPtr NewPresence(const std::string& to = {});
  StanzaPtr NewStanza(const std::string& name);
  // Generated stanza id ("" when offline).
  std::string NewId();

  // Queues `stanza` on the connection and starts writing it. UNAVAILABLE-style error
  // (CONNECTION_CLOSED) when offline.
  Status Send(xmpp_stanza_t* stanza);
  // Waits until everything queued so far is written to the socket. CONNECTION_CLOSED when the
  // connection ends first, TIMEOUT after `timeout`. Written is not received: a message written just
  // before the connection dies can be lost (XMPP without stream-management acks cannot tell).
  boost::asio::awaitable<Status> Flush(std::chrono::milliseconds timeout);

 private:
  static int OnSocket(xmpp_conn_t* conn, void* sock);
  static void OnConnection(xmpp_conn_t* conn, xmpp_conn_event_t event, int error,
                           xmpp_stream_error_t* stream_error, void* self);
  static int OnMessage(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* self);
  static int OnPresence(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* self);
  static void OnLog(void* self, xmpp_log_level_t level, const char* area, const char* msg);

  void AdoptSocket(int fd);
  void ReleaseSocket();
  void Kick();
  void Pump();
  bool SocketReadable() const;
  void ArmWaits();
  void Tick();
  void NotifyWaiters();
  void DropConnection();

  boost::asio::io_context& io_;
  Callbacks callbacks_;
  xmpp_log_t log_{};
  CtxPtr ctx_;
  ConnPtr conn_;
  std::optional<boost::asio::posix::stream_descriptor> socket_;
  int socket_fd_ = -1;  // the descriptor socket_ watches (libstrophe's)
  uint64_t socket_generation_ = 0;
  bool read_armed_ = false;
  bool write_armed_ = false;
  bool kick_posted_ = false;
  bool online_ = false;
  bool ever_online_ = false;  // this attempt reached login
  bool in_pump_ = false;
  bool connecting_ = false;          // a new socket whose TCP connect has not completed
  bool suppress_callbacks_ = false;  // while tearing down: libstrophe's handlers fire, ours stay quiet
  std::string last_problem_;         // libstrophe's last warning/error, for the offline reason
  boost::asio::steady_timer tick_;
  std::set<boost::asio::steady_timer*> waiters_;  // Flush() calls waiting for progress
  std::shared_ptr<bool> alive_;  // lets posted handlers see that the client is gone
};

}  // namespace oc::xmpp
