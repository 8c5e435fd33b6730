// Pieces shared by the pipeline's stages (stage_util.h).
#include "pipeline/stage_util.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/time.h"

namespace tideline::pipeline::detail {
double seconds_since(int64_t t0) {
  return static_cast<double>(monotonic_ns() - t0) / 1e9;
}

// The Avro codec of a topic: the schema registered on the topic, else the configured file.
Result<std::shared_ptr<const avro::Codec>> topic_codec(io::TopicService& topics,
                                                       const std::string& topic,
                                                       const std::string& schema_file) {
  TL_ASSIGN_OR_RETURN(auto registered, topics.get_schema(topic));
  std::string envelope;
  std::error_code ec;
  if (!schema_file.empty() && std::filesystem::exists(schema_file, ec)) {
    TL_ASSIGN_OR_RETURN(envelope, read_text_file(schema_file));
    if (!registered) TL_RETURN_IF_ERROR(topics.set_schema(topic, envelope));
  } else if (registered) {
    envelope = *registered;
  } else {
    TL_ASSIGN_OR_RETURN(envelope, read_text_file(schema_file));  // fails naming the file
  }
  TL_ASSIGN_OR_RETURN(auto schema, avro::schema_from_pulsar_envelope(envelope));
  auto codec = avro::Codec::make(schema);
  if (!codec) return error(codec.error().with_context(fmt::format("schema of {}", topic)));
  return codec;
}

std::string key_string(const Column& c, int64_t row) {
  if (!c.is_valid(row)) return "";
  switch (storage_of(c.type_id())) {
    case Storage::kInts:
      return std::to_string(c.int_at(row));
    case Storage::kFloats:
      return fmt::format("{}", c.float_at(row));
    case Storage::kString:
      return std::string(c.string_at(row));
    default:
      return "";
  }
}

// Appends every row of `src` to `dst` (same type).
void append_rows(Column& dst, const Column& src) {
  for (int64_t i = 0; i < src.size(); ++i) dst.append_from(src, i);
}

// Encodes every row of `batch` (already of the codec's type) and publishes it. With
// `first_sequence` >= 0, row r gets producer sequence id first_sequence + r.
Status publish_batch(const avro::Codec& codec, const Batch& batch, int key_col, int time_col,
                     io::Producer& producer, std::vector<io::OutgoingMessage>& scratch,
                     int64_t first_sequence) {
  scratch.resize(static_cast<size_t>(batch.num_rows));
  for (int64_t r = 0; r < batch.num_rows; ++r) {
    auto& m = scratch[static_cast<size_t>(r)];
    m.payload.clear();
    TL_RETURN_STATUS_IF_ERROR(codec.encode_row(batch, r, m.payload));
    m.key = key_col >= 0 ? key_string(batch.columns[static_cast<size_t>(key_col)], r) : "";
    const Column* tc = time_col >= 0 ? &batch.columns[static_cast<size_t>(time_col)] : nullptr;
    m.event_time_ms = tc && tc->is_valid(r) ? floor_div(tc->int_at(r), kNanosPerMilli) : 0;
    m.sequence_id = first_sequence >= 0 ? first_sequence + r : -1;
  }
  return producer.send(scratch);
}

// Publishes an undecodable message to `<topic>-<subscription>-DLQ` (Pulsar's naming) and logs
// where it came from, so nothing is dropped silently.
Status dead_letter(io::TopicService& topics, const std::string& topic, const std::string& sub,
                   const io::Message& m, std::string_view reason, const Status& why,
                   std::unique_ptr<io::Producer>& dlq) {
  std::string dlq_topic = topic + "-" + sub + "-DLQ";
  std::string source = fmt::format("{} partition {} entry {}:{}", topic, m.id.partition,
                                   m.id.ledger_id, m.id.entry_id);
  if (m.id.batch_index >= 0) source += fmt::format(":{}", m.id.batch_index);
  spdlog::error("dead letter ({}): {}: {} -> {}", reason, source, why.message(), dlq_topic);
  if (!dlq) {
    TL_RETURN_STATUS_IF_ERROR(topics.create_partitioned_topic(dlq_topic, 1));
    auto p = topics.create_producer(dlq_topic);
    if (!p) return p.error();
    dlq = std::move(*p);
  }
  io::OutgoingMessage out;
  out.key = m.key;
  out.payload = m.payload;
  out.event_time_ms = m.event_time_ms;
  out.properties = {{"tideline.dead_letter.reason", std::string(reason)},
                    {"tideline.dead_letter.message", why.message()},
                    {"tideline.dead_letter.source", std::move(source)}};
  return dlq->send(std::span(&out, 1));
}

}  // namespace tideline::pipeline::detail
