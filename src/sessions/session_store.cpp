#include "sessions/session_store.h"

#include <algorithm>

#include "sessions/router.h"

namespace oc::sessions {
namespace {

using store::OptParam;
using store::Param;
using store::Row;

// Every session query selects these columns in this order (s = the session, p = its parent).
constexpr std::string_view kSessionColumns =
    "SELECT s.id, s.key, s.agent_id, s.kind, s.channel_id, s.account_id, s.last_address, "
    "s.parent_id, p.key, s.branched_at, s.created_at, s.last_active_at, s.ended_at, s.end_reason, "
    "s.message_count, s.active, s.metadata "
    "FROM sessions s LEFT JOIN sessions p ON p.id = s.parent_id ";

constexpr std::string_view kMessageColumns =
    "SELECT id, session_id, seq, role, content, tool_calls, tool_call_id, tool_name, run_id, "
    "address, sender, metadata, tokens_in, tokens_out, created_at FROM messages ";

// JSON column text → value; a NULL or unparsable column reads as null (it was written by us, so
// unparsable means damaged: better an absent field than a failed read).
json::value ParseColumn(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  return ec ? json::value(nullptr) : v;
}

std::optional<std::string> SerializeColumn(const json::value& v) {
  if (v.is_null()) return std::nullopt;
  return json::serialize(v);
}

SessionEntry ReadSession(const Row& row) {
  SessionEntry s;
  s.id = row.Int(0);
  s.key = row.Text(1);
  s.agent_id = row.Text(2);
  s.kind = row.Text(3);
  s.channel_id = row.OptText(4);
  s.account_id = row.OptText(5);
  s.last_address = row.OptText(6);
  s.parent_id = row.OptInt(7);
  s.parent_key = row.OptText(8);
  s.branched_at = row.OptInt(9);
  s.created_at = row.Int(10);
  s.last_active_at = row.Int(11);
  s.ended_at = row.OptInt(12);
  s.end_reason = row.OptText(13);
  s.message_count = row.Int(14);
  s.active = row.Int(15) != 0;
  s.metadata = ParseColumn(row.OptText(16));
  return s;
}

std::string ToolCallsText(const std::vector<ToolCallRecord>& calls) {
  json::array out;
  for (const auto& c : calls) {
    out.push_back(json::object{{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
  }
  return json::serialize(out);
}

std::vector<ToolCallRecord> ReadToolCalls(const std::optional<std::string>& text) {
  std::vector<ToolCallRecord> calls;
  json::value v = ParseColumn(text);
  if (!v.is_array()) return calls;
  for (const auto& item : v.as_array()) {
    if (!item.is_object()) continue;
    const auto& o = item.as_object();
    ToolCallRecord c;
    c.id = std::string(GetString(o, "id").value_or(""));
    c.name = std::string(GetString(o, "name").value_or(""));
    if (const auto* args = o.if_contains("arguments")) {
      c.arguments = args->is_string() ? std::string(args->as_string()) : json::serialize(*args);
    }
    calls.push_back(std::move(c));
  }
  return calls;
}

StoredMessage ReadMessage(const Row& row) {
  StoredMessage m;
  m.id = row.Int(0);
  m.session_id = row.Int(1);
  m.seq = row.Int(2);
  m.role = row.Text(3);
  m.content = row.Text(4);
  m.tool_calls = ReadToolCalls(row.OptText(5));
  m.tool_call_id = row.OptText(6);
  m.tool_name = row.OptText(7);
  m.run_id = row.OptInt(8);
  m.address = row.OptText(9);
  m.sender = row.OptText(10);
  m.metadata = ParseColumn(row.OptText(11));
  m.tokens_in = row.OptInt(12);
  m.tokens_out = row.OptInt(13);
  m.created_at = row.Int(14);
  return m;
}

Result<std::optional<SessionEntry>> QueryOneSession(store::Database& db, std::string_view where,
                                                    std::initializer_list<Param> params) {
  std::optional<SessionEntry> found;
  std::string sql = std::string(kSessionColumns) + std::string(where);
  OC_TRY(db.Query(sql, params, [&](const Row& row) {
           if (!found) found = ReadSession(row);
         }).status());
  return found;
}

bool IsKnownRole(std::string_view role) {
  return role == "system" || role == "user" || role == "assistant" || role == "tool" || role == "summary" ||
         role == "command";
}

void PutOpt(json::object& o, std::string_view key, const std::optional<std::string>& v) {
  if (v) o[key] = *v;
}
void PutOpt(json::object& o, std::string_view key, const std::optional<int64_t>& v) {
  if (v) o[key] = *v;
}

}  // namespace

json::value SessionEntry::ToJson() const {
  json::object o{{"id", id}, {"key", key}, {"agentId", agent_id}, {"kind", kind}};
  PutOpt(o, "channelId", channel_id);
  PutOpt(o, "accountId", account_id);
  PutOpt(o, "lastAddress", last_address);
  PutOpt(o, "parentId", parent_id);
  PutOpt(o, "parentKey", parent_key);
  PutOpt(o, "branchedAt", branched_at);
  o["createdAt"] = created_at;
  o["lastActiveAt"] = last_active_at;
  PutOpt(o, "endedAt", ended_at);
  PutOpt(o, "endReason", end_reason);
  o["messageCount"] = message_count;
  o["active"] = active;
  if (!metadata.is_null()) o["metadata"] = metadata;
  return o;
}

json::value StoredMessage::ToJson() const {
  json::object o{{"id", id}, {"seq", seq}, {"role", role}, {"content", content}};
  if (!tool_calls.empty()) {
    json::array calls;
    for (const auto& c : tool_calls) {
      calls.push_back(json::object{{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
    }
    o["toolCalls"] = std::move(calls);
  }
  PutOpt(o, "toolCallId", tool_call_id);
  PutOpt(o, "toolName", tool_name);
  PutOpt(o, "runId", run_id);
  PutOpt(o, "address", address);
  PutOpt(o, "sender", sender);
  if (!metadata.is_null()) o["metadata"] = metadata;
  if (tokens_in || tokens_out) {
    json::object tokens;
    PutOpt(tokens, "input", tokens_in);
    PutOpt(tokens, "output", tokens_out);
    o["tokens"] = std::move(tokens);
  }
  o["createdAt"] = created_at;
  return o;
}

Result<std::optional<SessionEntry>> SessionStore::Get(std::string_view key) {
  return QueryOneSession(db_, "WHERE s.key = ?1 AND s.active = 1", {key});
}

Result<std::optional<SessionEntry>> SessionStore::GetById(int64_t id) {
  return QueryOneSession(db_, "WHERE s.id = ?1", {id});
}

Result<SessionEntry> SessionStore::GetOrCreate(const SessionSpec& spec, bool* created) {
  if (created) *created = false;
  if (spec.key.empty() || spec.agent_id.empty() || spec.kind.empty()) {
    return MakeError(ErrorCode::kInvalidParams, "session key, agent and kind must not be empty");
  }
  std::optional<SessionEntry> entry;
  bool inserted = false;
  OC_TRY(db_.InTransaction([&]() -> Status {
    OC_ASSIGN(entry, Get(spec.key));
    if (entry) return Status::Ok();
    const int64_t now = NowMs();
    OC_ASSIGN(int64_t id,
              db_.Insert("INSERT INTO sessions (key, agent_id, kind, channel_id, account_id, "
                         "last_address, created_at, last_active_at, message_count, active) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 0, 1)",
                         {spec.key, spec.agent_id, spec.kind, OptParam(spec.channel_id),
                          OptParam(spec.account_id), OptParam(spec.address), now}));
    OC_ASSIGN(entry, GetById(id));
    inserted = true;
    return entry ? Status::Ok() : MakeError(ErrorCode::kInternalError, "inserted session vanished");
  }));
  if (created) *created = inserted;
  return std::move(*entry);
}

Result<std::pair<std::vector<SessionEntry>, int64_t>> SessionStore::List(const SessionFilter& filter) {
  const int64_t limit = std::clamp<int64_t>(filter.limit, 1, 1000);
  const int64_t offset = std::max<int64_t>(filter.offset, 0);
  Param active = filter.active ? Param(int64_t{*filter.active ? 1 : 0}) : Param(nullptr);
  std::optional<std::string> channels;  // JSON array for json_each
  if (filter.channel_in) {
    json::array list;
    for (const auto& c : *filter.channel_in) list.emplace_back(c);
    channels = json::serialize(list);
  }
  constexpr std::string_view kWhere =
      "WHERE (?1 IS NULL OR s.agent_id = ?1) AND (?2 IS NULL OR s.channel_id = ?2) "
      "AND (?3 IS NULL OR s.account_id = ?3) AND (?4 IS NULL OR s.active = ?4) "
      "AND (?7 IS NULL OR s.channel_id IN (SELECT value FROM json_each(?7))) ";
  std::vector<SessionEntry> sessions;
  std::string sql = std::string(kSessionColumns) + std::string(kWhere) +
                    "ORDER BY s.last_active_at DESC, s.id DESC LIMIT ?5 OFFSET ?6";
  OC_TRY(db_.Query(sql,
                   {OptParam(filter.agent_id), OptParam(filter.channel_id), OptParam(filter.account_id), active,
                    limit, offset, OptParam(channels)},
                   [&](const Row& row) { sessions.push_back(ReadSession(row)); })
             .status());
  // ?5 and ?6 are unused here but keep the numbering of kWhere.
  std::string count_sql = "SELECT COUNT(*) FROM sessions s " + std::string(kWhere) + "AND ?5 = ?5 AND ?6 = ?6";
  OC_ASSIGN(auto total, db_.QueryInt(count_sql, {OptParam(filter.agent_id), OptParam(filter.channel_id),
                                                 OptParam(filter.account_id), active, limit, offset,
                                                 OptParam(channels)}));
  return std::make_pair(std::move(sessions), total.value_or(0));
}

Result<StoredMessage> SessionStore::Append(int64_t session_id, const NewMessage& message) {
  if (!IsKnownRole(message.role)) {
    return MakeError(ErrorCode::kInvalidParams, "unknown message role: " + message.role);
  }
  std::optional<std::string> channel_id, account_id;
  if (message.address) {
    OC_ASSIGN(auto parts, ParseAddress(*message.address));
    channel_id = std::move(parts.first);
    if (message.metadata.is_object()) {
      if (auto acc = GetString(message.metadata.as_object(), "accountId")) account_id = std::string(*acc);
    }
  }
  const int64_t created_at = message.created_at > 0 ? message.created_at : NowMs();
  const std::optional<std::string> tool_calls =
      message.tool_calls.empty() ? std::nullopt : std::optional(ToolCallsText(message.tool_calls));
  const std::optional<std::string> metadata = SerializeColumn(message.metadata);
  int64_t message_id = 0;
  OC_TRY(db_.InTransaction([&]() -> Status {
    OC_ASSIGN(auto count, db_.QueryInt("SELECT message_count FROM sessions WHERE id = ?1", {session_id}));
    if (!count) {
      return MakeError(ErrorCode::kNotFound, "no session with id " + std::to_string(session_id));
    }
    OC_ASSIGN(message_id,
              db_.Insert("INSERT INTO messages (session_id, seq, role, content, tool_calls, "
                         "tool_call_id, tool_name, run_id, address, sender, metadata, tokens_in, "
                         "tokens_out, created_at) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                         {session_id, *count + 1, message.role, message.content,
                          OptParam(tool_calls), OptParam(message.tool_call_id),
                          OptParam(message.tool_name), OptParam(message.run_id),
                          OptParam(message.address), OptParam(message.sender), OptParam(metadata),
                          OptParam(message.tokens_in), OptParam(message.tokens_out), created_at}));
    // An address-less message (tool result, assistant reply) leaves the routing fields alone.
    return db_.Run("UPDATE sessions SET message_count = ?2, "
                   "last_active_at = MAX(last_active_at, ?3), "
                   "last_address = COALESCE(?4, last_address), "
                   "channel_id = COALESCE(?5, channel_id), "
                   "account_id = COALESCE(?6, account_id) WHERE id = ?1",
                   {session_id, *count + 1, created_at, OptParam(message.address),
                    OptParam(channel_id), OptParam(account_id)});
  }));
  OC_ASSIGN(auto stored, GetMessage(message_id));
  if (!stored) return MakeError(ErrorCode::kInternalError, "appended message vanished");
  return std::move(*stored);
}

Result<std::vector<StoredMessage>> SessionStore::History(int64_t session_id, int64_t limit,
                                                         std::optional<int64_t> before_seq) {
  OC_ASSIGN(auto exists, db_.QueryInt("SELECT 1 FROM sessions WHERE id = ?1", {session_id}));
  if (!exists) return MakeError(ErrorCode::kNotFound, "no session with id " + std::to_string(session_id));
  std::vector<StoredMessage> out;
  // The newest `limit` first, then reversed: ascending order with a bounded read.
  std::string sql = std::string(kMessageColumns) +
                    "WHERE session_id = ?1 AND (?2 IS NULL OR seq < ?2) ORDER BY seq DESC LIMIT ?3";
  const int64_t sql_limit = limit > 0 ? limit : -1;  // SQLite: a negative LIMIT means none
  OC_TRY(db_.Query(sql, {session_id, OptParam(before_seq), sql_limit},
                   [&](const Row& row) { out.push_back(ReadMessage(row)); })
             .status());
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::vector<StoredMessage>> SessionStore::ModelWindow(int64_t session_id, int64_t limit) {
  std::vector<StoredMessage> out;
  OC_TRY(db_.Query("SELECT id, seq, role, content, tool_calls, tool_call_id, tool_name, run_id FROM messages "
                   "WHERE session_id = ?1 AND compacted = 0 ORDER BY seq DESC LIMIT ?2",
                   {session_id, limit > 0 ? limit : int64_t{-1}},
                   [&](const Row& row) {
                     StoredMessage m;
                     m.id = row.Int(0);
                     m.session_id = session_id;
                     m.seq = row.Int(1);
                     m.role = row.Text(2);
                     m.content = row.Text(3);
                     if (!row.IsNull(4)) m.tool_calls = ReadToolCalls(row.OptText(4));
                     m.tool_call_id = row.OptText(5);
                     m.tool_name = row.OptText(6);
                     m.run_id = row.OptInt(7);
                     out.push_back(std::move(m));
                   })
             .status());
  std::reverse(out.begin(), out.end());
  return out;
}

Result<int64_t> SessionStore::MarkCompacted(int64_t session_id, const std::vector<int64_t>& message_ids) {
  int64_t marked = 0;
  Status st = db_.InTransaction([&]() -> Status {
    for (int64_t id : message_ids) {
      OC_ASSIGN(int64_t n, db_.Update("UPDATE messages SET compacted = 1 WHERE id = ?1 AND session_id = ?2",
                                      {id, session_id}));
      marked += n;
    }
    return Status::Ok();
  });
  if (!st.ok()) return st.error();
  return marked;
}

Result<int64_t> SessionStore::MarkCompactedBefore(int64_t session_id, int64_t before_seq) {
  return db_.Update("UPDATE messages SET compacted = 1 WHERE session_id = ?1 AND seq < ?2 AND compacted = 0",
                    {session_id, before_seq});
}

Result<std::optional<StoredMessage>> SessionStore::LatestSummary(int64_t session_id) {
  std::optional<StoredMessage> found;
  std::string sql = std::string(kMessageColumns) +
                    "WHERE session_id = ?1 AND role = 'summary' AND compacted = 0 ORDER BY seq DESC LIMIT 1";
  OC_TRY(db_.Query(sql, {session_id}, [&](const Row& row) { found = ReadMessage(row); }).status());
  return found;
}

Result<int64_t> SessionStore::CompactedCount(int64_t session_id) {
  OC_ASSIGN(auto n, db_.QueryInt("SELECT count(*) FROM messages WHERE session_id = ?1 AND compacted = 1", {session_id}));
  return n.value_or(0);
}

Status SessionStore::SetMetadata(int64_t session_id, const json::value& metadata) {
  OC_ASSIGN(int64_t changed, db_.Update("UPDATE sessions SET metadata = ?2 WHERE id = ?1",
                                        {session_id, OptParam(SerializeColumn(metadata))}));
  if (changed == 0) return MakeError(ErrorCode::kNotFound, "no session with id " + std::to_string(session_id));
  return Status::Ok();
}

Status SessionStore::AttachRun(int64_t message_id, int64_t run_id) {
  OC_ASSIGN(int64_t changed, db_.Update("UPDATE messages SET run_id = ?2 WHERE id = ?1", {message_id, run_id}));
  if (changed == 0) return MakeError(ErrorCode::kNotFound, "no message with id " + std::to_string(message_id));
  return Status::Ok();
}

Result<std::optional<StoredMessage>> SessionStore::GetMessage(int64_t message_id) {
  std::optional<StoredMessage> found;
  std::string sql = std::string(kMessageColumns) + "WHERE id = ?1";
  OC_TRY(db_.Query(sql, {message_id}, [&](const Row& row) { found = ReadMessage(row); }).status());
  return found;
}

Result<SessionEntry> SessionStore::Branch(std::string_view key, std::optional<int64_t> at_seq,
                                          std::string new_key) {
  if (new_key.empty()) return MakeError(ErrorCode::kInvalidParams, "branch key must not be empty");
  std::optional<SessionEntry> branch;
  OC_TRY(db_.InTransaction([&]() -> Status {
    OC_ASSIGN(auto parent, Get(key));
    if (!parent) return MakeError(ErrorCode::kNotFound, "no active session " + std::string(key));
    const int64_t upto = at_seq.value_or(parent->message_count);
    if (at_seq && (*at_seq < 1 || *at_seq > parent->message_count)) {
      return MakeError(ErrorCode::kNotFound, "session " + std::string(key) + " has no message " +
                                                 std::to_string(*at_seq));
    }
    OC_ASSIGN(auto taken, Get(new_key));
    if (taken) return MakeError(ErrorCode::kConflict, "session " + new_key + " is already active");
    const int64_t now = NowMs();
    const std::optional<std::string> metadata = SerializeColumn(parent->metadata);
    OC_ASSIGN(int64_t id,
              db_.Insert("INSERT INTO sessions (key, agent_id, kind, channel_id, account_id, "
                         "last_address, parent_id, branched_at, created_at, last_active_at, "
                         "message_count, active, metadata) "
                         "VALUES (?1, ?2, 'branch', ?3, ?4, ?5, ?6, ?7, ?8, ?8, 0, 1, ?9)",
                         {new_key, parent->agent_id, OptParam(parent->channel_id),
                          OptParam(parent->account_id), OptParam(parent->last_address), parent->id,
                          upto, now, OptParam(metadata)}));
    OC_ASSIGN(int64_t copied,
              db_.Update("INSERT INTO messages (session_id, seq, role, content, tool_calls, "
                         "tool_call_id, tool_name, run_id, address, sender, metadata, tokens_in, "
                         "tokens_out, created_at) "
                         "SELECT ?1, seq, role, content, tool_calls, tool_call_id, tool_name, run_id, "
                         "address, sender, metadata, tokens_in, tokens_out, created_at "
                         "FROM messages WHERE session_id = ?2 AND seq <= ?3 ORDER BY seq",
                         {id, parent->id, upto}));
    OC_TRY(db_.Run("UPDATE sessions SET message_count = ?2 WHERE id = ?1", {id, copied}));
    OC_ASSIGN(branch, GetById(id));
    return branch ? Status::Ok() : MakeError(ErrorCode::kInternalError, "branch vanished");
  }));
  return std::move(*branch);
}

Result<SessionEntry> SessionStore::End(std::string_view key, std::string_view reason) {
  std::optional<SessionEntry> ended;
  OC_TRY(db_.InTransaction([&]() -> Status {
    OC_ASSIGN(auto current, Get(key));
    if (!current) return MakeError(ErrorCode::kNotFound, "no active session " + std::string(key));
    OC_TRY(db_.Run("UPDATE sessions SET active = 0, ended_at = ?2, end_reason = ?3 WHERE id = ?1",
                   {current->id, NowMs(), reason}));
    OC_ASSIGN(ended, GetById(current->id));
    return ended ? Status::Ok() : MakeError(ErrorCode::kInternalError, "ended session vanished");
  }));
  return std::move(*ended);
}

Result<int64_t> SessionStore::Delete(std::string_view key) {
  int64_t deleted = 0;
  OC_TRY(db_.InTransaction([&]() -> Status {
    // The schema's ON DELETE actions do this when foreign keys are enforced; doing it explicitly
    // keeps the result the same on a connection where they are not.
    constexpr std::string_view kIds = "(SELECT id FROM sessions WHERE key = ?1)";
    OC_TRY(db_.Run("DELETE FROM runs WHERE session_id IN " + std::string(kIds), {key}));
    OC_TRY(db_.Run("DELETE FROM messages WHERE session_id IN " + std::string(kIds), {key}));
    OC_TRY(db_.Run("UPDATE outbox SET session_id = NULL WHERE session_id IN " + std::string(kIds), {key}));
    OC_TRY(db_.Run("UPDATE sessions SET parent_id = NULL WHERE key <> ?1 AND parent_id IN " +
                       std::string(kIds),
                   {key}));
    OC_ASSIGN(deleted, db_.Update("DELETE FROM sessions WHERE key = ?1", {key}));
    if (deleted == 0) return MakeError(ErrorCode::kNotFound, "no session " + std::string(key));
    return Status::Ok();
  }));
  return deleted;
}

}  // namespace oc::sessions
