#include "agent/run_queue.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>
#include <vector>

namespace oc::agent {
namespace {

namespace asio = boost::asio;

// Each run takes `ms` of loop time; the test records start/end order and the peak concurrency.
struct Harness {
  asio::io_context io;
  std::vector<std::string> log;
  size_t active = 0, peak = 0;
  std::map<int64_t, int> duration_ms;
  std::map<int64_t, int64_t> session_of;
  std::map<int64_t, size_t> active_per_session;
  bool overlap_in_session = false;

  RunQueue::Execute Exec() {
    return [this](int64_t run) -> asio::awaitable<void> {
      int64_t session = session_of[run];
      if (active_per_session[session]++ > 0) overlap_in_session = true;
      peak = std::max(peak, ++active);
      log.push_back("start " + std::to_string(run));
      asio::steady_timer t(io, std::chrono::milliseconds(duration_ms[run]));
      co_await t.async_wait(asio::use_awaitable);
      log.push_back("end " + std::to_string(run));
      --active;
      --active_per_session[session];
    };
  }
  void Add(RunQueue& q, int64_t run, int64_t session, int ms) {
    duration_ms[run] = ms;
    session_of[run] = session;
    q.Enqueue(run, session);
  }
};

TEST(RunQueueTest, RunsOfOneSessionAreSerialisedInOrder) {
  Harness h;
  RunQueue q(h.io.get_executor(), 4, h.Exec());
  h.Add(q, 1, 10, 20);
  h.Add(q, 2, 10, 1);
  h.Add(q, 3, 10, 1);
  h.io.run();
  EXPECT_FALSE(h.overlap_in_session);
  EXPECT_EQ(h.log, (std::vector<std::string>{"start 1", "end 1", "start 2", "end 2", "start 3", "end 3"}));
}

TEST(RunQueueTest, SessionsRunInParallelUpToTheLimit) {
  Harness h;
  RunQueue q(h.io.get_executor(), 2, h.Exec());
  for (int64_t s = 1; s <= 5; ++s) h.Add(q, s, s, 10);
  EXPECT_EQ(q.running(), 2u);
  EXPECT_EQ(q.waiting(), 3u);
  h.io.run();
  EXPECT_EQ(h.peak, 2u);
  EXPECT_EQ(q.running(), 0u);
  EXPECT_EQ(q.waiting(), 0u);
}

TEST(RunQueueTest, BusySessionDoesNotStarveOthers) {
  Harness h;
  RunQueue q(h.io.get_executor(), 1, h.Exec());
  h.Add(q, 1, 1, 5);
  h.Add(q, 2, 1, 5);
  h.Add(q, 3, 2, 5);  // queued after session 1's second run, but session 2 waits less
  h.io.run();
  EXPECT_EQ(h.log, (std::vector<std::string>{"start 1", "end 1", "start 3", "end 3", "start 2", "end 2"}));
}

TEST(RunQueueTest, DuplicateEnqueueIsIgnoredAndPauseStopsStarting) {
  Harness h;
  RunQueue q(h.io.get_executor(), 1, h.Exec());
  h.Add(q, 1, 1, 5);
  q.Enqueue(1, 1);
  EXPECT_TRUE(q.Knows(1));
  h.Add(q, 2, 2, 5);
  q.Pause();
  h.io.run();
  EXPECT_EQ(h.log, (std::vector<std::string>{"start 1", "end 1"}));
  EXPECT_EQ(q.waiting(), 1u);
  q.Resume();
  h.io.restart();
  h.io.run();
  EXPECT_EQ(h.log.back(), "end 2");
  EXPECT_EQ(q.waiting(), 0u);
}

TEST(RunQueueTest, RaisingTheLimitStartsWaitingRuns) {
  Harness h;
  RunQueue q(h.io.get_executor(), 1, h.Exec());
  h.Add(q, 1, 1, 10);
  h.Add(q, 2, 2, 10);
  EXPECT_EQ(q.running(), 1u);
  q.SetMaxConcurrent(2);
  EXPECT_EQ(q.running(), 2u);
  h.io.run();
}

}  // namespace
}  // namespace oc::agent
