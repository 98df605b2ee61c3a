// Reading Bot API answers, the activation rules and the request bodies (telegram_wire.h).
#include "telegram_wire.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "common/text.h"

namespace oc::telegram {
namespace {

Error Malformed(std::string what) { return MakeError(ErrorCode::kInvalidRequest, "telegram: " + std::move(what)); }

std::string StringOf(const json::object& o, std::string_view key) {
  auto s = GetString(o, key);
  return s ? std::string(*s) : std::string();
}

std::optional<Chat> ReadChat(const json::value* v) {
  const json::object* o = v ? v->if_object() : nullptr;
  if (!o) return std::nullopt;
  auto id = GetInt(*o, "id");
  auto type = GetString(*o, "type");
  if (!id || !type) return std::nullopt;
  return Chat{*id, std::string(*type), StringOf(*o, "title")};
}

std::vector<Entity> ReadEntities(const json::object& message, const std::string& text) {
  std::vector<Entity> out;
  const json::array* list = GetArray(message, "entities");
  if (!list) return out;
  for (const json::value& item : *list) {
    const json::object* e = item.if_object();
    if (!e) continue;
    auto type = GetString(*e, "type");
    auto offset = GetInt(*e, "offset");
    auto length = GetInt(*e, "length");
    if (!type || !offset || !length || *offset < 0 || *length < 0) continue;
    Entity entity{std::string(*type), *offset, *length, {}, 0, 0, std::nullopt};
    entity.begin = Utf16ToByteIndex(text, *offset);
    entity.end = std::max(entity.begin, Utf16ToByteIndex(text, *offset + std::min<int64_t>(*length, INT64_MAX - *offset)));
    entity.text = text.substr(entity.begin, entity.end - entity.begin);
    if (const json::value* user = e->if_contains("user")) {
      auto parsed = ParseUser(*user);
      if (parsed.ok()) entity.user = *parsed;
    }
    out.push_back(std::move(entity));
  }
  return out;
}

std::optional<Message> ReadMessage(const json::value* v) {
  const json::object* o = v ? v->if_object() : nullptr;
  if (!o) return std::nullopt;
  auto id = GetInt(*o, "message_id");
  auto chat = ReadChat(o->if_contains("chat"));
  if (!id || !chat) return std::nullopt;
  Message m;
  m.message_id = *id;
  m.date = GetInt(*o, "date").value_or(0);
  m.chat = std::move(*chat);
  if (const json::value* from = o->if_contains("from")) {
    auto user = ParseUser(*from);
    if (user.ok()) m.from = *user;
  }
  m.text = StringOf(*o, "text");
  m.entities = ReadEntities(*o, m.text);
  if (const json::object* reply = GetObject(*o, "reply_to_message"))
    if (const json::object* from = GetObject(*reply, "from"))
      m.reply_to_from_id = GetInt(*from, "id");
  return m;
}

bool SameName(std::string_view a, std::string_view b) { return !a.empty() && oc::AsciiEqualsNoCase(a, b); }

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

json::value ChatId(std::string_view chat) {
  int64_t id = 0;
  auto [end, ec] = std::from_chars(chat.data(), chat.data() + chat.size(), id);
  if (ec == std::errc() && end == chat.data() + chat.size() && !chat.empty()) return json::value(id);
  return json::value(json::string(chat));
}

}  // namespace

Result<ApiReply> ParseApiReply(std::string_view body, int http_status) {
  auto parsed = TryParseJson(body);
  const json::object* o = parsed ? parsed->if_object() : nullptr;
  if (!o) return Malformed("the Bot API answered something that is not a JSON object (HTTP " + std::to_string(http_status) + ")");
  auto ok = GetBool(*o, "ok");
  if (!ok) return Malformed("the Bot API answer has no boolean \"ok\"");
  ApiReply reply;
  reply.ok = *ok;
  if (const json::value* result = o->if_contains("result")) reply.result = *result;
  reply.error_code = GetInt(*o, "error_code").value_or(reply.ok ? 0 : http_status);
  reply.description = StringOf(*o, "description");
  if (const json::object* params = GetObject(*o, "parameters")) reply.retry_after = GetInt(*params, "retry_after");
  return reply;
}

Result<std::vector<Update>> ParseUpdates(const json::value& result) {
  const json::array* list = result.if_array();
  if (!list) return Malformed("getUpdates result is not an array");
  std::vector<Update> updates;
  updates.reserve(list->size());
  for (const json::value& item : *list) {
    const json::object* o = item.if_object();
    auto id = o ? GetInt(*o, "update_id") : std::nullopt;
    if (!id) return Malformed("an update without an integer update_id");
    updates.push_back(Update{*id, ReadMessage(o->if_contains("message"))});
  }
  return updates;
}

Result<User> ParseUser(const json::value& user) {
  const json::object* o = user.if_object();
  auto id = o ? GetInt(*o, "id") : std::nullopt;
  if (!id) return Malformed("a user without an integer id");
  return User{*id, GetBool(*o, "is_bot").value_or(false), StringOf(*o, "username"), StringOf(*o, "first_name")};
}

size_t Utf16ToByteIndex(std::string_view text, int64_t units) {
  // A 4-byte UTF-8 sequence is a surrogate pair in UTF-16: two units.
  size_t i = 0;
  int64_t seen = 0;
  while (i < text.size() && seen < units) {
    unsigned char lead = static_cast<unsigned char>(text[i]);
    seen += lead >= 0xF0 ? 2 : 1;
    ++i;
    while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) ++i;
  }
  return i;
}

Activation CheckActivation(const Message& message, const BotIdentity& bot) {
  Activation out;
  out.addressed = bot.id != 0 && message.reply_to_from_id == bot.id;
  std::string text;
  size_t copied = 0;  // bytes of message.text already handled
  for (const Entity& e : message.entities) {  // in offset order, as Telegram sends them
    size_t at = e.begin;
    if (e.text.empty() || at < copied) continue;
    bool mention = e.type == "mention" && e.text.size() > 1 && SameName(std::string_view(e.text).substr(1), bot.username);
    bool text_mention = e.type == "text_mention" && e.user && e.user->id == bot.id && bot.id != 0;
    size_t at_sign = e.type == "bot_command" ? e.text.find('@') : std::string::npos;
    bool command = at_sign != std::string::npos && SameName(std::string_view(e.text).substr(at_sign + 1), bot.username);
    if (!mention && !text_mention && !command) continue;
    out.addressed = true;
    text.append(message.text, copied, at - copied);
    if (command) text.append(e.text, 0, at_sign);
    if (text_mention) text.append(e.text);  // the bot's display name is part of the sentence
    copied = at + e.text.size();
    if (mention) {  // "@bot, hi" → "hi"; "hey @bot how" → "hey how"
      if (copied < message.text.size() && (message.text[copied] == ',' || message.text[copied] == ':')) ++copied;
      if (text.empty() || IsSpace(text.back()))
        while (copied < message.text.size() && message.text[copied] == ' ') ++copied;
    }
  }
  text.append(message.text, copied);
  out.text = std::string(oc::TrimAsciiSpace(text));
  return out;
}

json::object GetUpdatesBody(int64_t offset, int64_t timeout_sec, int64_t limit) {
  json::object body{{"timeout", timeout_sec}, {"limit", limit}, {"allowed_updates", json::array{"message"}}};
  if (offset > 0) body["offset"] = offset;
  return body;
}

json::object SendMessageBody(std::string_view chat, std::string_view text, std::string_view parse_mode) {
  json::object body{{"chat_id", ChatId(chat)}, {"text", text}};
  if (!parse_mode.empty()) body["parse_mode"] = parse_mode;
  return body;
}

json::object SendChatActionBody(std::string_view chat, std::string_view action) {
  return json::object{{"chat_id", ChatId(chat)}, {"action", action}};
}

std::optional<int64_t> ParseOffset(std::string_view file_text) {
  while (!file_text.empty() && IsSpace(file_text.back())) file_text.remove_suffix(1);
  int64_t offset = 0;
  auto [end, ec] = std::from_chars(file_text.data(), file_text.data() + file_text.size(), offset);
  if (ec != std::errc() || end != file_text.data() + file_text.size() || file_text.empty() || offset < 0)
    return std::nullopt;
  return offset;
}

}  // namespace oc::telegram
