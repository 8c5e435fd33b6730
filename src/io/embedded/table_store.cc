// SQLite table store; format in docs/formats/embedded_tables.md.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>

#include "common/time.h"
#include "io/embedded/embedded.h"
#include "io/embedded/sqlite.h"

namespace tideline::embedded {

namespace {

using io::CqlType;
using io::TableSchema;

constexpr std::string_view kFormat = "tideline-embedded-tables";
constexpr int kFormatVersion = 1;

constexpr std::string_view kSchemaSql = R"sql(
CREATE TABLE keyspaces (name TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE table_columns (
  keyspace TEXT NOT NULL, table_name TEXT NOT NULL, position INTEGER NOT NULL,
  column_name TEXT NOT NULL, cql_type TEXT NOT NULL, key_kind INTEGER NOT NULL,
  key_position INTEGER NOT NULL, descending INTEGER NOT NULL,
  PRIMARY KEY (keyspace, table_name, position)) WITHOUT ROWID;
)sql";

// Stored in table_columns.key_kind; values must never change.
enum class KeyKind : int { kRegular = 0, kPartition = 1, kClustering = 2 };

Result<CqlType> cql_type_from_name(std::string_view n) {
  for (CqlType t : {CqlType::kInt, CqlType::kBigint, CqlType::kText, CqlType::kTimestamp,
                    CqlType::kDouble, CqlType::kFloat, CqlType::kBoolean}) {
    if (io::cql_type_name(t) == n) return t;
  }
  return error(StatusCode::kCorruption, fmt::format("unknown stored CQL type '{}'", n));
}

std::string_view affinity(CqlType t) {
  switch (t) {
    case CqlType::kDouble:
    case CqlType::kFloat:
      return "REAL";
    case CqlType::kText:
      return "TEXT";
    default:
      return "INTEGER";
  }
}

std::string data_table(std::string_view ks, std::string_view tbl) {
  return quote_identifier(fmt::format("{}.{}", ks, tbl));
}

// The primary key columns; with `ordered`, clustering columns carry their ASC/DESC.
std::string key_list(const TableSchema& s, bool ordered = false) {
  std::string out;
  for (const auto& k : s.partition_key) out += (out.empty() ? "" : ", ") + quote_identifier(k);
  for (size_t i = 0; i < s.clustering_key.size(); ++i) {
    out += ", " + quote_identifier(s.clustering_key[i]);
    if (ordered && s.is_descending(i)) out += " DESC";
  }
  return out;
}

// Binds `cell` (converted for CQL type `t`) to parameter `idx`. Text from the batch's
// column is bound in place (it outlives the statement's run); formatted text is copied,
// because `cell` is reused for the next column.
void bind_cell(Statement& st, int idx, CqlType t, const io::CqlCell& cell) {
  if (cell.is_null) {
    st.bind_null(idx);
    return;
  }
  switch (t) {
    case CqlType::kInt:
    case CqlType::kBigint:
    case CqlType::kBoolean:
    case CqlType::kTimestamp:
      st.bind_int(idx, cell.i);
      return;
    case CqlType::kDouble:
    case CqlType::kFloat:
      st.bind_double(idx, cell.d);
      return;
    case CqlType::kText:
      if (cell.text.data() == cell.owned.data()) {
        sqlite3_bind_text(st.get(), idx, cell.text.data(), static_cast<int>(cell.text.size()),
                          SQLITE_TRANSIENT);
      } else {
        st.bind_text(idx, cell.text);
      }
      return;
  }
}

// Rows per upsert statement: one execution of a multi-row INSERT opens the table's cursors
// once for all its rows, where one statement per row pays that (and the statement's start
// and end) for each row. kMaxParameters stays below SQLite's default limit of 32766.
constexpr int64_t kUpsertRows = 64;
constexpr int64_t kMaxParameters = 32000;

class SqliteTableStore final : public io::TableStore {
 public:
  explicit SqliteTableStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  Status execute_ddl(std::string_view cql) override {
    auto parsed = io::parse_ddl(cql);
    if (!parsed) return parsed.error();
    const io::DdlStatement& st = *parsed;
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    if (st.kind == io::DdlStatement::Kind::kCreateKeyspace) {
      TL_ASSIGN_OR_RETURN_S(bool exists, keyspace_exists(st.keyspace));
      if (exists) {
        if (st.if_not_exists) return {};
        return Status(StatusCode::kAlreadyExists,
                      fmt::format("keyspace '{}' already exists", st.keyspace));
      }
      TL_RETURN_STATUS_IF_ERROR(insert_keyspace(st.keyspace, cql));
      return txn.commit();
    }
    const TableSchema& t = st.table;
    if (t.keyspace.empty()) {
      return invalid_argument(
          fmt::format("CREATE TABLE {}: the table name must be qualified with a keyspace "
                      "(keyspace.table)",
                      t.name));
    }
    TL_ASSIGN_OR_RETURN_S(auto existing, load_schema(t.keyspace, t.name));
    if (existing) {
      if (st.if_not_exists) return {};
      return Status(StatusCode::kAlreadyExists,
                    fmt::format("table '{}.{}' already exists", t.keyspace, t.name));
    }
    TL_ASSIGN_OR_RETURN_S(bool ks_exists, keyspace_exists(t.keyspace));
    if (!ks_exists) {
      TL_RETURN_STATUS_IF_ERROR(insert_keyspace(
          t.keyspace, fmt::format("-- implicitly created for {}.{}", t.keyspace, t.name)));
    }
    TL_ASSIGN_OR_RETURN_S(
        Statement ins, db_->prepare("INSERT INTO table_columns VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    std::string cols;
    for (size_t i = 0; i < t.columns.size(); ++i) {
      const auto& c = t.columns[i];
      KeyKind kind = KeyKind::kRegular;
      int key_pos = 0;
      bool descending = false;
      for (size_t k = 0; k < t.partition_key.size(); ++k) {
        if (t.partition_key[k] == c.name) kind = KeyKind::kPartition, key_pos = static_cast<int>(k);
      }
      for (size_t k = 0; k < t.clustering_key.size(); ++k) {
        if (t.clustering_key[k] == c.name) {
          kind = KeyKind::kClustering;
          key_pos = static_cast<int>(k);
          descending = t.is_descending(k);
        }
      }
      ins.bind_text(1, t.keyspace);
      ins.bind_text(2, t.name);
      ins.bind_int(3, static_cast<int64_t>(i));
      ins.bind_text(4, c.name);
      ins.bind_text(5, io::cql_type_name(c.type));
      ins.bind_int(6, static_cast<int>(kind));
      ins.bind_int(7, key_pos);
      ins.bind_int(8, descending ? 1 : 0);
      TL_RETURN_STATUS_IF_ERROR(ins.run());
      cols += fmt::format("{} {}, ", quote_identifier(c.name), affinity(c.type));
    }
    TL_RETURN_STATUS_IF_ERROR(
        db_->exec(fmt::format("CREATE TABLE {} ({}PRIMARY KEY ({})) WITHOUT ROWID",
                              data_table(t.keyspace, t.name), cols, key_list(t, true))));
    return txn.commit();
  }

  Result<TableSchema> describe(std::string_view keyspace, std::string_view table) override {
    TL_ASSIGN_OR_RETURN(const TableSchema* s, schema(keyspace, table));
    return *s;
  }

  Status upsert(std::string_view keyspace, std::string_view table, const Batch& rows) override {
    TL_ASSIGN_OR_RETURN_S(const TableSchema* s, schema(keyspace, table));
    TL_ASSIGN_OR_RETURN_S(io::UpsertColumns cols,
                          io::map_upsert_columns(*s, rows, keyspace, table));
    const auto& fields = rows.schema->fields;
    const std::vector<int>& table_col = cols.table_col;
    const std::vector<bool>& is_key = cols.is_key;
    if (rows.num_rows == 0) return {};
    std::string names, params, updates;
    for (size_t i = 0; i < fields.size(); ++i) {
      const std::string q = quote_identifier(fields[i].name);
      names += (i ? ", " : "") + q;
      params += i ? ", ?" : "(?";
      if (!is_key[static_cast<size_t>(table_col[i])]) {
        updates += fmt::format("{}{} = excluded.{}", updates.empty() ? "" : ", ", q, q);
      }
    }
    params += ")";
    // Two statements: kUpsertRows rows at a time, then single rows for the rest (so the cache
    // holds two statements per column set, not one per remainder size).
    auto statement = [&](int64_t rows) -> Result<Statement*> {
      std::string values = params;
      for (int64_t k = 1; k < rows; ++k) values += ", " + params;
      std::string sql = fmt::format("INSERT INTO {} ({}) VALUES {} ON CONFLICT ({}) DO {}",
                                    data_table(keyspace, table), names, values, key_list(*s),
                                    updates.empty() ? "NOTHING" : "UPDATE SET " + updates);
      auto it = statements_.find(sql);
      if (it == statements_.end()) {
        TL_ASSIGN_OR_RETURN(Statement st, db_->prepare(sql));
        it = statements_.emplace(sql, std::move(st)).first;
      }
      return &it->second;
    };
    const int64_t per_statement = std::max<int64_t>(
        1, std::min<int64_t>(kUpsertRows, kMaxParameters / static_cast<int64_t>(fields.size())));
    TL_ASSIGN_OR_RETURN_S(Statement * many, statement(per_statement));
    TL_ASSIGN_OR_RETURN_S(Statement * one, statement(1));
    TL_ASSIGN_OR_RETURN_S(Transaction txn, Transaction::begin(*db_));
    io::CqlCell cell;
    int64_t r = 0;
    while (r < rows.num_rows) {
      // Rows of one statement run in order, so a key repeated in the batch ends with its last
      // row (as one statement per row does).
      const int64_t k = rows.num_rows - r >= per_statement ? per_statement : 1;
      Statement& st = k == 1 ? *one : *many;
      for (int64_t j = 0; j < k; ++j, ++r) {
        for (size_t i = 0; i < fields.size(); ++i) {
          const auto& tc = s->columns[static_cast<size_t>(table_col[i])];
          const Column& col = rows.columns[i];
          if (is_key[static_cast<size_t>(table_col[i])] && !col.is_valid(r)) {
            st.reset();
            return invalid_argument(
                fmt::format("upsert into {}.{}: row {}: primary key column "
                            "'{}' is null",
                            keyspace, table, r, tc.name));
          }
          Status b = io::to_cql_cell(tc.type, col, r, tc.name, cell);
          if (!b.ok()) {
            st.reset();
            return b.with_context(fmt::format("upsert into {}.{}", keyspace, table));
          }
          bind_cell(st, static_cast<int>(j * static_cast<int64_t>(fields.size()) + i) + 1, tc.type,
                    cell);
        }
      }
      TL_RETURN_STATUS_IF_ERROR(st.run());
    }
    return txn.commit();
  }

  Status scan(std::string_view keyspace, std::string_view table, int64_t limit, int64_t batch_rows,
              const std::function<Status(Batch&&)>& on_batch) override {
    TL_ASSIGN_OR_RETURN_S(const TableSchema* s, schema(keyspace, table));
    if (batch_rows <= 0) batch_rows = 4096;
    std::string cols;
    for (const auto& c : s->columns) cols += (cols.empty() ? "" : ", ") + quote_identifier(c.name);
    TL_ASSIGN_OR_RETURN_S(
        Statement st, db_->prepare(fmt::format("SELECT {} FROM {} ORDER BY {} LIMIT ?", cols,
                                               data_table(keyspace, table), key_list(*s, true))));
    st.bind_int(1, limit < 0 ? -1 : limit);
    const TypePtr type = s->batch_type();
    const size_t ncols = s->columns.size();
    Batch batch = Batch::empty(type);
    auto flush = [&]() -> Status {
      Batch out = std::move(batch);
      batch = Batch::empty(type);
      return on_batch(std::move(out));
    };
    while (true) {
      TL_ASSIGN_OR_RETURN_S(bool row, st.step());
      if (!row) break;
      for (size_t c = 0; c < ncols; ++c) {
        Column& col = batch.columns[c];
        const int ci = static_cast<int>(c);
        // Numbers: SQLite reads a NULL as 0, so only a 0 needs the (costly) type check.
        switch (s->columns[c].type) {
          case CqlType::kInt:
          case CqlType::kBigint:
          case CqlType::kBoolean:
          case CqlType::kTimestamp: {
            const int64_t v = st.col_int(ci);
            if (v == 0 && st.is_null(ci)) {
              col.append_null();
            } else if (s->columns[c].type == CqlType::kBoolean) {
              col.append_int(v != 0);
            } else if (s->columns[c].type == CqlType::kTimestamp) {
              col.append_int(v * kNanosPerMilli);
            } else {
              col.append_int(v);
            }
            break;
          }
          case CqlType::kDouble:
          case CqlType::kFloat: {
            const double v = st.col_double(ci);
            if (v == 0 && st.is_null(ci)) {
              col.append_null();
            } else {
              col.append_float(v);
            }
            break;
          }
          case CqlType::kText:
            if (st.is_null(ci)) {
              col.append_null();
            } else {
              col.append_string(st.col_text(ci));
            }
            break;
        }
      }
      if (++batch.num_rows >= batch_rows) TL_RETURN_STATUS_IF_ERROR(flush());
    }
    st.reset();
    if (batch.num_rows > 0) TL_RETURN_STATUS_IF_ERROR(flush());
    return {};
  }

  Result<int64_t> count(std::string_view keyspace, std::string_view table) override {
    TL_ASSIGN_OR_RETURN(const TableSchema* s, schema(keyspace, table));
    (void)s;
    TL_ASSIGN_OR_RETURN(Statement st, db_->prepare(fmt::format("SELECT count(*) FROM {}",
                                                               data_table(keyspace, table))));
    TL_RETURN_IF_ERROR(st.step());
    return st.col_int(0);
  }

 private:
  Result<bool> keyspace_exists(std::string_view ks) {
    TL_ASSIGN_OR_RETURN(Statement st, db_->prepare("SELECT 1 FROM keyspaces WHERE name = ?"));
    st.bind_text(1, ks);
    return st.step();
  }
  Status insert_keyspace(std::string_view ks, std::string_view definition) {
    TL_ASSIGN_OR_RETURN_S(Statement st, db_->prepare("INSERT INTO keyspaces VALUES (?, ?)"));
    st.bind_text(1, ks);
    st.bind_text(2, definition);
    return st.run();
  }

  // Reads the catalog; nullopt when the table does not exist.
  Result<std::optional<TableSchema>> load_schema(std::string_view ks, std::string_view tbl) {
    TL_ASSIGN_OR_RETURN(
        Statement st,
        db_->prepare("SELECT column_name, cql_type, key_kind, key_position, descending "
                     "FROM table_columns "
                     "WHERE keyspace = ? AND table_name = ? ORDER BY position"));
    st.bind_text(1, ks);
    st.bind_text(2, tbl);
    TableSchema s;
    s.keyspace = std::string(ks);
    s.name = std::string(tbl);
    std::vector<std::pair<int64_t, std::string>> pk, ck;
    std::vector<std::pair<int64_t, bool>> ck_desc;
    while (true) {
      TL_ASSIGN_OR_RETURN(bool row, st.step());
      if (!row) break;
      TL_ASSIGN_OR_RETURN(CqlType t, cql_type_from_name(st.col_text(1)));
      std::string name(st.col_text(0));
      auto kind = static_cast<KeyKind>(st.col_int(2));
      if (kind == KeyKind::kPartition) pk.emplace_back(st.col_int(3), name);
      if (kind == KeyKind::kClustering) {
        ck.emplace_back(st.col_int(3), name);
        ck_desc.emplace_back(st.col_int(3), st.col_int(4) != 0);
      }
      s.columns.push_back({std::move(name), t});
    }
    if (s.columns.empty()) return std::nullopt;
    std::sort(pk.begin(), pk.end());
    std::sort(ck.begin(), ck.end());
    for (auto& [_, n] : pk) s.partition_key.push_back(std::move(n));
    std::sort(ck_desc.begin(), ck_desc.end());
    for (auto& [_, n] : ck) s.clustering_key.push_back(std::move(n));
    for (auto& [_, d] : ck_desc) s.clustering_descending.push_back(d);
    if (s.partition_key.empty()) {
      return error(
          StatusCode::kCorruption,
          fmt::format("{}: table {}.{} has no partition key in the catalog", db_->path(), ks, tbl));
    }
    return s;
  }

  // Tables are never dropped or altered, so a schema once found stays valid.
  Result<const TableSchema*> schema(std::string_view ks, std::string_view tbl) {
    std::string key = fmt::format("{}.{}", ks, tbl);
    auto it = schemas_.find(key);
    if (it != schemas_.end()) return &it->second;
    TL_ASSIGN_OR_RETURN(auto s, load_schema(ks, tbl));
    if (!s) return error(StatusCode::kNotFound, fmt::format("table {} does not exist", key));
    return &schemas_.emplace(key, std::move(*s)).first->second;
  }

  std::unique_ptr<Database> db_;
  std::map<std::string, TableSchema, std::less<>> schemas_;
  std::map<std::string, Statement, std::less<>> statements_;
};

}  // namespace

Result<std::unique_ptr<io::TableStore>> open_table_store(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return error(StatusCode::kIoError,
                 fmt::format("{}: cannot create data directory: {}", data_dir, ec.message()));
  }
  TL_ASSIGN_OR_RETURN(auto db,
                      Database::open((std::filesystem::path(data_dir) / "tables.sqlite").string()));
  TL_RETURN_IF_ERROR(db->ensure_format(kFormat, kFormatVersion, kSchemaSql));
  return std::make_unique<SqliteTableStore>(std::move(db));
}

}  // namespace tideline::embedded
