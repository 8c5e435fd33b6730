// The processor stage: input topic -> Fenl query (incremental) -> output topic.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "common/failpoint.h"
#include "common/progress.h"
#include "common/time.h"
#include "engine/kernels.h"
#include "engine/query.h"
#include "pipeline/checkpoint.h"
#include "pipeline/message_decoder.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage_util.h"

namespace tideline::pipeline {

using namespace detail;  // NOLINT(google-build-using-namespace): this part's own helpers
using std::chrono::milliseconds;

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
  MessageDecoder decoder(*topics, in_topic, in_codec);  // each message with its writer schema
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
      TL_ASSIGN_OR_RETURN(Status s, decoder.decode_into(m, batch));
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

}  // namespace tideline::pipeline
