#pragma once
// The Fenl engine's facade: a compiled query in, input batches in, result batches out.
// The processor, the `query` command and the benchmarks use only this header.
//
// Contract:
//  - compile() parses, resolves and type-checks the query against the table specs; errors
//    carry the stage and position ("Parse error at 3:14: ..." with the source line and a
//    caret) in Status::message().
//  - A Session executes one compiled query. Inputs may arrive in any order across calls to
//    add_input(); the session orders rows by (time, subsort, arrival) itself.
//  - finish() returns every result row (history: one per change; final: one per entity).
//    It consumes the session's inputs: call it once (later calls, and add_input after it,
//    fail with kInvalidArgument).
//    Output schema: `_time` (timestamp), `_key` (the entity key's type), then the fields of
//    the result record in order (a non-record result becomes one field named `result`,
//    unless QueryOptions::require_record makes it a compile error as in Fenl).
//  - All execution state lives in operator state objects owned by the session (no state on
//    the call stack between calls), so a later streaming mode can snapshot it.
//  - Thread-safety: a CompiledQuery is immutable and may be shared by threads and
//    sessions; a Session must be used by one thread at a time.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/batch.h"
#include "common/status.h"
#include "common/time.h"

namespace tideline::engine {

struct TableSpec {
  std::string name;
  TypePtr schema;  // record type of the input batches
  std::string time_column;
  std::string key_column;
  std::string subsort_column;  // empty = none
  std::string grouping;        // empty = the table's own name
};

struct ViewSpec {
  std::string name;
  std::string expression;
};

enum class ResultBehavior { kHistory, kFinal };

struct QueryOptions {
  ResultBehavior results = ResultBehavior::kHistory;
  std::optional<TimestampNs> final_at;       // final results as of this time
  std::optional<TimestampNs> changed_since;  // history: rows at/after; final: changed entities
  // Fenl requires the query to produce a record (diagnostic E0013). When false, a
  // non-record result becomes one field named `result` instead of an error.
  bool require_record = false;
  // When set, the result's `_key` column is u32: the index of the row's entity in
  // Session::key_dictionary() (the distinct keys), so large results need not repeat every
  // key's bytes (writers dictionary-encode or look the key up). Null keys stay null.
  bool key_indices = false;
};

class CompiledQuery {
 public:
  virtual ~CompiledQuery() = default;
  // Schema of the result batches (_time, _key, fields...).
  virtual const TypePtr& output_type() const = 0;
  // A human-readable plan (for --explain and debugging).
  virtual std::string explain() const = 0;
  // Compile warnings (unused bindings, ...), each rendered with line:column and caret.
  virtual std::vector<std::string> warnings() const { return {}; }
  // Names of the columns of `table` the query can read (always its time, key and subsort
  // columns), in schema order; empty for an unknown table. A table referenced as a whole
  // record (other than by `is_valid`, `is_null` or `count`) reads every column. A caller may
  // compile again with only these columns and feed only them: the result is the same.
  virtual std::vector<std::string> used_columns(std::string_view table) const {
    (void)table;
    return {};
  }
};

class Session {
 public:
  virtual ~Session() = default;
  // `batch` must have the schema given for `table` at compile time.
  virtual Status add_input(std::string_view table, const Batch& batch) = 0;
  // Same, but the session may take over the batch's buffers instead of copying them (the
  // batch is left valid but unspecified). The default copies.
  virtual Status add_input(std::string_view table, Batch&& batch) {
    return add_input(table, static_cast<const Batch&>(batch));
  }
  // The whole input of `table` with a dictionary-encoded key column: `batch`'s key column
  // holds u32 codes (null = null key) into `key_values` (the distinct keys, of the key
  // column's type). Keys are hashed and interned once per distinct value instead of once
  // per row; the key column is decoded only if the query reads it as a value. Only for a
  // table without other input (else kInvalidArgument). The default is kUnimplemented.
  virtual Status add_input_dictionary_key(std::string_view table, Batch&& batch,
                                          Column&& key_values);
  virtual Result<Batch> finish() = 0;
  // After finish() with QueryOptions::key_indices: the distinct entity keys `_key` indexes
  // (owned by the session, valid until it is destroyed). Null before finish() or without
  // the option.
  virtual const Column* key_dictionary() const { return nullptr; }
};

Result<std::shared_ptr<const CompiledQuery>> compile(std::string_view query,
                                                     const std::vector<TableSpec>& tables,
                                                     const std::vector<ViewSpec>& views,
                                                     const QueryOptions& options);

Result<std::unique_ptr<Session>> start_session(std::shared_ptr<const CompiledQuery> query);

}  // namespace tideline::engine
