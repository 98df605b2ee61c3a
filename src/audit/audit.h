// The audit log (issue 8): a durable record, in state.db, of what happened that matters for
// security: app registrations, capability grants and refusals, exec approvals, vault access, config
// changes and authentication failures. `openclaw logs --audit` prints it.
//
// Contract in brief:
// - Record() appends one row; it never fails the caller's operation (a write error is returned for
//   the caller to log, and callers usually ignore it beyond that).
// - Nothing secret is ever recorded: callers pass names (a secret's name, a config path), never
//   values. Record() redacts detail keys for which config::IsSecretKey holds, as a second guard.
// - The log keeps the newest kMaxRows rows; older ones are pruned as new ones arrive.
// - Threading: like store::Database, one thread per Database.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "store/database.h"

namespace oc::audit {

// Kinds in use (dotted, grouped by their prefix so `logs --audit --kind vault` selects a group):
//   app.register, app.register_refused, capability.granted, capability.denied,
//   approval.requested, approval.approved, approval.denied, vault.set, vault.get, vault.list,
//   vault.rm, vault.rotate, vault.open_failed, config.changed, config.rejected, auth.failed
struct Event {
  std::string kind;
  std::string actor;    // "cli", "kernel", an app id, "control" (a control-plane client), "http"
  std::string subject;  // an app id, a secret name, a config path, a method; may be empty
  std::string outcome = "ok";  // ok | denied | failed
  json::object detail;         // small, never a secret value
};

struct Entry {
  int64_t id = 0;
  int64_t ts_ms = 0;
  Event event;
  // {id, ts, kind, actor, subject, outcome, detail}
  json::value ToJson() const;
};

inline constexpr int64_t kMaxRows = 100000;

Status Record(store::Database& db, const Event& event);

struct Query {
  int64_t limit = 100;           // newest `limit` rows, returned oldest first
  std::optional<int64_t> after;  // only rows with id > after (for following)
  std::string kind_prefix;       // "vault" matches vault.*; empty = all
};
Result<std::vector<Entry>> List(store::Database& db, const Query& query);

// The answer of `audit.list` (and of the CLI reading state.db itself): {entries: [...oldest first],
// next: the newest id seen, else `after` (pass it back as `after` to follow)}.
json::value ToPage(const std::vector<Entry>& entries, std::optional<int64_t> after);

}  // namespace oc::audit
