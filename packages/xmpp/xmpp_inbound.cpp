// RoomRoster and DecideInbound: what a <presence> or <message> from the server means for the app.
#include <algorithm>

#include "openclawos/channel_text.h"
#include "xmpp_rules.h"

namespace oc::xmpp {

namespace {

using Action = InboundDecision::Action;

bool HasCode(const PresenceStanza& p, int code) {
  return std::find(p.status_codes.begin(), p.status_codes.end(), code) != p.status_codes.end();
}

InboundDecision Ignore(std::string reason) {
  InboundDecision d;
  d.action = Action::kIgnore;
  d.reason = std::move(reason);
  return d;
}

std::string MessageIdOf(const MessageStanza& m) { return m.origin_id.empty() ? m.id : m.origin_id; }

bool Blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// Who sent a message from a room occupant: the real bare JID when the room shows it, else the
// occupant JID "room@service/nick" (a bare nick would let anyone in any room take that name).
struct Sender {
  std::string id;                // for allowFrom and metadata.from
  std::vector<std::string> ids;  // every identifier allowFrom may name
};

Sender OccupantSender(const RoomRoster& roster, const Jid& occupant) {
  std::string real = roster.RealJid(occupant.Bare(), occupant.resource);
  if (std::optional<Jid> jid = real.empty() ? std::nullopt : ParseJid(real)) return {jid->Bare(), SenderIds(*jid)};
  return {occupant.Full(), {occupant.Full()}};
}

bool Allowed(const XmppSettings& settings, const Sender& sender) {
  for (const std::string& entry : settings.allow_from) {
    if (entry == "*") return true;
    for (const std::string& id : sender.ids)
      if (openclawos::sdk::SenderAllowed({entry}, {id})) return true;
  }
  return false;
}

InboundDecision DecideRoomMessage(const MessageStanza& m, const Jid& from, const XmppSettings& settings,
                                  const RoomRoster& roster) {
  const std::string room = from.Bare();
  const std::string our_nick = roster.NickIn(room);
  if (from.resource.empty()) return Ignore("a message from the room itself");
  if (from.resource == our_nick) return Ignore("our own message, reflected by the room");
  Sender sender = OccupantSender(roster, from);
  if (!Allowed(settings, sender)) {
    InboundDecision d = Ignore("sender not in allowFrom");
    d.action = Action::kDrop;
    d.sender_id = sender.id;
    return d;
  }
  std::optional<std::string> addressed = openclawos::sdk::StripAddress(m.body, our_nick);
  bool mentioned = addressed.has_value() || openclawos::sdk::MentionsName(m.body, our_nick);
  if (settings.require_mention && !mentioned) return Ignore("not mentioned");
  InboundDecision d;
  d.text = addressed.value_or(m.body);
  if (Blank(d.text)) return Ignore("nothing but the address");
  d.action = Action::kQueue;
  d.conversation = room;
  d.reply_to = room;
  d.reply_type = "groupchat";
  d.metadata = json::object{{"from", sender.id}, {"senderName", from.resource}, {"chatType", "group"},
                            {"groupId", room}, {"mentioned", mentioned}};
  if (std::string id = MessageIdOf(m); !id.empty()) d.metadata["messageId"] = id;
  return d;
}

InboundDecision DecideDirectMessage(const MessageStanza& m, const Jid& from, const XmppSettings& settings,
                                    const RoomRoster& roster) {
  // A private message from a room occupant comes from "room@service/nick": the reply goes back to
  // that occupant, never to the room's bare JID (which would post it in the room).
  bool from_room = roster.Find(from.Bare()) != nullptr;
  if (from_room && from.resource.empty()) return Ignore("a message from the room itself");
  Sender sender = from_room ? OccupantSender(roster, from) : Sender{from.Bare(), SenderIds(from)};
  InboundDecision d;
  d.reply_to = from.Full();
  d.sender_id = sender.id;
  if (!Allowed(settings, sender)) {
    d.action = Action::kRefuse;
    d.reason = "sender not in allowFrom";
    return d;
  }
  d.action = Action::kQueue;
  d.conversation = from_room ? from.Full() : from.Bare();
  d.text = m.body;
  d.reply_type = m.type == "chat" ? "chat" : "normal";
  d.metadata = json::object{{"from", sender.id},
                            {"senderName", from_room ? from.resource : from.local},
                            {"chatType", "direct"}};
  if (std::string id = MessageIdOf(m); !id.empty()) d.metadata["messageId"] = id;
  return d;
}

}  // namespace

RoomRoster::RoomRoster(std::vector<RoomSetting> rooms) : rooms_(std::move(rooms)) {}

const RoomSetting* RoomRoster::Find(std::string_view bare_jid) const {
  for (const RoomSetting& r : rooms_)
    if (r.jid == bare_jid) return &r;
  return nullptr;
}

bool RoomRoster::Joined(std::string_view room) const {
  auto it = state_.find(room);
  return it != state_.end() && it->second.joined;
}

std::string RoomRoster::NickIn(std::string_view room) const {
  const RoomSetting* r = Find(room);
  return r ? r->nick : std::string();
}

std::string RoomRoster::RealJid(std::string_view room, std::string_view nick) const {
  auto it = state_.find(room);
  if (it == state_.end()) return {};
  auto occupant = it->second.real_jids.find(nick);
  return occupant == it->second.real_jids.end() ? std::string() : occupant->second;
}

void RoomRoster::Reset() { state_.clear(); }

void RoomRoster::SetNick(std::string_view room, std::string nick) {
  for (RoomSetting& r : rooms_)
    if (r.jid == room) r.nick = std::move(nick);
}

RoomRoster::PresenceEvent RoomRoster::Apply(const PresenceStanza& p) {
  std::optional<Jid> from = ParseJid(p.from);
  if (!from || !Find(from->Bare())) return PresenceEvent::kNone;
  const std::string room = from->Bare();
  RoomState& state = state_[room];
  bool self = HasCode(p, 110) || from->resource == NickIn(room);
  if (p.type == "error") {
    if (!self && !from->resource.empty()) return PresenceEvent::kNone;
    state.joined = false;
    return PresenceEvent::kJoinFailed;
  }
  if (from->resource.empty()) return PresenceEvent::kNone;
  if (p.type == "unavailable") {
    state.real_jids.erase(from->resource);
    if (!self || HasCode(p, 303)) return PresenceEvent::kNone;  // 303: a nick change, not a leave
    state.joined = false;
    state.real_jids.clear();
    return PresenceEvent::kLeft;
  }
  std::optional<Jid> real = p.real_jid.empty() ? std::nullopt : ParseJid(p.real_jid);
  state.real_jids[from->resource] = real ? real->Bare() : std::string();
  if (!self) return PresenceEvent::kNone;
  if (from->resource != NickIn(room)) SetNick(room, from->resource);  // the room assigned our nick (210)
  if (state.joined) return PresenceEvent::kNone;
  state.joined = true;
  return HasCode(p, 201) ? PresenceEvent::kCreated : PresenceEvent::kJoined;
}

InboundDecision DecideInbound(const MessageStanza& m, const XmppSettings& settings, const RoomRoster& roster) {
  if (m.type == "error") return Ignore("an error stanza");
  if (m.type == "headline") return Ignore("a headline (automated notice)");
  if (m.delayed) return Ignore("delayed (room history or offline storage)");
  if (Blank(m.body)) return Ignore("no body");
  std::optional<Jid> from = ParseJid(m.from);
  if (!from) return Ignore("no valid sender");
  if (m.type == "groupchat") {
    if (!roster.Find(from->Bare())) return Ignore("groupchat from a room we are not in");
    return DecideRoomMessage(m, *from, settings, roster);
  }
  if (from->Bare() == settings.jid.Bare()) return Ignore("from our own account");
  return DecideDirectMessage(m, *from, settings, roster);
}

}  // namespace oc::xmpp
