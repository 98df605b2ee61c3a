// @openclawos/xmpp: the XMPP (Jabber) channel app (SPEC §4.4, §16; docs/CHANNEL-XMPP.md).
//
// One account (channels.xmpp.jid, password from $XMPP_PASSWORD) logged in with libstrophe; direct
// chats and multi-user chat rooms go to the agent as conversations "xmpp:<bare jid>" and
// "xmpp:<room jid>"; replies come back through Deliver(). The connection is kept up forever with
// backoff (1 s → 60 s) and rooms are joined again after each reconnect.
//
// Threading: everything on the SDK's one io_context thread (libstrophe included, see xmpp_client.h).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "openclawos/channel_app.h"
#include "openclawos/channel_text.h"
#include "xmpp_client.h"
#include "xmpp_rules.h"

namespace oc::xmpp {

class XmppApp : public openclawos::sdk::ChannelApp {
 public:
  XmppApp();
  ~XmppApp() override;

 protected:
  // Reads channels.xmpp (and $XMPP_PASSWORD), starts connecting, waits up to 1.5 s for the first
  // login, then registers the channel. A config error fails startup with the key's path.
  boost::asio::awaitable<oc::Status> Setup() override;
  // Sends unavailable presence and closes the stream.
  boost::asio::awaitable<void> Teardown() override;
  // Sends `content` (cut into pieces of at most kMaxPieceBytes) to `target`: a room of ours
  // (type groupchat; error while the room is not joined) or a person (to the full JID and type
  // they last wrote from, else type chat to the bare JID). Returns the id of the last piece once
  // everything is written to the server's socket; CONNECTION_CLOSED while offline.
  boost::asio::awaitable<oc::Result<std::string>> Deliver(std::string target, std::string content,
                                                          oc::json::value metadata) override;

 private:
  boost::asio::awaitable<void> StayConnected();
  boost::asio::awaitable<std::optional<std::string>> ResolveHost(std::string& failure);
  void ConnectionFailed(const std::string& reason);
  void OnOnline();
  void OnOffline(std::string reason);
  void OnMessage(xmpp_stanza_t* stanza);
  void OnPresence(xmpp_stanza_t* stanza);
  void JoinRoom(const RoomSetting& room);
  void UnlockRoom(const std::string& room);
  void Refuse(const InboundDecision& decision);
  boost::asio::awaitable<void> QueueInbound(InboundDecision decision);

  XmppSettings settings_;
  std::unique_ptr<RoomRoster> roster_;
  std::unique_ptr<XmppClient> client_;
  openclawos::sdk::Backoff backoff_;
  std::unique_ptr<boost::asio::steady_timer> attempt_done_;  // cancelled when a connection ends
  std::unique_ptr<boost::asio::steady_timer> first_login_;   // Setup's wait, cancelled at login
  std::chrono::steady_clock::time_point online_since_{};
  std::string last_failure_;                 // logged once until it changes
  std::set<std::string> refused_;            // senders already told they are not allowed
  struct ReplyRoute {
    std::string to;    // full JID the person last wrote from
    std::string type;  // "chat" or "normal"
  };
  std::map<std::string, ReplyRoute> reply_routes_;  // by conversation (bare JID)
  std::map<std::string, int> nick_retries_;         // room → rejoins after a nick conflict
  bool stopping_ = false;
};

}  // namespace oc::xmpp
