#pragma once
// Tables of the configured store (the pipeline's Cassandra or embedded tables) as query input
// for `tideline query --table NAME=store:[KEYSPACE.]TABLE,...`.

#include <cstdint>
#include <string_view>

#include "common/batch.h"
#include "common/status.h"
#include "pipeline/config.h"

namespace tideline::cli {

// The prefix that marks a --table path as a table of the store.
inline constexpr std::string_view kStorePrefix = "store:";

// Reads the whole table named by `name` (after the prefix): `KEYSPACE.TABLE`, `TABLE` (the
// configured keyspace), or `input` / `output` (the configured input and output tables).
// Returns one batch with the table's columns in declaration order (CQL types mapped as in
// io::type_for_cql; timestamps in nanoseconds). Errors name the table. `batch_rows` is the
// scan's batch size (the batches are concatenated); the default reads in one batch where the
// store allows.
Result<Batch> load_store_table(const pipeline::PipelineConfig& config, std::string_view name,
                               int64_t batch_rows = int64_t{1} << 40);

}  // namespace tideline::cli
