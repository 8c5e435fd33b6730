// Job state in SQLite (job_state.h, docs/formats/embedded_log.md "Job state").
#include "io/embedded/job_state.h"

#include <fmt/format.h>

#include <filesystem>

#include "io/embedded/embedded.h"

namespace tideline::embedded {

namespace {

// Values of at least kLargeValue bytes live in `job_state_large`, a rowid table with a
// separate (scope, name) index: `job_state` is WITHOUT ROWID, and SQLite reads the whole
// payload of an overflowing cell of such a table whenever a key search compares against
// it, so one multi-megabyte engine image beside the journal made every journal append read
// it (docs/formats/embedded_log.md, "Job state"). A name is in at most one of the tables.
constexpr size_t kLargeValue = 1024;

constexpr std::string_view kLargeSql = R"sql(
CREATE TABLE IF NOT EXISTS job_state_large (scope TEXT NOT NULL, name TEXT NOT NULL,
                                            value BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS job_state_large_key ON job_state_large (scope, name);
)sql";

class SqliteStateStore final : public io::StateStore {
 public:
  explicit SqliteStateStore(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<std::optional<std::string>> get(std::string_view scope, std::string_view name) override {
    TL_RETURN_IF_ERROR(ensure_large());
    for (const char* sql : {"SELECT value FROM job_state WHERE scope = ? AND name = ?",
                            "SELECT value FROM job_state_large WHERE scope = ? AND name = ?"}) {
      TL_ASSIGN_OR_RETURN(Statement st, db_->prepare(sql));
      st.bind_text(1, scope);
      st.bind_text(2, name);
      TL_ASSIGN_OR_RETURN(bool row, st.step());
      if (row) return std::optional<std::string>(std::string(st.col_blob(0)));
    }
    return std::optional<std::string>();
  }

  Result<std::vector<std::pair<std::string, std::string>>> scan(std::string_view scope,
                                                                std::string_view prefix) override {
    TL_RETURN_IF_ERROR(ensure_large());
    TL_ASSIGN_OR_RETURN(Statement st,
                        db_->prepare("SELECT name, value FROM job_state WHERE scope = ?1 AND "
                                     "name >= ?2 AND name < ?3 UNION ALL SELECT name, value FROM "
                                     "job_state_large WHERE scope = ?1 AND name >= ?2 AND "
                                     "name < ?3 ORDER BY name"));
    // Names compare bytewise (BINARY collation): every name with the prefix sorts before
    // prefix + 0xff.
    const std::string upper = std::string(prefix) + "\xff";
    st.bind_text(1, scope);
    st.bind_text(2, prefix);
    st.bind_text(3, upper);
    std::vector<std::pair<std::string, std::string>> out;
    while (true) {
      TL_ASSIGN_OR_RETURN(bool row, st.step());
      if (!row) break;
      out.emplace_back(std::string(st.col_text(0)), std::string(st.col_blob(1)));
    }
    return out;
  }

  Status put(std::string_view scope, std::string_view name, std::string_view value) override {
    TL_RETURN_STATUS_IF_ERROR(ensure_large());
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    const bool large = value.size() >= kLargeValue;
    // The other table's entry of this name goes (a value may change size class).
    TL_ASSIGN_OR_RETURN_S(Statement del,
                          db_->prepare(large ? "DELETE FROM job_state WHERE scope = ? AND name = ?"
                                             : "DELETE FROM job_state_large WHERE scope = ? AND "
                                               "name = ?"));
    del.bind_text(1, scope);
    del.bind_text(2, name);
    TL_RETURN_STATUS_IF_ERROR(del.run());
    TL_ASSIGN_OR_RETURN_S(
        Statement st, db_->prepare(large ? "INSERT OR REPLACE INTO job_state_large VALUES "
                                           "(?, ?, ?)"
                                         : "INSERT OR REPLACE INTO job_state VALUES (?, ?, ?)"));
    st.bind_text(1, scope);
    st.bind_text(2, name);
    st.bind_blob(3, value);
    TL_RETURN_STATUS_IF_ERROR(st.run());
    return txn.commit();
  }

  Status erase(std::string_view scope, std::string_view prefix, std::string_view through) override {
    TL_RETURN_STATUS_IF_ERROR(ensure_large());
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    const std::string upper = std::string(prefix) + "\xff";
    for (const char* sql : {"DELETE FROM job_state WHERE scope = ? AND name >= ? AND name < ? "
                            "AND (? = 0 OR name <= ?)",
                            "DELETE FROM job_state_large WHERE scope = ? AND name >= ? AND "
                            "name < ? AND (? = 0 OR name <= ?)"}) {
      TL_ASSIGN_OR_RETURN_S(Statement st, db_->prepare(sql));
      st.bind_text(1, scope);
      st.bind_text(2, prefix);
      st.bind_text(3, upper);
      st.bind_int(4, through.empty() ? 0 : 1);  // an empty text may bind as NULL
      st.bind_text(5, through);
      TL_RETURN_STATUS_IF_ERROR(st.run());
    }
    return txn.commit();
  }

 private:
  // Creates job_state_large on first use (databases written before it lack it). Created
  // inside an open transaction, it exists for sure only once that commits: until then the
  // statement runs each time (it is a no-op when the table exists).
  Status ensure_large() {
    if (large_ready_) return {};
    TL_RETURN_IF_ERROR(db_->exec(kLargeSql));
    large_ready_ = sqlite3_get_autocommit(db_->handle()) != 0;
    return {};
  }

  std::shared_ptr<Database> db_;
  bool large_ready_ = false;
};

constexpr std::string_view kFormat = "tideline-job-state";
constexpr int kFormatVersion = 1;

// A standalone store owns its connection.
class OwningStateStore final : public io::StateStore {
 public:
  explicit OwningStateStore(std::shared_ptr<Database> db)
      : db_(db), inner_(make_state_store(std::move(db))) {}
  Result<std::optional<std::string>> get(std::string_view s, std::string_view n) override {
    return inner_->get(s, n);
  }
  Result<std::vector<std::pair<std::string, std::string>>> scan(std::string_view s,
                                                                std::string_view p) override {
    return inner_->scan(s, p);
  }
  Status put(std::string_view s, std::string_view n, std::string_view v) override {
    return inner_->put(s, n, v);
  }
  Status erase(std::string_view s, std::string_view p, std::string_view t) override {
    return inner_->erase(s, p, t);
  }

 private:
  std::shared_ptr<Database> db_;
  std::unique_ptr<io::StateStore> inner_;
};

}  // namespace

std::unique_ptr<io::StateStore> make_state_store(std::shared_ptr<Database> db) {
  return std::make_unique<SqliteStateStore>(std::move(db));
}

Result<std::unique_ptr<io::StateStore>> open_state_store(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return error(StatusCode::kIoError,
                 fmt::format("{}: cannot create the state directory: {}", dir, ec.message()));
  }
  const std::string path = (std::filesystem::path(dir) / "job_state.sqlite").string();
  TL_ASSIGN_OR_RETURN(auto db, Database::open(path));
  TL_RETURN_IF_ERROR(db->ensure_format(kFormat, kFormatVersion, kJobStateSql));
  return std::unique_ptr<io::StateStore>(
      std::make_unique<OwningStateStore>(std::shared_ptr<Database>(std::move(db))));
}

}  // namespace tideline::embedded
