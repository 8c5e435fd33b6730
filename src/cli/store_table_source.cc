#include "cli/store_table_source.h"

#include <fmt/format.h>

#include "pipeline/pipeline.h"

namespace tideline::cli {

namespace {

// Appends `b` to `out` column by column (same schema: both come from one table scan).
void append_batch(Batch& out, const Batch& b) {
  for (size_t c = 0; c < out.columns.size(); ++c) {
    Column& dst = out.columns[c];
    const Column& src = b.columns[c];
    dst.reserve(out.num_rows + b.num_rows);
    for (int64_t r = 0; r < b.num_rows; ++r) dst.append_from(src, r);
  }
  out.num_rows += b.num_rows;
}

}  // namespace

Result<Batch> load_store_table(const pipeline::PipelineConfig& config, std::string_view name,
                               int64_t batch_rows) {
  std::string keyspace = config.keyspace;
  std::string table(name);
  if (size_t dot = table.find('.'); dot != std::string::npos) {
    keyspace = table.substr(0, dot);
    table = table.substr(dot + 1);
  } else if (table == "input") {
    table = config.table_input;
  } else if (table == "output") {
    table = config.table_output;
  }
  if (keyspace.empty() || table.empty()) {
    return error(StatusCode::kInvalidArgument, fmt::format("'{}{}': expected {}[KEYSPACE.]TABLE",
                                                           kStorePrefix, name, kStorePrefix));
  }
  const std::string where = fmt::format("{}.{} ({})", keyspace, table, config.source);
  TL_ASSIGN_OR_RETURN(auto store, pipeline::open_table_store(config));
  auto schema = store->describe(keyspace, table);
  if (!schema) return error(schema.error().with_context(where));
  Batch out = Batch::empty(schema->batch_type());
  bool first = true;
  // One large batch is the common case (the embedded store splits only at batch_rows); a
  // store that pages (Cassandra) hands several, which are concatenated.
  Status s = store->scan(keyspace, table, -1, batch_rows, [&](Batch&& b) -> Status {
    if (first) {
      out = std::move(b);
      first = false;
    } else {
      append_batch(out, b);
    }
    return {};
  });
  if (!s.ok()) return error(s.with_context(where));
  return out;
}

}  // namespace tideline::cli
