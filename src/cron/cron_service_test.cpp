#include "cron/cron_service.h"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cron/cron_params.h"

namespace oc::cron {
namespace {

using namespace std::chrono_literals;

struct Fired {
  std::string id;
  std::string reason;
  int64_t run_count;
  int64_t at_ms;
};

class CronServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "oc-cron-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    OpenDatabase();
    MakeService();
  }

  void TearDown() override {
    service_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  void OpenDatabase() {
    auto db = store::Database::Open(dir_ / "state.db");
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_ = std::move(db).value();
  }

  void MakeService() {
    service_ = std::make_unique<CronService>(io_.get_executor(), *db_, [this](const CronJob& job, std::string_view reason) {
      fired_.push_back({job.id, std::string(reason), job.run_count, NowMs()});
      if (on_fire_) on_fire_(job);
    });
  }

  // A "kernel restart": a new service (and connection) over the same database file.
  void Restart() {
    service_.reset();
    db_.reset();
    OpenDatabase();
    MakeService();
  }

  // Runs the loop for `d` of real time, even when it has nothing to do (run_for alone would
  // return at once then, and a test that expects nothing to fire would prove nothing).
  void RunFor(std::chrono::milliseconds d) {
    boost::asio::steady_timer keep_busy(io_, d);
    keep_busy.async_wait([](const boost::system::error_code&) {});
    io_.restart();
    io_.run_for(d);
  }

  json::value MustAdd(std::string_view params_json) {
    auto params = ParseJson(params_json);
    EXPECT_TRUE(params.ok());
    auto added = service_->Add(*params);
    EXPECT_TRUE(added.ok()) << (added.ok() ? "" : added.error().message);
    return added.ok() ? added->at("job") : json::value();
  }

  Error AddError(std::string_view params_json) {
    auto params = ParseJson(params_json);
    EXPECT_TRUE(params.ok()) << params_json;
    auto added = service_->Add(*params);
    EXPECT_FALSE(added.ok()) << params_json;
    return added.ok() ? Error{} : added.error();
  }

  CronJob Stored(std::string_view id) {
    CronStore store(*db_);
    auto job = store.Get(id);
    EXPECT_TRUE(job.ok() && job->has_value()) << id;
    return job.ok() && job->has_value() ? **job : CronJob{};
  }

  // Puts a job straight into the table, as a previous kernel would have left it.
  void InsertRaw(const std::string& id, json::value schedule, std::optional<int64_t> next, int64_t created,
                 bool enabled = true) {
    CronJob job;
    job.id = id;
    job.name = id;
    job.schedule = std::move(schedule);
    job.agent_id = "default";
    job.session = "isolated";
    job.message = "hello";
    job.enabled = enabled;
    job.next_run_at = next;
    job.created_at = job.updated_at = created;
    ASSERT_TRUE(CronStore(*db_).Insert(job).ok());
  }

  size_t CountFired(std::string_view id) const {
    size_t n = 0;
    for (const Fired& f : fired_) n += f.id == id ? 1 : 0;
    return n;
  }

  std::filesystem::path dir_;
  boost::asio::io_context io_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<CronService> service_;
  std::vector<Fired> fired_;
  std::function<void(const CronJob&)> on_fire_;
};

TEST_F(CronServiceTest, JobMissedWhileDownFiresOnceWithCatchUp) {
  const int64_t now = NowMs();
  const int64_t day = 86400000;
  // An hourly job last scheduled three days ago: 72 runs were missed.
  InsertRaw("hourly", json::object{{"every", "1h"}}, now - 3 * day, now - 5 * day);
  InsertRaw("off", json::object{{"every", "1h"}}, now - 3 * day, now - 5 * day, false);
  InsertRaw("oneshot", json::object{{"at", FormatUtc(now - day)}}, now - day, now - 2 * day);
  InsertRaw("later", json::object{{"every", "1h"}}, now + 3600000, now - 5 * day);
  service_->Start();
  ASSERT_EQ(fired_.size(), 2u);
  EXPECT_EQ(CountFired("hourly"), 1u);
  EXPECT_EQ(CountFired("oneshot"), 1u);
  for (const Fired& f : fired_) EXPECT_EQ(f.reason, "catch-up");
  EXPECT_EQ(fired_[0].run_count, 1);

  CronJob hourly = Stored("hourly");
  ASSERT_TRUE(hourly.next_run_at);
  EXPECT_GT(*hourly.next_run_at, now);
  EXPECT_LE(*hourly.next_run_at, NowMs() + 3600000);
  EXPECT_EQ((*hourly.next_run_at - hourly.created_at) % 3600000, 0);  // still on its phase
  EXPECT_EQ(hourly.run_count, 1);
  EXPECT_EQ(hourly.last_status, "running");
  EXPECT_FALSE(Stored("oneshot").next_run_at);
  EXPECT_EQ(Stored("later").next_run_at, now + 3600000);
  EXPECT_EQ(Stored("off").run_count, 0);

  // Next run persisted before firing: a crash now and a restart does not fire them again.
  fired_.clear();
  Restart();
  service_->Start();
  RunFor(100ms);
  EXPECT_TRUE(fired_.empty());
}

TEST_F(CronServiceTest, EveryJobFiresRepeatedly) {
  service_->Start();
  json::value job = MustAdd(R"({"schedule": {"every": "1s"}, "message": "tick"})");
  const std::string id(job.at("id").as_string());
  const int64_t created = job.at("createdAt").as_int64();
  EXPECT_EQ(job.at("nextRunAt").as_int64(), created + 1000);
  RunFor(2600ms);
  ASSERT_GE(fired_.size(), 2u);
  EXPECT_LE(fired_.size(), 3u);
  for (size_t i = 0; i < fired_.size(); ++i) {
    EXPECT_EQ(fired_[i].id, id);
    EXPECT_EQ(fired_[i].reason, "schedule");
    EXPECT_EQ(fired_[i].run_count, static_cast<int64_t>(i + 1));
    EXPECT_GE(fired_[i].at_ms, created + 1000 * static_cast<int64_t>(i + 1));
  }
  EXPECT_EQ(Stored(id).run_count, static_cast<int64_t>(fired_.size()));
}

TEST_F(CronServiceTest, OneShotFiresOnceAndStaysListed) {
  service_->Start();
  on_fire_ = [this](const CronJob& job) { service_->RecordResult(job.id, true, ""); };  // synchronously
  const int64_t at = NowMs() + 700;
  json::value job = MustAdd(R"({"id": "remind", "schedule": {"at": ")" + FormatUtc(at) + R"("}, "message": "stand up"})");
  EXPECT_EQ(job.at("nextRunAt").as_int64(), at);
  RunFor(1500ms);
  ASSERT_EQ(fired_.size(), 1u);
  EXPECT_EQ(fired_[0].id, "remind");
  EXPECT_GE(fired_[0].at_ms, at);
  auto listed = service_->List(json::object());
  ASSERT_TRUE(listed.ok());
  const json::array& jobs = listed->at("jobs").as_array();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_FALSE(jobs[0].as_object().contains("nextRunAt"));
  EXPECT_EQ(jobs[0].at("lastStatus"), "ok");
  EXPECT_EQ(jobs[0].at("runCount"), 1);
}

TEST_F(CronServiceTest, RunNowFiresManuallyWithoutMovingTheSchedule) {
  service_->Start();
  json::value job = MustAdd(R"({"id": "daily", "schedule": {"cron": "0 9 * * *"}, "message": "report"})");
  const int64_t next = job.at("nextRunAt").as_int64();
  auto ran = service_->RunNow(json::object{{"id", "daily"}});
  ASSERT_TRUE(ran.ok()) << ran.error().message;
  EXPECT_EQ(ran->at("ok"), true);
  ASSERT_EQ(fired_.size(), 1u);
  EXPECT_EQ(fired_[0].reason, "manual");
  EXPECT_EQ(ran->at("job").at("nextRunAt"), next);
  EXPECT_EQ(ran->at("job").at("runCount"), 1);
  EXPECT_EQ(ran->at("job").at("lastStatus"), "running");
  service_->RecordResult("daily", false, "provider down");
  EXPECT_EQ(Stored("daily").last_error, "provider down");

  auto missing = service_->RunNow(json::object{{"id", "nope"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto no_id = service_->RunNow(json::object());
  ASSERT_FALSE(no_id.ok());
  EXPECT_EQ(no_id.error().message, "id: required");
}

TEST_F(CronServiceTest, RemoveStopsIt) {
  service_->Start();
  json::value job = MustAdd(R"({"schedule": {"every": "1s"}, "message": "tick"})");
  const std::string id(job.at("id").as_string());
  EXPECT_EQ(id.rfind("job-", 0), 0u);
  auto removed = service_->Remove(json::object{{"id", id}});
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->at("ok"), true);
  RunFor(1300ms);
  EXPECT_TRUE(fired_.empty());
  auto again = service_->Remove(json::object{{"id", id}});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(again.error().message, "no cron job " + id);
}

TEST_F(CronServiceTest, AddFillsDefaultsAndValidates) {
  json::value job = MustAdd(
      R"({"schedule": {"cron": "30 7 * * 1-5", "tz": "Europe/Berlin"}, "message": "Summarise my inbox\nplease",
          "deliver": {"channel": "telegram", "to": "12345"}})");
  EXPECT_EQ(job.at("name"), "Summarise my inbox");
  EXPECT_EQ(job.at("agentId"), "default");
  EXPECT_EQ(job.at("session"), "isolated");
  EXPECT_EQ(job.at("enabled"), true);
  EXPECT_EQ(job.at("schedule"), (json::object{{"cron", "30 7 * * 1-5"}, {"tz", "Europe/Berlin"}}));
  EXPECT_EQ(job.at("deliver"), (json::object{{"channel", "telegram"}, {"to", "12345"}}));
  EXPECT_GT(job.at("nextRunAt").as_int64(), NowMs());

  struct Case {
    const char* params;
    const char* message;
  };
  const Case cases[] = {
      {R"({"message": "x"})", "schedule: required ({cron, tz?}, {every} or {at})"},
      {R"({"schedule": {"every": "1h"}})", "message: required"},
      {R"({"schedule": {"every": "1h"}, "message": ""})", "message: must not be empty"},
      {R"({"schedule": {"every": "1h"}, "message": "x", "color": "red"})", "color: unknown field"},
      {R"({"schedule": {"every": "1h"}, "message": "x", "enabled": "yes"})", "enabled: expected a boolean, got string"},
      {R"({"schedule": {"every": "1h"}, "message": "x", "id": "has space"})", "id: must not contain spaces"},
      {R"({"schedule": {"every": "1h"}, "message": "x", "id": "a/b"})", "id: must be 1-64 characters of A-Z a-z 0-9 _ . -"},
      {R"({"schedule": {"every": "1h"}, "message": "x", "session": "two words"})", "session: must not contain spaces"},
      {R"({"schedule": {"every": "1h"}, "message": "x", "deliver": {"channel": "irc"}})", "deliver.to: required"},
      {R"({"schedule": {"every": "1h"}, "message": "x", "deliver": {"channel": "irc", "to": "#a", "cc": 1}})",
       "deliver.cc: unknown field"},
      {R"({"schedule": {"every": "1h"}, "message": "x", "deliver": "irc"})", "deliver: expected {channel, to} or null"},
      {R"({"schedule": {"every": "1h"}, "message": "x", "agentId": 7})", "agentId: expected a string, got number"},
      {R"({"schedule": {"every": "fast"}, "message": "x"})",
       "schedule.every: bad interval \"fast\": expected a number followed by s, m, h or d (e.g. 30m, 1h30m)"},
      {R"({"schedule": {"at": "2020-01-01T00:00:00Z"}, "message": "x"})",
       "schedule.at: 2020-01-01T00:00:00Z is not in the future"},
      {R"({"schedule": {"cron": "0 0 30 2 *"}, "message": "x"})",
       "schedule.cron: the expression matches no time within 8 years"},
  };
  for (const Case& c : cases) {
    Error e = AddError(c.params);
    EXPECT_EQ(e.code, ErrorCode::kInvalidParams) << c.params;
    EXPECT_EQ(e.message, c.message) << c.params;
  }
  Error path = AddError(R"({"schedule": {"every": "1h"}, "message": "x", "deliver": {"channel": "irc", "to": ""}})");
  EXPECT_EQ(path.data.at("path"), "deliver.to");

  MustAdd(R"({"id": "mine", "schedule": {"every": "1h"}, "message": "x"})");
  Error dup = AddError(R"({"id": "mine", "schedule": {"every": "1h"}, "message": "y"})");
  EXPECT_EQ(dup.code, ErrorCode::kConflict);
  auto listed = service_->List(json::object());
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->at("jobs").as_array().size(), 2u);
}

TEST_F(CronServiceTest, UpdateDisablesEnablesAndReschedules) {
  service_->Start();
  MustAdd(R"({"id": "j", "schedule": {"every": "1s"}, "message": "tick", "agentId": "ops",
              "deliver": {"channel": "irc", "to": "#ops"}})");
  auto off = service_->Update(json::object{{"id", "j"}, {"enabled", false}, {"name", "quiet"}, {"deliver", nullptr}});
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_EQ(off->at("job").at("name"), "quiet");
  EXPECT_FALSE(off->at("job").as_object().contains("nextRunAt"));
  EXPECT_FALSE(off->at("job").as_object().contains("deliver"));
  RunFor(1300ms);
  EXPECT_TRUE(fired_.empty());  // disabled jobs never fire

  auto on = service_->Update(json::object{{"id", "j"}, {"enabled", true}, {"schedule", json::object{{"every", "1h"}}}});
  ASSERT_TRUE(on.ok()) << on.error().message;
  EXPECT_EQ(on->at("job").at("schedule"), (json::object{{"every", "1h"}}));
  EXPECT_GT(on->at("job").at("nextRunAt").as_int64(), NowMs() + 3000000);

  auto by_agent = service_->List(json::object{{"agentId", "ops"}});
  ASSERT_TRUE(by_agent.ok());
  EXPECT_EQ(by_agent->at("jobs").as_array().size(), 1u);
  auto other = service_->List(json::object{{"agentId", "default"}});
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->at("jobs").as_array().empty());

  auto bad = service_->Update(json::object{{"id", "j"}, {"schedule", json::object{{"every", "0s"}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().data.at("path"), "schedule.every");
  auto missing = service_->Update(json::object{{"id", "nope"}, {"enabled", true}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(CronServiceTest, DisabledCronDoesNotFireAndReschedulesWhenTurnedOn) {
  const int64_t now = NowMs();
  InsertRaw("overdue", json::object{{"every", "1h"}}, now - 60000, now - 7200000);
  service_->Configure(false, TimeZone::Utc());
  service_->Start();
  RunFor(100ms);
  EXPECT_TRUE(fired_.empty());
  auto listed = service_->List(json::value());
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->at("enabled"), false);

  service_->Configure(true, TimeZone::Utc());
  RunFor(100ms);
  EXPECT_TRUE(fired_.empty());  // rescheduled from now, not fired
  CronJob job = Stored("overdue");
  ASSERT_TRUE(job.next_run_at);
  EXPECT_GT(*job.next_run_at, NowMs());
}

TEST_F(CronServiceTest, DefaultZoneChangeMovesJobsWithoutTz) {
  service_->Start();
  json::value plain = MustAdd(R"({"id": "plain", "schedule": {"cron": "0 12 * * *"}, "message": "x"})");
  json::value pinned = MustAdd(R"({"id": "pinned", "schedule": {"cron": "0 12 * * *", "tz": "UTC"}, "message": "x"})");
  EXPECT_EQ(plain.at("nextRunAt"), pinned.at("nextRunAt"));
  auto tokyo = TimeZone::Load("Asia/Tokyo");
  ASSERT_TRUE(tokyo.ok());
  service_->Configure(true, *tokyo);
  const int64_t plain_next = *Stored("plain").next_run_at;
  EXPECT_EQ(plain_next % 86400000, 3 * 3600000);  // noon in Tokyo = 03:00Z
  EXPECT_EQ(*Stored("pinned").next_run_at, pinned.at("nextRunAt").as_int64());
  auto listed = service_->List(json::object());
  EXPECT_EQ(listed->at("defaultTimeZone"), "Asia/Tokyo");
}

TEST_F(CronServiceTest, UnreadableScheduleIsParkedNotFired) {
  const int64_t now = NowMs();
  InsertRaw("broken", json::object{{"cron", "99 * * * *"}}, now - 1000, now - 7200000);
  service_->Start();
  EXPECT_TRUE(fired_.empty());
  CronJob job = Stored("broken");
  EXPECT_FALSE(job.next_run_at);
  EXPECT_EQ(job.last_status, "error");
  EXPECT_EQ(job.last_error.rfind("unreadable schedule: schedule.cron: ", 0), 0u) << job.last_error;
}

TEST_F(CronServiceTest, StopAndDestructionCancelTheTimer) {
  service_->Start();
  MustAdd(R"({"id": "tick", "schedule": {"every": "1s"}, "message": "tick"})");
  service_->Stop();
  RunFor(1300ms);
  EXPECT_TRUE(fired_.empty());
  service_->Start();  // started again: the run missed while stopped is caught up once
  ASSERT_EQ(fired_.size(), 1u);
  EXPECT_EQ(fired_[0].reason, "catch-up");
  MustAdd(R"({"schedule": {"every": "1s"}, "message": "tock"})");
  service_.reset();  // a pending wait must not touch the destroyed service
  RunFor(1300ms);
  EXPECT_EQ(fired_.size(), 1u);
}

TEST(CronParams, DefaultNamesAndIds) {
  EXPECT_EQ(DefaultJobName("  Water the plants \nthen rest"), "Water the plants");
  const std::string long_name = DefaultJobName(std::string(30, 'a') + "ééééééé");  // é is 2 bytes
  EXPECT_EQ(long_name, std::string(30, 'a') + "ééééé…");
  EXPECT_EQ(DefaultJobName(""), "");
  const std::string id = NewJobId();
  EXPECT_EQ(id.size(), 20u);
  EXPECT_TRUE(CheckJobId("id", id).ok());
  EXPECT_NE(NewJobId(), id);
  EXPECT_FALSE(CheckJobId("id", std::string(65, 'a')).ok());
}

}  // namespace
}  // namespace oc::cron
