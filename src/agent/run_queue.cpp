#include "agent/run_queue.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <algorithm>

namespace oc::agent {

namespace asio = boost::asio;

RunQueue::RunQueue(asio::any_io_executor executor, int max_concurrent, Execute execute)
    : executor_(std::move(executor)), max_concurrent_(std::max(1, max_concurrent)), execute_(std::move(execute)) {}

RunQueue::~RunQueue() { *alive_ = false; }

void RunQueue::Enqueue(int64_t run_id, int64_t session_id) {
  if (!known_.insert(run_id).second) return;
  auto& waiting = per_session_[session_id];
  waiting.push_back(run_id);
  if (waiting.size() == 1 && !busy_sessions_.count(session_id)) ready_sessions_.push_back(session_id);
  Pump();
}

void RunQueue::Resume() {
  paused_ = false;
  Pump();
}

void RunQueue::SetMaxConcurrent(int n) {
  max_concurrent_ = std::max(1, n);
  Pump();
}

size_t RunQueue::waiting() const {
  size_t n = 0;
  for (const auto& [session, runs] : per_session_) n += runs.size();
  return n;
}

void RunQueue::Pump() {
  while (!paused_ && running_ < static_cast<size_t>(max_concurrent_) && !ready_sessions_.empty()) {
    int64_t session = ready_sessions_.front();
    ready_sessions_.pop_front();
    Start(session);
  }
}

// Runs the session's next run; when it ends, the session's following run (if any) queues up again
// behind the sessions already waiting, so one busy session cannot starve the others.
void RunQueue::Start(int64_t session_id) {
  auto it = per_session_.find(session_id);
  if (it == per_session_.end() || it->second.empty()) return;
  int64_t run_id = it->second.front();
  it->second.pop_front();
  busy_sessions_.insert(session_id);
  ++running_;
  auto alive = alive_;
  asio::co_spawn(executor_, execute_(run_id), [this, alive, session_id, run_id](std::exception_ptr) {
    if (!*alive) return;
    --running_;
    known_.erase(run_id);
    busy_sessions_.erase(session_id);
    auto it2 = per_session_.find(session_id);
    if (it2 != per_session_.end()) {
      if (it2->second.empty()) per_session_.erase(it2);
      else ready_sessions_.push_back(session_id);
    }
    Pump();
  });
}

}  // namespace oc::agent
