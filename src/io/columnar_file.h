#pragma once
// Tideline columnar files (.tlc): a prepared, column-major copy of a table or a query result.
// Format: docs/formats/columnar.md. Reading maps the file and copies whole buffers into a
// Batch (bounds- and invariant-checked first, so a corrupt or truncated file is a kCorruption
// error naming the file and byte offset, never a crash).
// Thread-safety: the functions are reentrant; they share no state.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/batch.h"
#include "common/status.h"

namespace tideline::io {

struct ColumnarMeta {
  std::string time_column;     // may be empty
  std::string key_column;      // may be empty
  std::string subsort_column;  // may be empty
  bool sorted_by_time = false;
};

struct ColumnarTable {
  Batch batch;          // the loaded columns
  TypePtr file_schema;  // every column of the file
  ColumnarMeta meta;
  // With `keep_dictionary` naming a dictionary-encoded column: that batch column holds the
  // u32 codes (type u32) and this the distinct values.
  std::optional<Column> dictionary_values;
};

// Writes `batch` (flat record of bool/int/float/string/timestamp/duration columns) to `out`
// sequentially (works for pipes). `name` is used in error messages only.
// `dictionaries`, when not empty, has one entry per column: a non-null entry is a string
// column of distinct values, and the batch column must then be u32 indexes into it; it is
// written as a dictionary-encoded string column (read back as a plain string column).
Status write_columnar(std::FILE* out, const Batch& batch, const ColumnarMeta& meta,
                      const std::string& name, std::span<const Column* const> dictionaries = {});
// Writes to a new file at `path` (replaced if it exists).
Status write_columnar_file(const std::string& path, const Batch& batch, const ColumnarMeta& meta);

// Parses a whole file image. `name` prefixes error messages ("name: byte 24: ...").
// `threads` > 1 copies columns in parallel. With `only`, just those columns are loaded (in
// file order; an unknown name is an error) and the others are only bounds-checked; an empty
// list reads the header alone (file_schema, meta).
// `keep_dictionary`: a column to return still dictionary-encoded (see dictionary_values).
Result<ColumnarTable> read_columnar(std::span<const uint8_t> data, const std::string& name,
                                    int threads = 1, const std::vector<std::string>* only = nullptr,
                                    const std::string* keep_dictionary = nullptr);
// Maps `path` read-only and parses it (threads, only and keep_dictionary as above).
Result<ColumnarTable> read_columnar_file(const std::string& path, int threads = 1,
                                         const std::vector<std::string>* only = nullptr,
                                         const std::string* keep_dictionary = nullptr);

// True when the first bytes are the .tlc magic (format sniffing).
bool is_columnar_magic(std::span<const uint8_t> head);

}  // namespace tideline::io
