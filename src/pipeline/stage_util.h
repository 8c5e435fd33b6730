#pragma once
// Pieces shared by the pipeline's stages (producer.cc, processor.cc, consumer.cc). Private to
// src/pipeline.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/batch.h"
#include "common/status.h"
#include "io/avro/avro.h"
#include "io/topic.h"
#include "pipeline/pipeline.h"

namespace tideline::pipeline::detail {

inline bool stopped(const StageOptions& o) {
  return o.stop && o.stop->load(std::memory_order_relaxed);
}

// Seconds on the monotonic clock since `t0` (monotonic_ns()).
double seconds_since(int64_t t0);

// The Avro codec of a topic, which is also the reader schema its messages are resolved to
// (MessageDecoder): the configured schema file (registered on the topic when it has no schema
// yet), else, without that file, the schema registered on the topic. The configuration wins
// over the registry because the registry's latest version may be another producer's (the
// broker accepts any compatible writer schema as a new version).
Result<std::shared_ptr<const avro::Codec>> topic_codec(io::TopicService& topics,
                                                       const std::string& topic,
                                                       const std::string& schema_file);

// The routing key of row `row` of a key column ("" for null).
std::string key_string(const Column& c, int64_t row);
// The same, written into `out` (replacing its contents; keeps its capacity).
void key_into(const Column& c, int64_t row, std::string& out);

// Appends every row of `src` to `dst` (same type).
void append_rows(Column& dst, const Column& src);

// Encodes every row of `batch` (already of the codec's type) and publishes it. With
// `first_sequence` >= 0, row r gets producer sequence id first_sequence + r.
Status publish_batch(const avro::Codec& codec, const Batch& batch, int key_col, int time_col,
                     io::Producer& producer, std::vector<io::OutgoingMessage>& scratch,
                     int64_t first_sequence = -1);

// Publishes an unprocessable message to `<topic>-<subscription>-DLQ` (Pulsar's naming) and
// logs where it came from and why, so nothing is dropped silently. The dead letter keeps the
// message's key, payload and event time and gets the properties
// `tideline.dead_letter.reason` (a fixed word: `decode`, `late`, `schema`),
// `tideline.dead_letter.message` (the error), and `tideline.dead_letter.source`
// (`<topic> partition <p> entry <ledger>:<entry>[:<batch index>]`).
Status dead_letter(io::TopicService& topics, const std::string& topic, const std::string& sub,
                   const io::Message& m, std::string_view reason, const Status& why,
                   std::unique_ptr<io::Producer>& dlq);

}  // namespace tideline::pipeline::detail
