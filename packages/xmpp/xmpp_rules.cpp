#include "xmpp_rules.h"

#include <algorithm>

#include "common/text.h"
#include "openclawos/channel_text.h"

namespace oc::xmpp {

namespace {

constexpr size_t kMaxJidBytes = 3071;  // RFC 7622: 1023 bytes for each of the three parts

bool HasSpace(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

Error BadSetting(const std::string& key, std::string message) {
  std::string path = "channels.xmpp." + key;
  return MakeError(ErrorCode::kInvalidParams, path + ": " + message, json::object{{"path", path}});
}

Result<std::vector<RoomSetting>> ReadRooms(const json::object& section, const std::string& default_nick) {
  std::vector<RoomSetting> rooms;
  const json::value* list = section.if_contains("rooms");
  if (!list || list->is_null()) return rooms;
  if (!list->is_array()) return BadSetting("rooms", "expected an array of room JIDs");
  for (size_t i = 0; i < list->as_array().size(); ++i) {
    const json::value& entry = list->as_array()[i];
    std::string key = IndexPath("rooms", i);
    std::optional<Jid> room = entry.is_string() ? ParseJid(entry.as_string()) : std::nullopt;
    if (!room || room->local.empty())
      return BadSetting(key, "expected a room JID like \"room@conference.example.org\" (optionally \"/nick\")");
    RoomSetting setting{room->Bare(), room->resource.empty() ? default_nick : room->resource};
    bool duplicate = std::any_of(rooms.begin(), rooms.end(), [&](const RoomSetting& r) { return r.jid == setting.jid; });
    if (!duplicate) rooms.push_back(std::move(setting));
  }
  return rooms;
}

Result<TlsMode> ReadTls(const json::object& section) {
  std::string tls(GetString(section, "tls").value_or("required"));
  if (tls == "required") return TlsMode::kRequired;
  if (tls == "trust") return TlsMode::kTrust;
  if (tls == "disabled") return TlsMode::kDisabled;
  return BadSetting("tls", "expected \"required\", \"trust\" or \"disabled\", got \"" + tls + "\"");
}

}  // namespace

std::string Jid::Bare() const { return local.empty() ? domain : local + "@" + domain; }

std::string Jid::Full() const { return resource.empty() ? Bare() : Bare() + "/" + resource; }

std::optional<Jid> ParseJid(std::string_view text) {
  if (text.empty() || text.size() > kMaxJidBytes) return std::nullopt;
  Jid jid;
  std::string_view bare = text;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    jid.resource = std::string(text.substr(slash + 1));  // a resource may hold '/' and '@'
    if (jid.resource.empty()) return std::nullopt;
    bare = text.substr(0, slash);
  }
  std::string_view domain = bare;
  if (size_t at = bare.find('@'); at != std::string_view::npos) {
    if (at == 0) return std::nullopt;
    jid.local = oc::AsciiLower(bare.substr(0, at));
    domain = bare.substr(at + 1);
  }
  if (domain.empty() || domain.find('@') != std::string_view::npos || HasSpace(domain) || HasSpace(jid.local))
    return std::nullopt;
  jid.domain = oc::AsciiLower(domain);
  return jid;
}

Result<XmppSettings> ReadSettings(const json::value& section, std::string password) {
  XmppSettings settings;
  if (section.is_null()) return settings;
  if (!section.is_object()) return BadSetting("", "expected an object");
  const json::object& o = section.as_object();
  settings.enabled = GetBool(o, "enabled").value_or(false);
  settings.require_mention = GetBool(o, "requireMention").value_or(true);
  settings.allow_from = openclawos::sdk::StringList(o.if_contains("allowFrom"));
  settings.host = std::string(GetString(o, "host").value_or(""));
  int64_t port = GetInt(o, "port").value_or(5222);
  if (port < 1 || port > 65535) return BadSetting("port", "expected 1..65535");
  settings.port = static_cast<uint16_t>(port);
  Result<TlsMode> tls = ReadTls(o);
  if (!tls.ok()) return tls.error();
  settings.tls = *tls;
  if (!settings.enabled) return settings;

  std::optional<std::string_view> jid_text = GetString(o, "jid");
  if (!jid_text) return BadSetting("jid", "required when the channel is enabled (\"assistant@example.org\")");
  std::optional<Jid> jid = ParseJid(*jid_text);
  if (!jid || jid->local.empty()) return BadSetting("jid", "not an account JID: \"" + std::string(*jid_text) + "\"");
  settings.jid = *jid;
  Result<std::vector<RoomSetting>> rooms = ReadRooms(o, jid->local);
  if (!rooms.ok()) return rooms.error();
  settings.rooms = std::move(*rooms);
  if (password.empty())
    return BadSetting("password", "missing: set channels.xmpp.password (it reaches the app as $XMPP_PASSWORD)");
  settings.password = std::move(password);
  return settings;
}

std::vector<std::string> SenderIds(const Jid& sender) { return {sender.Bare(), "@" + sender.domain}; }

bool JidAllowed(const std::vector<std::string>& allow_from, const Jid& sender) {
  std::vector<std::string> ids = SenderIds(sender);
  return openclawos::sdk::SenderAllowed(allow_from, {ids[0], ids[1]});
}

std::string RefusalText(std::string_view sender_id) {
  return "This assistant does not know you yet. Ask its owner to add " + std::string(sender_id) +
         " to channels.xmpp.allowFrom.";
}

}  // namespace oc::xmpp
