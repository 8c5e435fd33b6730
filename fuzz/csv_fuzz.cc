// libFuzzer target for the CSV reader and loaders.
// Properties checked beyond "no crash / no sanitizer report":
//  * reading through tiny chunks gives exactly the rows, lines and errors of the in-memory path;
//  * the reader always terminates and line numbers never decrease;
//  * load_typed accounts for every data row (loaded + rejected == read) and its batches are valid.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "io/csv/csv.h"

namespace {

using namespace tideline;
using namespace tideline::csv;

struct Trace {
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> lines;
  std::vector<std::string> errors;
};

Trace read_all(CsvReader& reader, size_t input_size) {
  Trace t;
  CsvRow row;
  int64_t last_line = 0;
  // Each call consumes at least one byte or ends, so this bounds a runaway reader.
  for (size_t guard = 0; guard <= input_size + 2; ++guard) {
    auto r = reader.next(row);
    if (r && !*r) return t;
    if (row.line < last_line) std::abort();
    last_line = row.line;
    if (!r) {
      if (r.error().code() != StatusCode::kParseError) std::abort();
      t.errors.push_back(r.error().message());
      continue;
    }
    t.rows.emplace_back(row.fields.begin(), row.fields.end());
    t.lines.push_back(row.line);
  }
  std::abort();  // did not terminate
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // First byte: chunk size for the chunked path and the delimiter choice.
  size_t chunk = 1 + data[0] % 17;
  char delim = (data[0] & 0x80) ? ';' : ',';
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);

  auto mem = CsvReader::from_string(text, "f.csv", delim);
  Trace a = read_all(*mem, text.size());
  auto chunked = CsvReader::from_string_chunked(text, chunk, "f.csv", delim);
  Trace b = read_all(*chunked, text.size());
  if (a.rows != b.rows || a.lines != b.lines || a.errors != b.errors) std::abort();

  std::vector<Field> fields = {{"a", DataType::of(TypeId::kI64)},
                               {"b", DataType::of(TypeId::kString)},
                               {"c", DataType::of(TypeId::kF64)},
                               {"d", DataType::of(TypeId::kTimestamp)},
                               {"e", DataType::of(TypeId::kBool)}};
  auto schema = DataType::record(std::move(fields));
  LoadOptions options;
  options.batch_rows = 3;
  options.delimiter = delim;
  auto typed_reader = CsvReader::from_string(text, "f.csv", delim);
  int64_t loaded = 0;
  auto stats = load_typed(
      *typed_reader, schema, options,
      [&](Batch&& batch) {
        if (!batch.validate().ok() || batch.num_rows > 3) std::abort();
        loaded += batch.num_rows;
        return Status();
      },
      [](const RowError& e) {
        if (e.line <= 0) std::abort();
      });
  if (!stats || stats->rows_loaded != loaded ||
      stats->rows_loaded + stats->rows_rejected != stats->rows_read) {
    std::abort();
  }

  auto inferred_reader = CsvReader::from_string(text, "f.csv", delim);
  auto inferred = load_inferred(*inferred_reader, {});
  if (inferred && !inferred->validate().ok()) std::abort();
  return 0;
}
