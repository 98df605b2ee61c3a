// The pipeline's control-plane side: sessions.*, outbox.list, session.get/list for apps, and the
// control-plane turn `agent`.
#include "kernel/pipeline.h"
#include "kernel/pipeline_params.h"

namespace oc::kernel {
using internal::BadParam;
using internal::IsSessionKey;
using internal::OptStr;
using internal::Str;

// ---------------------------------------------------------------------------------------------
// Sessions

// A session key ("agent:...") names a session directly; a conversation address is routed as an
// inbound direct message would be.
Result<std::optional<sessions::SessionEntry>> Pipeline::FindSession(std::string_view key) {
  if (IsSessionKey(key)) return sessions_.Get(key);
  auto inbound = sessions::Inbound::FromQueueParams(key, "", json::object());
  if (!inbound.ok()) return inbound.error();
  sessions::Route route = router_.Resolve(*inbound);
  route.agent_id = agent::AgentExists(config_root_, route.agent_id) || custom_agents_.count(route.agent_id)
                       ? route.agent_id
                       : "default";
  auto found = sessions_.Get(route.session_key);
  if (!found.ok() || *found) return found;
  // A group conversation: its session is keyed by the group address.
  inbound->chat_type = "group";
  route = router_.Resolve(*inbound);
  return sessions_.Get(route.session_key);
}

std::string Pipeline::ChannelOfKey(std::string_view key) {
  if (!IsSessionKey(key)) {
    auto parts = sessions::ParseAddress(key);
    return parts.ok() ? parts->first : std::string();
  }
  auto s = sessions_.Get(key);
  return s.ok() && *s && (*s)->channel_id ? *(*s)->channel_id : std::string();
}

Result<json::value> Pipeline::SessionGet(const json::object& params) {
  auto found = FindSession(Str(params, "key"));
  if (!found.ok()) return found.error();
  return json::object{{"session", *found ? (*found)->ToJson() : json::value(nullptr)}};
}

Result<json::value> Pipeline::SessionList(const json::object& params, const std::optional<std::set<std::string>>& channels) {
  sessions::SessionFilter filter;
  if (auto it = params.find("filter"); it != params.end() && it->value().is_object()) {
    const auto& f = it->value().as_object();
    filter.agent_id = OptStr(f, "agentId");
    filter.channel_id = OptStr(f, "channelId");
    filter.account_id = OptStr(f, "accountId");
    if (auto a = f.find("active"); a != f.end() && a->value().is_bool()) filter.active = a->value().as_bool();
  }
  if (auto l = params.find("limit"); l != params.end() && l->value().is_int64()) filter.limit = l->value().as_int64();
  if (auto o = params.find("offset"); o != params.end() && o->value().is_int64()) filter.offset = o->value().as_int64();
  // An app sees the sessions of its own channels only.
  if (channels) filter.channel_in = std::vector<std::string>(channels->begin(), channels->end());
  auto r = sessions_.List(filter);
  if (!r.ok()) return r.error();
  json::array out;
  for (const auto& s : r->first) out.push_back(s.ToJson());
  return json::object{{"sessions", std::move(out)}, {"total", r->second}};
}

Result<sessions::SessionEntry> Pipeline::RequireSession(const json::value& params) {
  const auto* o = params.if_object();
  std::string key = o ? Str(*o, "key") : std::string();
  if (key.empty()) return BadParam("params.key", "is required");
  auto found = FindSession(key);
  if (!found.ok()) return found.error();
  if (!*found) return MakeError(ErrorCode::kNotFound, "no active session " + key);
  return **found;
}

Result<json::value> Pipeline::SessionsList(const json::value& params) {
  json::object p = params.is_object() ? params.as_object() : json::object();
  json::object filter;
  for (std::string_view k : {"agentId", "channelId", "accountId", "active"})
    if (auto it = p.find(k); it != p.end()) filter[k] = it->value();
  if (!filter.empty()) p["filter"] = std::move(filter);
  return SessionList(p, std::nullopt);
}

Result<json::value> Pipeline::SessionsGet(const json::value& params) {
  OC_ASSIGN(sessions::SessionEntry s, RequireSession(params));
  OC_ASSIGN(auto runs, runs_.ListBySession(s.id, 10));
  json::array recent;
  for (const auto& r : runs) recent.push_back(r.ToJson());
  return json::object{{"session", s.ToJson()}, {"runs", std::move(recent)}};
}

Result<json::value> Pipeline::SessionsHistory(const json::value& params) {
  OC_ASSIGN(sessions::SessionEntry s, RequireSession(params));
  const auto& o = params.as_object();
  int64_t limit = 0;
  std::optional<int64_t> before;
  if (auto l = o.find("limit"); l != o.end()) {
    if (!l->value().is_int64() || l->value().as_int64() < 0) return BadParam("params.limit", "must be a non-negative integer");
    limit = l->value().as_int64();
  }
  if (auto b = o.find("beforeSeq"); b != o.end()) {
    if (!b->value().is_int64()) return BadParam("params.beforeSeq", "must be an integer");
    before = b->value().as_int64();
  }
  OC_ASSIGN(auto messages, sessions_.History(s.id, limit, before));
  json::array out;
  for (const auto& m : messages) out.push_back(m.ToJson());
  return json::object{{"session", s.ToJson()}, {"messages", std::move(out)}};
}

Result<json::value> Pipeline::SessionsBranch(const json::value& params) {
  OC_ASSIGN(sessions::SessionEntry s, RequireSession(params));
  const auto& o = params.as_object();
  std::optional<int64_t> at;
  if (auto a = o.find("atMessage"); a != o.end()) {
    if (!a->value().is_int64()) return BadParam("params.atMessage", "must be a message seq (integer)");
    at = a->value().as_int64();
  }
  std::string new_key = Str(o, "newKey");
  if (new_key.empty()) new_key = s.key + ":branch-" + std::to_string(NowMs());
  else if (!IsSessionKey(new_key)) return BadParam("params.newKey", "must start with \"agent:\"");
  OC_ASSIGN(sessions::SessionEntry branch, sessions_.Branch(s.key, at, new_key));
  bus_.Emit("session_start", json::object{{"sessionKey", branch.key}, {"agentId", branch.agent_id}},
            json::object{{"agentId", branch.agent_id}, {"sessionKey", branch.key}});
  return json::object{{"session", branch.ToJson()}};
}

void Pipeline::EndSession(const sessions::SessionEntry& s, std::string_view reason) {
  json::object context{{"agentId", s.agent_id}, {"sessionKey", s.key}};
  bus_.Emit("session_end", json::object{{"sessionKey", s.key}, {"reason", reason},
                                        {"duration", NowMs() - s.created_at}, {"messageCount", s.message_count}},
            context);
}

Result<json::value> Pipeline::SessionsReset(const json::value& params) {
  OC_ASSIGN(sessions::SessionEntry s, RequireSession(params));
  std::string reason = Str(params.as_object(), "reason");
  if (reason.empty()) reason = "reset";
  bus_.Emit("before_reset", json::object{{"sessionKey", s.key}, {"reason", reason}},
            json::object{{"agentId", s.agent_id}, {"sessionKey", s.key}});
  OC_ASSIGN(sessions::SessionEntry ended, sessions_.End(s.key, reason));
  EndSession(ended, reason);
  return json::object{{"ok", true}, {"ended", ended.ToJson()}};
}

Result<json::value> Pipeline::SessionsDelete(const json::value& params) {
  const auto* o = params.if_object();
  std::string key = o ? Str(*o, "key") : std::string();
  if (key.empty()) return BadParam("params.key", "is required");
  if (!IsSessionKey(key)) {
    OC_ASSIGN(sessions::SessionEntry s, RequireSession(params));
    key = s.key;
  }
  auto active = sessions_.Get(key);
  OC_ASSIGN(int64_t deleted, sessions_.Delete(key));
  if (active.ok() && *active) EndSession(**active, "deleted");
  return json::object{{"ok", true}, {"deleted", deleted}};
}

Result<json::value> Pipeline::OutboxList(const json::value& params) {
  std::string status = params.is_object() ? Str(params.as_object(), "status") : std::string();
  json::array out;
  auto n = db_->Query(
      "SELECT id FROM outbox WHERE (?1 = '' OR status = ?1) ORDER BY id DESC LIMIT 200", {std::string_view(status)},
      [&](const store::Row& row) { out.push_back(row.Int(0)); });
  if (!n.ok()) return n.error();
  json::array entries;
  for (const auto& id : out)
    if (auto e = outbox_.Get(id.as_int64()); e.ok() && *e) entries.push_back((*e)->ToJson());
  return json::object{{"entries", std::move(entries)}};
}

// ---------------------------------------------------------------------------------------------
// Control-plane turn: `agent {message, agentId?, sessionKey?, idempotencyKey?, timeoutMs?, deliver?}`.

Result<Pipeline::StartedTurn> Pipeline::StartAgentTurn(const json::value& params) {
  const auto* o = params.if_object();
  if (!o) return BadParam("params", "must be an object");
  std::string message = Str(*o, "message");
  if (message.empty()) return BadParam("params.message", "is required (non-empty string)");
  StartedTurn turn;
  turn.agent_id = Str(*o, "agentId");
  if (turn.agent_id.empty()) turn.agent_id = "default";
  if (!agent::AgentExists(config_root_, turn.agent_id) && !custom_agents_.count(turn.agent_id))
    return MakeError(ErrorCode::kNotFound, "no agent " + turn.agent_id);
  std::optional<std::string> idempotency = OptStr(*o, "idempotencyKey");
  // deliver {channel, to}: the reply also goes to that conversation through the outbox (webhooks).
  std::optional<std::string> reply_address;
  if (const json::value* d = o->if_contains("deliver"); d && !d->is_null()) {
    const json::object* deliver = d->if_object();
    if (!deliver) return BadParam("params.deliver", "must be an object {channel, to}");
    std::string channel = Str(*deliver, "channel"), to = Str(*deliver, "to");
    if (channel.empty() || channel.find(':') != std::string::npos)
      return BadParam("params.deliver.channel", "is required (a channel id)");
    if (to.empty()) return BadParam("params.deliver.to", "is required");
    reply_address = channel + ":" + to;
  }
  if (auto t = o->find("timeoutMs"); t != o->end() && t->value().is_int64())
    turn.timeout = std::chrono::milliseconds(t->value().as_int64());

  if (idempotency) {
    auto existing = runs_.FindByIdempotencyKey("ctl:" + *idempotency);
    if (!existing.ok()) return existing.error();
    if (*existing) {
      turn.run_id = (*existing)->id;
      turn.repeated = true;
      auto session = sessions_.GetById((*existing)->session_id);
      if (session.ok() && *session) turn.session_key = (*session)->key;
      turn.agent_id = (*existing)->agent_id;
      return turn;
    }
  }
  std::string key = Str(*o, "sessionKey");
  SyntheticRun spec;
  spec.session_key = key.empty() ? sessions::MainSessionKey(turn.agent_id) : key;
  spec.agent_id = turn.agent_id;
  spec.origin = "control";
  spec.message = message;
  spec.metadata = json::object{{"source", "control"}};
  if (idempotency) spec.idempotency = "ctl:" + *idempotency;
  spec.reply_address = reply_address;
  if (!key.empty() && !IsSessionKey(key)) {
    auto inbound = sessions::Inbound::FromQueueParams(key, message, json::object());
    if (!inbound.ok()) return BadParam("params.sessionKey", inbound.error().message);
    sessions::Route route = router_.Resolve(*inbound);
    spec.session_key = route.session_key;
    spec.agent_id = AgentFor(route.agent_id);
    spec.kind = route.kind;
    spec.channel_id = inbound->channel;
  }
  auto queued = QueueSynthetic(spec);
  if (!queued.ok()) return queued.error();
  turn.run_id = *queued;
  turn.session_key = spec.session_key;
  turn.agent_id = spec.agent_id;
  return turn;
}

asio::awaitable<Result<json::value>> Pipeline::AgentTurn(json::value params) {
  auto started = StartAgentTurn(params);
  if (!started.ok()) co_return started.error();
  const int64_t run_id = started->run_id;
  auto done = co_await AwaitRun(run_id, started->timeout);
  if (!done) co_return MakeError(ErrorCode::kTimeout, "run " + std::to_string(run_id) + " is still running",
                                 json::object{{"runId", std::to_string(run_id)}});
  co_return *done;
}

}  // namespace oc::kernel
