#include "audit/audit.h"

#include <gtest/gtest.h>

namespace oc::audit {
namespace {

std::unique_ptr<store::Database> OpenDb() {
  auto db = store::Database::Open(":memory:");
  EXPECT_TRUE(db.ok());
  return std::move(db).value();
}

TEST(Audit, RecordsAndListsOldestFirst) {
  auto db = OpenDb();
  ASSERT_TRUE(Record(*db, {"app.register", "kernel", "@x/a", "ok", {{"pid", 42}}}).ok());
  ASSERT_TRUE(Record(*db, {"vault.get", "cli", "tg", "ok", {}}).ok());
  ASSERT_TRUE(Record(*db, {"auth.failed", "http", "/v1/chat/completions", "denied", {}}).ok());
  auto all = List(*db, {});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].event.kind, "app.register");
  EXPECT_EQ((*all)[0].event.detail.at("pid").as_int64(), 42);
  EXPECT_EQ((*all)[2].event.outcome, "denied");
  EXPECT_GT((*all)[0].ts_ms, 0);
  EXPECT_EQ((*all)[1].ToJson().at("subject").as_string(), "tg");
}

TEST(Audit, FiltersByKindPrefixLimitAndAfter) {
  auto db = OpenDb();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Record(*db, {"vault.get", "cli", "s" + std::to_string(i), "ok", {}}).ok());
  ASSERT_TRUE(Record(*db, {"config.changed", "kernel", "gateway.port", "ok", {}}).ok());
  auto vault = List(*db, {.limit = 100, .after = std::nullopt, .kind_prefix = "vault"});
  ASSERT_TRUE(vault.ok());
  EXPECT_EQ(vault->size(), 5u);
  auto newest = List(*db, {.limit = 2, .after = std::nullopt, .kind_prefix = ""});
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].event.subject, "s4");  // the newest two, oldest first
  EXPECT_EQ((*newest)[1].event.kind, "config.changed");
  auto after = List(*db, {.limit = 100, .after = (*newest)[0].id, .kind_prefix = ""});
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].event.kind, "config.changed");
}

TEST(Audit, SecretLookingDetailIsRedacted) {
  auto db = OpenDb();
  ASSERT_TRUE(Record(*db, {"config.changed", "cli", "channels.telegram", "ok",
                           {{"botToken", "123:abc"}, {"nested", json::object{{"password", "pw"}}}, {"path", "x"}}})
                  .ok());
  auto all = List(*db, {});
  ASSERT_TRUE(all.ok());
  std::string text = json::serialize((*all)[0].ToJson());
  EXPECT_EQ(text.find("123:abc"), std::string::npos) << text;
  EXPECT_EQ(text.find("\"pw\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"path\":\"x\""), std::string::npos) << text;
}

}  // namespace
}  // namespace oc::audit
