#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "xmpp_client.h"
#include "xmpp_rules.h"

namespace oc::xmpp {
namespace {

using Action = InboundDecision::Action;

TEST(JidTest, ParsesFullBareAndDomainJids) {
  std::optional<Jid> full = ParseJid("Alice@Example.ORG/Phone");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->local, "alice");
  EXPECT_EQ(full->domain, "example.org");
  EXPECT_EQ(full->resource, "Phone");  // resources keep their case
  EXPECT_EQ(full->Bare(), "alice@example.org");
  EXPECT_EQ(full->Full(), "alice@example.org/Phone");

  std::optional<Jid> domain = ParseJid("conference.example.org");
  ASSERT_TRUE(domain);
  EXPECT_EQ(domain->local, "");
  EXPECT_EQ(domain->Bare(), "conference.example.org");

  // The resource is everything after the first '/', '@' and '/' included.
  std::optional<Jid> odd = ParseJid("room@muc.example.org/nick/with@slash");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->Bare(), "room@muc.example.org");
  EXPECT_EQ(odd->resource, "nick/with@slash");
}

TEST(JidTest, RejectsMalformedJids) {
  for (const char* bad : {"", "@example.org", "alice@", "alice@example.org/", "a@b@c", "al ice@example.org",
                          "alice@exa mple.org", "/resource"}) {
    EXPECT_FALSE(ParseJid(bad)) << bad;
  }
  EXPECT_FALSE(ParseJid(std::string(4000, 'a') + "@example.org"));
}

json::value Section(std::string_view text) { return json::parse(text); }

TEST(SettingsTest, NullSectionIsDisabled) {
  Result<XmppSettings> s = ReadSettings(json::value(nullptr), "");
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->enabled);
  EXPECT_TRUE(s->require_mention);
  EXPECT_EQ(s->port, 5222);
  EXPECT_EQ(s->tls, TlsMode::kRequired);
}

TEST(SettingsTest, ReadsEverything) {
  Result<XmppSettings> s = ReadSettings(
      Section(R"({"enabled": true, "jid": "Bot@Example.org/home", "host": "127.0.0.1", "port": 15222,
                  "tls": "disabled", "rooms": ["Lobby@conference.example.org", "dev@conference.example.org/helper",
                  "lobby@conference.example.org/again"], "allowFrom": ["alice@example.org", "@corp.example"],
                  "requireMention": false})"),
      "s3cret");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->enabled);
  EXPECT_EQ(s->jid.Full(), "bot@example.org/home");
  EXPECT_EQ(s->password, "s3cret");
  EXPECT_EQ(s->host, "127.0.0.1");
  EXPECT_EQ(s->port, 15222);
  EXPECT_EQ(s->tls, TlsMode::kDisabled);
  ASSERT_EQ(s->rooms.size(), 2u);  // the repeated room is joined once
  EXPECT_EQ(s->rooms[0].jid, "lobby@conference.example.org");
  EXPECT_EQ(s->rooms[0].nick, "bot");  // default nick: the account's local part
  EXPECT_EQ(s->rooms[1].jid, "dev@conference.example.org");
  EXPECT_EQ(s->rooms[1].nick, "helper");
  EXPECT_EQ(s->allow_from, (std::vector<std::string>{"alice@example.org", "@corp.example"}));
  EXPECT_FALSE(s->require_mention);
}

TEST(SettingsTest, ErrorsNameTheKey) {
  struct Case {
    const char* section;
    const char* password;
    const char* path;
  };
  const Case cases[] = {
      {R"({"enabled": true})", "pw", "channels.xmpp.jid"},
      {R"({"enabled": true, "jid": "example.org"})", "pw", "channels.xmpp.jid"},
      {R"({"enabled": true, "jid": "bot@example.org"})", "", "channels.xmpp.password"},
      {R"({"enabled": true, "jid": "bot@example.org", "tls": "maybe"})", "pw", "channels.xmpp.tls"},
      {R"({"enabled": true, "jid": "bot@example.org", "port": 70000})", "pw", "channels.xmpp.port"},
      {R"({"enabled": true, "jid": "bot@example.org", "rooms": ["conference.example.org"]})", "pw",
       "channels.xmpp.rooms[0]"},
      {R"({"enabled": true, "jid": "bot@example.org", "rooms": "lobby@c.example.org"})", "pw", "channels.xmpp.rooms"},
  };
  for (const Case& c : cases) {
    Result<XmppSettings> s = ReadSettings(Section(c.section), c.password);
    ASSERT_FALSE(s.ok()) << c.section;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidParams);
    EXPECT_EQ(s.error().data.at("path"), c.path) << c.section;
  }
  // Disabled: a missing JID or password is no error.
  EXPECT_TRUE(ReadSettings(Section(R"({"enabled": false})"), "").ok());
}

TEST(AllowListTest, BareJidsDomainsAndWildcard) {
  Jid alice = *ParseJid("Alice@Example.org/phone");
  EXPECT_TRUE(JidAllowed({"alice@example.org"}, alice));
  EXPECT_TRUE(JidAllowed({"ALICE@example.ORG"}, alice));
  EXPECT_TRUE(JidAllowed({"@example.org"}, alice));
  EXPECT_TRUE(JidAllowed({"*"}, alice));
  EXPECT_FALSE(JidAllowed({}, alice));  // empty = nobody
  EXPECT_FALSE(JidAllowed({"bob@example.org", "@other.org"}, alice));
  EXPECT_FALSE(JidAllowed({"@ample.org"}, alice));  // a domain entry is the whole domain, not a suffix
  EXPECT_FALSE(JidAllowed({"alice@example.org/phone"}, alice));  // entries are bare JIDs
  EXPECT_EQ(SenderIds(alice), (std::vector<std::string>{"alice@example.org", "@example.org"}));
}

XmppSettings TestSettings() {
  Result<XmppSettings> s = ReadSettings(
      Section(R"({"enabled": true, "jid": "bot@localhost", "rooms": ["lobby@conference.localhost"],
                  "allowFrom": ["alice@localhost"]})"),
      "pw");
  return *s;
}

PresenceStanza Presence(std::string from, std::string real_jid = {}, std::vector<int> codes = {}, std::string type = {}) {
  PresenceStanza p;
  p.from = std::move(from);
  p.real_jid = std::move(real_jid);
  p.status_codes = std::move(codes);
  p.type = std::move(type);
  return p;
}

TEST(RoomRosterTest, TracksJoinsOccupantsAndErrors) {
  RoomRoster roster(TestSettings().rooms);
  using Event = RoomRoster::PresenceEvent;
  EXPECT_EQ(roster.NickIn("lobby@conference.localhost"), "bot");
  EXPECT_FALSE(roster.Joined("lobby@conference.localhost"));
  EXPECT_EQ(roster.Apply(Presence("lobby@conference.localhost/alice", "alice@localhost/pc")), Event::kNone);
  EXPECT_EQ(roster.RealJid("lobby@conference.localhost", "alice"), "alice@localhost");
  EXPECT_EQ(roster.Apply(Presence("lobby@conference.localhost/bot", "bot@localhost/x", {110, 201})), Event::kCreated);
  EXPECT_TRUE(roster.Joined("lobby@conference.localhost"));
  EXPECT_EQ(roster.Apply(Presence("lobby@conference.localhost/bot", "", {110})), Event::kNone);  // already in
  EXPECT_EQ(roster.Apply(Presence("lobby@conference.localhost/alice", "", {}, "unavailable")), Event::kNone);
  EXPECT_EQ(roster.RealJid("lobby@conference.localhost", "alice"), "");
  EXPECT_EQ(roster.Apply(Presence("other@conference.localhost/bot", "", {110})), Event::kNone);  // not ours
  EXPECT_EQ(roster.Apply(Presence("lobby@conference.localhost/bot", "", {110}, "unavailable")), Event::kLeft);
  EXPECT_FALSE(roster.Joined("lobby@conference.localhost"));

  PresenceStanza conflict = Presence("lobby@conference.localhost/bot", "", {}, "error");
  conflict.error_condition = "conflict";
  EXPECT_EQ(roster.Apply(conflict), Event::kJoinFailed);
  roster.SetNick("lobby@conference.localhost", "bot_");
  EXPECT_EQ(roster.Apply(Presence("lobby@conference.localhost/bot_", "", {110})), Event::kJoined);
  // The room may assign a nick (status 210): ours from now on.
  roster.Reset();
  EXPECT_EQ(roster.Apply(Presence("lobby@conference.localhost/Bot (2)", "", {110, 210})), Event::kJoined);
  EXPECT_EQ(roster.NickIn("lobby@conference.localhost"), "Bot (2)");
}

MessageStanza Message(std::string from, std::string type, std::string body, std::string id = {}) {
  MessageStanza m;
  m.from = std::move(from);
  m.type = std::move(type);
  m.body = std::move(body);
  m.id = std::move(id);
  return m;
}

TEST(DecideInboundTest, DirectMessages) {
  XmppSettings settings = TestSettings();
  RoomRoster roster(settings.rooms);
  InboundDecision d = DecideInbound(Message("Alice@localhost/phone", "chat", "hello there", "m1"), settings, roster);
  ASSERT_EQ(d.action, Action::kQueue) << d.reason;
  EXPECT_EQ(d.conversation, "alice@localhost");
  EXPECT_EQ(d.text, "hello there");
  EXPECT_EQ(d.reply_to, "alice@localhost/phone");
  EXPECT_EQ(d.reply_type, "chat");
  EXPECT_EQ(d.metadata.at("from"), "alice@localhost");
  EXPECT_EQ(d.metadata.at("senderName"), "alice");
  EXPECT_EQ(d.metadata.at("chatType"), "direct");
  EXPECT_EQ(d.metadata.at("messageId"), "m1");
  EXPECT_FALSE(d.metadata.contains("groupId"));

  MessageStanza with_origin = Message("alice@localhost/phone", "", "hi", "m2");
  with_origin.origin_id = "origin-7";
  d = DecideInbound(with_origin, settings, roster);
  ASSERT_EQ(d.action, Action::kQueue);
  EXPECT_EQ(d.metadata.at("messageId"), "origin-7");  // XEP-0359 wins over the stanza id
  EXPECT_EQ(d.reply_type, "normal");

  d = DecideInbound(Message("mallory@localhost/x", "chat", "let me in"), settings, roster);
  EXPECT_EQ(d.action, Action::kRefuse);
  EXPECT_EQ(d.sender_id, "mallory@localhost");
  EXPECT_EQ(d.reply_to, "mallory@localhost/x");
  EXPECT_NE(RefusalText(d.sender_id).find("add mallory@localhost to channels.xmpp.allowFrom"), std::string::npos);
}

TEST(DecideInboundTest, IgnoresWhatIsNotForTheAgent) {
  XmppSettings settings = TestSettings();
  RoomRoster roster(settings.rooms);
  EXPECT_EQ(DecideInbound(Message("alice@localhost/p", "error", "x"), settings, roster).action, Action::kIgnore);
  EXPECT_EQ(DecideInbound(Message("alice@localhost/p", "chat", "  "), settings, roster).action, Action::kIgnore);
  EXPECT_EQ(DecideInbound(Message("alice@localhost/p", "headline", "news"), settings, roster).action, Action::kIgnore);
  EXPECT_EQ(DecideInbound(Message("bot@localhost/other", "chat", "me"), settings, roster).action, Action::kIgnore);
  EXPECT_EQ(DecideInbound(Message("", "chat", "who"), settings, roster).action, Action::kIgnore);
  MessageStanza delayed = Message("alice@localhost/p", "chat", "old news");
  delayed.delayed = true;
  EXPECT_EQ(DecideInbound(delayed, settings, roster).action, Action::kIgnore);
  // groupchat from a room we never joined
  EXPECT_EQ(DecideInbound(Message("x@conference.localhost/alice", "groupchat", "bot: hi"), settings, roster).action,
            Action::kIgnore);
}

TEST(DecideInboundTest, RoomMentionsAndAllowList) {
  XmppSettings settings = TestSettings();
  RoomRoster roster(settings.rooms);
  roster.Apply(Presence("lobby@conference.localhost/alice", "alice@localhost/pc"));
  roster.Apply(Presence("lobby@conference.localhost/carol"));  // real JID hidden
  roster.Apply(Presence("lobby@conference.localhost/bot", "", {110}));

  InboundDecision d =
      DecideInbound(Message("lobby@conference.localhost/alice", "groupchat", "bot: what time is it?", "g1"), settings, roster);
  ASSERT_EQ(d.action, Action::kQueue) << d.reason;
  EXPECT_EQ(d.conversation, "lobby@conference.localhost");
  EXPECT_EQ(d.text, "what time is it?");
  EXPECT_EQ(d.reply_type, "groupchat");
  EXPECT_EQ(d.metadata.at("from"), "alice@localhost");
  EXPECT_EQ(d.metadata.at("senderName"), "alice");
  EXPECT_EQ(d.metadata.at("chatType"), "group");
  EXPECT_EQ(d.metadata.at("groupId"), "lobby@conference.localhost");
  EXPECT_EQ(d.metadata.at("mentioned"), true);
  EXPECT_EQ(d.metadata.at("messageId"), "g1");

  d = DecideInbound(Message("lobby@conference.localhost/alice", "groupchat", "I asked bot yesterday"), settings, roster);
  ASSERT_EQ(d.action, Action::kQueue);
  EXPECT_EQ(d.text, "I asked bot yesterday");  // a mention inside the text keeps the text whole

  EXPECT_EQ(DecideInbound(Message("lobby@conference.localhost/alice", "groupchat", "lunch?"), settings, roster).action,
            Action::kIgnore);
  EXPECT_EQ(DecideInbound(Message("lobby@conference.localhost/alice", "groupchat", "robotics"), settings, roster).action,
            Action::kIgnore);
  EXPECT_EQ(DecideInbound(Message("lobby@conference.localhost/bot", "groupchat", "bot: echo"), settings, roster).action,
            Action::kIgnore);  // our own reflection
  EXPECT_EQ(DecideInbound(Message("lobby@conference.localhost/alice", "groupchat", "bot:"), settings, roster).action,
            Action::kIgnore);

  // carol's real JID is hidden: she is known by her occupant JID, which allowFrom does not name.
  d = DecideInbound(Message("lobby@conference.localhost/carol", "groupchat", "bot: hi"), settings, roster);
  EXPECT_EQ(d.action, Action::kDrop);
  EXPECT_EQ(d.sender_id, "lobby@conference.localhost/carol");
  settings.allow_from.push_back("lobby@conference.localhost/carol");
  EXPECT_EQ(DecideInbound(Message("lobby@conference.localhost/carol", "groupchat", "bot: hi"), settings, roster).action,
            Action::kQueue);

  settings.require_mention = false;
  d = DecideInbound(Message("lobby@conference.localhost/alice", "groupchat", "lunch?"), settings, roster);
  ASSERT_EQ(d.action, Action::kQueue);
  EXPECT_EQ(d.metadata.at("mentioned"), false);
}

TEST(DecideInboundTest, PrivateMessageFromARoomOccupantAnswersTheOccupant) {
  XmppSettings settings = TestSettings();
  RoomRoster roster(settings.rooms);
  roster.Apply(Presence("lobby@conference.localhost/alice", "alice@localhost/pc"));
  MessageStanza pm = Message("lobby@conference.localhost/alice", "chat", "psst");
  pm.muc_user = true;
  InboundDecision d = DecideInbound(pm, settings, roster);
  ASSERT_EQ(d.action, Action::kQueue) << d.reason;
  EXPECT_EQ(d.conversation, "lobby@conference.localhost/alice");  // never the room itself
  EXPECT_EQ(d.metadata.at("from"), "alice@localhost");
  EXPECT_EQ(d.metadata.at("chatType"), "direct");
}

TEST(ConnectionFlagsTest, TlsModes) {
  EXPECT_EQ(ConnectionFlags(TlsMode::kRequired), XMPP_CONN_FLAG_MANDATORY_TLS | XMPP_CONN_FLAG_DISABLE_SM);
  EXPECT_EQ(ConnectionFlags(TlsMode::kTrust),
            XMPP_CONN_FLAG_MANDATORY_TLS | XMPP_CONN_FLAG_TRUST_TLS | XMPP_CONN_FLAG_DISABLE_SM);
  EXPECT_EQ(ConnectionFlags(TlsMode::kDisabled), XMPP_CONN_FLAG_DISABLE_TLS | XMPP_CONN_FLAG_DISABLE_SM);
}

// The libstrophe client on a real Asio loop: a refused connection is reported through offline()
// without any polling by the test, and nothing can be sent while offline.
TEST(XmppClientTest, RefusedConnectionGoesOffline) {
  boost::asio::io_context io;
  // A port with nobody listening: bind one, note it, close it.
  boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  uint16_t port = probe.local_endpoint().port();
  probe.close();

  std::optional<std::string> offline_reason;
  bool online = false;
  XmppClient::Callbacks callbacks;
  callbacks.online = [&] { online = true; };
  callbacks.offline = [&](std::string reason) {
    offline_reason = std::move(reason);
    io.stop();
  };
  XmppClient client(io, std::move(callbacks));
  XmppSettings settings = TestSettings();
  settings.tls = TlsMode::kDisabled;
  settings.port = port;

  StanzaPtr message = client.NewMessage("chat", "alice@localhost", "hi");
  ASSERT_TRUE(message);
  EXPECT_EQ(client.Send(message.get()).error().code, ErrorCode::kConnectionClosed);

  Status started = client.Connect(settings, "127.0.0.1");
  if (started.ok()) {
    boost::asio::steady_timer guard(io, std::chrono::seconds(8));
    guard.async_wait([&](boost::system::error_code) { io.stop(); });
    io.run();
    ASSERT_TRUE(offline_reason) << "no offline callback";
    EXPECT_FALSE(offline_reason->empty());
  } else {
    EXPECT_EQ(started.error().code, ErrorCode::kConnectionClosed);
  }
  EXPECT_FALSE(online);
  EXPECT_FALSE(client.online());
}

}  // namespace
}  // namespace oc::xmpp
