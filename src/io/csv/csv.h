#pragma once
// CSV reading (RFC 4180: quoted fields with "" escapes and embedded newlines, CRLF or LF).
// Two layers: CsvReader yields raw rows with their line numbers; the typed loaders turn rows
// into columnar Batches, reporting every bad row (file:line and reason) without stopping.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/batch.h"
#include "common/status.h"

namespace tideline::csv {

struct CsvRow {
  int64_t line = 0;  // 1-based line where the row starts
  // Views into the reader's buffer, valid until the next call to next().
  std::vector<std::string_view> fields;
};

// Not thread-safe. Reads the whole input in chunks; memory is bounded by the longest row.
class CsvReader {
 public:
  virtual ~CsvReader() = default;
  static Result<std::unique_ptr<CsvReader>> open_file(const std::string& path,
                                                      char delimiter = ',');
  static std::unique_ptr<CsvReader> from_string(std::string data, std::string name = "<string>",
                                                char delimiter = ',');
  // For tests and fuzzing: reads `data` through the same chunked path as open_file, with a
  // buffer that starts at `chunk_bytes` (and grows when a row needs it), so rows straddle
  // chunk boundaries.
  static std::unique_ptr<CsvReader> from_string_chunked(std::string data, size_t chunk_bytes,
                                                        std::string name = "<string>",
                                                        char delimiter = ',');
  // Returns true and fills `row`, or false at end of input. Blank lines are skipped; a UTF-8
  // BOM at the start is dropped; lines end with LF, CRLF or a lone CR. A malformed row
  // (unterminated quote, stray quote inside an unquoted field, text after a closing quote)
  // returns a kParseError "name:line: reason (column C)" and sets `row.line` to that line
  // (fields cleared); the reader then resumes at the next physical line, so callers may
  // continue. Other error codes (I/O) are final.
  virtual Result<bool> next(CsvRow& row) = 0;
  virtual const std::string& name() const = 0;
};

struct RowError {
  std::string file;
  int64_t line = 0;
  std::string reason;
  std::string to_string() const;  // "file:line: reason"
};

enum class HeaderMode { kDetect, kPresent, kAbsent };

struct LoadOptions {
  HeaderMode header = HeaderMode::kDetect;
  int64_t max_rows = -1;       // -1 = all
  int64_t batch_rows = 65536;  // rows per emitted batch
  char delimiter = ',';  // for callers opening the reader; fields are split by the reader's own
  // In a string column an empty cell is "" unless this is set (then null). In every other
  // column an empty cell is null.
  bool empty_string_is_null = false;
  // An integer cell in a timestamp column counts this many nanoseconds per unit (default:
  // epoch milliseconds, as the e-shop CSV writes event_time). Other cells are RFC 3339.
  int64_t timestamp_int_unit_ns = 1'000'000;
};

struct LoadStats {
  int64_t rows_read = 0;
  int64_t rows_loaded = 0;
  int64_t rows_rejected = 0;
  bool header_seen = false;
};

// Loads a CSV file whose columns are `schema`'s fields in order (types from the schema:
// bool (true/false/t/f/yes/no/1/0, any case), integers (range-checked), floats, string,
// timestamp, duration (integer ns)). Header detection: the first row is a header when its
// cells equal the schema's field names (case-insensitive). Each good row goes into the
// current batch of at most `batch_rows` rows; `on_batch` receives full batches and the final
// partial one (never an empty one). Each bad row (malformed CSV, wrong column count "expected
// 16 columns, found 15", unparsable cell "column 'price': 'abc' is not an integer") is passed
// to `on_error` and skipped; rows_read counts data rows (not the header) including rejected
// ones; max_rows limits rows_loaded. Stops early if `on_batch` returns an error (returned) or
// the reader hits an I/O error.
Result<LoadStats> load_typed(CsvReader& reader, const TypePtr& schema, const LoadOptions& options,
                             const std::function<Status(Batch&&)>& on_batch,
                             const std::function<void(const RowError&)>& on_error);

// Loads a CSV with a header row (column names) and infers each column's type from all its
// values, as Kaskada's preparation does (docs/fenl.md#input-tables; Arrow's CSV inference). Each
// non-empty cell is classified by the first matching rule:
//   bool       `true` / `false`, any case
//   int        -?\d+ (a value that overflows i64 counts as "other")
//   float      -?(\d*\.\d+|\d+\.\d*)([eE]-?\d+)?  or  -?\d+[eE]-?\d+
//   date       YYYY-MM-DD
//   timestamp  YYYY-MM-DD[T ]HH:MM:SS then nothing, or a non-digit non-'.' suffix (zone), or
//              .f{1,9} optionally followed by a non-digit suffix
//   other      anything else
// Column type: only bools -> bool; only ints -> i64; ints and/or floats -> f64; only dates
// and/or timestamps -> timestamp (ns; dates are midnight UTC); anything else, or no non-empty
// cell -> string. Empty cells are null except in string columns, where they are "".
// Timestamp values are parsed with parse_timestamp (offsets Z, +hh:mm, +hhmm, +hh; none = UTC).
// `timestamp_columns` (names) are forced to timestamps: integer cells are nanoseconds since the
// epoch, float cells are truncated to integer nanoseconds, others are parsed as instants.
// Errors (no early recovery: the result is all or nothing): a missing header, a row with the
// wrong number of cells ("file:line: expected N columns, found M"), a malformed row, a cell
// that cannot be converted to its column's type ("file:line:column: column 'x': ..."), or a
// forced column not in the header.
Result<Batch> load_inferred(CsvReader& reader, const std::vector<std::string>& timestamp_columns);

}  // namespace tideline::csv
