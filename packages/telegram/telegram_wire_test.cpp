// Bot API answers, updates, activation and request bodies (telegram_wire.h), on the documented
// shapes of the Bot API's Update, Message, User, Chat, MessageEntity and ResponseParameters.
#include "telegram_wire.h"

#include <gtest/gtest.h>

namespace oc::telegram {
namespace {

json::value Parse(std::string_view s) { return json::parse(s); }

// A getUpdates answer as the Bot API documents it: a private text message and a group message
// with a mention and a command, plus a non-message update.
constexpr std::string_view kUpdates = R"({"ok":true,"result":[
  {"update_id":100,"message":{"message_id":5,"date":1700000000,
    "from":{"id":42,"is_bot":false,"first_name":"Ann","username":"ann_k","language_code":"en"},
    "chat":{"id":42,"first_name":"Ann","username":"ann_k","type":"private"},
    "text":"hello there"}},
  {"update_id":101,"message":{"message_id":9,"date":1700000001,
    "from":{"id":43,"is_bot":false,"first_name":"Bo"},
    "chat":{"id":-1001234,"title":"Friends","type":"supergroup"},
    "text":"\ud83d\ude00 @PiBot /help@PiBot now",
    "entities":[{"offset":3,"length":6,"type":"mention"},{"offset":10,"length":11,"type":"bot_command"}],
    "reply_to_message":{"message_id":8,"date":1699999999,"from":{"id":7,"is_bot":true,"first_name":"Pi","username":"PiBot"},
      "chat":{"id":-1001234,"title":"Friends","type":"supergroup"},"text":"earlier"}}},
  {"update_id":102,"edited_message":{"message_id":5,"date":1,"chat":{"id":42,"type":"private"},"text":"x"}}
]})";

TEST(TelegramWire, ParsesDocumentedUpdateShapes) {
  auto reply = ParseApiReply(kUpdates, 200);
  ASSERT_TRUE(reply.ok());
  ASSERT_TRUE(reply->ok);
  auto updates = ParseUpdates(reply->result);
  ASSERT_TRUE(updates.ok()) << updates.error().message;
  ASSERT_EQ(updates->size(), 3u);

  const Update& dm = (*updates)[0];
  EXPECT_EQ(dm.update_id, 100);
  ASSERT_TRUE(dm.message);
  EXPECT_EQ(dm.message->message_id, 5);
  EXPECT_EQ(dm.message->date, 1700000000);
  EXPECT_EQ(dm.message->chat.id, 42);
  EXPECT_EQ(dm.message->chat.type, "private");
  ASSERT_TRUE(dm.message->from);
  EXPECT_EQ(dm.message->from->id, 42);
  EXPECT_EQ(dm.message->from->username, "ann_k");
  EXPECT_EQ(dm.message->from->first_name, "Ann");
  EXPECT_EQ(dm.message->text, "hello there");
  EXPECT_TRUE(dm.message->entities.empty());
  EXPECT_FALSE(dm.message->reply_to_from_id);

  const Message& group = *(*updates)[1].message;
  EXPECT_EQ(group.chat.id, -1001234);
  EXPECT_EQ(group.chat.type, "supergroup");
  EXPECT_EQ(group.chat.title, "Friends");
  EXPECT_EQ(group.from->username, "");
  ASSERT_EQ(group.entities.size(), 2u);
  // Offsets count UTF-16 units: the emoji before the mention is two of them.
  EXPECT_EQ(group.entities[0].type, "mention");
  EXPECT_EQ(group.entities[0].text, "@PiBot");
  EXPECT_EQ(group.entities[1].type, "bot_command");
  EXPECT_EQ(group.entities[1].text, "/help@PiBot");
  EXPECT_EQ(group.reply_to_from_id, 7);

  EXPECT_EQ((*updates)[2].update_id, 102);
  EXPECT_FALSE((*updates)[2].message);  // edited_message is not read
}

TEST(TelegramWire, ErrorAnswersCarryCodeDescriptionAndRetryAfter) {
  auto r = ParseApiReply(R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3",
                             "parameters":{"retry_after":3}})", 429);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->error_code, 429);
  EXPECT_EQ(r->description, "Too Many Requests: retry after 3");
  EXPECT_EQ(r->retry_after, 3);

  auto unauthorized = ParseApiReply(R"({"ok":false,"description":"Unauthorized"})", 401);
  ASSERT_TRUE(unauthorized.ok());
  EXPECT_EQ(unauthorized->error_code, 401);  // from the HTTP status when the body has none
  EXPECT_FALSE(unauthorized->retry_after);
}

TEST(TelegramWire, MalformedAnswersAreErrorsNotCrashes) {
  for (std::string_view bad : {"", "<html>502 Bad Gateway</html>", "{\"ok\":tru", "[1,2]", "{\"result\":[]}",
                               "{\"ok\":\"yes\"}"}) {
    auto r = ParseApiReply(bad, 502);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  }
  EXPECT_FALSE(ParseUpdates(Parse(R"({"update_id":1})")).ok());
  EXPECT_FALSE(ParseUpdates(Parse(R"([{"message":{}}])")).ok());
  EXPECT_FALSE(ParseUpdates(Parse(R"([{"update_id":"1"}])")).ok());
  // A message without a readable chat: the update stays, without its message.
  auto odd = ParseUpdates(Parse(R"([{"update_id":7,"message":{"message_id":1,"chat":"x","text":"hi"}},
                                    {"update_id":8,"message":{"message_id":2,"chat":{"id":1,"type":"private"},
                                     "text":"hi","entities":[{"type":"mention","offset":-1,"length":2},
                                     {"type":"bold","offset":1,"length":99},"junk"]}}])"));
  ASSERT_TRUE(odd.ok());
  EXPECT_FALSE((*odd)[0].message);
  ASSERT_TRUE((*odd)[1].message);
  ASSERT_EQ((*odd)[1].message->entities.size(), 1u);
  EXPECT_EQ((*odd)[1].message->entities[0].text, "i");  // clamped to the text
  EXPECT_FALSE(ParseUser(Parse(R"({"username":"x"})")).ok());
}

TEST(TelegramWire, Utf16IndexCountsSurrogatePairs) {
  std::string text = "a\xF0\x9F\x98\x80" "b\xC3\xA9" "c";  // a 😀 b é c
  EXPECT_EQ(Utf16ToByteIndex(text, 0), 0u);
  EXPECT_EQ(Utf16ToByteIndex(text, 1), 1u);
  EXPECT_EQ(Utf16ToByteIndex(text, 2), 5u);  // inside the pair: the end of the emoji
  EXPECT_EQ(Utf16ToByteIndex(text, 3), 5u);
  EXPECT_EQ(Utf16ToByteIndex(text, 4), 6u);
  EXPECT_EQ(Utf16ToByteIndex(text, 5), 8u);
  EXPECT_EQ(Utf16ToByteIndex(text, 99), text.size());
}

Message GroupMessage(std::string text, std::vector<Entity> entities) {
  Message m;
  m.message_id = 1;
  m.chat = Chat{-5, "group", "g"};
  m.from = User{43, false, "bo", "Bo"};
  m.text = std::move(text);
  for (Entity& e : entities) {
    e.begin = Utf16ToByteIndex(m.text, e.offset);
    e.end = Utf16ToByteIndex(m.text, e.offset + e.length);
    e.text = m.text.substr(e.begin, e.end - e.begin);
  }
  m.entities = std::move(entities);
  return m;
}

Entity E(std::string type, int64_t offset, int64_t length) { return Entity{std::move(type), offset, length, {}, 0, 0, {}}; }

TEST(TelegramActivation, MentionEntityActivatesAndIsStripped) {
  BotIdentity bot{7, "PiBot"};
  auto a = CheckActivation(GroupMessage("@pibot what time is it?", {E("mention", 0, 6)}), bot);
  EXPECT_TRUE(a.addressed);
  EXPECT_EQ(a.text, "what time is it?");
  auto mid = CheckActivation(GroupMessage("hey @PiBot, hi", {E("mention", 4, 6)}), bot);
  EXPECT_TRUE(mid.addressed);
  EXPECT_EQ(mid.text, "hey hi");
}

TEST(TelegramActivation, OtherMentionsTextAndPlainNamesDoNot) {
  BotIdentity bot{7, "PiBot"};
  EXPECT_FALSE(CheckActivation(GroupMessage("@someone_else hi", {E("mention", 0, 13)}), bot).addressed);
  EXPECT_FALSE(CheckActivation(GroupMessage("@PiBot without an entity", {}), bot).addressed);
  EXPECT_FALSE(CheckActivation(GroupMessage("@PiBotX hi", {E("mention", 0, 7)}), bot).addressed);
  auto plain = CheckActivation(GroupMessage("just chatting", {}), bot);
  EXPECT_FALSE(plain.addressed);
  EXPECT_EQ(plain.text, "just chatting");
}

TEST(TelegramActivation, CommandAddressedToTheBotIsShortened) {
  BotIdentity bot{7, "PiBot"};
  auto a = CheckActivation(GroupMessage("/status@PiBot", {E("bot_command", 0, 13)}), bot);
  EXPECT_TRUE(a.addressed);
  EXPECT_EQ(a.text, "/status");
  EXPECT_FALSE(CheckActivation(GroupMessage("/status@OtherBot", {E("bot_command", 0, 16)}), bot).addressed);
  EXPECT_FALSE(CheckActivation(GroupMessage("/status", {E("bot_command", 0, 7)}), bot).addressed);
}

TEST(TelegramActivation, ReplyToTheBotAndTextMention) {
  BotIdentity bot{7, "PiBot"};
  Message reply = GroupMessage("and tomorrow?", {});
  reply.reply_to_from_id = 7;
  EXPECT_TRUE(CheckActivation(reply, bot).addressed);
  reply.reply_to_from_id = 99;
  EXPECT_FALSE(CheckActivation(reply, bot).addressed);

  Message tm = GroupMessage("Pi, tell me", {E("text_mention", 0, 2)});
  tm.entities[0].user = User{7, true, "", "Pi"};
  auto a = CheckActivation(tm, bot);
  EXPECT_TRUE(a.addressed);
  EXPECT_EQ(a.text, "Pi, tell me");
}

TEST(TelegramActivation, MentionAfterAnEmojiUsesUtf16Offsets) {
  BotIdentity bot{7, "PiBot"};
  auto a = CheckActivation(GroupMessage("\xF0\x9F\x98\x80 @PiBot go", {E("mention", 3, 6)}), bot);
  EXPECT_TRUE(a.addressed);
  EXPECT_EQ(a.text, "\xF0\x9F\x98\x80 go");
}

TEST(TelegramWire, RequestBodies) {
  EXPECT_EQ(json::value(GetUpdatesBody(0, 30)), Parse(R"({"timeout":30,"limit":100,"allowed_updates":["message"]})"));
  EXPECT_EQ(json::value(GetUpdatesBody(101, 5, 10)),
            Parse(R"({"timeout":5,"limit":10,"allowed_updates":["message"],"offset":101})"));
  EXPECT_EQ(json::value(SendMessageBody("-1001234", "hi", "MarkdownV2")),
            Parse(R"({"chat_id":-1001234,"text":"hi","parse_mode":"MarkdownV2"})"));
  EXPECT_EQ(json::value(SendMessageBody("@channel", "hi")), Parse(R"({"chat_id":"@channel","text":"hi"})"));
  EXPECT_EQ(json::value(SendChatActionBody("42")), Parse(R"({"chat_id":42,"action":"typing"})"));
}

TEST(TelegramWire, OffsetFile) {
  EXPECT_EQ(ParseOffset("101\n"), 101);
  EXPECT_EQ(ParseOffset("0"), 0);
  EXPECT_FALSE(ParseOffset(""));
  EXPECT_FALSE(ParseOffset("-3"));
  EXPECT_FALSE(ParseOffset("12x"));
  EXPECT_FALSE(ParseOffset("99999999999999999999999"));
}

}  // namespace
}  // namespace oc::telegram
