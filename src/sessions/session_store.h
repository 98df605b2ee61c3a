// Sessions and their message history (SPEC §7.1), stored in state.db (tables sessions, messages).
//
// A session is one continuous conversation with one agent. Its `key` is a stable name chosen by
// the router ("agent:<agentId>:identity:<name>", "agent:<agentId>:group:<address>", ...); at most one
// session per key is active. Reset ends the active session (its row and history stay, inactive)
// and the next message under that key starts a new one. Branching copies history into a new session
// that records its parent.
//
// Errors: kNotFound (unknown key / message), kConflict (key already active), kInvalidParams,
// kInternalError (database). Threading: as store::Database (the kernel loop).
// Atomicity: every mutating method is atomic on its own and may also run inside a caller's
// transaction (store::Database nests through savepoints).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "store/database.h"

namespace oc::sessions {

struct SessionEntry {
  int64_t id = 0;
  std::string key;
  std::string agent_id;
  std::string kind;  // identity | group | conversation | control | branch
  std::optional<std::string> channel_id, account_id, last_address;
  std::optional<int64_t> parent_id;
  std::optional<std::string> parent_key;
  std::optional<int64_t> branched_at;  // parent's message seq
  int64_t created_at = 0, last_active_at = 0;
  std::optional<int64_t> ended_at;
  std::optional<std::string> end_reason;
  int64_t message_count = 0;
  bool active = true;
  json::value metadata;  // object or null

  // SessionEntry of SPEC §4.2: {key, agentId, kind, channelId?, accountId?, lastAddress?,
  // parentId?, parentKey?, branchedAt?, createdAt, lastActiveAt, endedAt?, endReason?, messageCount,
  // active, id, metadata?}. Absent optionals are omitted, not null.
  json::value ToJson() const;
};

struct ToolCallRecord {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text as the model produced it
};

struct NewMessage {
  // system | user | assistant | tool, and two the model never sees as such: summary (the summary
  // that replaced compacted turns, SPEC §7.1) and command (the kernel's answer to a chat command).
  std::string role;
  std::string content;
  std::vector<ToolCallRecord> tool_calls;  // assistant
  std::optional<std::string> tool_call_id, tool_name;  // tool
  std::optional<int64_t> run_id;
  std::optional<std::string> address;  // inbound: "<channel>:<conversation>"
  std::optional<std::string> sender;
  json::value metadata;  // object or null
  std::optional<int64_t> tokens_in, tokens_out;
  int64_t created_at = 0;  // 0 = now
};

struct StoredMessage : NewMessage {
  int64_t id = 0;
  int64_t session_id = 0;
  int64_t seq = 0;
  // {id, seq, role, content, toolCalls?, toolCallId?, toolName?, runId?, address?, sender?,
  //  metadata?, tokens? {input, output}, createdAt}
  json::value ToJson() const;
};

// What the router decided for a new session.
struct SessionSpec {
  std::string key;
  std::string agent_id;
  std::string kind;
  std::optional<std::string> channel_id, account_id, address;
};

struct SessionFilter {
  std::optional<std::string> agent_id, channel_id, account_id;
  std::optional<bool> active;  // nullopt = both
  std::optional<std::vector<std::string>> channel_in;  // only sessions of these channels (access checks)
  int64_t limit = 100;         // 1..1000
  int64_t offset = 0;
};

class SessionStore {
 public:
  explicit SessionStore(store::Database& db) : db_(db) {}

  // The active session with spec.key, created from `spec` when there is none (then *created =
  // true). An existing session is returned as it is (its agent is not changed). kInvalidParams when
  // key, agent_id or kind is empty.
  Result<SessionEntry> GetOrCreate(const SessionSpec& spec, bool* created = nullptr);
  // The active session with this key, or nullopt.
  Result<std::optional<SessionEntry>> Get(std::string_view key);
  Result<std::optional<SessionEntry>> GetById(int64_t id);
  // Matching sessions, most recently active first, and the total count matching the filter.
  Result<std::pair<std::vector<SessionEntry>, int64_t>> List(const SessionFilter& filter);

  // Appends at seq = message_count + 1; bumps message_count and last_active_at; a message with an
  // address also sets the session's last_address, channel_id (address up to ':') and, when given
  // in metadata.accountId, account_id. kNotFound for an unknown session; kInvalidParams for an
  // unknown role or an address that is not "<channel>:<conversation>". Ended sessions accept
  // appends (a run finishing after a reset still records its reply).
  Result<StoredMessage> Append(int64_t session_id, const NewMessage& message);
  // History in ascending seq. limit > 0 → only the last `limit` messages (before `before_seq` when
  // given). kNotFound for an unknown session.
  Result<std::vector<StoredMessage>> History(int64_t session_id, int64_t limit = 0,
                                             std::optional<int64_t> before_seq = std::nullopt);
  // The last `limit` messages not compacted (all when limit <= 0) in ascending order, with only
  // what a model sees: id, seq, role, content, tool calls, tool call id and name, and run_id. The
  // run's hot path: no metadata is parsed. An unknown session has no messages.
  Result<std::vector<StoredMessage>> ModelWindow(int64_t session_id, int64_t limit);
  // Marks messages as compacted: they stay in the history but ModelWindow skips them. Ids of other
  // sessions are ignored. Returns how many were marked.
  Result<int64_t> MarkCompacted(int64_t session_id, const std::vector<int64_t>& message_ids);
  // Marks every message of the session with seq < before_seq as compacted. Returns how many.
  Result<int64_t> MarkCompactedBefore(int64_t session_id, int64_t before_seq);
  // The latest summary (role "summary") not itself compacted, or nullopt.
  Result<std::optional<StoredMessage>> LatestSummary(int64_t session_id);
  // Messages of the session marked compacted.
  Result<int64_t> CompactedCount(int64_t session_id);
  // Replaces the session's metadata object (e.g. {model} set by /model). kNotFound for an unknown id.
  Status SetMetadata(int64_t session_id, const json::value& metadata);
  // Records which run answers an inbound message (the run is created after its message).
  // kNotFound for an unknown message.
  Status AttachRun(int64_t message_id, int64_t run_id);
  Result<std::optional<StoredMessage>> GetMessage(int64_t message_id);

  // Copies the history of the active session `key` up to and including message seq `at_seq` (all
  // when nullopt) into a new active session keyed `new_key`, kind "branch", same agent, parent_id
  // set. kNotFound: no such session or seq; kConflict: `new_key` is active already.
  Result<SessionEntry> Branch(std::string_view key, std::optional<int64_t> at_seq, std::string new_key);
  // Ends the active session `key`: active = 0, ended_at = now, end_reason. Returns it as ended.
  // kNotFound when no active session has that key.
  Result<SessionEntry> End(std::string_view key, std::string_view reason);
  // Deletes every session with this key (active and ended) with their messages and runs.
  // Branches of them survive, detached (parent_id NULL); outbox rows lose their session link.
  // Returns how many sessions were deleted; kNotFound when none.
  Result<int64_t> Delete(std::string_view key);

 private:
  store::Database& db_;
};

}  // namespace oc::sessions
