#include "cron/cron_store.h"

#include <gtest/gtest.h>

#include <memory>

namespace oc::cron {
namespace {

class CronStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::Open(":memory:");
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_ = std::move(db).value();
  }

  static CronJob Job(std::string id, std::optional<int64_t> next) {
    CronJob job;
    job.id = std::move(id);
    job.name = "name of " + job.id;
    job.schedule = json::object{{"every", "1h"}};
    job.agent_id = "default";
    job.session = "isolated";
    job.message = "check the weather";
    job.next_run_at = next;
    job.created_at = job.updated_at = 1000;
    return job;
  }

  std::unique_ptr<store::Database> db_;
};

TEST_F(CronStoreTest, InsertGetListAndConflict) {
  CronStore store(*db_);
  CronJob a = Job("job-a", 5000);
  a.deliver = std::make_pair("telegram", "12345");
  ASSERT_TRUE(store.Insert(a).ok());
  CronJob b = Job("job-b", std::nullopt);
  b.created_at = 500;
  b.enabled = false;
  ASSERT_TRUE(store.Insert(b).ok());

  auto got = store.Get("job-a");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  const CronJob& g = **got;
  EXPECT_EQ(g.name, "name of job-a");
  EXPECT_EQ(g.schedule, (json::object{{"every", "1h"}}));
  EXPECT_EQ(g.deliver, std::make_optional(std::make_pair(std::string("telegram"), std::string("12345"))));
  EXPECT_TRUE(g.enabled);
  EXPECT_EQ(g.next_run_at, 5000);
  EXPECT_EQ(g.last_run_at, std::nullopt);
  EXPECT_EQ(g.last_status, "");
  EXPECT_EQ(g.run_count, 0);

  auto missing = store.Get("job-zzz");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  auto dup = store.Insert(Job("job-a", 1));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  EXPECT_EQ(dup.error().message, "cron job job-a exists");

  auto all = store.List();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "job-b");  // oldest first
  EXPECT_FALSE((*all)[0].enabled);
  EXPECT_FALSE((*all)[0].deliver);
}

TEST_F(CronStoreTest, DueAndEarliestSkipDisabledAndFinished) {
  CronStore store(*db_);
  ASSERT_TRUE(store.Insert(Job("late", 3000)).ok());
  ASSERT_TRUE(store.Insert(Job("early", 2000)).ok());
  ASSERT_TRUE(store.Insert(Job("future", 9000)).ok());
  ASSERT_TRUE(store.Insert(Job("finished", std::nullopt)).ok());
  CronJob off = Job("off", 1000);
  off.enabled = false;
  ASSERT_TRUE(store.Insert(off).ok());

  auto due = store.Due(3000);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].id, "early");
  EXPECT_EQ((*due)[1].id, "late");
  auto earliest = store.EarliestNextRun();
  ASSERT_TRUE(earliest.ok());
  EXPECT_EQ(*earliest, 2000);
  ASSERT_TRUE(store.Remove("early").ok());
  ASSERT_TRUE(store.Remove("late").ok());
  ASSERT_TRUE(store.Remove("future").ok());
  earliest = store.EarliestNextRun();
  ASSERT_TRUE(earliest.ok());
  EXPECT_EQ(*earliest, std::nullopt);
}

TEST_F(CronStoreTest, FiringResultsSaveAndRemove) {
  CronStore store(*db_);
  ASSERT_TRUE(store.Insert(Job("j", 2000)).ok());
  auto fired = store.MarkFired("j", 2100, 3000);
  ASSERT_TRUE(fired.ok());
  EXPECT_TRUE(*fired);
  CronJob j = **store.Get("j");
  EXPECT_EQ(j.last_run_at, 2100);
  EXPECT_EQ(j.run_count, 1);
  EXPECT_EQ(j.last_status, "running");
  EXPECT_EQ(j.next_run_at, 3000);

  ASSERT_TRUE(*store.RecordResult("j", false, "model unavailable", 2200));
  j = **store.Get("j");
  EXPECT_EQ(j.last_status, "error");
  EXPECT_EQ(j.last_error, "model unavailable");
  EXPECT_EQ(j.updated_at, 2200);
  ASSERT_TRUE(*store.MarkFired("j", 3000, std::nullopt));
  j = **store.Get("j");
  EXPECT_EQ(j.last_error, "");  // cleared by the new run
  EXPECT_EQ(j.next_run_at, std::nullopt);
  ASSERT_TRUE(*store.RecordResult("j", true, "", 3100));
  j = **store.Get("j");
  EXPECT_EQ(j.last_status, "ok");

  j.name = "renamed";
  j.enabled = false;
  j.deliver = std::make_pair("irc", "#ops");
  j.updated_at = 4000;
  ASSERT_TRUE(*store.Save(j));
  CronJob saved = **store.Get("j");
  EXPECT_EQ(saved.name, "renamed");
  EXPECT_FALSE(saved.enabled);
  EXPECT_EQ(saved.deliver->second, "#ops");
  EXPECT_EQ(saved.created_at, 1000);
  EXPECT_EQ(saved.run_count, 2);

  json::value shown = saved.ToJson();
  EXPECT_EQ(shown.at("id"), "j");
  EXPECT_EQ(shown.at("deliver"), (json::object{{"channel", "irc"}, {"to", "#ops"}}));
  EXPECT_EQ(shown.at("runCount"), 2);
  EXPECT_FALSE(shown.as_object().contains("nextRunAt"));
  EXPECT_EQ(shown.at("lastStatus"), "ok");

  EXPECT_TRUE(*store.Remove("j"));
  EXPECT_FALSE(*store.Remove("j"));
  EXPECT_FALSE(*store.MarkFired("j", 1, 1));
  EXPECT_FALSE(*store.RecordResult("j", true, "", 1));
  EXPECT_FALSE(*store.Save(j));
}

TEST_F(CronStoreTest, DamagedScheduleColumnReadsAsNull) {
  CronStore store(*db_);
  ASSERT_TRUE(store.Insert(Job("j", 2000)).ok());
  ASSERT_TRUE(db_->Run("UPDATE cron_jobs SET schedule = '{broken', deliver = '[1]' WHERE id = 'j'").ok());
  CronJob j = **store.Get("j");
  EXPECT_TRUE(j.schedule.is_null());
  EXPECT_FALSE(j.deliver);
}

}  // namespace
}  // namespace oc::cron
