#include "sessions/run_store.h"

#include <utility>

namespace oc::sessions {

namespace {

using store::OptParam;
using store::Row;

// JSON columns hold compact JSON text; NULL for a null value.
std::optional<std::string> JsonColumn(const json::value& v) {
  if (v.is_null()) return std::nullopt;
  return json::serialize(v);
}

// Lenient on the way out: a column that is not valid JSON (hand-edited, truncated) reads as null
// rather than failing the whole query.
json::value ParseColumn(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  auto parsed = ParseJson(*text);
  return parsed.ok() ? std::move(parsed).value() : json::value(nullptr);
}

void PutOpt(json::object& o, std::string_view key, const std::optional<int64_t>& v) {
  if (v) o[key] = *v;
}

void PutOpt(json::object& o, std::string_view key, const std::optional<std::string>& v) {
  if (v) o[key] = *v;
}

// A foreign key names a row that does not exist: the caller referred to an unknown session/message.
Error ForeignKeyToNotFound(Error error, std::string_view what) {
  if (error.code == ErrorCode::kConflict && error.message.find("FOREIGN KEY") != std::string::npos) {
    return MakeError(ErrorCode::kNotFound, std::string(what) + " not found");
  }
  return error;
}

// ---- runs ----

constexpr std::string_view kRunColumns =
    "id, session_id, agent_id, message_id, origin, reply_address, reply_metadata, status, attempts, model, "
    "tokens_in, tokens_out, error, idempotency_key, created_at, started_at, finished_at, duration_ms, resumed";

std::string RunSelect(std::string_view where_and_order) {
  return "SELECT " + std::string(kRunColumns) + " FROM runs " + std::string(where_and_order);
}

RunRecord ReadRun(const Row& row) {
  RunRecord run;
  run.id = row.Int(0);
  run.session_id = row.Int(1);
  run.agent_id = row.Text(2);
  run.message_id = row.OptInt(3);
  run.origin = row.Text(4);
  run.reply_address = row.OptText(5);
  run.reply_metadata = ParseColumn(row.OptText(6));
  run.status = row.Text(7);
  json::value attempts = ParseColumn(row.OptText(8));
  // Documented as an array: keep the shape even when the column is damaged.
  run.attempts = attempts.is_array() ? std::move(attempts) : json::value(json::array());
  run.model = row.OptText(9);
  run.tokens_in = row.OptInt(10);
  run.tokens_out = row.OptInt(11);
  run.error = row.OptText(12);
  run.idempotency_key = row.OptText(13);
  run.created_at = row.Int(14);
  run.started_at = row.OptInt(15);
  run.finished_at = row.OptInt(16);
  run.duration_ms = row.OptInt(17);
  run.resumed = row.Int(18);
  return run;
}

// Why a conditional UPDATE on a run changed nothing: no such run, or it is in another state.
Status RunNotInState(store::Database& db, int64_t id, std::string_view expected) {
  OC_ASSIGN(auto status, db.QueryText("SELECT status FROM runs WHERE id = ?1", {id}));
  if (!status) return MakeError(ErrorCode::kNotFound, "run " + std::to_string(id) + " not found");
  return MakeError(ErrorCode::kConflict,
                   "run " + std::to_string(id) + " is " + *status + ", not " + std::string(expected));
}

// ---- outbox ----

constexpr std::string_view kOutboxColumns =
    "id, channel_id, target, content, metadata, session_id, run_id, origin, status, attempts, next_attempt_at, "
    "last_error, platform_message_id, created_at, delivered_at";

std::string OutboxSelect(std::string_view where_and_order) {
  return "SELECT " + std::string(kOutboxColumns) + " FROM outbox " + std::string(where_and_order);
}

OutboxEntry ReadOutbox(const Row& row) {
  OutboxEntry entry;
  entry.id = row.Int(0);
  entry.channel_id = row.Text(1);
  entry.target = row.Text(2);
  entry.content = row.Text(3);
  entry.metadata = ParseColumn(row.OptText(4));
  entry.session_id = row.OptInt(5);
  entry.run_id = row.OptInt(6);
  entry.origin = row.Text(7);
  entry.status = row.Text(8);
  entry.attempts = row.Int(9);
  entry.next_attempt_at = row.Int(10);
  entry.last_error = row.OptText(11);
  entry.platform_message_id = row.OptText(12);
  entry.created_at = row.Int(13);
  entry.delivered_at = row.OptInt(14);
  return entry;
}

// Updates a pending entry; kNotFound when the entry is missing or no longer pending.
Status UpdatePending(store::Database& db, int64_t id, std::string_view sql, std::initializer_list<store::Param> params) {
  OC_ASSIGN(int64_t changed, db.Update(sql, params));
  if (changed == 0) return MakeError(ErrorCode::kNotFound, "outbox entry " + std::to_string(id) + " is not pending");
  return Status::Ok();
}

}  // namespace

// ---- RunRecord / RunStore ----

json::value RunRecord::ToJson() const {
  json::object o;
  o["id"] = id;
  o["sessionId"] = session_id;
  o["agentId"] = agent_id;
  PutOpt(o, "messageId", message_id);
  o["origin"] = origin;
  PutOpt(o, "replyAddress", reply_address);
  o["status"] = status;
  o["attempts"] = attempts.is_array() ? attempts : json::value(json::array());
  PutOpt(o, "model", model);
  if (tokens_in || tokens_out) o["tokens"] = {{"input", tokens_in.value_or(0)}, {"output", tokens_out.value_or(0)}};
  PutOpt(o, "error", error);
  o["createdAt"] = created_at;
  PutOpt(o, "startedAt", started_at);
  PutOpt(o, "finishedAt", finished_at);
  PutOpt(o, "durationMs", duration_ms);
  o["resumed"] = resumed;
  return o;
}

Result<int64_t> RunStore::Create(const NewRun& run) {
  if (run.idempotency_key) {
    OC_ASSIGN(auto existing, FindByIdempotencyKey(*run.idempotency_key));
    if (existing) {
      json::object data;
      data["runId"] = existing->id;
      return MakeError(ErrorCode::kConflict, "a run with idempotency key '" + *run.idempotency_key +
                                                 "' exists already (run " + std::to_string(existing->id) + ")",
                       std::move(data));
    }
  }
  const std::optional<std::string> reply_metadata = JsonColumn(run.reply_metadata);
  auto id = db_.Insert(
      "INSERT INTO runs (session_id, agent_id, message_id, origin, reply_address, reply_metadata, status, attempts, "
      "idempotency_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', '[]', ?7, ?8)",
      {run.session_id, std::string_view(run.agent_id), OptParam(run.message_id), std::string_view(run.origin),
       OptParam(run.reply_address), OptParam(reply_metadata), OptParam(run.idempotency_key), NowMs()});
  if (!id.ok()) return ForeignKeyToNotFound(id.error(), "session " + std::to_string(run.session_id) + " or its message");
  return id;
}

Result<std::optional<RunRecord>> RunStore::Get(int64_t id) {
  std::optional<RunRecord> run;
  OC_TRY(db_.Query(RunSelect("WHERE id = ?1"), {id}, [&](const Row& row) { run = ReadRun(row); }));
  return run;
}

Result<std::optional<RunRecord>> RunStore::FindByIdempotencyKey(std::string_view key) {
  std::optional<RunRecord> run;
  OC_TRY(db_.Query(RunSelect("WHERE idempotency_key = ?1"), {key}, [&](const Row& row) { run = ReadRun(row); }));
  return run;
}

Status RunStore::MarkRunning(int64_t id, int64_t started_at_ms) {
  OC_ASSIGN(int64_t changed, db_.Update("UPDATE runs SET status = 'running', started_at = ?2 "
                                        "WHERE id = ?1 AND status = 'queued'",
                                        {id, started_at_ms}));
  if (changed == 0) return RunNotInState(db_, id, "queued");
  return Status::Ok();
}

Status RunStore::Finish(int64_t id, const RunOutcome& outcome) {
  const int64_t finished_at = outcome.finished_at != 0 ? outcome.finished_at : NowMs();
  const std::string attempts = json::serialize(outcome.attempts.is_array() ? outcome.attempts
                                                                             : json::value(json::array()));
  OC_ASSIGN(int64_t changed,
            db_.Update("UPDATE runs SET status = ?2, attempts = ?3, model = ?4, tokens_in = ?5, tokens_out = ?6, "
                       "error = ?7, finished_at = ?8, "
                       "duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE max(0, ?8 - started_at) END "
                       "WHERE id = ?1 AND status IN ('queued', 'running')",
                       {id, outcome.success ? "done" : "failed", std::string_view(attempts), OptParam(outcome.model),
                        OptParam(outcome.tokens_in), OptParam(outcome.tokens_out), OptParam(outcome.error),
                        finished_at}));
  if (changed == 0) return RunNotInState(db_, id, "queued or running");
  return Status::Ok();
}

Result<std::vector<RunRecord>> RunStore::RecoverPending() {
  std::vector<RunRecord> runs;
  OC_TRY(db_.InTransaction([&]() -> Status {
    OC_TRY(db_.Run("UPDATE runs SET status = 'queued', resumed = resumed + 1 WHERE status = 'running'"));
    return db_.Query(RunSelect("WHERE status IN ('queued', 'running') ORDER BY id"), {},
                     [&](const Row& row) { runs.push_back(ReadRun(row)); })
        .status();
  }));
  return runs;
}

Result<std::vector<RunRecord>> RunStore::ListBySession(int64_t session_id, int64_t limit) {
  std::vector<RunRecord> runs;
  // SQLite reads a negative LIMIT as "no limit".
  OC_TRY(db_.Query(RunSelect("WHERE session_id = ?1 ORDER BY id DESC LIMIT ?2"),
                   {session_id, limit > 0 ? limit : int64_t{-1}},
                   [&](const Row& row) { runs.push_back(ReadRun(row)); }));
  return runs;
}

// ---- OutboxEntry / OutboxStore ----

json::value OutboxEntry::ToJson() const {
  json::object o;
  o["id"] = id;
  o["channelId"] = channel_id;
  o["target"] = target;
  o["content"] = content;
  if (!metadata.is_null()) o["metadata"] = metadata;
  PutOpt(o, "sessionId", session_id);
  PutOpt(o, "runId", run_id);
  o["origin"] = origin;
  o["status"] = status;
  o["attempts"] = attempts;
  o["nextAttemptAt"] = next_attempt_at;
  PutOpt(o, "lastError", last_error);
  PutOpt(o, "platformMessageId", platform_message_id);
  o["createdAt"] = created_at;
  PutOpt(o, "deliveredAt", delivered_at);
  return o;
}

Result<int64_t> OutboxStore::Enqueue(const NewOutboxEntry& entry) {
  const std::optional<std::string> metadata = JsonColumn(entry.metadata);
  const int64_t now = NowMs();
  auto id = db_.Insert(
      "INSERT INTO outbox (channel_id, target, content, metadata, session_id, run_id, origin, status, attempts, "
      "next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?8)",
      {std::string_view(entry.channel_id), std::string_view(entry.target), std::string_view(entry.content),
       OptParam(metadata), OptParam(entry.session_id), OptParam(entry.run_id), std::string_view(entry.origin), now});
  if (!id.ok()) {
    return ForeignKeyToNotFound(id.error(), "session " + std::to_string(entry.session_id.value_or(0)));
  }
  return id;
}

Result<std::optional<OutboxEntry>> OutboxStore::Get(int64_t id) {
  std::optional<OutboxEntry> entry;
  OC_TRY(db_.Query(OutboxSelect("WHERE id = ?1"), {id}, [&](const Row& row) { entry = ReadOutbox(row); }));
  return entry;
}

Result<std::vector<OutboxEntry>> OutboxStore::Due(int64_t now_ms, int64_t limit) {
  std::vector<OutboxEntry> entries;
  // Oldest first = the order they were enqueued, so replies to one conversation keep their order
  // even after retries moved their due times.
  OC_TRY(db_.Query(OutboxSelect("WHERE status = 'pending' AND next_attempt_at <= ?1 AND NOT EXISTS ("
                                "SELECT 1 FROM outbox older WHERE older.status = 'pending' AND "
                                "older.channel_id = outbox.channel_id AND older.target = outbox.target AND "
                                "older.id < outbox.id) ORDER BY id LIMIT ?2"),
                   {now_ms, limit > 0 ? limit : int64_t{-1}},
                   [&](const Row& row) { entries.push_back(ReadOutbox(row)); }));
  return entries;
}

Result<std::optional<int64_t>> OutboxStore::NextDueAt() {
  return db_.QueryInt("SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'");
}

Result<int64_t> OutboxStore::CountPending() {
  OC_ASSIGN(auto count, db_.QueryInt("SELECT count(*) FROM outbox WHERE status = 'pending'"));
  return count.value_or(0);
}

Status OutboxStore::MakeChannelDue(std::string_view channel_id, int64_t now_ms) {
  return db_.Run("UPDATE outbox SET next_attempt_at = ?2 "
                 "WHERE status = 'pending' AND channel_id = ?1 AND next_attempt_at > ?2",
                 {channel_id, now_ms});
}

Status OutboxStore::MarkDelivered(int64_t id, int64_t at_ms, std::optional<std::string> platform_message_id) {
  return UpdatePending(db_, id,
                       "UPDATE outbox SET status = 'delivered', delivered_at = ?2, platform_message_id = ?3 "
                       "WHERE id = ?1 AND status = 'pending'",
                       {id, at_ms, OptParam(platform_message_id)});
}

Status OutboxStore::MarkBlocked(int64_t id, std::string_view reason) {
  return UpdatePending(db_, id,
                       "UPDATE outbox SET status = 'blocked', last_error = ?2 WHERE id = ?1 AND status = 'pending'",
                       {id, reason});
}

Status OutboxStore::MarkFailed(int64_t id, std::string_view error) {
  return UpdatePending(db_, id,
                       "UPDATE outbox SET status = 'failed', last_error = ?2 WHERE id = ?1 AND status = 'pending'",
                       {id, error});
}

Status OutboxStore::Reschedule(int64_t id, int64_t next_attempt_at_ms, std::string_view error) {
  return UpdatePending(db_, id,
                       "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 "
                       "WHERE id = ?1 AND status = 'pending'",
                       {id, next_attempt_at_ms, error});
}

Status OutboxStore::Defer(int64_t id, int64_t next_attempt_at_ms, std::string_view error) {
  return UpdatePending(db_, id,
                       "UPDATE outbox SET next_attempt_at = ?2, last_error = ?3 WHERE id = ?1 AND status = 'pending'",
                       {id, next_attempt_at_ms, error});
}

}  // namespace oc::sessions
