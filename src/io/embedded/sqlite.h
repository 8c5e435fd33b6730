#pragma once
// Thin RAII layer over the SQLite C API for the embedded backends. Errors become Status
// values that name the database file. Thread-safety: a Database and its Statements are used
// by one thread at a time (the library is built thread-safe, so separate connections may be
// used from separate threads).

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tideline::embedded {

// A prepared statement. Text/blob binds are SQLITE_STATIC: the bound bytes must stay alive
// until the statement is stepped to completion or reset.
class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept {
    if (this != &o) {
      if (stmt_) sqlite3_finalize(stmt_);
      db_ = o.db_;
      stmt_ = o.stmt_;
      o.stmt_ = nullptr;
    }
    return *this;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() {
    if (stmt_) sqlite3_finalize(stmt_);
  }

  // Indices are 1-based for binds, 0-based for columns (as in SQLite).
  void bind_int(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void bind_double(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  void bind_null(int i) { sqlite3_bind_null(stmt_, i); }
  void bind_text(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void bind_blob(int i, std::string_view v) {
    // A zero-length blob must not be bound as NULL.
    sqlite3_bind_blob(stmt_, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()),
                      SQLITE_STATIC);
  }

  // true: a row is available; false: done. Errors carry the SQLite message.
  Result<bool> step();
  // Runs a statement that returns no rows, then resets it.
  Status run();
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  bool is_null(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
  int64_t col_int(int c) const { return sqlite3_column_int64(stmt_, c); }
  double col_double(int c) const { return sqlite3_column_double(stmt_, c); }
  std::string_view col_text(int c) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, c));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, c)))
             : std::string_view();
  }
  std::string_view col_blob(int c) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, c));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, c)))
             : std::string_view();
  }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  // Opens (creating if needed) `path` with WAL journaling, synchronous=NORMAL and a busy
  // timeout, so several processes can use it at once.
  static Result<std::unique_ptr<Database>> open(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Status exec(std::string_view sql);
  Result<Statement> prepare(std::string_view sql);
  // Error for the last failed call on this connection: "<path>: <what>: <sqlite message>".
  Status last_error(std::string_view what) const;
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

  // Initialises an empty database with `schema_sql` and the meta rows, or checks that an
  // existing one has `format` / `version` (mismatch = an error naming both versions).
  Status ensure_format(std::string_view format, int version, std::string_view schema_sql);

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  static int on_busy(void* self, int attempt);
  sqlite3* db_;
  std::string path_;
  std::chrono::steady_clock::time_point busy_since_;
};

// `BEGIN IMMEDIATE` (takes the write lock up front so concurrent writers wait on the busy
// timeout instead of failing on a lock upgrade); rolls back unless committed. Inside an
// already open transaction of the same connection it is a SAVEPOINT instead: commit()
// releases it into the outer transaction, destruction rolls back to it. That lets a unit of
// work (io::AtomicWork) span calls that each use a Transaction of their own.
class Transaction {
 public:
  static Result<Transaction> begin(Database& db);
  Transaction(Transaction&& o) noexcept : db_(o.db_), nested_(o.nested_) { o.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Status commit();

 private:
  Transaction(Database* db, bool nested) : db_(db), nested_(nested) {}
  Database* db_;
  bool nested_;
};

// Quotes an SQL identifier: "a""b".
std::string quote_identifier(std::string_view name);

}  // namespace tideline::embedded
