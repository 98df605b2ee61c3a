// The XMPP channel's pure rules (no I/O, no libstrophe): JIDs, the channels.xmpp config section,
// the room roster the app keeps from MUC presence, and the decision what to do with one inbound
// <message> (ignore it, refuse its sender once, or queue it for the agent with SPEC §4.4 metadata).
// Everything here is deterministic and safe on any thread; xmpp_test covers it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace oc::xmpp {

// A JID local@domain/resource (RFC 7622), split. Local part and domain are lower-cased (ASCII) so
// that bare JIDs compare as the server compares them; the resource keeps its case.
struct Jid {
  std::string local;     // may be empty (a server or a component: "conference.example.org")
  std::string domain;    // never empty in a parsed Jid
  std::string resource;  // may be empty (a bare JID)

  std::string Bare() const;  // "local@domain", or "domain"
  std::string Full() const;  // Bare() plus "/resource" when there is one
};

// Splits `text`; nullopt when it is not a JID: empty domain, empty local part before '@', an
// empty resource after '/', whitespace or a second '@' in local/domain, or longer than 3071 bytes.
std::optional<Jid> ParseJid(std::string_view text);

// How the connection is secured (channels.xmpp.tls).
enum class TlsMode {
  kRequired,  // STARTTLS (or the connection is refused) and the server certificate is verified
  kTrust,     // STARTTLS required, the certificate is NOT verified (self-signed servers)
  kDisabled,  // no TLS at all: the password and every message travel in clear (loopback tests)
};

struct RoomSetting {
  std::string jid;   // the room's bare JID, lower-cased: "lobby@conference.example.org"
  std::string nick;  // the nick to join with
};

// channels.xmpp, as the app uses it.
struct XmppSettings {
  bool enabled = false;
  Jid jid;                 // the account; its resource (if any) is asked for at bind time
  std::string password;    // from $XMPP_PASSWORD (config.get never hands out secrets)
  std::string host;        // "" = the JID's domain (libstrophe then looks up its SRV record)
  uint16_t port = 5222;
  TlsMode tls = TlsMode::kRequired;
  std::vector<RoomSetting> rooms;
  std::vector<std::string> allow_from;  // bare JIDs, "@domain", "*"; empty = nobody
  bool require_mention = true;
};

// Reads the section (null = not configured: enabled false). INVALID_PARAMS with data.path
// ("channels.xmpp.jid") when enabled and the JID is missing or invalid, when a room is not a bare
// room JID (optionally "/nick"), when tls is not one of required|trust|disabled, or when the port is
// out of range. `password` is the value of $XMPP_PASSWORD; empty is an error when enabled.
Result<XmppSettings> ReadSettings(const json::value& section, std::string password);

// The identifiers a sender is matched by in allowFrom (SenderAllowed): the bare JID and "@domain",
// so that an entry "@example.org" admits a whole domain.
std::vector<std::string> SenderIds(const Jid& sender);
// SenderAllowed over SenderIds: true when allowFrom names the bare JID, its "@domain", or "*".
bool JidAllowed(const std::vector<std::string>& allow_from, const Jid& sender);

// What the app reads out of one <message> stanza.
struct MessageStanza {
  std::string from;        // full JID as the server sent it
  std::string type;        // "chat", "normal", "groupchat", "error", "headline"; "" = normal
  std::string id;          // the id attribute
  std::string origin_id;   // XEP-0359 <origin-id id=…/>
  std::string body;        // "" when there is no <body>
  bool delayed = false;    // carries XEP-0203 <delay/> (room history, offline storage)
  bool muc_user = false;   // carries <x xmlns='http://jabber.org/protocol/muc#user'/> (MUC private message)
};

// What the app reads out of one <presence> stanza from a room occupant.
struct PresenceStanza {
  std::string from;        // "room@service/nick"
  std::string type;        // "" (available), "unavailable", "error"
  std::string real_jid;    // muc#user <item jid=…/> when the room shows it to us
  std::string nick_change; // muc#user <item nick=…/> with status 303
  std::vector<int> status_codes;  // muc#user <status code=…/>
  std::string error_condition;    // for type error: "conflict", "not-authorized", …
};

// The rooms we joined and who is in them (from MUC presence). Keyed by the room's bare JID.
class RoomRoster {
 public:
  explicit RoomRoster(std::vector<RoomSetting> rooms);

  // The configured rooms, in config order.
  const std::vector<RoomSetting>& rooms() const { return rooms_; }
  // The room's setting when `bare_jid` is one of ours.
  const RoomSetting* Find(std::string_view bare_jid) const;
  bool Joined(std::string_view room) const;
  // Our nick in the room ("" when not a room of ours).
  std::string NickIn(std::string_view room) const;
  // The real bare JID of the occupant `nick` when the room told us (non-anonymous room, or we
  // are a moderator), else "".
  std::string RealJid(std::string_view room, std::string_view nick) const;

  // What a presence meant for us.
  enum class PresenceEvent { kNone, kJoined, kCreated, kLeft, kJoinFailed };
  // Updates the roster from one presence of a room occupant; presences from other JIDs → kNone.
  // Our own presence (status 110, or from our nick) → kJoined (kCreated when status 201: a new
  // room the app owns and must unlock), kLeft on unavailable, kJoinFailed on an error presence.
  PresenceEvent Apply(const PresenceStanza& presence);
  // Forgets every occupant and join (the connection ended; rooms are joined again).
  void Reset();
  // Changes the nick we join `room` with (after a nick conflict).
  void SetNick(std::string_view room, std::string nick);

 private:
  struct RoomState {
    bool joined = false;
    std::map<std::string, std::string, std::less<>> real_jids;  // nick → real bare JID ("" = hidden)
  };
  std::vector<RoomSetting> rooms_;
  std::map<std::string, RoomState, std::less<>> state_;
};

// The decision for one inbound message.
struct InboundDecision {
  enum class Action {
    kIgnore,  // not for the agent (no body, error, our own echo, history, unmentioned, …)
    kRefuse,  // a direct message from someone not in allowFrom: answer once with RefusalText
    kDrop,    // a room message from someone not in allowFrom: ignored silently
    kQueue,   // for the agent: Inbound(conversation, text, metadata)
  };
  Action action = Action::kIgnore;
  std::string reason;        // why, for the log
  std::string conversation;  // kQueue: bare JID of the person, or of the room; or a room occupant
  std::string text;          // kQueue: the body, addressing prefix removed
  json::object metadata;     // kQueue: {from, senderName, chatType, groupId?, messageId?, mentioned}
  std::string sender_id;     // kRefuse/kDrop: the id that allowFrom would need
  std::string reply_to;      // kRefuse/kQueue: the full JID the message came from
  std::string reply_type;    // kQueue: the message type a reply to a person uses ("chat" or "normal")
};

InboundDecision DecideInbound(const MessageStanza& message, const XmppSettings& settings, const RoomRoster& roster);

// The one reply a refused direct sender gets.
std::string RefusalText(std::string_view sender_id);

// Pieces a reply is cut into: XMPP has no hard limit, this keeps messages polite for clients.
inline constexpr size_t kMaxPieceBytes = 3000;

}  // namespace oc::xmpp
