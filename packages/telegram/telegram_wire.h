// The Telegram Bot API wire format as the Telegram app uses it, free of I/O (so it is fuzzed and
// unit-tested on its own): reading getUpdates / getMe / error answers, the group activation rules,
// the agent's Markdown turned into Telegram's MarkdownV2 and cut to the 4096-unit message limit,
// and the request bodies. Pure functions; safe on any thread; nothing throws (malformed input is an
// oc::Error value).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace oc::telegram {

// Telegram's limit for one message's text, in UTF-16 code units after entity parsing.
inline constexpr size_t kMessageLimit = 4096;

struct User {
  int64_t id = 0;
  bool is_bot = false;
  std::string username;  // without '@'; "" when the user has none
  std::string first_name;
};

struct Chat {
  int64_t id = 0;
  std::string type;  // "private", "group", "supergroup" or "channel"
  std::string title;
};

// A MessageEntity: offset and length count UTF-16 code units of the message text; `text` is that
// slice of the text (UTF-8), so callers need not count units themselves.
struct Entity {
  std::string type;  // "mention", "bot_command", "text_mention", "bold", ...
  int64_t offset = 0;
  int64_t length = 0;
  std::string text;
  size_t begin = 0, end = 0;  // the same slice as a byte range of the message text
  std::optional<User> user;   // text_mention only
};

struct Message {
  int64_t message_id = 0;
  int64_t date = 0;
  Chat chat;
  std::optional<User> from;  // absent for messages sent on behalf of a chat
  std::string text;          // "" for messages without text (photos, stickers, ...); captions are not read
  std::vector<Entity> entities;
  std::optional<int64_t> reply_to_from_id;  // reply_to_message.from.id when this is a reply
};

struct Update {
  int64_t update_id = 0;
  std::optional<Message> message;  // only "message" updates are read; others leave it empty
};

// Every Bot API answer: {"ok":true,"result":...} or {"ok":false,"error_code":N,"description":"...",
// "parameters":{"retry_after":S}}.
struct ApiReply {
  bool ok = false;
  json::value result;
  int64_t error_code = 0;
  std::string description;
  std::optional<int64_t> retry_after;  // seconds (parameters.retry_after)
};

// Reads an answer body. kInvalidRequest when it is not JSON or has no boolean "ok". `http_status`
// fills error_code when a failed answer lacks one.
Result<ApiReply> ParseApiReply(std::string_view body, int http_status = 0);

// The Update array of a getUpdates result. kInvalidRequest when it is not an array of objects with
// an integer update_id; a message whose chat is unreadable leaves that update's `message` empty
// (the update is still returned so its offset can be confirmed).
Result<std::vector<Update>> ParseUpdates(const json::value& result);

// The User of a getMe result; kInvalidRequest without an integer id.
Result<User> ParseUser(const json::value& user);

// The byte index in UTF-8 `text` of UTF-16 unit `units` (clamped to the text's size; an index inside
// a surrogate pair moves to the end of that character).
size_t Utf16ToByteIndex(std::string_view text, int64_t units);

// The bot as getMe answered.
struct BotIdentity {
  int64_t id = 0;
  std::string username;  // without '@'
};

// What a message in a group means for the bot.
struct Activation {
  bool addressed = false;  // @username mention, text_mention of the bot, /command@username, reply to the bot
  std::string text;        // the text with the bot's @mention removed and "/cmd@username" shortened to "/cmd"
};

// Applies the group rules to `message` (private chats need none: callers treat them as addressed).
// Mentions are matched ASCII-case-insensitively, as Telegram usernames are.
Activation CheckActivation(const Message& message, const BotIdentity& bot);

// The text with every MarkdownV2-reserved character (_*[]()~`>#+-=|{}.! and '\') escaped by '\'.
std::string EscapeMarkdownV2(std::string_view plain);

// One message to send: its MarkdownV2 text, and what the user would read (the fallback sent without
// parse_mode when Telegram refuses the MarkdownV2).
struct OutgoingPiece {
  std::string markdown_v2;
  std::string plain;
};

// The agent's Markdown as Telegram messages. Understood: **bold** / __bold__, *italic* / _italic_
// (an '_' inside a word is a literal underscore), `code`, ``` fenced blocks ``` (optional language),
// [text](http(s)/tg/mailto URL), "# heading" lines (bold). Everything else is text, escaped per the
// MarkdownV2 rules (inside code only ` and \, inside a link's URL only ) and \). An unclosed marker
// is text. The pieces are cut so that each MarkdownV2 text has at most `limit` UTF-16 units (so its
// parsed text fits too), preferably after a paragraph break, line break or space in the second half
// of the piece, never inside an escape or a character; an entity cut in two is closed and reopened
// (a code block keeps its language); a link is never cut (one longer than 1000 bytes is text, so it
// always fits a 4096 limit). The pieces' `plain` texts concatenated equal the plain text of
// the whole reply (pieces that would be only whitespace are dropped). An empty reply → {}.
std::vector<OutgoingPiece> FormatReply(std::string_view markdown, size_t limit = kMessageLimit);

// The reply as plain text pieces (parseMode "none"): the text as is, cut by the same rules.
std::vector<OutgoingPiece> PlainReply(std::string_view text, size_t limit = kMessageLimit);

// Request bodies (JSON objects, sent as application/json).
json::object GetUpdatesBody(int64_t offset, int64_t timeout_sec, int64_t limit = 100);
// chat_id is a number when `chat` is one ("-100123"), else the string ("@channelname").
json::object SendMessageBody(std::string_view chat, std::string_view text, std::string_view parse_mode = {});
json::object SendChatActionBody(std::string_view chat, std::string_view action = "typing");

// The offset file's content: the decimal offset; nullopt when it is not one non-negative integer.
std::optional<int64_t> ParseOffset(std::string_view file_text);

}  // namespace oc::telegram
