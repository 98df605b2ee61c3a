#include "xmpp_app.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdlib>

#include <spdlog/spdlog.h>

namespace oc::xmpp {

namespace asio = boost::asio;
using openclawos::sdk::SplitText;

namespace {

constexpr auto kFirstLoginWait = std::chrono::milliseconds(1500);
constexpr auto kFlushTimeout = std::chrono::seconds(10);
constexpr auto kStableSession = std::chrono::seconds(10);  // a session this long resets the backoff
constexpr int kMaxNickRetries = 3;
constexpr const char* kMucNs = "http://jabber.org/protocol/muc";

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

XmppApp::XmppApp() : ChannelApp("xmpp") {}

XmppApp::~XmppApp() = default;

asio::awaitable<oc::Status> XmppApp::Setup() {
  oc::Result<json::value> section = co_await ConfigGet("channels.xmpp");
  if (!section.ok()) co_return section.error();
  const char* password = std::getenv("XMPP_PASSWORD");
  oc::Result<XmppSettings> settings = ReadSettings(*section, password ? password : "");
  if (!settings.ok()) co_return settings.error();
  settings_ = std::move(*settings);
  roster_ = std::make_unique<RoomRoster>(settings_.rooms);
  if (!settings_.enabled) {
    spdlog::warn("channels.xmpp.enabled is false: not connecting (deliveries will fail)");
    co_return co_await ChannelApp::Setup();
  }
  if (settings_.tls == TlsMode::kDisabled && !IsLoopback(settings_.host))
    spdlog::warn("channels.xmpp.tls is \"disabled\": the password and every message cross the network in clear");
  if (settings_.allow_from.empty())
    spdlog::warn("channels.xmpp.allowFrom is empty: nobody may talk to the agent over XMPP");

  XmppClient::Callbacks callbacks;
  callbacks.online = [this] { OnOnline(); };
  callbacks.offline = [this](std::string reason) { OnOffline(std::move(reason)); };
  callbacks.message = [this](xmpp_stanza_t* s) { OnMessage(s); };
  callbacks.presence = [this](xmpp_stanza_t* s) { OnPresence(s); };
  client_ = std::make_unique<XmppClient>(io(), std::move(callbacks));
  attempt_done_ = std::make_unique<asio::steady_timer>(io());
  first_login_ = std::make_unique<asio::steady_timer>(io(), kFirstLoginWait);
  Spawn(StayConnected());

  boost::system::error_code ec;
  co_await first_login_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (!client_->online()) spdlog::info("xmpp: not logged in yet; replies wait until the connection is up");
  co_return co_await ChannelApp::Setup();
}

asio::awaitable<void> XmppApp::Teardown() {
  stopping_ = true;
  if (attempt_done_) attempt_done_->cancel();
  if (!client_ || !client_->online()) co_return;
  StanzaPtr bye = client_->NewPresence();
  if (bye) {
    xmpp_stanza_set_type(bye.get(), "unavailable");
    (void)client_->Send(bye.get());
    (void)co_await client_->Flush(std::chrono::seconds(1));
  }
  client_->Disconnect();
}

// Connects, waits for the connection to end, waits the backoff, and again, until Teardown.
asio::awaitable<void> XmppApp::StayConnected() {
  asio::steady_timer pause(io());
  while (!stopping_) {
    std::string failure;
    std::optional<std::string> address = co_await ResolveHost(failure);
    if (stopping_) break;
    if (address) {
      oc::Status started = client_->Connect(settings_, *address);
      if (started.ok()) {
        attempt_done_->expires_at(asio::steady_timer::time_point::max());
        boost::system::error_code ec;
        co_await attempt_done_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      } else {
        ConnectionFailed(started.error().message);
      }
    } else {
      ConnectionFailed(failure);
    }
    if (stopping_) break;
    pause.expires_after(backoff_.Next());
    boost::system::error_code ec;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

// The server's IP address when channels.xmpp.host is set ("" when it is not: libstrophe then
// looks up the JID domain's SRV record itself). nullopt with `failure` when the name does not resolve.
asio::awaitable<std::optional<std::string>> XmppApp::ResolveHost(std::string& failure) {
  if (settings_.host.empty()) co_return std::string();
  asio::ip::tcp::resolver resolver(io());
  boost::system::error_code ec;
  auto results = co_await resolver.async_resolve(settings_.host, std::to_string(settings_.port),
                                                 asio::redirect_error(asio::use_awaitable, ec));
  if (ec || results.empty()) {
    failure = "cannot resolve " + settings_.host + ": " + (ec ? ec.message() : "no address");
    co_return std::nullopt;
  }
  co_return results.begin()->endpoint().address().to_string();
}

void XmppApp::ConnectionFailed(const std::string& reason) {
  if (reason == last_failure_) {
    spdlog::debug("xmpp: connection to {} failed again: {}", settings_.jid.domain, reason);
    return;
  }
  last_failure_ = reason;
  spdlog::warn("xmpp: connection to {} failed: {} (retrying with backoff up to 60 s)",
               settings_.host.empty() ? settings_.jid.domain : settings_.host + ":" + std::to_string(settings_.port),
               reason);
}

void XmppApp::OnOnline() {
  spdlog::info("xmpp: logged in as {}", client_->bound_jid());
  last_failure_.clear();
  online_since_ = std::chrono::steady_clock::now();
  if (first_login_) first_login_->cancel();
  roster_->Reset();
  nick_retries_.clear();
  StanzaPtr presence = client_->NewPresence();
  if (presence) (void)client_->Send(presence.get());
  for (const RoomSetting& room : roster_->rooms()) JoinRoom(room);
}

void XmppApp::OnOffline(std::string reason) {
  bool was_online = online_since_ != std::chrono::steady_clock::time_point{};
  if (was_online) {
    if (std::chrono::steady_clock::now() - online_since_ >= kStableSession) backoff_.Reset();
    online_since_ = {};
    if (!stopping_) spdlog::warn("xmpp: disconnected: {} (reconnecting)", reason);
    last_failure_.clear();
  } else if (!stopping_) {
    ConnectionFailed(reason);
  }
  roster_->Reset();
  if (attempt_done_) attempt_done_->cancel();
}

void XmppApp::JoinRoom(const RoomSetting& room) {
  StanzaPtr presence = client_->NewPresence(room.jid + "/" + room.nick);
  StanzaPtr x = client_->NewStanza("x");
  StanzaPtr history = client_->NewStanza("history");
  if (!presence || !x || !history) return;
  xmpp_stanza_set_ns(x.get(), kMucNs);
  xmpp_stanza_set_attribute(history.get(), "maxstanzas", "0");  // old room traffic is not answered
  xmpp_stanza_add_child(x.get(), history.get());
  xmpp_stanza_add_child(presence.get(), x.get());
  (void)client_->Send(presence.get());
}

// A room we just created is locked until its owner configures it: accept the defaults (XEP-0045
// "instant room") so that people can join.
void XmppApp::UnlockRoom(const std::string& room) {
  StanzaPtr iq = client_->NewStanza("iq");
  StanzaPtr query = client_->NewStanza("query");
  StanzaPtr form = client_->NewStanza("x");
  if (!iq || !query || !form) return;
  xmpp_stanza_set_type(iq.get(), "set");
  xmpp_stanza_set_to(iq.get(), room.c_str());
  xmpp_stanza_set_id(iq.get(), client_->NewId().c_str());
  xmpp_stanza_set_ns(query.get(), "http://jabber.org/protocol/muc#owner");
  xmpp_stanza_set_ns(form.get(), "jabber:x:data");
  xmpp_stanza_set_type(form.get(), "submit");
  xmpp_stanza_add_child(query.get(), form.get());
  xmpp_stanza_add_child(iq.get(), query.get());
  (void)client_->Send(iq.get());
}

void XmppApp::OnPresence(xmpp_stanza_t* stanza) {
  PresenceStanza p = ReadPresence(stanza);
  if (p.type == "subscribe") {  // people the owner allowed may add the assistant to their roster
    std::optional<Jid> from = ParseJid(p.from);
    if (!from || !JidAllowed(settings_.allow_from, *from)) return;
    StanzaPtr approve = client_->NewPresence(from->Bare());
    if (approve) {
      xmpp_stanza_set_type(approve.get(), "subscribed");
      (void)client_->Send(approve.get());
    }
    return;
  }
  std::optional<Jid> from = ParseJid(p.from);
  std::string room = from ? from->Bare() : std::string();
  switch (roster_->Apply(p)) {
    case RoomRoster::PresenceEvent::kCreated:
      spdlog::info("xmpp: created room {} as {}; accepting the default room configuration", room, roster_->NickIn(room));
      UnlockRoom(room);
      break;
    case RoomRoster::PresenceEvent::kJoined:
      spdlog::info("xmpp: joined room {} as {}", room, roster_->NickIn(room));
      break;
    case RoomRoster::PresenceEvent::kLeft:
      spdlog::warn("xmpp: removed from room {} (joining again after the next reconnect)", room);
      break;
    case RoomRoster::PresenceEvent::kJoinFailed: {
      const RoomSetting* setting = roster_->Find(room);
      if (p.error_condition == "conflict" && setting && nick_retries_[room]++ < kMaxNickRetries) {
        spdlog::warn("xmpp: nick {} is taken in {}; trying {}_", setting->nick, room, setting->nick);
        roster_->SetNick(room, setting->nick + "_");
        JoinRoom(*roster_->Find(room));
      } else {
        spdlog::warn("xmpp: could not join room {}: {}", room, p.error_condition.empty() ? "error" : p.error_condition);
      }
      break;
    }
    case RoomRoster::PresenceEvent::kNone: break;
  }
}

void XmppApp::OnMessage(xmpp_stanza_t* stanza) {
  MessageStanza m = ReadMessage(stanza);
  InboundDecision d = DecideInbound(m, settings_, *roster_);
  switch (d.action) {
    case InboundDecision::Action::kIgnore:
      spdlog::debug("xmpp: ignored a message from {}: {}", m.from, d.reason);
      return;
    case InboundDecision::Action::kDrop:
      spdlog::debug("xmpp: ignored a room message from {}: not in channels.xmpp.allowFrom", d.sender_id);
      return;
    case InboundDecision::Action::kRefuse:
      Refuse(d);
      return;
    case InboundDecision::Action::kQueue:
      if (d.reply_type != "groupchat") reply_routes_[d.conversation] = ReplyRoute{d.reply_to, d.reply_type};
      Spawn(QueueInbound(std::move(d)));
      return;
  }
}

void XmppApp::Refuse(const InboundDecision& d) {
  if (!refused_.insert(d.sender_id).second) {
    spdlog::debug("xmpp: refused another direct message from {}", d.sender_id);
    return;
  }
  spdlog::info("xmpp: refused a direct message from {}: not in channels.xmpp.allowFrom (add \"{}\" to allow)",
               d.sender_id, d.sender_id);
  StanzaPtr reply = client_->NewMessage("chat", d.reply_to, RefusalText(d.sender_id));
  if (reply) (void)client_->Send(reply.get());
}

asio::awaitable<void> XmppApp::QueueInbound(InboundDecision d) {
  std::string conversation = d.conversation;
  oc::Result<json::value> queued = co_await Inbound(std::move(d.conversation), std::move(d.text),
                                                    json::value(std::move(d.metadata)));
  if (!queued.ok()) spdlog::warn("xmpp: could not queue a message of {}: {}", conversation, queued.error().message);
}

asio::awaitable<oc::Result<std::string>> XmppApp::Deliver(std::string target, std::string content, json::value) {
  if (!client_ || !client_->online())
    co_return oc::MakeError(oc::ErrorCode::kConnectionClosed, "not connected to the XMPP server");
  std::optional<Jid> to = ParseJid(target);
  if (!to) co_return oc::MakeError(oc::ErrorCode::kInvalidParams, "not a JID: " + target);
  std::string address = to->Full();
  std::string type = "chat";
  if (roster_->Find(to->Bare()) && to->resource.empty()) {
    if (!roster_->Joined(to->Bare()))
      co_return oc::MakeError(oc::ErrorCode::kConnectionClosed, "not in room " + to->Bare() + " (yet)");
    type = "groupchat";
  } else if (auto route = reply_routes_.find(target); route != reply_routes_.end()) {
    address = route->second.to;
    type = route->second.type;
  }
  std::string last_id;
  for (const std::string& piece : SplitText(content, kMaxPieceBytes)) {
    StanzaPtr message = client_->NewMessage(type, address, piece);
    if (!message) co_return oc::MakeError(oc::ErrorCode::kInternalError, "could not build the message");
    const char* id = xmpp_stanza_get_id(message.get());
    last_id = id ? id : "";
    oc::Status sent = client_->Send(message.get());
    if (!sent.ok()) co_return sent.error();
  }
  oc::Status written = co_await client_->Flush(kFlushTimeout);
  if (!written.ok()) co_return written.error();
  co_return last_id;
}

}  // namespace oc::xmpp
