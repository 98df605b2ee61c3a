// The in-memory scheduler of the run queue (SPEC §7.2). Records live in state.db (sessions/run_store.h);
// this class only decides when each run executes: runs of one session one after another in the order
// they were enqueued, at most `max_concurrent` across sessions, oldest waiting session first.
// Threading: the kernel loop. The executor callback runs as its own coroutine.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>

namespace oc::agent {

class RunQueue {
 public:
  using Execute = std::function<boost::asio::awaitable<void>(int64_t run_id)>;
  RunQueue(boost::asio::any_io_executor executor, int max_concurrent, Execute execute);
  ~RunQueue();

  // Queues a run of `session_id`; starts it at once when its session is idle and a slot is free.
  // Enqueuing the same run twice is a no-op.
  void Enqueue(int64_t run_id, int64_t session_id);
  // Applies to runs started afterwards.
  void SetMaxConcurrent(int n);
  // Stops starting runs (start-up, shutdown); running ones finish on their own. Enqueue still
  // queues while paused.
  void Pause() { paused_ = true; }
  // Starts what waits, in order.
  void Resume();

  size_t running() const { return running_; }
  size_t waiting() const;
  bool Knows(int64_t run_id) const { return known_.count(run_id) > 0; }

 private:
  void Pump();
  void Start(int64_t session_id);

  boost::asio::any_io_executor executor_;
  int max_concurrent_;
  Execute execute_;
  std::map<int64_t, std::deque<int64_t>> per_session_;  // session → waiting runs
  std::deque<int64_t> ready_sessions_;                  // sessions with waiting runs, not running
  std::set<int64_t> busy_sessions_;
  std::set<int64_t> known_;
  size_t running_ = 0;
  bool paused_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace oc::agent
