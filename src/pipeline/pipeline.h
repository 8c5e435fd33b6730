#pragma once
// The pipeline's stages, one function each, shared by the CLI, the tests and the benchmarks:
//   prep_env:  create tables and topics, load the raw CSV into the input table
//   producer:  input table -> input topic (Avro)
//   processor: input topic -> Fenl query -> output topic (Avro with _time, _key first)
//   consumer:  output topic -> output table
// Delivery is at-least-once: a stage acknowledges its input only after its output is durable,
// and every sink is an upsert by primary key, so a rerun after a crash changes nothing.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/batch.h"
#include "common/metrics.h"
#include "common/status.h"
#include "io/state_store.h"
#include "io/table_store.h"
#include "io/topic.h"
#include "pipeline/config.h"

namespace tideline::pipeline {

Result<std::unique_ptr<io::TableStore>> open_table_store(const PipelineConfig& config);
Result<std::unique_ptr<io::TopicService>> open_topic_service(const PipelineConfig& config);
// The processor's job state store for tideline.processor.state.store = cassandra or file;
// nullptr for embedded (the topic service's own store).
Result<std::unique_ptr<io::StateStore>> open_state_store(const PipelineConfig& config);

struct PrepEnvOptions {
  bool create_tables = true;
  bool create_topics = true;
  bool load_raw = false;
  std::string raw_file;
  int64_t load_count = 100;  // -1 = all
  bool strict = false;       // any rejected row makes the load fail
};

struct PrepEnvReport {
  std::vector<std::string> actions;  // what was created, for the summary
  int64_t rows_loaded = 0;
  int64_t rows_rejected = 0;
  double load_seconds = 0;
};

Result<PrepEnvReport> prep_env(const PipelineConfig& config, const PrepEnvOptions& options);

struct StageOptions {
  int64_t limit = -1;                       // producer: rows to publish (-1 = all)
  bool follow = false;                      // keep running for new data until stopped
  const std::atomic<bool>* stop = nullptr;  // set by a signal handler
  int64_t batch_rows = 8192;
  int idle_ms = 300;         // how long an empty source counts as drained
  bool reset_state = false;  // processor: discard the job's checkpoint (another query)
  double rate = 0;           // producer: events per second, 0 = unlimited
  // Where the stage's metrics go (docs/metrics.md); null = a registry of the stage's own.
  // The registry must outlive the stage run; one registry may serve several stages.
  MetricsRegistry* metrics = nullptr;
};

struct StageReport {
  std::string stage;
  int64_t rows_in = 0;
  int64_t rows_out = 0;
  int64_t dead_letters = 0;
  double seconds = 0;
  double rows_per_second() const {
    return seconds > 0 ? static_cast<double>(rows_in) / seconds : 0;
  }
};

Result<StageReport> run_producer(const PipelineConfig& config, const StageOptions& options);
Result<StageReport> run_processor(const PipelineConfig& config, const StageOptions& options);
Result<StageReport> run_consumer(const PipelineConfig& config, const StageOptions& options);

// Converts `in` to the record type `target` by field name: numeric widening/narrowing between
// integer types, integer<->float, timestamps kept as nanoseconds. A target field missing from
// `in` becomes all-null when `allow_missing`, else an error naming it.
Result<Batch> conform_batch(const Batch& in, const TypePtr& target, bool allow_missing);
// The same, moving the columns that need no conversion out of `in` (no copy).
Result<Batch> conform_batch(Batch&& in, const TypePtr& target, bool allow_missing);

// Reads a whole text file.
Result<std::string> read_text_file(const std::string& path);

}  // namespace tideline::pipeline
