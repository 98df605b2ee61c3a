// Persistent run queue records (SPEC §7.2) and the outbox (SPEC §4.4), tables runs and outbox of
// state.db. These are records only: scheduling lives in agent/run_queue.h, delivery in the kernel.
//
// A run is created `queued` in the same transaction as the inbound message it answers, before the
// kernel acknowledges it. A kernel crash leaves runs `queued` or `running`; RecoverPending() puts
// them back in the queue on start. Finishing a run (its reply messages, the outbox entry, status
// done) is one transaction of the caller's.
// Errors: kNotFound, kConflict (duplicate idempotency key), kInternalError. Threading: the kernel loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "store/database.h"

namespace oc::sessions {

struct NewRun {
  int64_t session_id = 0;
  std::string agent_id;
  std::optional<int64_t> message_id;
  std::string origin;  // channel | control
  std::optional<std::string> reply_address;  // nullopt: the reply goes to the control-plane caller
  json::value reply_metadata;                // object or null
  std::optional<std::string> idempotency_key;
};

struct RunRecord : NewRun {
  int64_t id = 0;
  std::string status;  // queued | running | done | failed
  json::value attempts = json::array();
  std::optional<std::string> model, error;
  std::optional<int64_t> tokens_in, tokens_out;
  int64_t created_at = 0;
  std::optional<int64_t> started_at, finished_at, duration_ms;
  int64_t resumed = 0;
  // {id, sessionId, agentId, messageId?, origin, replyAddress?, status, attempts, model?, tokens?
  //  {input, output}, error?, createdAt, startedAt?, finishedAt?, durationMs?, resumed}
  json::value ToJson() const;
};

struct RunOutcome {
  bool success = false;
  json::value attempts = json::array();  // [{model, status: ok|error, error?, durationMs, httpStatus?}]
  std::optional<std::string> model, error;
  std::optional<int64_t> tokens_in, tokens_out;
  int64_t finished_at = 0;  // 0 = now
};

class RunStore {
 public:
  explicit RunStore(store::Database& db) : db_(db) {}
  // status queued, created_at now. kConflict when the idempotency key exists (data {runId});
  // kNotFound when the session (or message_id) does not exist.
  Result<int64_t> Create(const NewRun& run);
  Result<std::optional<RunRecord>> Get(int64_t id);
  Result<std::optional<RunRecord>> FindByIdempotencyKey(std::string_view key);
  // queued → running (started_at). kNotFound when no such run, kConflict when it is not queued.
  Status MarkRunning(int64_t id, int64_t started_at_ms);
  // running|queued → done (success) or failed; duration from started_at (none if never started).
  // kNotFound when no such run, kConflict when it has finished already.
  Status Finish(int64_t id, const RunOutcome& outcome);
  // Runs left queued or running by a previous kernel: running ones are set back to queued with
  // resumed + 1. Returned in id order (the order they were accepted).
  Result<std::vector<RunRecord>> RecoverPending();
  // Most recent first; limit <= 0 = all.
  Result<std::vector<RunRecord>> ListBySession(int64_t session_id, int64_t limit = 50);

 private:
  store::Database& db_;
};

struct NewOutboxEntry {
  std::string channel_id;
  std::string target;
  std::string content;
  json::value metadata;  // object or null
  std::optional<int64_t> session_id, run_id;
  std::string origin;  // reply | dispatch
};

struct OutboxEntry : NewOutboxEntry {
  int64_t id = 0;
  std::string status;  // pending | delivered | blocked | failed
  int64_t attempts = 0;
  int64_t next_attempt_at = 0;
  std::optional<std::string> last_error, platform_message_id;
  int64_t created_at = 0;
  std::optional<int64_t> delivered_at;
  // {id, channelId, target, content, metadata?, sessionId?, runId?, origin, status, attempts,
  //  nextAttemptAt, lastError?, platformMessageId?, createdAt, deliveredAt?}
  json::value ToJson() const;
};

class OutboxStore {
 public:
  explicit OutboxStore(store::Database& db) : db_(db) {}
  // pending, due now. Returns the id. kNotFound when session_id names no session.
  Result<int64_t> Enqueue(const NewOutboxEntry& entry);
  Result<std::optional<OutboxEntry>> Get(int64_t id);
  // Pending entries due at `now_ms` (next_attempt_at <= now), oldest (first enqueued) first, at most
  // `limit` (<= 0: all).
  Result<std::vector<OutboxEntry>> Due(int64_t now_ms, int64_t limit);
  // Earliest next_attempt_at among pending entries; nullopt when none is pending.
  Result<std::optional<int64_t>> NextDueAt();
  Result<int64_t> CountPending();
  // Makes every pending entry of this channel due now (its app became ready).
  Status MakeChannelDue(std::string_view channel_id, int64_t now_ms);
  // pending → delivered. kNotFound when not pending (so a late duplicate ack changes nothing).
  Status MarkDelivered(int64_t id, int64_t at_ms, std::optional<std::string> platform_message_id);
  // pending → blocked (an interceptor blocked it) / failed (given up). last_error = reason.
  // kNotFound when not pending (as below).
  Status MarkBlocked(int64_t id, std::string_view reason);
  Status MarkFailed(int64_t id, std::string_view error);
  // attempts + 1, next_attempt_at, last_error; stays pending. kNotFound when not pending.
  Status Reschedule(int64_t id, int64_t next_attempt_at_ms, std::string_view error);
  // Like Reschedule without counting an attempt (nothing was tried: the channel had no app).
  Status Defer(int64_t id, int64_t next_attempt_at_ms, std::string_view error);

 private:
  store::Database& db_;
};

}  // namespace oc::sessions
