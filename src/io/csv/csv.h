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
  static Result<std::unique_ptr<CsvReader>> open_file(const std::string& path, char delimiter = ',');
  static std::unique_ptr<CsvReader> from_string(std::string data, std::string name = "<string>",
                                                char delimiter = ',');
  // Returns true and fills `row`, or false at end of input. A malformed row (unterminated
  // quote, stray quote inside an unquoted field) returns an error naming `name:line`; the
  // reader then resumes at the next line, so callers may continue.
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
  char delimiter = ',';
};

struct LoadStats {
  int64_t rows_read = 0;
  int64_t rows_loaded = 0;
  int64_t rows_rejected = 0;
  bool header_seen = false;
};

// Loads a CSV file whose columns are `schema`'s fields in order (types from the schema:
// bool, integers, floats, string, timestamp). Header detection: the first row is a header
// when its cells equal the schema's field names (case-insensitive). Each good row goes into
// the current batch; `on_batch` receives full batches and the final partial one. Each bad
// row is passed to `on_error` and skipped. Stops early if a callback returns an error.
Result<LoadStats> load_typed(CsvReader& reader, const TypePtr& schema, const LoadOptions& options,
                             const std::function<Status(Batch&&)>& on_batch,
                             const std::function<void(const RowError&)>& on_error);

// Loads a CSV with a header row and infers each column's type from all its values:
// i64 if every non-empty cell is an integer, else f64 if every one is a number, else bool
// if every one is true/false (any case), else timestamp if every one is an RFC 3339 instant,
// else string. Empty cells are null. `timestamp_columns` are forced to timestamps
// (an unparsable value is an error naming file:line:column).
Result<Batch> load_inferred(CsvReader& reader, const std::vector<std::string>& timestamp_columns);

}  // namespace tideline::csv
