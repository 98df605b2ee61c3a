// Exec approvals (SPEC §8.3, security "ask"): a tool call waits on ApprovalBroker::Request() until a
// human resolves it (control plane `approvals.resolve`, `openclaw approvals`) or its timeout denies
// it. The broker only keeps the requests that are waiting; nothing is persisted (a kernel restart
// abandons the runs that were waiting anyway).
//
// Threading: every member, including the observers, is used on the broker's executor (the kernel
// loop) only. Lifetime: the broker must outlive every Request() in progress; call DenyAll() before
// destroying it so waiting calls finish.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace oc::tools {

namespace asio = boost::asio;

struct ApprovalRequest {
  std::string id;  // "apr-<n>-<random>"; filled by Request() when empty
  std::string kind = "exec";
  std::string command;  // what would run
  std::string cwd;
  std::string agent_id, session_key, run_id;
  int64_t created_ms = 0, expires_ms = 0;  // filled by Request()
};

enum class ApprovalDecision { kApproved, kDenied, kTimedOut };

// "approved" | "denied" | "timeout".
std::string_view ApprovalDecisionName(ApprovalDecision d);

// {id, kind, command, cwd, agentId, sessionKey, runId, createdAt, expiresAt} (times in ms since the
// epoch), as the control plane shows it.
json::value ApprovalToJson(const ApprovalRequest& r);

class ApprovalBroker {
 public:
  explicit ApprovalBroker(asio::any_io_executor executor);
  ~ApprovalBroker();
  ApprovalBroker(const ApprovalBroker&) = delete;
  ApprovalBroker& operator=(const ApprovalBroker&) = delete;

  // Observers, called on the loop: `on_requested` when a request is published (it is already in
  // Pending()); `on_resolved` with {id, decision: "approved"|"denied"|"timeout", by?, reason?} when
  // it leaves Pending() for any reason. Either may be empty.
  std::function<void(const ApprovalRequest&)> on_requested;
  std::function<void(const json::value&)> on_resolved;

  // Publishes `request` (id, created_ms and expires_ms are filled in) and waits until it is
  // resolved or `timeout` passes (→ kTimedOut, reported to on_resolved as "timeout").
  asio::awaitable<ApprovalDecision> Request(ApprovalRequest request, std::chrono::milliseconds timeout);

  // The requests waiting now, oldest first.
  std::vector<ApprovalRequest> Pending() const;

  // Resolves a waiting request; its Request() resumes with kApproved or kDenied. `by` names who
  // decided (a user, "cli"); `reason` is optional. kNotFound when no such request is waiting
  // (unknown id, already resolved, timed out).
  Status Resolve(std::string_view id, bool approve, std::string_view by, std::string_view reason = {});

  // Denies everything waiting (shutdown), with `reason`.
  void DenyAll(std::string_view reason);

 private:
  struct Waiting;
  void Finish(Waiting& w, ApprovalDecision d, std::string_view by, std::string_view reason);

  asio::any_io_executor executor_;
  std::map<uint64_t, std::shared_ptr<Waiting>> waiting_;  // by sequence number: oldest first
  uint64_t next_seq_ = 1;
};

}  // namespace oc::tools
