#include "store/database.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/json.h"
#include "store/migrations.h"

namespace oc::store {

namespace {

constexpr std::string_view kMemoryPath = ":memory:";

// SQLite result code → our error vocabulary (see the contract in database.h).
Error SqliteError(int rc, std::string_view message) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      return MakeError(ErrorCode::kConflict, std::string(message));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return MakeError(ErrorCode::kConflict, "database is busy");
    default:
      return MakeError(ErrorCode::kInternalError, std::string(message));
  }
}

Error SqliteError(sqlite3* db, int rc) { return SqliteError(rc, sqlite3_errmsg(db)); }

bool IsBlank(const char* text) {
  for (; *text; ++text) {
    if (!std::isspace(static_cast<unsigned char>(*text))) return false;
  }
  return true;
}

std::string ErrnoMessage(std::string_view what, const std::filesystem::path& path, int err) {
  return std::string(what) + " " + path.string() + ": " + std::strerror(err);
}

// Creates the database file 0600 when it does not exist. SQLite would create it too, but with
// 0644 & ~umask; state.db holds conversations and secrets. The -wal and -shm files SQLite makes
// later copy the database file's mode.
Status CreateDatabaseFile(const std::filesystem::path& path) {
  if (path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return MakeError(ErrorCode::kInternalError,
                       "cannot create directory " + path.parent_path().string() + ": " + ec.message());
    }
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST) return Status::Ok();  // an existing database keeps its mode
    return MakeError(ErrorCode::kInternalError, ErrnoMessage("cannot create", path, err));
  }
  // The umask may have cleared bits of 0600 but never adds any; chmod makes the mode exact anyway.
  const int rc = ::fchmod(fd, 0600);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return MakeError(ErrorCode::kInternalError, ErrnoMessage("cannot chmod", path, err));
  return Status::Ok();
}

int64_t FileSize(const std::filesystem::path& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

}  // namespace

Param OptParam(const std::optional<int64_t>& v) {
  if (!v) return nullptr;
  return *v;
}

Param OptParam(const std::optional<std::string>& v) {
  if (!v) return nullptr;
  return std::string_view(*v);
}

// ---- Row ----

bool Row::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

int64_t Row::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

double Row::Real(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Row::Text(int col) const {
  // sqlite3_column_text before sqlite3_column_bytes: the byte count is of the converted text.
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (!text) return {};
  return std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::optional<int64_t> Row::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

std::optional<std::string> Row::OptText(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Text(col);
}

std::string_view Row::BlobBytes(int col) const {
  // sqlite3_column_blob before sqlite3_column_bytes, as for text.
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  if (!data) return {};
  return std::string_view(data, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

// ---- Statement ----

class Database::Statement {
 public:
  Statement(sqlite3_stmt* stmt, bool owned) : stmt_(stmt), owned_(owned) {}
  Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)), owned_(other.owned_) {}
  Statement& operator=(Statement&&) = delete;
  ~Statement() {
    if (!stmt_) return;
    if (owned_) {
      sqlite3_finalize(stmt_);
    } else {
      // Ends any read the statement holds open and drops bound views of the caller's strings.
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
  bool owned_;
};

// ---- Database: open and migrate ----

Result<std::unique_ptr<Database>> Database::Open(const std::filesystem::path& path, DatabaseOptions options) {
  if (path.empty()) return MakeError(ErrorCode::kInvalidParams, "database path is empty");
  const bool memory = path == kMemoryPath;
  if (!memory) {
    if (options.read_only) {
      std::error_code ec;
      if (!std::filesystem::exists(path, ec)) {
        return MakeError(ErrorCode::kNotFound, "database " + path.string() + " does not exist");
      }
    } else {
      OC_TRY(CreateDatabaseFile(path));
    }
  }
  int flags = SQLITE_OPEN_NOMUTEX;  // one connection per thread: no need for SQLite's mutexes
  flags |= options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close_v2(raw);
    return MakeError(ErrorCode::kInternalError, "cannot open " + path.string() + ": " + message);
  }
  std::unique_ptr<Database> db(new Database(raw, path));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  Status configured = db->Configure(options);
  if (!configured.ok()) {
    Error error = configured.error();
    // "file is not a database" and the like need the file's name to be actionable.
    if (error.code == ErrorCode::kInternalError) error.message = "cannot open " + path.string() + ": " + error.message;
    return error;
  }
  return db;
}

Status Database::Configure(const DatabaseOptions& options) {
  // First, before anything writes to the file: a newer schema must be left untouched.
  OC_TRY(CheckSchemaNotNewer());
  if (!options.read_only && path_ != kMemoryPath) {
    OC_ASSIGN(auto mode, QueryText("PRAGMA journal_mode=WAL"));
    if (mode.value_or("") != "wal") {
      return MakeError(ErrorCode::kInternalError,
                       "cannot switch to WAL mode (journal_mode is " + mode.value_or("unknown") + ")");
    }
  }
  OC_TRY(Exec("PRAGMA foreign_keys=ON"));
  OC_TRY(Exec(options.durability == Durability::kPower ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  if (options.read_only) return Status::Ok();
  return Migrate();
}

Status Database::CheckSchemaNotNewer() {
  OC_ASSIGN(auto version, QueryInt("PRAGMA user_version"));
  const int64_t current = version.value_or(0);
  if (current <= LatestSchemaVersion()) return Status::Ok();
  json::object data;
  data["schemaVersion"] = current;
  data["supportedVersion"] = LatestSchemaVersion();
  return MakeError(ErrorCode::kConflict,
                   path_.filename().string() + " schema version " + std::to_string(current) +
                       " is newer than this build of openclaw supports (" + std::to_string(LatestSchemaVersion()) +
                       "); upgrade openclaw or restore a matching backup",
                   std::move(data));
}

Status Database::Migrate() {
  OC_TRY(CheckSchemaNotNewer());
  for (const Migration& migration : AllMigrations()) {
    Status applied = InTransaction([&]() -> Status {
      // Read under the write lock: another process may have applied it since we looked.
      OC_ASSIGN(auto version, QueryInt("PRAGMA user_version"));
      if (version.value_or(0) >= migration.version) return Status::Ok();
      OC_TRY(Exec(migration.sql));
      return Exec("PRAGMA user_version = " + std::to_string(migration.version));
    });
    if (!applied.ok()) {
      return MakeError(applied.error().code, "schema migration " + std::to_string(migration.version) + " (" +
                                                 std::string(migration.description) +
                                                 ") failed: " + applied.error().message);
    }
  }
  return Status::Ok();
}

Database::~Database() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  // Rolls back a transaction still open.
  sqlite3_close_v2(db_);
}

int Database::schema_version() const {
  sqlite3_stmt* stmt = nullptr;
  int version = -1;
  if (sqlite3_prepare_v2(db_, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    version = sqlite3_column_int(stmt, 0);
  }
  sqlite3_finalize(stmt);
  return version;
}

int Database::LatestSchemaVersion() {
  auto migrations = AllMigrations();
  return migrations.empty() ? 0 : migrations.back().version;
}

// ---- Database: statements ----

Status Database::Exec(std::string_view sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string text = message ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return SqliteError(rc, text);
}

Result<Database::Statement> Database::Prepared(std::string_view sql) {
  std::string key(sql);
  auto it = statements_.find(key);
  if (it != statements_.end() && !sqlite3_stmt_busy(it->second)) return Statement(it->second, false);
  const bool cache = it == statements_.end();
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(db_, key.c_str(), static_cast<int>(key.size()), cache ? SQLITE_PREPARE_PERSISTENT : 0,
                              &stmt, &tail);
  if (rc != SQLITE_OK) return SqliteError(db_, rc);
  if (!stmt) return MakeError(ErrorCode::kInternalError, "empty SQL statement");
  if (tail && !IsBlank(tail)) {
    sqlite3_finalize(stmt);
    return MakeError(ErrorCode::kInternalError, "one SQL statement expected (use Exec for several)");
  }
  if (!cache) return Statement(stmt, true);
  statements_.emplace(std::move(key), stmt);
  return Statement(stmt, false);
}

Status Database::Bind(sqlite3_stmt* stmt, std::initializer_list<Param> params) {
  const int expected = sqlite3_bind_parameter_count(stmt);
  if (static_cast<size_t>(expected) != params.size()) {
    return MakeError(ErrorCode::kInternalError, "SQL statement expects " + std::to_string(expected) +
                                                    " parameters, got " + std::to_string(params.size()));
  }
  int index = 1;
  for (const Param& param : params) {
    int rc = SQLITE_OK;
    if (std::holds_alternative<int64_t>(param)) {
      rc = sqlite3_bind_int64(stmt, index, std::get<int64_t>(param));
    } else if (std::holds_alternative<double>(param)) {
      rc = sqlite3_bind_double(stmt, index, std::get<double>(param));
    } else if (std::holds_alternative<std::string_view>(param)) {
      auto text = std::get<std::string_view>(param);
      // An empty view may have a null data(), which SQLite would bind as NULL, not "".
      // SQLITE_STATIC: the view outlives the call and bindings are cleared before it returns.
      rc = sqlite3_bind_text64(stmt, index, text.data() ? text.data() : "", text.size(), SQLITE_STATIC,
                               SQLITE_UTF8);
    } else if (const auto* blob = std::get_if<Blob>(&param)) {
      rc = sqlite3_bind_blob64(stmt, index, blob->bytes.data() ? blob->bytes.data() : "", blob->bytes.size(),
                               SQLITE_STATIC);
    } else {
      rc = sqlite3_bind_null(stmt, index);
    }
    if (rc != SQLITE_OK) return SqliteError(db_, rc);
    ++index;
  }
  return Status::Ok();
}

Result<int64_t> Database::Execute(std::string_view sql, std::initializer_list<Param> params,
                                  const std::function<void(const Row&)>* on_row) {
  OC_ASSIGN(Statement stmt, Prepared(sql));
  OC_TRY(Bind(stmt.get(), params));
  int64_t rows = 0;
  while (true) {
    int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) return rows;
    if (rc != SQLITE_ROW) return SqliteError(db_, rc);
    ++rows;
    if (on_row) (*on_row)(Row(stmt.get()));
  }
}

Status Database::Run(std::string_view sql, std::initializer_list<Param> params) {
  return Execute(sql, params, nullptr).status();
}

Result<int64_t> Database::Insert(std::string_view sql, std::initializer_list<Param> params) {
  OC_TRY(Execute(sql, params, nullptr));
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<int64_t> Database::Update(std::string_view sql, std::initializer_list<Param> params) {
  OC_TRY(Execute(sql, params, nullptr));
  return static_cast<int64_t>(sqlite3_changes64(db_));
}

Result<int64_t> Database::Query(std::string_view sql, std::initializer_list<Param> params,
                                const std::function<void(const Row&)>& on_row) {
  return Execute(sql, params, &on_row);
}

Result<std::optional<int64_t>> Database::QueryInt(std::string_view sql, std::initializer_list<Param> params) {
  std::optional<int64_t> value;
  bool first = true;
  std::function<void(const Row&)> on_row = [&](const Row& row) {
    if (first) value = row.OptInt(0);
    first = false;
  };
  OC_TRY(Execute(sql, params, &on_row));
  return value;
}

Result<std::optional<std::string>> Database::QueryText(std::string_view sql, std::initializer_list<Param> params) {
  std::optional<std::string> value;
  bool first = true;
  std::function<void(const Row&)> on_row = [&](const Row& row) {
    if (first) value = row.OptText(0);
    first = false;
  };
  OC_TRY(Execute(sql, params, &on_row));
  return value;
}

// ---- Transactions ----

Result<Database::Transaction> Database::Begin() {
  const int level = transaction_depth_;
  OC_TRY(Exec(level == 0 ? std::string("BEGIN IMMEDIATE") : "SAVEPOINT sp" + std::to_string(level)));
  ++transaction_depth_;
  return Transaction(this, level);
}

Status Database::CommitTransaction(int level) {
  if (level != transaction_depth_ - 1) {
    return MakeError(ErrorCode::kInternalError, "transaction committed while an inner one is still open");
  }
  std::string sql = level == 0 ? std::string("COMMIT") : "RELEASE sp" + std::to_string(level);
  Status committed = Exec(sql);
  if (!committed.ok()) {
    RollbackTransaction(level);
    return committed;
  }
  transaction_depth_ = level;
  return Status::Ok();
}

void Database::RollbackTransaction(int level) {
  if (level >= transaction_depth_) return;
  transaction_depth_ = level;
  // SQLite rolls a whole transaction back by itself after some errors (I/O, out of memory).
  if (sqlite3_get_autocommit(db_)) return;
  std::string sql = level == 0 ? std::string("ROLLBACK")
                               : "ROLLBACK TO sp" + std::to_string(level) + "; RELEASE sp" + std::to_string(level);
  Status rolled_back = Exec(sql);
  if (!rolled_back.ok()) spdlog::error("state.db: rollback failed: {}", rolled_back.error().message);
}

Database::Transaction::Transaction(Transaction&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), level_(other.level_) {}

Database::Transaction::~Transaction() {
  if (db_) db_->RollbackTransaction(level_);
}

Status Database::Transaction::Commit() {
  if (!db_) return MakeError(ErrorCode::kInternalError, "transaction already ended");
  if (level_ >= db_->transaction_depth_) {
    db_ = nullptr;  // an enclosing transaction ended first and took this one with it
    return MakeError(ErrorCode::kInternalError, "transaction already ended by an enclosing one");
  }
  Status committed = db_->CommitTransaction(level_);
  if (committed.ok() || level_ >= db_->transaction_depth_) db_ = nullptr;
  return committed;
}

Status Database::InTransaction(const std::function<Status()>& fn) {
  OC_ASSIGN(Transaction transaction, Begin());
  OC_TRY(fn());
  return transaction.Commit();
}

// ---- Maintenance ----

Status Database::LoadExtension(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    return MakeError(ErrorCode::kNotFound, "no such file: " + file.string());
  sqlite3_db_config(db_, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 1, nullptr);
  char* message = nullptr;
  int rc = sqlite3_load_extension(db_, file.c_str(), nullptr, &message);
  sqlite3_db_config(db_, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string why = message ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return MakeError(ErrorCode::kInternalError, why);
}

Status Database::IntegrityCheck() {
  std::string problems;
  OC_TRY(Query("PRAGMA integrity_check", {}, [&](const Row& row) {
    if (!problems.empty()) problems += "; ";
    problems += row.Text(0);
  }));
  if (problems == "ok") return Status::Ok();
  return MakeError(ErrorCode::kInternalError, "integrity check failed: " + problems);
}

int64_t Database::FileBytes() const {
  if (path_ == kMemoryPath) return 0;
  return FileSize(path_) + FileSize(path_.string() + "-wal");
}

}  // namespace oc::store
