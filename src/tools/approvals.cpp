#include "tools/approvals.h"

#include <sys/random.h>

#include <cstdio>
#include <optional>

#include "common/async.h"

namespace oc::tools {

struct ApprovalBroker::Waiting {
  explicit Waiting(asio::any_io_executor ex) : decision(std::move(ex)) {}
  uint64_t seq = 0;
  ApprovalRequest request;
  oc::Pending<ApprovalDecision> decision;  // (qualified: ApprovalBroker::Pending() hides it)
};

namespace {

// 8 hex characters so ids cannot be guessed from the sequence number alone.
std::string RandomSuffix() {
  unsigned char bytes[4] = {};
  if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    auto now = static_cast<uint32_t>(NowMs());
    for (int i = 0; i < 4; ++i) bytes[i] = static_cast<unsigned char>(now >> (8 * i));
  }
  char out[9];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3]);
  return out;
}

}  // namespace

std::string_view ApprovalDecisionName(ApprovalDecision d) {
  switch (d) {
    case ApprovalDecision::kApproved:
      return "approved";
    case ApprovalDecision::kDenied:
      return "denied";
    case ApprovalDecision::kTimedOut:
      return "timeout";
  }
  return "denied";
}

json::value ApprovalToJson(const ApprovalRequest& r) {
  return json::object{{"id", r.id},
                      {"kind", r.kind},
                      {"command", r.command},
                      {"cwd", r.cwd},
                      {"agentId", r.agent_id},
                      {"sessionKey", r.session_key},
                      {"runId", r.run_id},
                      {"createdAt", r.created_ms},
                      {"expiresAt", r.expires_ms}};
}

ApprovalBroker::ApprovalBroker(asio::any_io_executor executor) : executor_(std::move(executor)) {}

ApprovalBroker::~ApprovalBroker() = default;

asio::awaitable<ApprovalDecision> ApprovalBroker::Request(ApprovalRequest request, std::chrono::milliseconds timeout) {
  auto waiting = std::make_shared<Waiting>(executor_);
  waiting->seq = next_seq_++;
  if (request.id.empty()) request.id = "apr-" + std::to_string(waiting->seq) + "-" + RandomSuffix();
  request.created_ms = NowMs();
  request.expires_ms = request.created_ms + timeout.count();
  waiting->request = std::move(request);
  waiting_.emplace(waiting->seq, waiting);
  if (on_requested) on_requested(waiting->request);

  std::optional<ApprovalDecision> decision = co_await waiting->decision.Wait(timeout);
  if (!decision) {
    // Still listed (Finish() was not called): the timeout decides.
    Finish(*waiting, ApprovalDecision::kTimedOut, {}, {});
    co_return ApprovalDecision::kTimedOut;
  }
  co_return *decision;
}

std::vector<ApprovalRequest> ApprovalBroker::Pending() const {
  std::vector<ApprovalRequest> out;
  out.reserve(waiting_.size());
  for (const auto& [seq, w] : waiting_) out.push_back(w->request);
  return out;
}

Status ApprovalBroker::Resolve(std::string_view id, bool approve, std::string_view by, std::string_view reason) {
  for (const auto& [seq, w] : waiting_) {
    if (w->request.id == id) {
      auto keep = w;  // Finish() erases the map's reference
      Finish(*keep, approve ? ApprovalDecision::kApproved : ApprovalDecision::kDenied, by, reason);
      return Status::Ok();
    }
  }
  return MakeError(ErrorCode::kNotFound, "no pending approval " + std::string(id));
}

void ApprovalBroker::DenyAll(std::string_view reason) {
  std::vector<std::shared_ptr<Waiting>> all;
  for (const auto& [seq, w] : waiting_) all.push_back(w);
  for (const auto& w : all) Finish(*w, ApprovalDecision::kDenied, {}, reason);
}

void ApprovalBroker::Finish(Waiting& w, ApprovalDecision d, std::string_view by, std::string_view reason) {
  waiting_.erase(w.seq);
  w.decision.Set(d);
  json::object resolved{{"id", w.request.id}, {"decision", ApprovalDecisionName(d)}};
  if (!by.empty()) resolved["by"] = by;
  if (!reason.empty()) resolved["reason"] = reason;
  if (on_resolved) on_resolved(resolved);
}

}  // namespace oc::tools
