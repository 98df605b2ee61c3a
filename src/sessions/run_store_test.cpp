#include "sessions/run_store.h"

#include <gtest/gtest.h>

#include <memory>

namespace oc::sessions {
namespace {

class RunStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::Open(":memory:");
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_ = std::move(db).value();
    session_a_ = InsertSession("agent:default:identity:alice");
    session_b_ = InsertSession("agent:default:identity:bob");
  }

  // Minimal sessions rows: runs and outbox entries refer to them through foreign keys.
  int64_t InsertSession(std::string_view key) {
    auto id = db_->Insert(
        "INSERT INTO sessions (key, agent_id, kind, created_at, last_active_at) VALUES (?1, 'default', 'identity', 1, 1)",
        {key});
    EXPECT_TRUE(id.ok());
    return id.ok() ? *id : 0;
  }

  int64_t InsertMessage(int64_t session_id, int64_t seq) {
    auto id = db_->Insert(
        "INSERT INTO messages (session_id, seq, role, content, created_at) VALUES (?1, ?2, 'user', 'hi', 1)",
        {session_id, seq});
    EXPECT_TRUE(id.ok());
    return id.ok() ? *id : 0;
  }

  NewRun MakeRun(int64_t session_id) {
    NewRun run;
    run.session_id = session_id;
    run.agent_id = "default";
    run.origin = "channel";
    run.reply_address = "telegram:123";
    run.reply_metadata = json::object{{"chatType", "direct"}};
    return run;
  }

  RunRecord MustGet(int64_t id) {
    RunStore runs(*db_);
    auto got = runs.Get(id);
    EXPECT_TRUE(got.ok());
    EXPECT_TRUE(got.ok() && got->has_value());
    return got.ok() && got->has_value() ? **got : RunRecord{};
  }

  std::unique_ptr<store::Database> db_;
  int64_t session_a_ = 0;
  int64_t session_b_ = 0;
};

TEST_F(RunStoreTest, CreateAndGet) {
  RunStore runs(*db_);
  NewRun run = MakeRun(session_a_);
  run.message_id = InsertMessage(session_a_, 1);
  const int64_t before = NowMs();
  auto id = runs.Create(run);
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_GT(*id, 0);

  RunRecord got = MustGet(*id);
  EXPECT_EQ(got.id, *id);
  EXPECT_EQ(got.session_id, session_a_);
  EXPECT_EQ(got.agent_id, "default");
  EXPECT_EQ(got.message_id, run.message_id);
  EXPECT_EQ(got.origin, "channel");
  EXPECT_EQ(got.reply_address, "telegram:123");
  EXPECT_EQ(got.reply_metadata, (json::value(json::object{{"chatType", "direct"}})));
  EXPECT_EQ(got.status, "queued");
  EXPECT_EQ(got.attempts, json::value(json::array()));
  EXPECT_GE(got.created_at, before);
  EXPECT_LE(got.created_at, NowMs());
  EXPECT_FALSE(got.started_at);
  EXPECT_FALSE(got.finished_at);
  EXPECT_EQ(got.resumed, 0);

  auto missing = runs.Get(9999);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(RunStoreTest, CreateForUnknownSessionIsNotFound) {
  RunStore runs(*db_);
  auto id = runs.Create(MakeRun(4242));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.error().code, ErrorCode::kNotFound);
}

TEST_F(RunStoreTest, ControlRunWithoutReplyAddress) {
  RunStore runs(*db_);
  NewRun run = MakeRun(session_a_);
  run.origin = "control";
  run.reply_address.reset();
  run.reply_metadata = nullptr;
  auto id = runs.Create(run);
  ASSERT_TRUE(id.ok());
  RunRecord got = MustGet(*id);
  EXPECT_FALSE(got.reply_address);
  EXPECT_TRUE(got.reply_metadata.is_null());
  EXPECT_FALSE(got.message_id);
  auto stored = db_->QueryText("SELECT reply_metadata FROM runs WHERE id = ?1", {*id});
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, std::nullopt);  // SQL NULL, not the text "null"
}

TEST_F(RunStoreTest, IdempotencyKeyConflict) {
  RunStore runs(*db_);
  NewRun run = MakeRun(session_a_);
  run.idempotency_key = "req-1";
  auto first = runs.Create(run);
  ASSERT_TRUE(first.ok());
  auto second = runs.Create(run);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kConflict);
  ASSERT_TRUE(second.error().data.is_object());
  EXPECT_EQ(second.error().data.as_object().at("runId").as_int64(), *first);

  auto found = runs.FindByIdempotencyKey("req-1");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, *first);
  EXPECT_EQ((*found)->idempotency_key, "req-1");
  auto none = runs.FindByIdempotencyKey("req-2");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  // Runs without a key never conflict with each other.
  EXPECT_TRUE(runs.Create(MakeRun(session_a_)).ok());
  EXPECT_TRUE(runs.Create(MakeRun(session_a_)).ok());
}

TEST_F(RunStoreTest, MarkRunningAndFinishSuccess) {
  RunStore runs(*db_);
  auto id = runs.Create(MakeRun(session_a_));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(runs.MarkRunning(*id, 1000).ok());
  RunRecord running = MustGet(*id);
  EXPECT_EQ(running.status, "running");
  EXPECT_EQ(running.started_at, 1000);

  // Not queued any more.
  Status again = runs.MarkRunning(*id, 1001);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);

  RunOutcome outcome;
  outcome.success = true;
  outcome.attempts = json::array{json::object{{"model", "openai/gpt"}, {"status", "ok"}, {"durationMs", 250}}};
  outcome.model = "openai/gpt";
  outcome.tokens_in = 120;
  outcome.tokens_out = 30;
  outcome.finished_at = 1250;
  ASSERT_TRUE(runs.Finish(*id, outcome).ok());
  RunRecord done = MustGet(*id);
  EXPECT_EQ(done.status, "done");
  EXPECT_EQ(done.attempts, outcome.attempts);
  EXPECT_EQ(done.model, "openai/gpt");
  EXPECT_EQ(done.tokens_in, 120);
  EXPECT_EQ(done.tokens_out, 30);
  EXPECT_FALSE(done.error);
  EXPECT_EQ(done.finished_at, 1250);
  EXPECT_EQ(done.duration_ms, 250);

  // Finished runs cannot finish again.
  Status twice = runs.Finish(*id, outcome);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, ErrorCode::kConflict);
}

TEST_F(RunStoreTest, FinishFailureFromQueuedUsesNow) {
  RunStore runs(*db_);
  auto id = runs.Create(MakeRun(session_a_));
  ASSERT_TRUE(id.ok());
  RunOutcome outcome;
  outcome.success = false;
  outcome.error = "all models failed";
  const int64_t before = NowMs();
  ASSERT_TRUE(runs.Finish(*id, outcome).ok());
  RunRecord failed = MustGet(*id);
  EXPECT_EQ(failed.status, "failed");
  EXPECT_EQ(failed.error, "all models failed");
  ASSERT_TRUE(failed.finished_at);
  EXPECT_GE(*failed.finished_at, before);
  EXPECT_FALSE(failed.duration_ms);  // never started
  EXPECT_FALSE(failed.tokens_in);
}

TEST_F(RunStoreTest, UnknownRunIsNotFound) {
  RunStore runs(*db_);
  Status running = runs.MarkRunning(77, 1);
  ASSERT_FALSE(running.ok());
  EXPECT_EQ(running.error().code, ErrorCode::kNotFound);
  Status finish = runs.Finish(77, RunOutcome{});
  ASSERT_FALSE(finish.ok());
  EXPECT_EQ(finish.error().code, ErrorCode::kNotFound);
}

TEST_F(RunStoreTest, RecoverPendingRequeuesRunningInIdOrder) {
  RunStore runs(*db_);
  auto r1 = runs.Create(MakeRun(session_a_));
  auto r2 = runs.Create(MakeRun(session_b_));
  auto r3 = runs.Create(MakeRun(session_a_));
  auto r4 = runs.Create(MakeRun(session_b_));
  ASSERT_TRUE(r1.ok() && r2.ok() && r3.ok() && r4.ok());
  ASSERT_TRUE(runs.MarkRunning(*r2, 10).ok());
  ASSERT_TRUE(runs.MarkRunning(*r3, 11).ok());
  RunOutcome ok;
  ok.success = true;
  ASSERT_TRUE(runs.MarkRunning(*r4, 12).ok());
  ASSERT_TRUE(runs.Finish(*r4, ok).ok());

  auto pending = runs.RecoverPending();
  ASSERT_TRUE(pending.ok()) << pending.error().message;
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_EQ((*pending)[0].id, *r1);
  EXPECT_EQ((*pending)[1].id, *r2);
  EXPECT_EQ((*pending)[2].id, *r3);
  for (const RunRecord& run : *pending) EXPECT_EQ(run.status, "queued");
  EXPECT_EQ((*pending)[0].resumed, 0);  // was queued: not resumed
  EXPECT_EQ((*pending)[1].resumed, 1);
  EXPECT_EQ((*pending)[2].resumed, 1);
  EXPECT_EQ(MustGet(*r4).status, "done");

  // A second crash while running again counts again.
  ASSERT_TRUE(runs.MarkRunning(*r2, 20).ok());
  auto again = runs.RecoverPending();
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 3u);
  EXPECT_EQ((*again)[1].resumed, 2);
  EXPECT_EQ((*again)[2].resumed, 1);
}

TEST_F(RunStoreTest, RecoverPendingWithNothingPending) {
  RunStore runs(*db_);
  auto pending = runs.RecoverPending();
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->empty());
}

TEST_F(RunStoreTest, ListBySessionMostRecentFirst) {
  RunStore runs(*db_);
  std::vector<int64_t> a_ids;
  for (int i = 0; i < 4; ++i) {
    auto id = runs.Create(MakeRun(session_a_));
    ASSERT_TRUE(id.ok());
    a_ids.push_back(*id);
    ASSERT_TRUE(runs.Create(MakeRun(session_b_)).ok());
  }
  auto list = runs.ListBySession(session_a_);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 4u);
  EXPECT_EQ((*list)[0].id, a_ids[3]);
  EXPECT_EQ((*list)[3].id, a_ids[0]);
  for (const RunRecord& run : *list) EXPECT_EQ(run.session_id, session_a_);

  auto limited = runs.ListBySession(session_a_, 2);
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 2u);
  EXPECT_EQ((*limited)[0].id, a_ids[3]);
  EXPECT_EQ((*limited)[1].id, a_ids[2]);

  auto none = runs.ListBySession(9999);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(RunStoreTest, BadJsonColumnsReadLeniently) {
  RunStore runs(*db_);
  auto id = runs.Create(MakeRun(session_a_));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(db_->Run("UPDATE runs SET reply_metadata = '{broken', attempts = 'nope' WHERE id = ?1", {*id}).ok());
  RunRecord got = MustGet(*id);
  EXPECT_TRUE(got.reply_metadata.is_null());
  EXPECT_EQ(got.attempts, json::value(json::array()));
}

TEST_F(RunStoreTest, RunToJsonShape) {
  RunRecord run;
  run.id = 7;
  run.session_id = 3;
  run.agent_id = "default";
  run.origin = "control";
  run.status = "queued";
  run.created_at = 100;
  run.reply_metadata = json::object{{"x", 1}};
  run.idempotency_key = "k";
  json::value minimal = run.ToJson();
  EXPECT_EQ(minimal, json::parse(R"({"id":7,"sessionId":3,"agentId":"default","origin":"control",
      "status":"queued","attempts":[],"createdAt":100,"resumed":0})"));

  run.message_id = 11;
  run.reply_address = "irc:alice";
  run.status = "failed";
  run.attempts = json::array{json::object{{"model", "m"}, {"status", "error"}, {"error", "boom"}}};
  run.model = "m";
  run.tokens_in = 5;
  run.error = "boom";
  run.started_at = 110;
  run.finished_at = 150;
  run.duration_ms = 40;
  run.resumed = 1;
  EXPECT_EQ(run.ToJson(), json::parse(R"({"id":7,"sessionId":3,"agentId":"default","messageId":11,
      "origin":"control","replyAddress":"irc:alice","status":"failed",
      "attempts":[{"model":"m","status":"error","error":"boom"}],"model":"m",
      "tokens":{"input":5,"output":0},"error":"boom","createdAt":100,"startedAt":110,"finishedAt":150,
      "durationMs":40,"resumed":1})"));
}

// ---- outbox ----

class OutboxStoreTest : public RunStoreTest {
 protected:
  NewOutboxEntry MakeEntry(std::string channel, std::string content, std::string target = "123") {
    NewOutboxEntry entry;
    entry.channel_id = std::move(channel);
    entry.target = std::move(target);
    entry.content = std::move(content);
    entry.metadata = json::object{{"replyTo", "m1"}};
    entry.session_id = session_a_;
    entry.origin = "reply";
    return entry;
  }
};

TEST_F(OutboxStoreTest, EnqueueAndGet) {
  OutboxStore outbox(*db_);
  const int64_t before = NowMs();
  NewOutboxEntry entry = MakeEntry("telegram", "hello");
  entry.run_id = 5;
  auto id = outbox.Enqueue(entry);
  ASSERT_TRUE(id.ok()) << id.error().message;
  auto got = outbox.Get(*id);
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  const OutboxEntry& e = **got;
  EXPECT_EQ(e.id, *id);
  EXPECT_EQ(e.channel_id, "telegram");
  EXPECT_EQ(e.target, "123");
  EXPECT_EQ(e.content, "hello");
  EXPECT_EQ(e.metadata, (json::value(json::object{{"replyTo", "m1"}})));
  EXPECT_EQ(e.session_id, session_a_);
  EXPECT_EQ(e.run_id, 5);
  EXPECT_EQ(e.origin, "reply");
  EXPECT_EQ(e.status, "pending");
  EXPECT_EQ(e.attempts, 0);
  EXPECT_GE(e.created_at, before);
  EXPECT_EQ(e.next_attempt_at, e.created_at);  // due now
  EXPECT_FALSE(e.delivered_at);

  auto missing = outbox.Get(9999);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  NewOutboxEntry orphan = MakeEntry("telegram", "x");
  orphan.session_id = 4242;
  auto bad = outbox.Enqueue(orphan);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kNotFound);

  NewOutboxEntry dispatch = MakeEntry("irc", "no session");
  dispatch.session_id.reset();
  dispatch.metadata = nullptr;
  dispatch.origin = "dispatch";
  auto dispatched = outbox.Enqueue(dispatch);
  ASSERT_TRUE(dispatched.ok());
  auto d = outbox.Get(*dispatched);
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_FALSE((*d)->session_id);
  EXPECT_TRUE((*d)->metadata.is_null());
}

TEST_F(OutboxStoreTest, ARetriedEntryIsNotOvertakenInItsConversation) {
  OutboxStore outbox(*db_);
  auto first = outbox.Enqueue(MakeEntry("telegram", "one", "alice"));
  auto second = outbox.Enqueue(MakeEntry("telegram", "two", "alice"));
  auto other = outbox.Enqueue(MakeEntry("telegram", "three", "bob"));
  ASSERT_TRUE(first.ok() && second.ok() && other.ok());
  const int64_t now = NowMs();
  ASSERT_TRUE(outbox.Reschedule(*first, now + 60000, "platform error").ok());
  auto due = outbox.Due(now + 1000, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 1u);  // alice's second waits behind her first; bob is unaffected
  EXPECT_EQ((*due)[0].id, *other);
  // Defer moves the time without counting an attempt
  ASSERT_TRUE(outbox.Defer(*first, now, "no app").ok());
  auto entry = outbox.Get(*first);
  ASSERT_TRUE(entry.ok() && entry->has_value());
  EXPECT_EQ((*entry)->attempts, 1);
  EXPECT_EQ((*entry)->last_error, "no app");
  auto now_due = outbox.Due(now + 1000, 10);
  ASSERT_TRUE(now_due.ok());
  ASSERT_EQ(now_due->size(), 2u);
  EXPECT_EQ((*now_due)[0].id, *first);
  EXPECT_EQ(outbox.Defer(*first + 100, now, "x").error().code, ErrorCode::kNotFound);
}

TEST_F(OutboxStoreTest, DueOrderingLimitAndNextDueAt) {
  OutboxStore outbox(*db_);
  auto none = outbox.NextDueAt();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, std::nullopt);

  auto a = outbox.Enqueue(MakeEntry("telegram", "a", "chat-a"));
  auto b = outbox.Enqueue(MakeEntry("telegram", "b", "chat-b"));
  auto c = outbox.Enqueue(MakeEntry("irc", "c"));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  const int64_t now = NowMs();
  // a fails once and is retried later; b and c are due now.
  ASSERT_TRUE(outbox.Reschedule(*a, now + 60000, "channel not ready").ok());

  auto due = outbox.Due(now + 1000, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].id, *b);
  EXPECT_EQ((*due)[1].id, *c);
  auto limited = outbox.Due(now + 1000, 1);
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 1u);
  EXPECT_EQ((*limited)[0].id, *b);

  // Once a's time has come it goes first again: enqueue order.
  auto later = outbox.Due(now + 60000, 10);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->size(), 3u);
  EXPECT_EQ((*later)[0].id, *a);
  EXPECT_EQ((*later)[0].attempts, 1);
  EXPECT_EQ((*later)[0].last_error, "channel not ready");

  auto next = outbox.NextDueAt();
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(next->has_value());
  EXPECT_LE(**next, now);  // b and c are due now
  ASSERT_TRUE(outbox.MarkDelivered(*b, now, "p-b").ok());
  ASSERT_TRUE(outbox.MarkDelivered(*c, now, std::nullopt).ok());
  next = outbox.NextDueAt();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, now + 60000);

  auto count = outbox.CountPending();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 1);
}

TEST_F(OutboxStoreTest, MarkDeliveredOnlyOnce) {
  OutboxStore outbox(*db_);
  auto id = outbox.Enqueue(MakeEntry("telegram", "hi"));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(outbox.MarkDelivered(*id, 5000, "tg-42").ok());
  auto got = outbox.Get(*id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->status, "delivered");
  EXPECT_EQ((*got)->delivered_at, 5000);
  EXPECT_EQ((*got)->platform_message_id, "tg-42");

  Status late = outbox.MarkDelivered(*id, 6000, "tg-43");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, ErrorCode::kNotFound);
  got = outbox.Get(*id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->delivered_at, 5000);  // unchanged
  EXPECT_EQ((*got)->platform_message_id, "tg-42");

  Status unknown = outbox.MarkDelivered(9999, 1, std::nullopt);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  // Nor can a delivered entry be rescheduled.
  Status reschedule = outbox.Reschedule(*id, 1, "x");
  ASSERT_FALSE(reschedule.ok());
  EXPECT_EQ(reschedule.error().code, ErrorCode::kNotFound);
}

TEST_F(OutboxStoreTest, BlockedAndFailedLeaveThePendingSet) {
  OutboxStore outbox(*db_);
  auto blocked = outbox.Enqueue(MakeEntry("telegram", "secret"));
  auto failed = outbox.Enqueue(MakeEntry("telegram", "undeliverable"));
  auto pending = outbox.Enqueue(MakeEntry("telegram", "fine"));
  ASSERT_TRUE(blocked.ok() && failed.ok() && pending.ok());
  ASSERT_TRUE(outbox.MarkBlocked(*blocked, "blocked by @acme/dlp").ok());
  ASSERT_TRUE(outbox.MarkFailed(*failed, "gave up after 10 attempts").ok());

  auto b = outbox.Get(*blocked);
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->status, "blocked");
  EXPECT_EQ((*b)->last_error, "blocked by @acme/dlp");
  auto f = outbox.Get(*failed);
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ((*f)->status, "failed");
  EXPECT_EQ((*f)->last_error, "gave up after 10 attempts");

  auto count = outbox.CountPending();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 1);
  auto due = outbox.Due(NowMs() + 1, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].id, *pending);

  Status twice = outbox.MarkBlocked(*blocked, "again");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, ErrorCode::kNotFound);
  Status fail_delivered = outbox.MarkFailed(*failed, "again");
  ASSERT_FALSE(fail_delivered.ok());
  EXPECT_EQ(fail_delivered.error().code, ErrorCode::kNotFound);
}

TEST_F(OutboxStoreTest, MakeChannelDueOnlyTouchesThatChannel) {
  OutboxStore outbox(*db_);
  auto tg = outbox.Enqueue(MakeEntry("telegram", "1"));
  auto irc = outbox.Enqueue(MakeEntry("irc", "2"));
  auto tg_done = outbox.Enqueue(MakeEntry("telegram", "3"));
  ASSERT_TRUE(tg.ok() && irc.ok() && tg_done.ok());
  const int64_t now = NowMs();
  ASSERT_TRUE(outbox.Reschedule(*tg, now + 100000, "not ready").ok());
  ASSERT_TRUE(outbox.Reschedule(*irc, now + 100000, "not ready").ok());
  ASSERT_TRUE(outbox.Reschedule(*tg_done, now + 100000, "not ready").ok());
  ASSERT_TRUE(outbox.MarkFailed(*tg_done, "gave up").ok());

  ASSERT_TRUE(outbox.MakeChannelDue("telegram", now).ok());
  auto due = outbox.Due(now, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].id, *tg);
  EXPECT_EQ((*due)[0].next_attempt_at, now);
  EXPECT_EQ((*due)[0].attempts, 1);  // making it due is not an attempt

  auto irc_entry = outbox.Get(*irc);
  ASSERT_TRUE(irc_entry.ok() && irc_entry->has_value());
  EXPECT_EQ((*irc_entry)->next_attempt_at, now + 100000);
  auto failed = outbox.Get(*tg_done);
  ASSERT_TRUE(failed.ok() && failed->has_value());
  EXPECT_EQ((*failed)->next_attempt_at, now + 100000);  // not pending: untouched
}

TEST_F(OutboxStoreTest, RescheduleCountsAttempts) {
  OutboxStore outbox(*db_);
  auto id = outbox.Enqueue(MakeEntry("telegram", "x"));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(outbox.Reschedule(*id, 100, "e1").ok());
  ASSERT_TRUE(outbox.Reschedule(*id, 200, "e2").ok());
  auto got = outbox.Get(*id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->status, "pending");
  EXPECT_EQ((*got)->attempts, 2);
  EXPECT_EQ((*got)->next_attempt_at, 200);
  EXPECT_EQ((*got)->last_error, "e2");
  Status unknown = outbox.Reschedule(9999, 1, "x");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

TEST_F(OutboxStoreTest, OutboxToJsonShape) {
  OutboxEntry entry;
  entry.id = 9;
  entry.channel_id = "telegram";
  entry.target = "123";
  entry.content = "hi";
  entry.origin = "dispatch";
  entry.status = "pending";
  entry.next_attempt_at = 50;
  entry.created_at = 40;
  EXPECT_EQ(entry.ToJson(), json::parse(R"({"id":9,"channelId":"telegram","target":"123","content":"hi",
      "origin":"dispatch","status":"pending","attempts":0,"nextAttemptAt":50,"createdAt":40})"));

  entry.metadata = json::object{{"k", "v"}};
  entry.session_id = 2;
  entry.run_id = 3;
  entry.status = "delivered";
  entry.attempts = 2;
  entry.last_error = "timeout";
  entry.platform_message_id = "p1";
  entry.delivered_at = 60;
  EXPECT_EQ(entry.ToJson(), json::parse(R"({"id":9,"channelId":"telegram","target":"123","content":"hi",
      "metadata":{"k":"v"},"sessionId":2,"runId":3,"origin":"dispatch","status":"delivered","attempts":2,
      "nextAttemptAt":50,"lastError":"timeout","platformMessageId":"p1","createdAt":40,"deliveredAt":60})"));
}

TEST_F(OutboxStoreTest, DeletingTheSessionKeepsTheEntry) {
  OutboxStore outbox(*db_);
  auto id = outbox.Enqueue(MakeEntry("telegram", "still deliver me"));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(db_->Run("DELETE FROM sessions WHERE id = ?1", {session_a_}).ok());
  auto got = outbox.Get(*id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_FALSE((*got)->session_id);  // ON DELETE SET NULL
  EXPECT_EQ((*got)->status, "pending");
}

}  // namespace
}  // namespace oc::sessions
