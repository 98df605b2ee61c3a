#include "sessions/router.h"

#include <gtest/gtest.h>

#include <string>

namespace oc::sessions {
namespace {

json::value Config(std::string_view text) {
  auto v = ParseLenientJson(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : json::value();
}

Router MakeRouter(std::string_view config_text) {
  auto r = Router::FromConfig(Config(config_text));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : Router();
}

Inbound Direct(std::string address, std::string from = "", std::string text = "hi") {
  json::object meta;
  if (!from.empty()) meta["from"] = from;
  meta["chatType"] = "direct";
  auto in = Inbound::FromQueueParams(address, text, meta);
  EXPECT_TRUE(in.ok()) << address;
  return in.ok() ? *in : Inbound();
}

Inbound Group(std::string address, std::string from, std::string text = "hi") {
  json::object meta{{"from", from}, {"chatType", "group"}};
  auto in = Inbound::FromQueueParams(address, text, meta);
  EXPECT_TRUE(in.ok()) << address;
  return in.ok() ? *in : Inbound();
}

// ---- ParseAddress, MainSessionKey -------------------------------------------------------------

TEST(ParseAddressTest, SplitsAtFirstColon) {
  auto p = ParseAddress("telegram:123");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->first, "telegram");
  EXPECT_EQ(p->second, "123");
  auto q = ParseAddress("matrix:!room:example.org");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->first, "matrix");
  EXPECT_EQ(q->second, "!room:example.org");
}

TEST(ParseAddressTest, RejectsMalformed) {
  for (std::string_view bad : {"", "telegram", ":123", "telegram:", ":"}) {
    auto p = ParseAddress(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.error().code, ErrorCode::kInvalidParams) << bad;
    EXPECT_NE(p.error().message.find("<channel>:<conversation>"), std::string::npos);
  }
}

TEST(MainSessionKeyTest, Format) {
  EXPECT_EQ(MainSessionKey("default"), "agent:default:main");
  EXPECT_EQ(MainSessionKey("coder"), "agent:coder:main");
}

// ---- Inbound::FromQueueParams -------------------------------------------------------------------

TEST(InboundTest, FromQueueParamsReadsMetadata) {
  json::object meta{{"channelId", "telegram"}, {"from", "42"}, {"accountId", "bot1"},
                    {"chatType", "group"}, {"groupId", "g7"}, {"messageId", "m1"}};
  auto in = Inbound::FromQueueParams("telegram:-100", "hello", meta);
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->address, "telegram:-100");
  EXPECT_EQ(in->channel, "telegram");
  EXPECT_EQ(in->conversation, "-100");
  EXPECT_EQ(in->from, "42");
  EXPECT_EQ(in->account_id, "bot1");
  EXPECT_EQ(in->chat_type, "group");
  EXPECT_EQ(in->group_id, "g7");
  EXPECT_EQ(in->text, "hello");
}

TEST(InboundTest, NullMetadataGivesDirectDefaults) {
  auto in = Inbound::FromQueueParams("irc:alice", "yo", nullptr);
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->channel, "irc");
  EXPECT_EQ(in->conversation, "alice");
  EXPECT_EQ(in->chat_type, "direct");
  EXPECT_TRUE(in->from.empty());
  EXPECT_TRUE(in->group_id.empty());
}

TEST(InboundTest, GroupWithoutGroupIdUsesConversation) {
  auto in = Inbound::FromQueueParams("discord:chan9", "x", json::object{{"chatType", "group"}});
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->group_id, "chan9");
}

TEST(InboundTest, ChannelIdOverridesAddressChannel) {
  auto in = Inbound::FromQueueParams("tg:1", "x", json::object{{"channelId", "telegram"}});
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->channel, "telegram");
  EXPECT_EQ(in->conversation, "1");
}

TEST(InboundTest, NumericIdsBecomeStrings) {
  auto in = Inbound::FromQueueParams("telegram:5", "x", json::object{{"from", 123456789}});
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->from, "123456789");
}

TEST(InboundTest, Errors) {
  auto bad_address = Inbound::FromQueueParams("nocolon", "x", nullptr);
  ASSERT_FALSE(bad_address.ok());
  EXPECT_EQ(bad_address.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(bad_address.error().data.at("path"), "params.sessionKey");

  auto bad_chat = Inbound::FromQueueParams("irc:a", "x", json::object{{"chatType", "channel"}});
  ASSERT_FALSE(bad_chat.ok());
  EXPECT_EQ(bad_chat.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(bad_chat.error().data.at("path"), "params.metadata.chatType");

  auto bad_from = Inbound::FromQueueParams("irc:a", "x", json::object{{"from", json::array{1}}});
  ASSERT_FALSE(bad_from.ok());
  EXPECT_EQ(bad_from.error().data.at("path"), "params.metadata.from");

  auto bad_meta = Inbound::FromQueueParams("irc:a", "x", json::value("str"));
  ASSERT_FALSE(bad_meta.ok());
  EXPECT_EQ(bad_meta.error().data.at("path"), "params.metadata");
}

// ---- Session keys: identity, conversation, groups ----------------------------------------------

constexpr std::string_view kIdentities = R"({
  "identities": {"alice": ["telegram:123", "irc:alice"], "bob": ["slack:U1"]}
})";

TEST(RouterTest, EmptyConfigUsesDefaultAgentAndOwnIdentity) {
  Router r = MakeRouter("{}");
  Route route = r.Resolve(Direct("telegram:999"));
  EXPECT_EQ(route.agent_id, "default");
  EXPECT_EQ(route.kind, "identity");
  EXPECT_EQ(route.identity, "telegram:999");
  EXPECT_EQ(route.session_key, "agent:default:identity:telegram:999");
  EXPECT_EQ(route.binding, -1);
}

TEST(RouterTest, NonObjectRootIsEmptyConfig) {
  auto r = Router::FromConfig(nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Resolve(Direct("irc:x")).agent_id, "default");
}

TEST(RouterTest, LinkedAddressesShareOneSession) {
  Router r = MakeRouter(kIdentities);
  Route tg = r.Resolve(Direct("telegram:123"));
  Route irc = r.Resolve(Direct("irc:alice"));
  EXPECT_EQ(tg.identity, "alice");
  EXPECT_EQ(irc.identity, "alice");
  EXPECT_EQ(tg.session_key, "agent:default:identity:alice");
  EXPECT_EQ(tg.session_key, irc.session_key);
}

TEST(RouterTest, UnlinkedSenderIsOwnIdentity) {
  Router r = MakeRouter(kIdentities);
  Route carol = r.Resolve(Direct("irc:carol"));
  EXPECT_EQ(carol.identity, "irc:carol");
  EXPECT_EQ(carol.session_key, "agent:default:identity:irc:carol");
  EXPECT_NE(carol.session_key, r.Resolve(Direct("irc:alice")).session_key);
}

TEST(RouterTest, SenderAddressFromMetadataLinks) {
  Router r = MakeRouter(kIdentities);
  // The conversation is a DM chat id, the sender id is what the identity lists.
  Route route = r.Resolve(Direct("telegram:dm-555", "123"));
  EXPECT_EQ(route.identity, "alice");
  EXPECT_EQ(route.session_key, "agent:default:identity:alice");
  // Sender unlinked but the conversation address is listed: still linked.
  Route by_conv = r.Resolve(Direct("slack:U1", "someone-else"));
  EXPECT_EQ(by_conv.identity, "bob");
  // Neither listed: the sender address "<channel>:<from>" is the identity.
  Route unlinked = r.Resolve(Direct("telegram:dm-1", "777"));
  EXPECT_EQ(unlinked.identity, "telegram:777");
  EXPECT_EQ(unlinked.session_key, "agent:default:identity:telegram:777");
}

TEST(RouterTest, IdentityOfAndIdentitiesJson) {
  Router r = MakeRouter(kIdentities);
  EXPECT_EQ(r.IdentityOf("irc:alice"), "alice");
  EXPECT_EQ(r.IdentityOf("slack:U1"), "bob");
  EXPECT_EQ(r.IdentityOf("irc:nobody"), "irc:nobody");
  json::value expected = Config(R"({"alice": ["telegram:123", "irc:alice"], "bob": ["slack:U1"]})");
  EXPECT_EQ(r.IdentitiesJson(), expected);
  EXPECT_EQ(MakeRouter("{}").IdentitiesJson(), json::object());
}

TEST(RouterTest, AddressUnderTwoNamesBelongsToFirst) {
  Router r = MakeRouter(R"({"identities": {"zed": ["irc:x"], "amy": ["irc:x"]}})");
  EXPECT_EQ(r.IdentityOf("irc:x"), "zed");
}

TEST(RouterTest, ConversationScopeKeepsOneSessionPerAddress) {
  Router r = MakeRouter(R"({"session": {"scope": "conversation"},
                            "identities": {"alice": ["telegram:123", "irc:alice"]}})");
  Route tg = r.Resolve(Direct("telegram:123"));
  Route irc = r.Resolve(Direct("irc:alice"));
  EXPECT_EQ(tg.kind, "conversation");
  EXPECT_EQ(tg.session_key, "agent:default:conv:telegram:123");
  EXPECT_EQ(irc.session_key, "agent:default:conv:irc:alice");
  EXPECT_EQ(tg.identity, "alice");  // still reported
}

TEST(RouterTest, IdentityScopeExplicit) {
  Router r = MakeRouter(R"({"session": {"scope": "identity"}})");
  EXPECT_EQ(r.Resolve(Direct("irc:a")).kind, "identity");
}

TEST(RouterTest, GroupsIsolatedPerGroupEvenForLinkedSenders) {
  Router r = MakeRouter(kIdentities);
  Route g1 = r.Resolve(Group("telegram:-100", "123"));
  Route g2 = r.Resolve(Group("telegram:-200", "123"));
  Route g1_other = r.Resolve(Group("telegram:-100", "999"));
  EXPECT_EQ(g1.kind, "group");
  EXPECT_EQ(g1.session_key, "agent:default:group:telegram:-100");
  EXPECT_EQ(g2.session_key, "agent:default:group:telegram:-200");
  EXPECT_EQ(g1_other.session_key, g1.session_key);  // one session per group, any sender
  EXPECT_EQ(g1.identity, "alice");                  // the sender's identity, for information
  EXPECT_NE(g1.session_key, r.Resolve(Direct("telegram:123")).session_key);
}

TEST(RouterTest, GroupsIgnoreConversationScope) {
  Router r = MakeRouter(R"({"session": {"scope": "conversation"}})");
  EXPECT_EQ(r.Resolve(Group("irc:#chan", "bob")).session_key, "agent:default:group:irc:#chan");
}

// ---- Agent selection: bindings -------------------------------------------------------------------

TEST(RouterTest, MoreSpecificBindingWins) {
  Router r = MakeRouter(R"({"bindings": [
    {"agentId": "general", "match": {"channel": "slack"}},
    {"agentId": "finance", "match": {"channel": "slack", "chatType": "direct"}},
    {"agentId": "catchall"}
  ]})");
  Route dm = r.Resolve(Direct("slack:U1"));
  EXPECT_EQ(dm.agent_id, "finance");
  EXPECT_EQ(dm.binding, 1);
  EXPECT_EQ(dm.session_key, "agent:finance:identity:slack:U1");
  Route group = r.Resolve(Group("slack:C1", "U1"));
  EXPECT_EQ(group.agent_id, "general");
  EXPECT_EQ(group.binding, 0);
  Route irc = r.Resolve(Direct("irc:x"));
  EXPECT_EQ(irc.agent_id, "catchall");  // no conditions: matches everything
  EXPECT_EQ(irc.binding, 2);
}

TEST(RouterTest, TieGoesToFirstListed) {
  Router r = MakeRouter(R"({"bindings": [
    {"agentId": "first", "match": {"channel": "irc"}},
    {"agentId": "second", "match": {"chatType": "direct"}},
    {"agentId": "third", "match": {"channel": "irc"}}
  ]})");
  Route route = r.Resolve(Direct("irc:a"));
  EXPECT_EQ(route.agent_id, "first");
  EXPECT_EQ(route.binding, 0);
}

TEST(RouterTest, LaterMoreSpecificBindingBeatsEarlierGeneralOne) {
  Router r = MakeRouter(R"({"bindings": [
    {"agentId": "a", "match": {}},
    {"agentId": "b", "match": {"channel": "irc", "peer": "bob", "chatType": "direct"}}
  ]})");
  EXPECT_EQ(r.Resolve(Direct("irc:bob")).agent_id, "b");
  EXPECT_EQ(r.Resolve(Direct("irc:carol")).agent_id, "a");
}

TEST(RouterTest, MatchChannel) {
  Router r = MakeRouter(R"({"bindings": [{"agentId": "x", "match": {"channel": "discord"}}]})");
  EXPECT_EQ(r.Resolve(Direct("discord:1")).agent_id, "x");
  EXPECT_EQ(r.Resolve(Direct("slack:1")).agent_id, "default");
}

TEST(RouterTest, MatchAccountId) {
  Router r = MakeRouter(R"({"bindings": [{"agentId": "x", "match": {"accountId": "work"}}]})");
  auto work = Inbound::FromQueueParams("slack:U1", "t", json::object{{"accountId", "work"}});
  auto home = Inbound::FromQueueParams("slack:U1", "t", json::object{{"accountId", "home"}});
  auto none = Inbound::FromQueueParams("slack:U1", "t", nullptr);
  ASSERT_TRUE(work.ok() && home.ok() && none.ok());
  EXPECT_EQ(r.Resolve(*work).agent_id, "x");
  EXPECT_EQ(r.Resolve(*home).agent_id, "default");
  EXPECT_EQ(r.Resolve(*none).agent_id, "default");
}

TEST(RouterTest, MatchPeer) {
  Router r = MakeRouter(R"({"bindings": [
    {"agentId": "bare", "match": {"peer": "42"}},
    {"agentId": "addressed", "match": {"peer": "irc:bob"}}
  ]})");
  EXPECT_EQ(r.Resolve(Direct("telegram:dm", "42")).agent_id, "bare");
  EXPECT_EQ(r.Resolve(Group("telegram:-1", "42")).agent_id, "bare");  // sender in a group
  EXPECT_EQ(r.Resolve(Direct("telegram:42")).agent_id, "bare");       // DM without from
  EXPECT_EQ(r.Resolve(Direct("telegram:dm", "43")).agent_id, "default");
  EXPECT_EQ(r.Resolve(Direct("irc:bob")).agent_id, "addressed");
  EXPECT_EQ(r.Resolve(Direct("slack:bob")).agent_id, "default");
  // A group without a sender matches no peer, even if its conversation id looks like one.
  auto g = Inbound::FromQueueParams("telegram:42", "t", json::object{{"chatType", "group"}});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(r.Resolve(*g).agent_id, "default");
}

TEST(RouterTest, MatchGroup) {
  Router r = MakeRouter(R"({"bindings": [
    {"agentId": "coder", "match": {"group": "dev"}},
    {"agentId": "ops", "match": {"group": "discord:ops"}}
  ]})");
  EXPECT_EQ(r.Resolve(Group("discord:dev", "u")).agent_id, "coder");
  EXPECT_EQ(r.Resolve(Group("discord:ops", "u")).agent_id, "ops");
  EXPECT_EQ(r.Resolve(Group("discord:random", "u")).agent_id, "default");
  EXPECT_EQ(r.Resolve(Direct("discord:dev")).agent_id, "default");  // a DM has no group
  auto with_id = Inbound::FromQueueParams("discord:c1", "t",
                                          json::object{{"chatType", "group"}, {"groupId", "dev"}});
  ASSERT_TRUE(with_id.ok());
  EXPECT_EQ(r.Resolve(*with_id).agent_id, "coder");
}

TEST(RouterTest, MatchChatType) {
  Router r = MakeRouter(R"({"bindings": [{"agentId": "g", "match": {"chatType": "group"}}]})");
  EXPECT_EQ(r.Resolve(Group("irc:#c", "u")).agent_id, "g");
  EXPECT_EQ(r.Resolve(Direct("irc:u")).agent_id, "default");
}

TEST(RouterTest, MatchSenderDomainCaseInsensitiveAfterLastAt) {
  Router r = MakeRouter(R"({"bindings": [
    {"agentId": "corp", "match": {"senderDomain": "Example.COM"}},
    {"agentId": "at", "match": {"senderDomain": "@other.org"}}
  ]})");
  EXPECT_EQ(r.Resolve(Direct("email:t1", "alice@example.com")).agent_id, "corp");
  EXPECT_EQ(r.Resolve(Direct("email:t1", "weird@name@EXAMPLE.com")).agent_id, "corp");
  EXPECT_EQ(r.Resolve(Direct("email:t1", "alice@example.com.evil")).agent_id, "default");
  EXPECT_EQ(r.Resolve(Direct("email:t1", "example.com")).agent_id, "default");
  EXPECT_EQ(r.Resolve(Direct("email:t1")).agent_id, "default");
  EXPECT_EQ(r.Resolve(Direct("email:t1", "x@other.org")).agent_id, "at");
}

TEST(RouterTest, MatchBodyRegexPartial) {
  Router r = MakeRouter(R"({"bindings": [{"agentId": "coder", "match": {"bodyRegex": "(?i)\\bbug\\b"}}]})");
  EXPECT_EQ(r.Resolve(Direct("irc:a", "", "found a BUG in prod")).agent_id, "coder");
  EXPECT_EQ(r.Resolve(Direct("irc:a", "", "debugging")).agent_id, "default");
}

TEST(RouterTest, AllConditionsMustHold) {
  Router r = MakeRouter(R"({"bindings": [{"agentId": "x",
      "match": {"channel": "discord", "group": "dev", "chatType": "group", "bodyRegex": "@bot"}}]})");
  EXPECT_EQ(r.Resolve(Group("discord:dev", "u", "hey @bot")).agent_id, "x");
  EXPECT_EQ(r.Resolve(Group("discord:dev", "u", "hey all")).agent_id, "default");
  EXPECT_EQ(r.Resolve(Group("slack:dev", "u", "hey @bot")).agent_id, "default");
}

TEST(RouterTest, CatastrophicBacktrackingPatternIsLinear) {
  Router r = MakeRouter(R"({"bindings": [{"agentId": "x", "match": {"bodyRegex": "(a+)+$"}}]})");
  std::string text(100000, 'a');
  EXPECT_EQ(r.Resolve(Direct("irc:a", "", text)).agent_id, "x");
  text += 'b';
  EXPECT_EQ(r.Resolve(Direct("irc:a", "", text)).agent_id, "default");
}

TEST(RouterTest, InvalidRegexIsRejectedWithPath) {
  auto r = Router::FromConfig(Config(R"({"bindings": [
    {"agentId": "ok", "match": {"bodyRegex": "fine"}},
    {"agentId": "bad", "match": {"bodyRegex": "(unclosed"}}
  ]})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(r.error().data.at("path"), "bindings[1].match.bodyRegex");
  EXPECT_NE(r.error().message.find("bodyRegex"), std::string::npos);
}

TEST(RouterTest, MalformedConfigNamesPath) {
  struct Case {
    std::string_view config, path;
  };
  for (const Case& c : {
           Case{R"({"bindings": {}})", "bindings"},
           Case{R"({"bindings": [42]})", "bindings[0]"},
           Case{R"({"bindings": [{"match": {}}]})", "bindings[0].agentId"},
           Case{R"({"bindings": [{"agentId": "a", "match": []}]})", "bindings[0].match"},
           Case{R"({"bindings": [{"agentId": "a", "match": {"peer": 5}}]})", "bindings[0].match.peer"},
           Case{R"({"identities": []})", "identities"},
           Case{R"({"identities": {"a": "irc:x"}})", "identities.a"},
           Case{R"({"identities": {"a": ["irc:x", 3]}})", "identities.a[1]"},
           Case{R"({"session": {"scope": "global"}})", "session.scope"},
           Case{R"({"channels": {"irc": {"agentId": 1}}})", "channels.irc.agentId"},
       }) {
    auto r = Router::FromConfig(Config(c.config));
    ASSERT_FALSE(r.ok()) << c.config;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams) << c.config;
    EXPECT_EQ(r.error().data.at("path"), json::value(c.path)) << c.config;
  }
}

// ---- Agent selection: channel fallback and default -----------------------------------------------

TEST(RouterTest, ChannelAgentFallback) {
  Router r = MakeRouter(R"({
    "channels": {"telegram": {"agentId": "tg-agent", "enabled": true}, "irc": {"enabled": true}},
    "bindings": [{"agentId": "bound", "match": {"peer": "vip"}}]
  })");
  Route tg = r.Resolve(Direct("telegram:1"));
  EXPECT_EQ(tg.agent_id, "tg-agent");
  EXPECT_EQ(tg.binding, -1);
  EXPECT_EQ(tg.session_key, "agent:tg-agent:identity:telegram:1");
  EXPECT_EQ(r.Resolve(Direct("telegram:vip")).agent_id, "bound");  // a binding beats the channel
  EXPECT_EQ(r.Resolve(Direct("irc:1")).agent_id, "default");       // channel without agentId
  EXPECT_EQ(r.Resolve(Direct("slack:1")).agent_id, "default");     // unconfigured channel
}

TEST(RouterTest, RouterIsCopyable) {
  Router r = MakeRouter(R"({"bindings": [{"agentId": "x", "match": {"bodyRegex": "go"}}]})");
  Router copy = r;
  EXPECT_EQ(copy.Resolve(Direct("irc:a", "", "go now")).agent_id, "x");
}

}  // namespace
}  // namespace oc::sessions
