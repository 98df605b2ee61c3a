#include "sessions/router.h"

#include "common/text.h"

namespace oc::sessions {
namespace {

Error InvalidAt(std::string path, std::string message) {
  return MakeError(ErrorCode::kInvalidParams, std::move(message), json::object{{"path", std::move(path)}});
}

// `wanted` names the platform id `id` bare or as "<channel>:<id>"; an empty id never matches.
bool SameId(std::string_view wanted, std::string_view channel, std::string_view id) {
  if (id.empty()) return false;
  if (wanted == id) return true;
  return wanted.size() == channel.size() + 1 + id.size() && wanted.starts_with(channel) &&
         wanted[channel.size()] == ':' && wanted.ends_with(id);
}

// A metadata field that platforms send as a string or a number (numeric chat ids); "" when absent.
Result<std::string> IdField(const json::object& meta, std::string_view key) {
  const json::value* v = meta.if_contains(key);
  if (!v || v->is_null()) return std::string();
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_int64()) return std::to_string(v->as_int64());
  if (v->is_uint64()) return std::to_string(v->as_uint64());
  return InvalidAt("params.metadata." + std::string(key),
                   std::string(key) + " must be a string, not " + std::string(JsonTypeName(*v)));
}

// Reads the optional string match.<key> of binding i; counts it toward the specificity.
Status ReadCondition(const json::object& match, std::string_view key, const std::string& base,
                     std::optional<std::string>& out, int& specificity) {
  const json::value* v = match.if_contains(key);
  if (!v) return Status::Ok();
  if (!v->is_string()) return InvalidAt(JoinPath(base, key), std::string(key) + " must be a string");
  out = std::string(v->as_string());
  ++specificity;
  return Status::Ok();
}

}  // namespace

Result<std::pair<std::string, std::string>> ParseAddress(std::string_view address) {
  const size_t colon = address.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size()) {
    return MakeError(ErrorCode::kInvalidParams,
                     "conversation address must be \"<channel>:<conversation>\", got \"" +
                         std::string(address) + "\"");
  }
  return std::make_pair(std::string(address.substr(0, colon)), std::string(address.substr(colon + 1)));
}

std::string MainSessionKey(std::string_view agent_id) {
  return "agent:" + std::string(agent_id) + ":main";
}

Result<Inbound> Inbound::FromQueueParams(std::string_view session_key, std::string_view text,
                                         const json::value& metadata) {
  auto parts = ParseAddress(session_key);
  if (!parts.ok()) return InvalidAt("params.sessionKey", parts.error().message);
  Inbound in;
  in.address = std::string(session_key);
  in.channel = std::move(parts->first);
  in.conversation = std::move(parts->second);
  in.text = std::string(text);
  if (metadata.is_null()) return in;
  if (!metadata.is_object()) return InvalidAt("params.metadata", "metadata must be an object");
  const auto& meta = metadata.as_object();
  OC_ASSIGN(std::string channel_id, IdField(meta, "channelId"));
  if (!channel_id.empty()) in.channel = std::move(channel_id);
  OC_ASSIGN(in.from, IdField(meta, "from"));
  OC_ASSIGN(in.account_id, IdField(meta, "accountId"));
  OC_ASSIGN(in.group_id, IdField(meta, "groupId"));
  if (const json::value* chat = meta.if_contains("chatType"); chat && !chat->is_null()) {
    if (!chat->is_string() || (chat->as_string() != "direct" && chat->as_string() != "group")) {
      return InvalidAt("params.metadata.chatType", "chatType must be \"direct\" or \"group\"");
    }
    in.chat_type = std::string(chat->as_string());
  }
  if (in.chat_type == "group" && in.group_id.empty()) in.group_id = in.conversation;
  return in;
}

Result<Router> Router::FromConfig(const json::value& root) {
  Router r;
  if (!root.is_object()) return r;
  const auto& cfg = root.as_object();
  OC_TRY(r.LoadBindings(cfg));
  OC_TRY(r.LoadIdentities(cfg));
  if (const json::value* scope = FindPath(root, "session.scope")) {
    if (!scope->is_string() || (scope->as_string() != "identity" && scope->as_string() != "conversation")) {
      return InvalidAt("session.scope", "session.scope must be \"identity\" or \"conversation\"");
    }
    r.conversation_scope_ = scope->as_string() == "conversation";
  }
  if (const json::object* channels = GetObject(cfg, "channels")) {
    for (const auto& [name, section] : *channels) {
      if (!section.is_object()) continue;
      const json::value* agent = section.as_object().if_contains("agentId");
      if (!agent) continue;
      if (!agent->is_string()) {
        return InvalidAt("channels." + std::string(name) + ".agentId", "agentId must be a string");
      }
      r.channel_agent_.emplace(std::string(name), std::string(agent->as_string()));
    }
  }
  return r;
}

Status Router::LoadBindings(const json::object& cfg) {
  const json::value* list = cfg.if_contains("bindings");
  if (!list || list->is_null()) return Status::Ok();
  if (!list->is_array()) return InvalidAt("bindings", "bindings must be an array");
  for (size_t i = 0; i < list->as_array().size(); ++i) {
    const json::value& item = list->as_array()[i];
    const std::string base = IndexPath("bindings", i);
    if (!item.is_object()) return InvalidAt(base, "a binding must be an object");
    Binding b;
    auto agent = GetString(item.as_object(), "agentId");
    if (!agent || agent->empty()) return InvalidAt(JoinPath(base, "agentId"), "binding needs an agentId");
    b.agent_id = std::string(*agent);
    if (const json::value* m = item.as_object().if_contains("match"); m && !m->is_null()) {
      if (!m->is_object()) return InvalidAt(JoinPath(base, "match"), "match must be an object");
      OC_TRY(ReadMatch(m->as_object(), JoinPath(base, "match"), b));
    }
    bindings_.push_back(std::move(b));
  }
  return Status::Ok();
}

Status Router::ReadMatch(const json::object& match, const std::string& base, Binding& b) {
  OC_TRY(ReadCondition(match, "channel", base, b.channel, b.specificity));
  OC_TRY(ReadCondition(match, "accountId", base, b.account_id, b.specificity));
  OC_TRY(ReadCondition(match, "peer", base, b.peer, b.specificity));
  OC_TRY(ReadCondition(match, "group", base, b.group, b.specificity));
  OC_TRY(ReadCondition(match, "chatType", base, b.chat_type, b.specificity));
  OC_TRY(ReadCondition(match, "senderDomain", base, b.sender_domain, b.specificity));
  if (b.sender_domain && b.sender_domain->starts_with('@')) b.sender_domain->erase(0, 1);
  std::optional<std::string> pattern;
  OC_TRY(ReadCondition(match, "bodyRegex", base, pattern, b.specificity));
  if (pattern) {
    RE2::Options options;
    options.set_log_errors(false);  // a bad pattern is reported to the caller, not to stderr
    b.body = std::make_shared<re2::RE2>(*pattern, options);
    if (!b.body->ok()) {
      return InvalidAt(JoinPath(base, "bodyRegex"), "invalid bodyRegex: " + b.body->error());
    }
  }
  return Status::Ok();
}

Status Router::LoadIdentities(const json::object& cfg) {
  const json::value* ids = cfg.if_contains("identities");
  if (!ids || ids->is_null()) return Status::Ok();
  if (!ids->is_object()) return InvalidAt("identities", "identities must be an object");
  for (const auto& [name, list] : ids->as_object()) {
    const std::string base = JoinPath("identities", name);
    if (!list.is_array()) return InvalidAt(base, "an identity lists its addresses in an array");
    std::vector<std::string>& addresses = identities_[std::string(name)];
    for (size_t j = 0; j < list.as_array().size(); ++j) {
      const json::value& a = list.as_array()[j];
      if (!a.is_string()) return InvalidAt(IndexPath(base, j), "an address must be a string");
      addresses.emplace_back(a.as_string());
      // An address listed under two names belongs to the first one listed.
      identity_of_.emplace(std::string(a.as_string()), std::string(name));
    }
  }
  return Status::Ok();
}

bool Router::Matches(const Binding& b, const Inbound& in) {
  if (b.channel && *b.channel != in.channel) return false;
  if (b.account_id && *b.account_id != in.account_id) return false;
  if (b.chat_type && *b.chat_type != in.chat_type) return false;
  if (b.peer) {
    // The sender on the platform; a direct chat without `from` is named by its conversation.
    const std::string& peer = !in.from.empty() || in.chat_type != "direct" ? in.from : in.conversation;
    if (!SameId(*b.peer, in.channel, peer)) return false;
  }
  if (b.group && !SameId(*b.group, in.channel, in.group_id)) return false;
  if (b.sender_domain) {
    const size_t at = in.from.rfind('@');
    if (at == std::string::npos) return false;
    if (!oc::AsciiEqualsNoCase(std::string_view(in.from).substr(at + 1), *b.sender_domain)) return false;
  }
  if (b.body && !RE2::PartialMatch(in.text, *b.body)) return false;
  return true;
}

Route Router::Resolve(const Inbound& in) const {
  Route route;
  int best_specificity = -1;
  for (size_t i = 0; i < bindings_.size(); ++i) {
    const Binding& b = bindings_[i];
    // Strictly greater: on a tie the earlier binding stays.
    if (b.specificity > best_specificity && Matches(b, in)) {
      best_specificity = b.specificity;
      route.binding = static_cast<int>(i);
      route.agent_id = b.agent_id;
    }
  }
  if (route.binding < 0) {
    auto it = channel_agent_.find(in.channel);
    route.agent_id = it != channel_agent_.end() ? it->second : "default";
  }
  const std::string prefix = "agent:" + route.agent_id + ":";
  if (in.chat_type == "group") {
    // The group is the conversation; the sender's identity is only reported, never the key.
    route.kind = "group";
    route.session_key = prefix + "group:" + in.address;
    if (!in.from.empty()) route.identity = IdentityOf(in.channel + ":" + in.from);
  } else if (conversation_scope_) {
    route.kind = "conversation";
    route.identity = DirectIdentity(in);
    route.session_key = prefix + "conv:" + in.address;
  } else {
    route.kind = "identity";
    route.identity = DirectIdentity(in);
    route.session_key = prefix + "identity:" + route.identity;
  }
  return route;
}

std::string Router::DirectIdentity(const Inbound& in) const {
  if (!in.from.empty()) {
    const std::string sender = in.channel + ":" + in.from;
    if (auto it = identity_of_.find(sender); it != identity_of_.end()) return it->second;
    if (auto it = identity_of_.find(in.address); it != identity_of_.end()) return it->second;
    return sender;
  }
  return IdentityOf(in.address);
}

std::string Router::IdentityOf(std::string_view address) const {
  auto it = identity_of_.find(address);
  return it != identity_of_.end() ? it->second : std::string(address);
}

json::value Router::IdentitiesJson() const {
  json::object out;
  for (const auto& [name, addresses] : identities_) {
    json::array list;
    for (const auto& a : addresses) list.emplace_back(a);
    out[name] = std::move(list);
  }
  return out;
}

}  // namespace oc::sessions
