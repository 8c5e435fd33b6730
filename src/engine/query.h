#pragma once
// The Fenl engine's facade: a compiled query in, input batches in, result batches out.
// The processor, the `query` command and the benchmarks use only this header.
//
// Contract:
//  - compile() parses, resolves and type-checks the query against the table specs; errors
//    carry the stage and position ("Parse error at 3:14: ..." with the source line and a
//    caret) in Status::message().
//  - A Session executes one compiled query, over all input at once (push + finish) or
//    incrementally (push / advance / snapshot / restore; see Session).
//    Output schema: `_time` (timestamp), `_key` (the entity key's type), then the fields of
//    the result record in order (a non-record result becomes one field named `result`,
//    unless QueryOptions::require_record makes it a compile error as in Fenl).
//  - All execution state is explicit: entity dictionaries and per-operator state held as
//    values (never row references), so snapshot() captures it and restore() resumes it.
//  - Thread-safety: a CompiledQuery is immutable and may be shared by threads and
//    sessions; a Session must be used by one thread at a time.

#include <cstdint>
#include <functional>
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

// Kinds of state images (docs/formats/engine-state.md, "Images").
enum class ImageKind : uint8_t { kFull = 1, kDelta = 2, kPartial = 3 };

// Chooses the entities of a partial image: called once per entity with its grouping index,
// the grouping's key column and the entity's row in it, and once per buffered input row
// with the row's table's grouping, the buffered key column and the row. Not a hot path.
using EntitySelector = std::function<bool(size_t grouping, const Column& keys, int64_t row)>;

// Pulsar Key_Shared hash ranges: inclusive [start, end] in [0, 65535].
struct KeyHashRange {
  uint32_t start = 0;
  uint32_t end = 65535;
};
// The Key_Shared slot of an entity key: io::pulsar_key_hash of the key's message-key form
// (what the pipeline's producer sets as the message key: null -> "", integers in decimal,
// floats as fmt "{}", strings as they are) modulo 65536.
uint32_t key_hash_slot(const Column& keys, int64_t row);
// A selector keeping the keys whose slot falls in one of `ranges` (every grouping).
EntitySelector key_hash_ranges(std::vector<KeyHashRange> ranges);

// What one call returns. Result options are per call, not per compiled query: one session
// can serve history rows to one caller and final values to another.
struct ResultOptions {
  ResultBehavior results = ResultBehavior::kHistory;
  // finish() only: final results as of this time (stamped final_at + 1ns). With advance(),
  // pass the watermark final_at + 1 instead.
  std::optional<TimestampNs> final_at;
  // History: only rows at or after this time. Final: only entities whose latest result row
  // is at or after it.
  std::optional<TimestampNs> changed_since;
};

struct QueryOptions {
  // Fenl requires the query to produce a record (diagnostic E0013). When false, a
  // non-record result becomes one field named `result` instead of an error.
  bool require_record = false;
  // When set, the result's `_key` column is u32: the index of the row's entity in
  // Session::key_dictionary() (the distinct keys), so large results need not repeat every
  // key's bytes (writers dictionary-encode or look the key up). Null keys stay null.
  bool key_indices = false;
  // Plan rewrites (tick-window fusion, final-only aggregation) for a session's terminal
  // advance. Off: the plain plan everywhere (tests compare both; results are identical).
  bool rewrites = true;
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
  // record (other than by `is_valid`, `is_null`, `is_not_null` or `count`) reads every column. A
  // caller may compile again with only these columns and feed only them: the result is the same.
  virtual std::vector<std::string> used_columns(std::string_view table) const {
    (void)table;
    return {};
  }
  // 64-bit fingerprint of the compiled plan and the input schemas; a snapshot carries it
  // and restore() refuses a snapshot taken under another fingerprint.
  virtual uint64_t fingerprint() const { return 0; }
};

// One execution of a compiled query, batch or incremental (docs/fenl.md, "Operator model").
//
// Incremental contract:
//  - push(table, batch) buffers input rows. Every row's time must be >= the last watermark
//    passed to advance() (else kInvalidArgument naming the table and row); otherwise batches
//    may arrive in any order and rows of one table keep their arrival order among equal
//    times.
//  - advance(w) emits every result row with time < w exactly once, in (time, subsort, key)
//    order, and returns them. Rows the input cannot yet decide (ticks and shifted rows later
//    than the latest input time) wait until more input arrives or w = kEndOfTime. A
//    watermark below the previous one is an error.
//  - advance(kEndOfTime) ends the input: everything left is emitted and later pushes fail.
//  - checkpoint(kFull) / checkpoint(kDelta) write incremental images: a delta holds only the
//    entities whose state may have changed since the previous checkpoint() or restore*()
//    (its parent) and the small global state; restore_chain(full, delta...) on a new session
//    continues exactly where the last image was taken. A delta that does not follow the
//    image before it is refused.
//  - snapshot_partial(selector) writes the entities the selector keeps (e.g. one processor's
//    Key_Shared hash ranges, key_hash_ranges()); restore_merge(partials) on a new session
//    unites partial images of disjoint entity sets (merge rules: engine-state.md).
//  - snapshot() returns the whole state (entity dictionaries, every operator's state as
//    values, buffered input) as bytes (docs/formats/engine-state.md); restore(bytes) on a
//    new session of the same compiled query continues exactly where the snapshot was taken.
// Batch use: push each table once, then finish() (= advance(kEndOfTime) with options).
// Concatenating the batches of any sequence of advances equals the batch result.
// Thread-safety: a Session must be used by one thread at a time.
class Session {
 public:
  static constexpr TimestampNs kEndOfTime = INT64_MAX;

  virtual ~Session() = default;
  // `batch` must have the schema given for `table` at compile time. The session may take
  // over the batch's buffers (the batch is left valid but unspecified).
  virtual Status push(std::string_view table, Batch&& batch) = 0;
  virtual Result<Batch> advance(TimestampNs watermark, const ResultOptions& options = {}) = 0;
  virtual Result<std::string> snapshot() const = 0;
  virtual Status restore(std::string_view bytes) = 0;
  // Incremental checkpoints (see the contract above); kPartial is not a checkpoint kind.
  virtual Result<std::string> checkpoint(ImageKind kind);
  virtual Status restore_chain(const std::vector<std::string_view>& images);
  virtual Result<std::string> snapshot_partial(const EntitySelector& keep) const;
  virtual Status restore_merge(const std::vector<std::string_view>& partials);
  // The latest watermark passed to advance() (INT64_MIN before the first).
  virtual TimestampNs watermark() const = 0;
  // The latest input time pushed so far (INT64_MIN without input); advancing to one past it
  // emits everything the input received so far decides.
  virtual TimestampNs max_input_time() const = 0;

  // Batch conveniences.
  Status add_input(std::string_view table, const Batch& batch) {
    Batch copy = batch;
    return push(table, std::move(copy));
  }
  Status add_input(std::string_view table, Batch&& batch) { return push(table, std::move(batch)); }
  // The whole input of `table` with a dictionary-encoded key column: `batch`'s key column
  // holds u32 codes (null = null key) into `key_values` (the distinct keys, of the key
  // column's type). Keys are hashed and interned once per distinct value instead of once
  // per row; the key column is decoded only if the query reads it as a value. Only for a
  // table without other input (else kInvalidArgument). The default is kUnimplemented.
  virtual Status add_input_dictionary_key(std::string_view table, Batch&& batch,
                                          Column&& key_values);
  // Every remaining result row (history: one per change; final: one per entity), i.e.
  // advance(kEndOfTime) — or, with final_at, the final values as of final_at.
  virtual Result<Batch> finish(const ResultOptions& options = {}) = 0;
  // With QueryOptions::key_indices: the distinct entity keys `_key` indexes (owned by the
  // session, valid until it is destroyed; grows as entities appear).
  virtual const Column* key_dictionary() const { return nullptr; }
};

Result<std::shared_ptr<const CompiledQuery>> compile(std::string_view query,
                                                     const std::vector<TableSpec>& tables,
                                                     const std::vector<ViewSpec>& views,
                                                     const QueryOptions& options);

Result<std::unique_ptr<Session>> start_session(std::shared_ptr<const CompiledQuery> query);

}  // namespace tideline::engine
