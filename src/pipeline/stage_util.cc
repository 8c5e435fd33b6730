// Pieces shared by the pipeline's stages (stage_util.h).
#include "pipeline/stage_util.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <filesystem>
#include <iterator>

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

void key_into(const Column& c, int64_t row, std::string& out) {
  out.clear();
  if (!c.is_valid(row)) return;
  switch (storage_of(c.type_id())) {
    case Storage::kInts: {
      char buf[24];
      auto res = std::to_chars(buf, buf + sizeof buf, c.int_at(row));
      out.append(buf, res.ptr);
      return;
    }
    case Storage::kFloats:
      fmt::format_to(std::back_inserter(out), "{}", c.float_at(row));
      return;
    case Storage::kString:
      out.append(c.string_at(row));
      return;
    default:
      return;
  }
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

// Appends every row of `src` to `dst` (same type): whole buffers at once for flat columns.
void append_rows(Column& dst, const Column& src) {
  const int64_t n = src.size(), old = dst.size();
  if (n == 0) return;
  switch (storage_of(dst.type_id())) {
    case Storage::kInts:
      dst.ints().insert(dst.ints().end(), src.ints().begin(), src.ints().begin() + n);
      break;
    case Storage::kFloats:
      dst.floats().insert(dst.floats().end(), src.floats().begin(), src.floats().begin() + n);
      break;
    case Storage::kString: {
      const uint32_t base = static_cast<uint32_t>(dst.chars().size()) - src.offsets()[0];
      dst.chars().append(src.chars(), src.offsets()[0],
                         src.offsets()[static_cast<size_t>(n)] - src.offsets()[0]);
      auto& off = dst.offsets();  // push_back grows geometrically (an exact reserve would not)
      for (int64_t i = 1; i <= n; ++i) off.push_back(src.offsets()[static_cast<size_t>(i)] + base);
      break;
    }
    default:  // records, nulls: row by row
      for (int64_t i = 0; i < n; ++i) dst.append_from(src, i);
      return;
  }
  dst.set_size(old + n);
  if (src.validity().empty() && dst.validity().empty()) return;
  for (int64_t i = 0; i < n; ++i) dst.set_valid(old + i, src.is_valid(i));
}

// Encodes every row of `batch` (already of the codec's type) and publishes it. With
// `first_sequence` >= 0, row r gets producer sequence id first_sequence + r.
Status publish_batch(const avro::Codec& codec, const Batch& batch, int key_col, int time_col,
                     io::Producer& producer, std::vector<io::OutgoingMessage>& scratch,
                     int64_t first_sequence) {
  // One columnar encode; the messages' strings keep their capacity across calls (scratch).
  thread_local avro::EncodedRows encoded;
  TL_RETURN_IF_ERROR(codec.encode_batch(batch, encoded));
  scratch.resize(static_cast<size_t>(batch.num_rows));
  const Column* kc = key_col >= 0 ? &batch.columns[static_cast<size_t>(key_col)] : nullptr;
  const Column* tc = time_col >= 0 ? &batch.columns[static_cast<size_t>(time_col)] : nullptr;
  for (int64_t r = 0; r < batch.num_rows; ++r) {
    auto& m = scratch[static_cast<size_t>(r)];
    m.payload.assign(encoded.row(static_cast<size_t>(r)));
    if (kc) {
      key_into(*kc, r, m.key);
    } else {
      m.key.clear();
    }
    m.event_time_ms = tc && tc->is_valid(r) ? floor_div(tc->int_at(r), kNanosPerMilli) : 0;
    m.sequence_id = first_sequence >= 0 ? first_sequence + r : -1;
    m.properties.clear();
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
