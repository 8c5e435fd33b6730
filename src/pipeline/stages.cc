// The three long-running workloads of `main-proc`.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "common/failpoint.h"
#include "common/progress.h"
#include "common/time.h"
#include "engine/kernels.h"
#include "engine/query.h"
#include "io/avro/avro.h"
#include "pipeline/checkpoint.h"
#include "pipeline/pipeline.h"

namespace tideline::pipeline {

namespace {

using std::chrono::milliseconds;

bool stopped(const StageOptions& o) {
  return o.stop && o.stop->load(std::memory_order_relaxed);
}

double seconds_since(int64_t t0) {
  return static_cast<double>(monotonic_ns() - t0) / 1e9;
}

// The Avro codec of a topic: the schema registered on the topic, else the configured file.
Result<std::shared_ptr<const avro::Codec>> topic_codec(io::TopicService& topics,
                                                       const std::string& topic,
                                                       const std::string& schema_file) {
  TL_ASSIGN_OR_RETURN(auto registered, topics.get_schema(topic));
  std::string envelope;
  if (registered) {
    envelope = *registered;
  } else {
    TL_ASSIGN_OR_RETURN(envelope, read_text_file(schema_file));
    TL_RETURN_IF_ERROR(topics.set_schema(topic, envelope));
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

// Encodes every row of `batch` (already of the codec's type) and publishes it.
Status publish_batch(const avro::Codec& codec, const Batch& batch, int key_col, int time_col,
                     io::Producer& producer, std::vector<io::OutgoingMessage>& scratch) {
  scratch.resize(static_cast<size_t>(batch.num_rows));
  for (int64_t r = 0; r < batch.num_rows; ++r) {
    auto& m = scratch[static_cast<size_t>(r)];
    m.payload.clear();
    TL_RETURN_STATUS_IF_ERROR(codec.encode_row(batch, r, m.payload));
    m.key = key_col >= 0 ? key_string(batch.columns[static_cast<size_t>(key_col)], r) : "";
    const Column* tc = time_col >= 0 ? &batch.columns[static_cast<size_t>(time_col)] : nullptr;
    m.event_time_ms = tc && tc->is_valid(r) ? floor_div(tc->int_at(r), kNanosPerMilli) : 0;
  }
  return producer.send(scratch);
}

// Publishes an undecodable message to `<topic>-<subscription>-DLQ` (Pulsar's naming) and logs
// where it came from, so nothing is dropped silently.
Status dead_letter(io::TopicService& topics, const std::string& topic, const std::string& sub,
                   const io::Message& m, const Status& why, std::unique_ptr<io::Producer>& dlq) {
  std::string dlq_topic = topic + "-" + sub + "-DLQ";
  spdlog::error("dead letter: {} partition {} entry {}: {} -> {}", topic, m.id.partition,
                m.id.entry_id, why.message(), dlq_topic);
  if (!dlq) {
    TL_RETURN_STATUS_IF_ERROR(topics.create_partitioned_topic(dlq_topic, 1));
    auto p = topics.create_producer(dlq_topic);
    if (!p) return p.error();
    dlq = std::move(*p);
  }
  io::OutgoingMessage out{m.key, m.payload, m.event_time_ms};
  return dlq->send(std::span(&out, 1));
}

}  // namespace

Result<StageReport> run_producer(const PipelineConfig& c, const StageOptions& o) {
  StageReport rep{.stage = "producer"};
  int64_t t0 = monotonic_ns();
  TL_ASSIGN_OR_RETURN(auto tables, open_table_store(c));
  TL_ASSIGN_OR_RETURN(auto topics, open_topic_service(c));
  std::string topic = c.topic_url(c.topic_input);
  TL_ASSIGN_OR_RETURN(auto codec, topic_codec(*topics, topic, c.input_schema));
  TL_ASSIGN_OR_RETURN(auto producer, topics->create_producer(topic));
  const TypePtr& type = codec->type();
  int key_col = type->field_index(c.key_column);
  int time_col = type->field_index(c.time_column);
  if (key_col < 0 || time_col < 0) {
    return error(StatusCode::kInvalidArgument,
                 fmt::format("the schema of {} lacks the key column '{}' or the time column '{}'",
                             topic, c.key_column, c.time_column));
  }
  auto total = tables->count(c.keyspace, c.table_input);
  int64_t expected = total ? (o.limit >= 0 ? std::min(o.limit, *total) : *total) : -1;
  ProgressBar bar("produce", expected);
  std::vector<io::OutgoingMessage> scratch;
  // The table is read whole, then published in event-time order: a table scan comes in key
  // order (Cassandra: token order), and a streaming processor downstream treats events
  // older than its watermark as late. Rows of equal times keep their scan order.
  Batch all = Batch::empty(type);
  Status s =
      tables->scan(c.keyspace, c.table_input, o.limit, o.batch_rows, [&](Batch&& b) -> Status {
        if (stopped(o)) return {StatusCode::kCancelled, "stopped by signal"};
        TL_ASSIGN_OR_RETURN(auto conformed, conform_batch(b, type, true));
        for (size_t f = 0; f < all.columns.size(); ++f)
          append_rows(all.columns[f], conformed.columns[f]);
        all.num_rows += conformed.num_rows;
        return {};
      });
  if (s.ok()) {
    const Column& tc = all.columns[static_cast<size_t>(time_col)];
    std::vector<int32_t> order(static_cast<size_t>(all.num_rows));
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
    auto time_of = [&](int32_t r) { return tc.is_valid(r) ? tc.int_at(r) : INT64_MIN; };
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return time_of(a) < time_of(b); });
    for (size_t from = 0; from < order.size() && s.ok();
         from += static_cast<size_t>(o.batch_rows)) {
      if (stopped(o)) {
        s = {StatusCode::kCancelled, "stopped by signal"};
        break;
      }
      size_t to = std::min(order.size(), from + static_cast<size_t>(o.batch_rows));
      std::vector<int32_t> idx(order.begin() + static_cast<ptrdiff_t>(from),
                               order.begin() + static_cast<ptrdiff_t>(to));
      Batch part;
      part.schema = all.schema;
      for (const auto& col : all.columns) part.columns.push_back(engine::gather(col, idx));
      part.num_rows = static_cast<int64_t>(idx.size());
      s = publish_batch(*codec, part, key_col, time_col, *producer, scratch);
      if (!s.ok()) break;
      failpoint("producer.after_send");
      rep.rows_in += part.num_rows;
      rep.rows_out += part.num_rows;
      bar.add(part.num_rows);
    }
  }
  bar.finish();
  TL_RETURN_IF_ERROR(producer->flush());
  TL_RETURN_IF_ERROR(producer->close());
  rep.seconds = seconds_since(t0);
  if (!s.ok()) return error(s);
  return rep;
}

namespace {

// Receives and decodes messages until the source is drained (or, with --follow, until the
// pending input reaches `batch_rows` and the source is momentarily idle). Undecodable
// messages go to the dead-letter topic and are acknowledged there.
struct Intake {
  Batch batch;
  std::vector<io::MessageId> ids;
  int64_t dead_letters = 0;
  int64_t min_time = INT64_MAX;
};

Result<bool> receive_round(io::TopicService& topics, io::Consumer& consumer,
                           const avro::Codec& codec, const std::string& topic,
                           const std::string& sub, const StageOptions& o, Intake& in,
                           std::unique_ptr<io::Producer>& dlq, int time_col) {
  // Returns true when the source was idle (nothing received within idle_ms).
  TL_ASSIGN_OR_RETURN(auto msgs, consumer.receive(4096, milliseconds(o.idle_ms)));
  if (msgs.empty()) return true;
  for (const auto& m : msgs) {
    Status s = codec.decode_into(m.payload, in.batch);
    if (!s.ok()) {
      TL_RETURN_IF_ERROR(dead_letter(topics, topic, sub, m, s, dlq));
      ++in.dead_letters;
    } else {
      if (time_col >= 0) {
        const Column& tc = in.batch.columns[static_cast<size_t>(time_col)];
        int64_t r = in.batch.num_rows - 1;
        if (tc.is_valid(r)) in.min_time = std::min(in.min_time, tc.int_at(r));
      }
    }
    in.ids.push_back(m.id);
  }
  return false;
}

}  // namespace

// The processor: one compiled Fenl query run incrementally over the input topic
// (docs/fenl.md "Operator model"), with event-time watermarks across partitions and
// checkpoints of its state and input positions (docs/formats/checkpoint.md).
Result<StageReport> run_processor(const PipelineConfig& c, const StageOptions& o) {
  StageReport rep{.stage = "processor"};
  int64_t t0 = monotonic_ns();
  TL_ASSIGN_OR_RETURN(auto topics, open_topic_service(c));
  std::string in_topic = c.topic_url(c.topic_input);
  std::string out_topic = c.topic_url(c.topic_output);
  TL_ASSIGN_OR_RETURN(auto in_codec, topic_codec(*topics, in_topic, c.input_schema));
  TL_ASSIGN_OR_RETURN(auto out_codec, topic_codec(*topics, out_topic, c.output_schema));
  TL_ASSIGN_OR_RETURN(auto query_text, read_text_file(c.query_file));

  engine::TableSpec table{.name = c.query_table,
                          .schema = in_codec->type(),
                          .time_column = c.time_column,
                          .key_column = c.key_column,
                          .subsort_column = "",
                          .grouping = ""};
  // Compiled once, before anything is consumed: a query that does not type-check against the
  // input topic's schema fails here with its diagnostic.
  auto query = engine::compile(query_text, {table}, {}, {});
  if (!query) return error(query.error().with_context(c.query_file));
  TL_ASSIGN_OR_RETURN(auto session, engine::start_session(*query));

  // Resume from the job's checkpoint. Only an Exclusive subscription has one job state: with
  // Shared, Failover or Key_Shared, several processors (and, after a restart, other keys or
  // partitions) share the subscription, and per-key-range state is not implemented yet, so
  // those processors keep their state in memory only (at-least-once, as before checkpoints).
  const bool durable = c.processor_subscription_type == io::SubscriptionType::kExclusive;
  if (!durable)
    spdlog::warn(
        "processor: subscription type is not Exclusive: no checkpoints; a restarted processor "
        "starts from an empty state (stateful results are only restart-safe with Exclusive)");
  TL_ASSIGN_OR_RETURN(auto store, open_checkpoint_store(c.checkpoint_dir));
  const std::string& sub = c.processor_subscription;
  const std::string job = in_topic + "|" + sub;
  std::optional<Checkpoint> saved;
  if (durable) {
    TL_ASSIGN_OR_RETURN(saved, store->load(job));
  }
  if (saved && o.reset_state) {
    spdlog::warn("processor: --reset-state: discarding checkpoint {} of {}", saved->sequence, job);
    TL_RETURN_IF_ERROR(store->remove(job));
    saved.reset();
  }
  Checkpoint cp;
  if (saved) {
    if (saved->fingerprint != (*query)->fingerprint()) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("the checkpoint of {} in {}/checkpoints.sqlite was written by a "
                               "different query or input schema (fingerprint {}, this query {}); "
                               "start the processor with --reset-state to discard it",
                               job, c.checkpoint_dir, saved->fingerprint, (*query)->fingerprint()));
    }
    Status st = session->restore(saved->snapshot);
    if (!st.ok()) return error(st.with_context("checkpoint of " + job));
    cp = std::move(*saved);
    spdlog::info("processor: resumed from checkpoint {} ({} events, {} rows out)", cp.sequence,
                 cp.events, cp.output_rows);
  }

  TL_ASSIGN_OR_RETURN(
      auto consumer,
      topics->subscribe(in_topic, {.subscription = sub, .type = c.processor_subscription_type}));
  TL_ASSIGN_OR_RETURN(auto producer, topics->create_producer(out_topic));
  std::unique_ptr<io::Producer> dlq;
  const int time_col = in_codec->type()->field_index(c.time_column);
  const TypePtr& out_type = out_codec->type();
  const int out_key = out_type->field_index("_key");
  const int out_time = out_type->field_index("_time");

  // Event-time progress per partition: the latest event time seen and when a message last
  // came. The watermark is the smallest latest time over the partitions that are not idle.
  struct Partition {
    int64_t latest = INT64_MIN;
    int64_t heard_ms = 0;
  };
  TL_ASSIGN_OR_RETURN(int nparts, topics->partitions(in_topic));
  const int64_t started_ms = monotonic_ns() / kNanosPerMilli;
  std::vector<Partition> parts(static_cast<size_t>(std::max(nparts, 1)), {INT64_MIN, started_ms});
  int64_t latest_any = INT64_MIN;
  const int64_t lateness_ns = c.allowed_lateness_ms * kNanosPerMilli;

  auto backlog = consumer->backlog();
  ProgressBar bar("process", backlog ? *backlog : -1);
  std::vector<io::OutgoingMessage> scratch;
  std::vector<io::MessageId> unacked;  // covered by the next checkpoint, then acknowledged
  int64_t events_since_cp = 0, rereads = 0;
  int64_t last_cp_ms = monotonic_ns() / kNanosPerMilli;
  bool dirty = false;  // anything to checkpoint

  auto checkpoint = [&]() -> Status {
    TL_RETURN_IF_ERROR(producer->flush());
    failpoint("processor.before_checkpoint");
    if (durable) {
      TL_ASSIGN_OR_RETURN(cp.snapshot, session->snapshot());
      cp.fingerprint = (*query)->fingerprint();
      ++cp.sequence;
      cp.created_ms = now_ns() / kNanosPerMilli;
      TL_RETURN_IF_ERROR(store->save(job, cp));
      cp.snapshot.clear();
    }
    failpoint("processor.before_ack");
    if (!unacked.empty()) TL_RETURN_IF_ERROR(consumer->acknowledge(unacked));
    unacked.clear();
    events_since_cp = 0;
    last_cp_ms = monotonic_ns() / kNanosPerMilli;
    dirty = false;
    return {};
  };

  while (!stopped(o)) {
    TL_ASSIGN_OR_RETURN(auto msgs, consumer->receive(4096, milliseconds(o.idle_ms)));
    const bool idle = msgs.empty();
    const int64_t now = monotonic_ns() / kNanosPerMilli;
    Batch batch = Batch::empty(in_codec->type());
    std::vector<uint8_t> late;  // per decoded row
    const int64_t wm = session->watermark();
    for (const auto& m : msgs) {
      unacked.push_back(m.id);
      dirty = true;
      // With an Exclusive subscription each partition's messages come in order, so a message
      // at or before the partition's position was processed already (it is in the state):
      // acknowledge it without processing. Other subscription types may deliver a
      // partition's messages out of order to one processor, and keep no checkpoint.
      if (durable) {
        auto pos = cp.positions.find(m.id.partition);
        if (pos != cp.positions.end() && covered_by(m.id, pos->second)) {
          ++rereads;
          continue;
        }
        cp.positions[m.id.partition] = m.id;
      }
      Status s = in_codec->decode_into(m.payload, batch);
      if (!s.ok()) {
        TL_RETURN_IF_ERROR(dead_letter(*topics, in_topic, sub, m, s, dlq));
        ++rep.dead_letters;
        continue;
      }
      ++cp.events;
      ++events_since_cp;
      bool is_late = false;
      if (time_col >= 0) {
        const Column& tc = batch.columns[static_cast<size_t>(time_col)];
        const int64_t r = batch.num_rows - 1;
        if (tc.is_valid(r)) {
          const int64_t t = tc.int_at(r);
          if (t < wm) {
            is_late = true;
          } else {
            size_t p = static_cast<size_t>(std::max(m.id.partition, 0));
            if (p >= parts.size()) parts.resize(p + 1, {INT64_MIN, started_ms});
            parts[p].latest = std::max(parts[p].latest, t);
            latest_any = std::max(latest_any, t);
          }
        }
      }
      if (m.id.partition >= 0 && static_cast<size_t>(m.id.partition) < parts.size())
        parts[static_cast<size_t>(m.id.partition)].heard_ms = now;
      late.push_back(is_late);
      if (is_late) {
        ++cp.late_events;
        Status why = invalid_argument(fmt::format(
            "late event: time {} is before the watermark {}",
            format_timestamp(
                batch.columns[static_cast<size_t>(time_col)].int_at(batch.num_rows - 1)),
            format_timestamp(wm)));
        if (c.late_to_dead_letter) {
          TL_RETURN_IF_ERROR(dead_letter(*topics, in_topic, sub, m, why, dlq));
          ++rep.dead_letters;
        } else {
          spdlog::warn("processor: dropped {} partition {} entry {}: {}", in_topic, m.id.partition,
                       m.id.entry_id, why.message());
        }
      }
    }
    if (std::find(late.begin(), late.end(), 1) != late.end()) {
      std::vector<int32_t> keep;
      for (size_t i = 0; i < late.size(); ++i)
        if (!late[i]) keep.push_back(static_cast<int32_t>(i));
      Batch kept;
      kept.schema = batch.schema;
      for (const auto& col : batch.columns) kept.columns.push_back(engine::gather(col, keep));
      kept.num_rows = static_cast<int64_t>(keep.size());
      batch = std::move(kept);
    }
    rep.rows_in += batch.num_rows;
    if (batch.num_rows > 0) TL_RETURN_IF_ERROR(session->push(c.query_table, std::move(batch)));
    // The watermark: drained (not following) = everything received is final; else the
    // smallest latest time of the partitions heard from within the idle timeout (all idle:
    // everything received), less the allowed lateness.
    int64_t w = INT64_MIN;
    // Without an Exclusive subscription a partition's messages may come out of order (a
    // Key_Shared broker holds a key's messages back until another consumer acknowledges
    // earlier ones), so the watermark moves only when the input pauses.
    if (idle && (!o.follow || !durable)) {
      // Drained: everything received so far (also before a restart) is final.
      if (session->max_input_time() != INT64_MIN) w = session->max_input_time() + 1;
    } else if (durable && latest_any != INT64_MIN) {
      {
        int64_t lo = INT64_MAX;
        for (const auto& p : parts)
          if (now - p.heard_ms < c.partition_idle_ms) lo = std::min(lo, p.latest);
        w = lo == INT64_MAX ? latest_any + 1 : (lo == INT64_MIN ? INT64_MIN : lo - lateness_ns);
      }
    }
    if (w > session->watermark()) {
      TL_ASSIGN_OR_RETURN(auto result, session->advance(w));
      if (result.num_rows > 0) {
        TL_ASSIGN_OR_RETURN(auto conformed, conform_batch(result, out_type, true));
        TL_RETURN_IF_ERROR(
            publish_batch(*out_codec, conformed, out_key, out_time, *producer, scratch));
        rep.rows_out += result.num_rows;
        cp.output_rows += result.num_rows;
        dirty = true;
      }
    }
    bar.update(rep.rows_in);
    const bool due = now - last_cp_ms >= c.checkpoint_interval_ms ||
                     (c.checkpoint_events > 0 && events_since_cp >= c.checkpoint_events);
    if (dirty && (due || (idle && !o.follow))) TL_RETURN_IF_ERROR(checkpoint());
    if (!o.follow && idle) break;
  }
  if (dirty) TL_RETURN_IF_ERROR(checkpoint());  // clean shutdown (drained or signalled)
  bar.finish();
  if (rereads > 0)
    spdlog::info("processor: {} redelivered events were covered by the checkpoint (not re-read)",
                 rereads);
  TL_RETURN_IF_ERROR(producer->close());
  TL_RETURN_IF_ERROR(consumer->close());
  if (dlq) TL_RETURN_IF_ERROR(dlq->close());
  rep.seconds = seconds_since(t0);
  return rep;
}

Result<StageReport> run_consumer(const PipelineConfig& c, const StageOptions& o) {
  StageReport rep{.stage = "consumer"};
  int64_t t0 = monotonic_ns();
  TL_ASSIGN_OR_RETURN(auto tables, open_table_store(c));
  TL_ASSIGN_OR_RETURN(auto topics, open_topic_service(c));
  std::string topic = c.topic_url(c.topic_output);
  TL_ASSIGN_OR_RETURN(auto codec, topic_codec(*topics, topic, c.output_schema));
  TL_ASSIGN_OR_RETURN(auto schema, tables->describe(c.keyspace, c.table_output));
  TypePtr table_type = schema.batch_type();
  // Table columns missing from the topic's records are written as null; record fields the
  // table lacks (e.g. _time, _key) are not stored.
  const std::string& sub = c.consumer_subscription;
  TL_ASSIGN_OR_RETURN(
      auto consumer,
      topics->subscribe(topic, {.subscription = sub, .type = c.consumer_subscription_type}));
  std::unique_ptr<io::Producer> dlq;
  auto backlog = consumer->backlog();
  ProgressBar bar("consume", backlog ? *backlog : -1);
  while (!stopped(o)) {
    Intake in;
    in.batch = Batch::empty(codec->type());
    bool idle = false;
    while (!stopped(o) && in.batch.num_rows < o.batch_rows) {
      TL_ASSIGN_OR_RETURN(idle,
                          receive_round(*topics, *consumer, *codec, topic, sub, o, in, dlq, -1));
      if (idle) break;
    }
    rep.dead_letters += in.dead_letters;
    if (in.ids.empty()) {
      if (!o.follow) break;
      continue;
    }
    if (in.batch.num_rows > 0) {
      TL_ASSIGN_OR_RETURN(auto rows, conform_batch(in.batch, table_type, true));
      TL_RETURN_IF_ERROR(tables->upsert(c.keyspace, c.table_output, rows));
    }
    failpoint("consumer.before_ack");
    TL_RETURN_IF_ERROR(consumer->acknowledge(in.ids));
    rep.rows_in += in.batch.num_rows;
    rep.rows_out += in.batch.num_rows;
    bar.update(rep.rows_in);
    if (!o.follow && idle) break;
  }
  bar.finish();
  TL_RETURN_IF_ERROR(consumer->close());
  if (dlq) TL_RETURN_IF_ERROR(dlq->close());
  rep.seconds = seconds_since(t0);
  return rep;
}

}  // namespace tideline::pipeline
