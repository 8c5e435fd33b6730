#include "io/embedded/sqlite.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace tideline::embedded {

namespace {
constexpr int kBusyTimeoutMs = 30'000;
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const char* file = sqlite3_db_filename(db_, "main");
  std::string msg = fmt::format("{}: {} (in: {})", file ? file : "sqlite", sqlite3_errmsg(db_),
                                sqlite3_sql(stmt_) ? sqlite3_sql(stmt_) : "");
  sqlite3_reset(stmt_);
  return error(rc == SQLITE_BUSY ? StatusCode::kUnavailable : StatusCode::kIoError, std::move(msg));
}

Status Statement::run() {
  auto r = step();
  reset();
  if (!r) return r.error();
  return {};
}

Result<std::unique_ptr<Database>> Database::open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = fmt::format("{}: cannot open database: {}", path,
                                  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return error(StatusCode::kIoError, std::move(msg));
  }
  std::unique_ptr<Database> out(new Database(db, path));
  sqlite3_busy_handler(db, &Database::on_busy, out.get());
  sqlite3_extended_result_codes(db, 0);
  // Only takes effect when the file is new: fewer, larger WAL frames per commit.
  TL_RETURN_IF_ERROR(out->exec("PRAGMA page_size=8192"));
  TL_RETURN_IF_ERROR(out->exec("PRAGMA journal_mode=WAL"));
  TL_RETURN_IF_ERROR(out->exec("PRAGMA synchronous=NORMAL"));
  TL_RETURN_IF_ERROR(out->exec("PRAGMA cache_size=-32000"));
  // Statement journals (the undo of each SAVEPOINT inside an atomic unit, io::AtomicWork)
  // stay in memory instead of spilling to /var/tmp: the processor's atomic steps wrote ~20 MB
  // of them per million output messages. They are only needed until the unit ends.
  TL_RETURN_IF_ERROR(out->exec("PRAGMA temp_store=MEMORY"));
  // Checkpoint (and fsync) every ~64 MB of WAL instead of every 8 MB: fsyncs dominate the
  // cost of publishing on a busy disk. The WAL file is truncated back to 64 MB afterwards.
  TL_RETURN_IF_ERROR(out->exec("PRAGMA wal_autocheckpoint=8000"));
  TL_RETURN_IF_ERROR(out->exec("PRAGMA journal_size_limit=67108864"));
  return out;
}

// SQLite's default busy handler sleeps at least 1 ms and then much longer; writers here hold
// the lock for well under a millisecond, so retry after short, growing sleeps instead.
int Database::on_busy(void* self, int attempt) {
  auto* db = static_cast<Database*>(self);
  const auto now = std::chrono::steady_clock::now();
  if (attempt == 0) db->busy_since_ = now;
  if (now - db->busy_since_ > std::chrono::milliseconds(kBusyTimeoutMs)) return 0;
  const int shift = std::min(attempt, 6);
  std::this_thread::sleep_for(std::chrono::microseconds(20 << shift));  // 20 us .. 1.28 ms
  return 1;
}

Database::~Database() {
  sqlite3_close_v2(db_);
}

Status Database::last_error(std::string_view what) const {
  int rc = sqlite3_errcode(db_);
  return Status(rc == SQLITE_BUSY ? StatusCode::kUnavailable : StatusCode::kIoError,
                fmt::format("{}: {}: {}", path_, what, sqlite3_errmsg(db_)));
}

Status Database::exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    Status st(rc == SQLITE_BUSY ? StatusCode::kUnavailable : StatusCode::kIoError,
              fmt::format("{}: {} (in: {})", path_, err ? err : sqlite3_errstr(rc), s));
    sqlite3_free(err);
    return st;
  }
  return {};
}

Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    return error(StatusCode::kIoError,
                 fmt::format("{}: {} (in: {})", path_, sqlite3_errmsg(db_), sql));
  }
  return Statement(db_, stmt);
}

Status Database::ensure_format(std::string_view format, int version, std::string_view schema_sql) {
  auto txn = Transaction::begin(*this);
  if (!txn) return txn.error();
  auto probe = prepare("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'");
  if (!probe) return probe.error();
  auto has = probe->step();
  if (!has) return has.error();
  bool exists = probe->col_int(0) > 0;
  probe->reset();
  if (!exists) {
    Status st = exec(schema_sql);
    if (!st.ok()) return st;
    st =
        exec(fmt::format("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                         "INSERT INTO meta VALUES ('format', '{}'), ('format_version', '{}');",
                         format, version));
    if (!st.ok()) return st;
    return txn->commit();
  }
  auto q = prepare("SELECT key, value FROM meta WHERE key IN ('format', 'format_version')");
  if (!q) return q.error();
  std::string found_format, found_version;
  while (true) {
    auto row = q->step();
    if (!row) return row.error();
    if (!*row) break;
    if (q->col_text(0) == "format")
      found_format = std::string(q->col_text(1));
    else
      found_version = std::string(q->col_text(1));
  }
  if (found_format != format || found_version != std::to_string(version)) {
    return Status(StatusCode::kCorruption,
                  fmt::format("{}: unsupported database format '{}' version '{}' (this build "
                              "reads '{}' version {}); use a new data directory",
                              path_, found_format, found_version, format, version));
  }
  return txn->commit();
}

Result<Transaction> Transaction::begin(Database& db) {
  if (sqlite3_get_autocommit(db.handle()) == 0) {
    TL_RETURN_IF_ERROR(db.exec("SAVEPOINT tl_nested"));
    return Transaction(&db, true);
  }
  TL_RETURN_IF_ERROR(db.exec("BEGIN IMMEDIATE"));
  return Transaction(&db, false);
}

Transaction::~Transaction() {
  if (!db_) return;
  if (nested_) {
    (void)db_->exec("ROLLBACK TO tl_nested");
    (void)db_->exec("RELEASE tl_nested");
  } else {
    (void)db_->exec("ROLLBACK");
  }
}

Status Transaction::commit() {
  Database* db = db_;
  db_ = nullptr;
  if (nested_) {
    Status st = db->exec("RELEASE tl_nested");
    if (!st.ok()) {
      (void)db->exec("ROLLBACK TO tl_nested");
      (void)db->exec("RELEASE tl_nested");
    }
    return st;
  }
  Status st = db->exec("COMMIT");
  if (!st.ok()) (void)db->exec("ROLLBACK");
  return st;
}

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace tideline::embedded
