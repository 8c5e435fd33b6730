#pragma once
// The table store port: what the pipeline needs from Cassandra. Implemented by the embedded
// SQLite store (io/embedded) and by the CQL client (io/cql). Names are `keyspace.table`.
// Thread-safety: an instance is used by one thread at a time.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/batch.h"
#include "common/status.h"

namespace tideline::io {

// CQL column types of the supported subset. Serialized by name only.
enum class CqlType { kInt, kBigint, kText, kTimestamp, kDouble, kFloat, kBoolean };
std::string_view cql_type_name(CqlType t);
// Tideline type for a CQL type: int->i32, bigint->i64, text/varchar->string,
// timestamp->timestamp (ns in memory; ms in CQL), double->f64, float->f32, boolean->bool.
TypeId type_for_cql(CqlType t);

struct TableColumn {
  std::string name;
  CqlType type;
};

struct TableSchema {
  std::string keyspace;
  std::string name;
  std::vector<TableColumn> columns;         // declaration order
  std::vector<std::string> partition_key;   // at least one
  std::vector<std::string> clustering_key;  // possibly empty
  // Parallel to clustering_key: true = DESC in `WITH CLUSTERING ORDER BY`. Empty or shorter
  // = ascending for the remaining columns.
  std::vector<bool> clustering_descending;
  bool is_descending(size_t clustering_index) const {
    return clustering_index < clustering_descending.size() &&
           clustering_descending[clustering_index];
  }
  // Record type with one field per column, declaration order.
  TypePtr batch_type() const;
  int column_index(std::string_view name) const;
};

// Parses `CREATE TABLE [IF NOT EXISTS] ks.tbl (col type, ..., PRIMARY KEY ((p1, p2), c1, c2))`
// (or `col type PRIMARY KEY` inline, or `PRIMARY KEY (p, c)`), with an optional
// `WITH ...` tail of which only `CLUSTERING ORDER BY (c1 ASC|DESC, ...)` is used. Case-insensitive
// keywords; identifiers are lower-cased unless double-quoted. Errors say line:column.
Result<TableSchema> parse_create_table(std::string_view cql);

// One parsed DDL statement of the subset the table stores execute.
struct DdlStatement {
  enum class Kind { kCreateKeyspace, kCreateTable };
  Kind kind = Kind::kCreateTable;
  bool if_not_exists = false;
  std::string keyspace;  // kCreateKeyspace: the keyspace created
  TableSchema table;     // kCreateTable only
};
// Parses `CREATE KEYSPACE [IF NOT EXISTS] ks [WITH ...]` or a CREATE TABLE as above; a
// trailing `;` is optional. Errors say line:column.
Result<DdlStatement> parse_ddl(std::string_view cql);

// Replaces <KS_NAME> and <TBL_NAME> placeholders of the original statement files.
std::string fill_statement_template(std::string_view text, std::string_view keyspace,
                                    std::string_view table);

// How an upsert's batch columns land in a table: for each batch field its table column,
// which table columns the batch provides, and which are primary-key columns. Errors
// (kInvalidArgument, naming keyspace.table and the column): an invalid batch, an unknown
// column, a column given twice, a primary-key column missing.
struct UpsertColumns {
  std::vector<int> table_col;  // per batch field
  std::vector<bool> provided;  // per table column
  std::vector<bool> is_key;    // per table column
};
Result<UpsertColumns> map_upsert_columns(const TableSchema& schema, const Batch& rows,
                                         std::string_view keyspace, std::string_view table);

// One cell of a batch converted for a column of CQL type `t`, the conversions every table
// store accepts: numbers across integer/float storage when exact (a float must be integral
// and within i64 range for int/bigint), numeric and "true"/"false" strings, timestamps
// (ns in memory -> ms), plain integers as ms for timestamp columns, RFC 3339 strings for
// timestamps, and any scalar as text. Timestamps and durations are not numbers.
struct CqlCell {
  bool is_null = false;
  int64_t i = 0;          // int, bigint, boolean (0/1), timestamp (ms)
  double d = 0;           // double, float
  std::string_view text;  // text: the column's bytes, or `owned`
  std::string owned;      // a scalar formatted as text
};
// Fills `out` (reused across cells to keep its buffer). kInvalidArgument names the row,
// column, types and value: "row 3: column 'price' (int): cannot store string value 'abc'".
Status to_cql_cell(CqlType t, const Column& col, int64_t row, std::string_view column_name,
                   CqlCell& out);

class TableStore {
 public:
  virtual ~TableStore() = default;
  // Executes CREATE KEYSPACE / CREATE TABLE [IF NOT EXISTS]. Creating an existing table with
  // IF NOT EXISTS is a no-op; without it, AlreadyExists.
  virtual Status execute_ddl(std::string_view cql) = 0;
  virtual Result<TableSchema> describe(std::string_view keyspace, std::string_view table) = 0;
  // Upserts rows by primary key (Cassandra semantics: a later write of the same key replaces
  // the row's provided columns). `rows`' field names must be columns of the table; missing
  // non-key columns are left unchanged for existing rows and null for new ones.
  virtual Status upsert(std::string_view keyspace, std::string_view table, const Batch& rows) = 0;
  // Streams the table in primary-key order (embedded) or token order (Cassandra), at most
  // `limit` rows (-1 = all), in batches of about `batch_rows` rows with the table's schema.
  virtual Status scan(std::string_view keyspace, std::string_view table, int64_t limit,
                      int64_t batch_rows, const std::function<Status(Batch&&)>& on_batch) = 0;
  virtual Result<int64_t> count(std::string_view keyspace, std::string_view table) = 0;
};

}  // namespace tideline::io
