#include "store/database.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <vector>

#include "store/migrations.h"

namespace oc::store {
namespace {

namespace fs = std::filesystem;

class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("oc_store_test_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    fs::create_directories(dir_);
    path_ = dir_ / "state.db";
  }
  void TearDown() override {
    SetMigrationsForTesting({});
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<Database> OpenOk(DatabaseOptions options = {}) { return OpenOk(path_, options); }
  std::unique_ptr<Database> OpenOk(const fs::path& path, DatabaseOptions options = {}) {
    auto db = Database::Open(path, options);
    EXPECT_TRUE(db.ok()) << (db.ok() ? "" : db.error().message);
    return db.ok() ? std::move(db).value() : nullptr;
  }

  // Runs SQL on the file through SQLite directly, as another tool would (no migrations).
  void RawExec(const std::string& sql) {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
    char* message = nullptr;
    EXPECT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK) << (message ? message : "");
    sqlite3_free(message);
    sqlite3_close(raw);
  }
  int RawUserVersion() {
    sqlite3* raw = nullptr;
    int version = -1;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
        sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      version = sqlite3_column_int(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(raw);
    return version;
  }

  fs::path dir_;
  fs::path path_;
};

TEST_F(DatabaseTest, OpenCreatesFileWithMode0600AndParentDirectory) {
  path_ = dir_ / "nested" / "deeper" / "state.db";
  const mode_t old_umask = ::umask(0);  // the most permissive umask must not leak into the mode
  auto db = Database::Open(path_);
  ::umask(old_umask);
  ASSERT_TRUE(db.ok()) << db.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The WAL file SQLite creates copies the database file's mode.
  ASSERT_TRUE((*db)->Run("CREATE TABLE t (x INTEGER)").ok());
  ASSERT_EQ(::stat((path_.string() + "-wal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(DatabaseTest, OpenUsesWalAndForeignKeys) {
  auto db = OpenOk();
  ASSERT_NE(db, nullptr);
  auto mode = db->QueryText("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok());
  EXPECT_EQ(mode->value_or(""), "wal");
  auto fk = db->QueryInt("PRAGMA foreign_keys");
  ASSERT_TRUE(fk.ok());
  EXPECT_EQ(fk->value_or(-1), 1);
}

TEST_F(DatabaseTest, MigrationsBringSchemaToLatest) {
  auto db = OpenOk();
  ASSERT_NE(db, nullptr);
  EXPECT_GE(Database::LatestSchemaVersion(), 1);
  EXPECT_EQ(db->schema_version(), Database::LatestSchemaVersion());
  for (const char* table : {"sessions", "messages", "runs", "outbox"}) {
    auto found = db->QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", {table});
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found->value_or(0), 1) << table;
  }
}

TEST_F(DatabaseTest, ReopenIsIdempotentAndKeepsData) {
  {
    auto db = OpenOk();
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Run("INSERT INTO sessions (key, agent_id, kind, created_at, last_active_at) "
                        "VALUES ('k', 'a', 'identity', 1, 1)")
                    .ok());
  }
  auto db = OpenOk();
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), Database::LatestSchemaVersion());
  auto count = db->QueryInt("SELECT count(*) FROM sessions");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count->value_or(0), 1);
}

TEST_F(DatabaseTest, VersionZeroDatabaseIsUpgradedInPlaceKeepingData) {
  // A database some earlier tool created: version 0, one unrelated table with data.
  RawExec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')");
  ASSERT_EQ(RawUserVersion(), 0);
  auto db = OpenOk();
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), Database::LatestSchemaVersion());
  auto body = db->QueryText("SELECT body FROM notes");
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->value_or(""), "keep me");
  auto runs = db->QueryInt("SELECT count(*) FROM runs");
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->value_or(-1), 0);
}

TEST_F(DatabaseTest, OlderVersionIsUpgradedStepByStep) {
  static constexpr Migration kV1[] = {{1, "items", "CREATE TABLE items (name TEXT NOT NULL)"}};
  static constexpr Migration kV2[] = {
      {1, "items", "CREATE TABLE items (name TEXT NOT NULL)"},
      {2, "items.size", "ALTER TABLE items ADD COLUMN size INTEGER NOT NULL DEFAULT 7"}};
  SetMigrationsForTesting(kV1);
  {
    auto db = OpenOk();
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(db->schema_version(), 1);
    ASSERT_TRUE(db->Run("INSERT INTO items (name) VALUES (?1)", {"old"}).ok());
  }
  SetMigrationsForTesting(kV2);
  auto db = OpenOk();
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), 2);
  std::vector<std::pair<std::string, int64_t>> rows;
  auto n = db->Query("SELECT name, size FROM items", {}, [&](const Row& row) {
    rows.emplace_back(row.Text(0), row.Int(1));
  });
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].first, "old");
  EXPECT_EQ(rows[0].second, 7);
}

TEST_F(DatabaseTest, FailingMigrationRollsBackAndStopsAtPreviousVersion) {
  static constexpr Migration kBroken[] = {
      {1, "items", "CREATE TABLE items (name TEXT)"},
      {2, "broken", "CREATE TABLE half_done (x INTEGER); THIS IS NOT SQL"}};
  SetMigrationsForTesting(kBroken);
  auto db = Database::Open(path_);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code, ErrorCode::kInternalError);
  EXPECT_NE(db.error().message.find("migration 2 (broken)"), std::string::npos) << db.error().message;
  SetMigrationsForTesting({});
  static constexpr Migration kV1[] = {{1, "items", "CREATE TABLE items (name TEXT)"}};
  SetMigrationsForTesting(kV1);
  auto reopened = OpenOk();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->schema_version(), 1);
  auto half = reopened->QueryInt("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'");
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(half->value_or(-1), 0);
}

TEST_F(DatabaseTest, NewerSchemaIsRefusedAndLeftUntouched) {
  {
    auto db = OpenOk();
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Exec("PRAGMA user_version = 99").ok());
  }
  const auto size_before = fs::file_size(path_);
  auto db = Database::Open(path_);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code, ErrorCode::kConflict);
  const std::string& message = db.error().message;
  EXPECT_NE(message.find("state.db schema version 99 is newer"), std::string::npos) << message;
  EXPECT_NE(message.find("(" + std::to_string(Database::LatestSchemaVersion()) + ")"), std::string::npos) << message;
  EXPECT_NE(message.find("upgrade openclaw"), std::string::npos) << message;
  ASSERT_TRUE(db.error().data.is_object());
  EXPECT_EQ(db.error().data.as_object().at("schemaVersion").as_int64(), 99);
  EXPECT_EQ(fs::file_size(path_), size_before);

  EXPECT_EQ(RawUserVersion(), 99);
  // A read-only open refuses it too: the schema is unknown.
  DatabaseOptions read_only;
  read_only.read_only = true;
  auto reader = Database::Open(path_, read_only);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.error().code, ErrorCode::kConflict);
}

TEST_F(DatabaseTest, DurabilityPragmas) {
  DatabaseOptions crash;
  crash.durability = Durability::kCrash;
  auto db = OpenOk(crash);
  ASSERT_NE(db, nullptr);
  auto sync = db->QueryInt("PRAGMA synchronous");
  ASSERT_TRUE(sync.ok());
  EXPECT_EQ(sync->value_or(-1), 1);  // NORMAL

  DatabaseOptions power;
  power.durability = Durability::kPower;
  auto db2 = OpenOk(power);
  ASSERT_NE(db2, nullptr);
  sync = db2->QueryInt("PRAGMA synchronous");
  ASSERT_TRUE(sync.ok());
  EXPECT_EQ(sync->value_or(-1), 2);  // FULL
}

TEST_F(DatabaseTest, ConstraintViolationIsConflict) {
  auto db = OpenOk();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE u (name TEXT UNIQUE NOT NULL)").ok());
  ASSERT_TRUE(db->Run("INSERT INTO u VALUES (?1)", {"a"}).ok());
  Status dup = db->Run("INSERT INTO u VALUES (?1)", {"a"});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  EXPECT_NE(dup.error().message.find("UNIQUE"), std::string::npos) << dup.error().message;
  Status null_name = db->Run("INSERT INTO u VALUES (?1)", {nullptr});
  ASSERT_FALSE(null_name.ok());
  EXPECT_EQ(null_name.error().code, ErrorCode::kConflict);
  // Foreign keys are enforced.
  Status orphan = db->Run(
      "INSERT INTO messages (session_id, seq, role, content, created_at) VALUES (12345, 1, 'user', 'x', 1)");
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.error().code, ErrorCode::kConflict);
  // The cached statement is reusable after a failure.
  EXPECT_TRUE(db->Run("INSERT INTO u VALUES (?1)", {"b"}).ok());
}

TEST_F(DatabaseTest, SqlErrorsAreInternalErrors) {
  auto db = OpenOk();
  ASSERT_NE(db, nullptr);
  Status bad = db->Run("SELECT * FROM no_such_table");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInternalError);
  EXPECT_NE(bad.error().message.find("no_such_table"), std::string::npos);
  Status two = db->Run("SELECT 1; SELECT 2");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().code, ErrorCode::kInternalError);
  Status params = db->Run("SELECT ?1, ?2", {int64_t{1}});
  ASSERT_FALSE(params.ok());
  EXPECT_NE(params.error().message.find("expects 2 parameters"), std::string::npos);
  Status exec = db->Exec("CREATE TABLE x (a); NOT SQL");
  ASSERT_FALSE(exec.ok());
  EXPECT_EQ(exec.error().code, ErrorCode::kInternalError);
}

TEST_F(DatabaseTest, ParamsAndRowAccessors) {
  auto db = OpenOk(":memory:");
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE p (i INTEGER, r REAL, t TEXT, n TEXT)").ok());
  std::optional<int64_t> no_int;
  std::optional<std::string> some_text = "opt";
  std::string empty;
  auto id = db->Insert("INSERT INTO p VALUES (?1, ?2, ?3, ?4)",
                       {OptParam(std::optional<int64_t>(42)), 2.5, std::string_view(empty), OptParam(no_int)});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 1);
  auto id2 = db->Insert("INSERT INTO p VALUES (?1, ?2, ?3, ?4)",
                        {int64_t{-7}, nullptr, OptParam(some_text), std::string_view("with\0nul", 8)});
  ASSERT_TRUE(id2.ok());
  EXPECT_EQ(*id2, 2);

  struct Seen {
    std::optional<int64_t> i;
    double r;
    bool r_null;
    std::optional<std::string> t, n;
  };
  std::vector<Seen> seen;
  auto rows = db->Query("SELECT i, r, t, n FROM p ORDER BY rowid", {}, [&](const Row& row) {
    seen.push_back({row.OptInt(0), row.Real(1), row.IsNull(1), row.OptText(2), row.OptText(3)});
  });
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, 2);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].i, 42);
  EXPECT_DOUBLE_EQ(seen[0].r, 2.5);
  EXPECT_EQ(seen[0].t, std::optional<std::string>(""));  // empty text, not NULL
  EXPECT_EQ(seen[0].n, std::nullopt);
  EXPECT_EQ(seen[1].i, -7);
  EXPECT_TRUE(seen[1].r_null);
  EXPECT_EQ(seen[1].t, "opt");
  EXPECT_EQ(seen[1].n, std::string("with\0nul", 8));

  auto changed = db->Update("UPDATE p SET t = 'x' WHERE i > ?1", {int64_t{0}});
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(*changed, 1);
  // NULL and missing rows read back as 0 / "" through Row, nullopt through QueryInt/QueryText.
  auto none = db->QueryInt("SELECT i FROM p WHERE i = 1000");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, std::nullopt);
  auto null_text = db->QueryText("SELECT n FROM p WHERE i = 42");
  ASSERT_TRUE(null_text.ok());
  EXPECT_EQ(*null_text, std::nullopt);
  auto first = db->QueryInt("SELECT i FROM p ORDER BY i");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, -7);
  auto text = db->QueryText("SELECT t FROM p WHERE i = ?1", {int64_t{-7}});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "opt");
}

TEST_F(DatabaseTest, QueryCallbackMayRunTheSameStatementAgain) {
  auto db = OpenOk(":memory:");
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE q (v INTEGER); INSERT INTO q VALUES (1), (2), (3)").ok());
  const std::string_view sql = "SELECT v FROM q WHERE v >= ?1 ORDER BY v";
  std::vector<int64_t> outer, inner_counts;
  auto n = db->Query(sql, {int64_t{1}}, [&](const Row& row) {
    outer.push_back(row.Int(0));
    auto inner = db->Query(sql, {row.Int(0)}, [](const Row&) {});
    inner_counts.push_back(inner.ok() ? *inner : -1);
  });
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(outer, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(inner_counts, (std::vector<int64_t>{3, 2, 1}));
}

int64_t Count(Database& db) {
  auto n = db.QueryInt("SELECT count(*) FROM t");
  return n.ok() ? n->value_or(-1) : -1;
}

TEST_F(DatabaseTest, NestedTransactions) {
  auto db = OpenOk();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE t (v INTEGER)").ok());

  {  // Inner rollback undoes only the inner work.
    auto outer = db->Begin();
    ASSERT_TRUE(outer.ok());
    ASSERT_TRUE(db->Run("INSERT INTO t VALUES (1)").ok());
    {
      auto inner = db->Begin();
      ASSERT_TRUE(inner.ok());
      ASSERT_TRUE(db->Run("INSERT INTO t VALUES (2)").ok());
      EXPECT_EQ(Count(*db), 2);
    }
    EXPECT_EQ(Count(*db), 1);
    {
      auto inner = db->Begin();
      ASSERT_TRUE(inner.ok());
      ASSERT_TRUE(db->Run("INSERT INTO t VALUES (3)").ok());
      ASSERT_TRUE(inner->Commit().ok());
      EXPECT_FALSE(inner->Commit().ok());  // already ended
    }
    ASSERT_TRUE(outer->Commit().ok());
  }
  EXPECT_EQ(Count(*db), 2);

  {  // Outer rollback undoes everything, committed savepoints included.
    auto outer = db->Begin();
    ASSERT_TRUE(outer.ok());
    ASSERT_TRUE(db->Run("INSERT INTO t VALUES (4)").ok());
    auto inner = db->Begin();
    ASSERT_TRUE(inner.ok());
    ASSERT_TRUE(db->Run("INSERT INTO t VALUES (5)").ok());
    ASSERT_TRUE(inner->Commit().ok());
    EXPECT_EQ(Count(*db), 4);
  }
  EXPECT_EQ(Count(*db), 2);

  // A transaction is over after a rollback: a new one can start.
  EXPECT_TRUE(db->InTransaction([&] { return db->Run("INSERT INTO t VALUES (6)"); }).ok());
  db.reset();
  auto reopened = OpenOk();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(Count(*reopened), 3);  // commits persist across reopen
}

TEST_F(DatabaseTest, CommittingOuterWhileInnerIsOpenIsRefused) {
  auto db = OpenOk(":memory:");
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE t (v INTEGER)").ok());
  auto outer = db->Begin();
  ASSERT_TRUE(outer.ok());
  auto inner = db->Begin();
  ASSERT_TRUE(inner.ok());
  ASSERT_TRUE(db->Run("INSERT INTO t VALUES (1)").ok());
  EXPECT_FALSE(outer->Commit().ok());
  ASSERT_TRUE(inner->Commit().ok());
  ASSERT_TRUE(outer->Commit().ok());
  EXPECT_EQ(Count(*db), 1);
}

TEST_F(DatabaseTest, MovedTransactionRollsBackOnce) {
  auto db = OpenOk(":memory:");
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE t (v INTEGER)").ok());
  {
    auto begun = db->Begin();
    ASSERT_TRUE(begun.ok());
    Database::Transaction moved(std::move(*begun));
    ASSERT_TRUE(db->Run("INSERT INTO t VALUES (1)").ok());
  }
  EXPECT_EQ(Count(*db), 0);
  {
    auto begun = db->Begin();  // depth is back to 0: this is a real BEGIN, not a savepoint
    ASSERT_TRUE(begun.ok());
    Database::Transaction moved(std::move(*begun));
    ASSERT_TRUE(db->Run("INSERT INTO t VALUES (1)").ok());
    ASSERT_TRUE(moved.Commit().ok());
  }
  EXPECT_EQ(Count(*db), 1);
}

TEST_F(DatabaseTest, InTransactionRollsBackOnError) {
  auto db = OpenOk(":memory:");
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE t (v INTEGER)").ok());
  Status failed = db->InTransaction([&]() -> Status {
    OC_TRY(db->Run("INSERT INTO t VALUES (1)"));
    return MakeError(ErrorCode::kNotFound, "nope");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(Count(*db), 0);
  // Nested InTransaction: the inner failure undoes only its own work.
  Status outer = db->InTransaction([&]() -> Status {
    OC_TRY(db->Run("INSERT INTO t VALUES (1)"));
    Status inner = db->InTransaction([&]() -> Status {
      OC_TRY(db->Run("INSERT INTO t VALUES (2)"));
      return MakeError(ErrorCode::kConflict, "inner");
    });
    EXPECT_FALSE(inner.ok());
    return Status::Ok();
  });
  ASSERT_TRUE(outer.ok());
  EXPECT_EQ(Count(*db), 1);
}

TEST_F(DatabaseTest, BusyWriteFailsWithConflictWithinTimeout) {
  auto holder = OpenOk();
  ASSERT_NE(holder, nullptr);
  DatabaseOptions quick;
  quick.busy_timeout_ms = 100;
  auto other = OpenOk(quick);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(holder->Exec("CREATE TABLE t (v INTEGER)").ok());

  auto lock = holder->Begin();
  ASSERT_TRUE(lock.ok());
  ASSERT_TRUE(holder->Run("INSERT INTO t VALUES (1)").ok());
  const auto start = std::chrono::steady_clock::now();
  Status write = other->Run("INSERT INTO t VALUES (2)");
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.error().code, ErrorCode::kConflict);
  EXPECT_EQ(write.error().message, "database is busy");
  EXPECT_GE(waited, std::chrono::milliseconds(50));
  EXPECT_LT(waited, std::chrono::seconds(5));
  auto begin = other->Begin();
  ASSERT_FALSE(begin.ok());
  EXPECT_EQ(begin.error().code, ErrorCode::kConflict);

  // Readers are not blocked by the writer (WAL) and see the last committed state.
  EXPECT_EQ(Count(*other), 0);
  ASSERT_TRUE(lock->Commit().ok());
  EXPECT_TRUE(other->Run("INSERT INTO t VALUES (2)").ok());
  EXPECT_EQ(Count(*holder), 2);
}

TEST_F(DatabaseTest, ReadOnlyOpen) {
  DatabaseOptions read_only;
  read_only.read_only = true;
  auto missing = Database::Open(path_, read_only);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(fs::exists(path_));

  auto writer = OpenOk();
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->Exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1)").ok());
  auto reader = OpenOk(read_only);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->schema_version(), Database::LatestSchemaVersion());
  EXPECT_EQ(Count(*reader), 1);
  Status write = reader->Run("INSERT INTO t VALUES (2)");
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.error().code, ErrorCode::kInternalError);
  EXPECT_NE(write.error().message.find("readonly"), std::string::npos) << write.error().message;
}

TEST_F(DatabaseTest, IntegrityCheckAndFileBytes) {
  auto db = OpenOk();
  ASSERT_NE(db, nullptr);
  EXPECT_TRUE(db->IntegrityCheck().ok());
  const int64_t before = db->FileBytes();
  EXPECT_GT(before, 0);
  ASSERT_TRUE(db->Exec("CREATE TABLE blob (b TEXT)").ok());
  std::string big(100000, 'x');
  ASSERT_TRUE(db->Run("INSERT INTO blob VALUES (?1)", {std::string_view(big)}).ok());
  EXPECT_GE(db->FileBytes(), before + 100000);
  EXPECT_TRUE(db->IntegrityCheck().ok());
}

TEST_F(DatabaseTest, MemoryDatabase) {
  auto db = OpenOk(":memory:");
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), Database::LatestSchemaVersion());
  EXPECT_EQ(db->FileBytes(), 0);
  EXPECT_FALSE(fs::exists(":memory:"));
}

TEST_F(DatabaseTest, NonDatabaseFileIsAClearError) {
  {
    std::ofstream out(path_, std::ios::binary);
    for (int i = 0; i < 512; ++i) out << "this is not a database, just text. ";
  }
  auto db = Database::Open(path_);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code, ErrorCode::kInternalError);
  EXPECT_NE(db.error().message.find(path_.string()), std::string::npos) << db.error().message;
  EXPECT_NE(db.error().message.find("not a database"), std::string::npos) << db.error().message;
}

TEST_F(DatabaseTest, CorruptedDatabaseIsAnErrorNotACrash) {
  {
    auto db = OpenOk();
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Exec("CREATE TABLE t (v TEXT)").ok());
    std::string row(2000, 'y');
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(db->Run("INSERT INTO t VALUES (?1)", {std::string_view(row)}).ok());
    ASSERT_TRUE(db->Exec("PRAGMA wal_checkpoint(TRUNCATE)").ok());
  }
  {
    // Overwrite pages after the header with garbage.
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekp(4096 + 100);
    std::string garbage(4096 * 4, '\xA5');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto db = Database::Open(path_);
  if (!db.ok()) {
    EXPECT_FALSE(db.error().message.empty());
    return;
  }
  // Opened (the header is intact): the damage shows in the integrity check or in reads.
  Status integrity = (*db)->IntegrityCheck();
  auto count = (*db)->QueryInt("SELECT count(*) FROM t WHERE length(v) = 2000");
  EXPECT_TRUE(!integrity.ok() || !count.ok());
  if (!integrity.ok()) {
    EXPECT_EQ(integrity.error().code, ErrorCode::kInternalError);
  }
}

TEST_F(DatabaseTest, EmptyPathIsInvalid) {
  auto db = Database::Open("");
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code, ErrorCode::kInvalidParams);
}

}  // namespace
}  // namespace oc::store
