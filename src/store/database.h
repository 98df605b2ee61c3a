// The state store (SPEC §2): one SQLite database, <home>/state.db, in WAL mode, shared by every
// subsystem of the kernel. A thin layer: cached prepared statements, typed parameters, RAII
// transactions, busy handling and versioned schema migrations.
//
// Contract in brief:
// - Open() creates the file (mode 0600) when missing, switches it to WAL, sets the durability
//   pragmas and runs every pending migration, each in its own transaction. A database whose
//   schema is newer than this build knows is refused (kConflict, message names both versions), and
//   left untouched.
// - Durability: kCrash (default, storage.durability "crash") = synchronous=NORMAL: every committed
//   transaction survives a crash or kill -9 of the process; the last transactions before a power
//   loss may be lost. kPower ("power") = synchronous=FULL: a commit survives power loss too.
// - Busy: a write that finds the database locked by another process waits up to busy_timeout_ms,
//   then fails with kConflict ("database is busy").
// - Errors are values: SQLite failures become kInternalError with SQLite's message; constraint
//   violations become kConflict.
// - Threading: one Database per thread. The kernel uses it from its event loop only; a worker that
//   needs heavy reads opens its own read-only Database.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace oc::store {

enum class Durability { kCrash, kPower };

struct DatabaseOptions {
  Durability durability = Durability::kCrash;
  int busy_timeout_ms = 5000;
  // Opens an existing database without migrating it (kNotFound when the file is missing; a newer
  // schema is refused as well).
  bool read_only = false;
};

// Bytes bound as a BLOB (a string_view parameter binds TEXT).
struct Blob {
  std::string_view bytes;
};
// One bound parameter. std::string_view and Blob parameters must outlive the call they are passed to.
using Param = std::variant<std::nullptr_t, int64_t, double, std::string_view, Blob>;
// Helpers for optional values: nullptr when empty.
Param OptParam(const std::optional<int64_t>& v);
Param OptParam(const std::optional<std::string>& v);

// A result row, valid only inside the callback that receives it.
class Row {
 public:
  explicit Row(sqlite3_stmt* stmt) : stmt_(stmt) {}
  bool IsNull(int col) const;
  int64_t Int(int col) const;  // 0 for NULL
  double Real(int col) const;
  std::string Text(int col) const;  // "" for NULL
  std::optional<int64_t> OptInt(int col) const;
  std::optional<std::string> OptText(int col) const;
  // The bytes of a BLOB (or TEXT) column, valid until the row changes; empty for NULL.
  std::string_view BlobBytes(int col) const;

 private:
  sqlite3_stmt* stmt_;
};

class Database {
 public:
  // See the contract above. `path` ":memory:" opens a private in-memory database (tests).
  static Result<std::unique_ptr<Database>> Open(const std::filesystem::path& path, DatabaseOptions options = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // The schema version after migrations (PRAGMA user_version).
  int schema_version() const;
  // The newest schema version this build knows.
  static int LatestSchemaVersion();

  // Executes SQL text without parameters (several statements allowed). For DDL and PRAGMAs.
  Status Exec(std::string_view sql);
  // Runs one statement (INSERT/UPDATE/DELETE/...) with parameters ?1, ?2, ... bound in order.
  // The prepared statement is compiled once per distinct SQL text and cached (so pass constant SQL
  // text, not SQL with values spliced in). The number of params must match the statement's.
  Status Run(std::string_view sql, std::initializer_list<Param> params = {});
  // Run() and return sqlite3_last_insert_rowid().
  Result<int64_t> Insert(std::string_view sql, std::initializer_list<Param> params = {});
  // Run() and return the number of rows changed.
  Result<int64_t> Update(std::string_view sql, std::initializer_list<Param> params = {});
  // Calls `on_row` for each result row, in order. Returns the number of rows.
  Result<int64_t> Query(std::string_view sql, std::initializer_list<Param> params,
                        const std::function<void(const Row&)>& on_row);
  // The first column of the first row, or nullopt when there is no row or it is NULL.
  Result<std::optional<int64_t>> QueryInt(std::string_view sql, std::initializer_list<Param> params = {});
  Result<std::optional<std::string>> QueryText(std::string_view sql, std::initializer_list<Param> params = {});

  // BEGIN IMMEDIATE ... COMMIT. Destroying an uncommitted transaction rolls it back. Nested:
  // Begin() while a transaction is open opens a SAVEPOINT instead, so a store method that needs
  // atomicity can be called alone or inside a caller's larger transaction; the inner Commit()
  // releases the savepoint, an inner rollback undoes only the inner work. Transactions must end
  // in the reverse order of their Begin().
  class Transaction {
   public:
    ~Transaction();
    Transaction(Transaction&& other) noexcept;
    Transaction& operator=(Transaction&&) = delete;
    Status Commit();

   private:
    friend class Database;
    Transaction(Database* db, int level) : db_(db), level_(level) {}
    Database* db_;  // nullptr once ended (or moved from)
    int level_;     // 0 = BEGIN ... COMMIT; n > 0 = SAVEPOINT sp<n>
  };
  Result<Transaction> Begin();
  // Runs `fn` inside a transaction: commits when it returns ok, rolls back otherwise.
  Status InTransaction(const std::function<Status()>& fn);

  // Loads an SQLite loadable extension (e.g. sqlite-vec's vec0.so) into this connection only.
  // Extension loading is enabled for the C API just for this call (never for SQL's load_extension()).
  // Errors: kNotFound when the file does not exist, kInternalError with SQLite's message when it
  // does not load (not an extension, wrong architecture, missing entry point).
  Status LoadExtension(const std::filesystem::path& file);

  // Runs PRAGMA integrity_check; ok when the answer is "ok".
  Status IntegrityCheck();
  // Size of the database file plus its WAL, in bytes.
  int64_t FileBytes() const;
  sqlite3* handle() { return db_; }

 private:
  // A prepared statement in use; reset (cached) or finalized (one-off) when it goes out of scope.
  class Statement;

  Database(sqlite3* db, std::filesystem::path path) : db_(db), path_(std::move(path)) {}
  // The cached statement for `sql`, or a one-off copy when the cached one is still stepping (a
  // Query callback that runs the same SQL again).
  Result<Statement> Prepared(std::string_view sql);
  Status Bind(sqlite3_stmt* stmt, std::initializer_list<Param> params);
  // Prepares, binds and steps to the end; calls *on_row per row when given. Returns the row count.
  Result<int64_t> Execute(std::string_view sql, std::initializer_list<Param> params,
                          const std::function<void(const Row&)>* on_row);
  Status Configure(const DatabaseOptions& options);
  Status CheckSchemaNotNewer();
  Status Migrate();
  // Ends the transaction at `level` and every deeper one.
  Status CommitTransaction(int level);
  void RollbackTransaction(int level);

  sqlite3* db_;
  std::filesystem::path path_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
  int transaction_depth_ = 0;
};

}  // namespace oc::store
