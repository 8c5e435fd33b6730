// The consumer stage: output topic -> output table (upserts), acknowledging after the write.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "common/failpoint.h"
#include "common/progress.h"
#include "common/time.h"
#include "engine/kernels.h"
#include "pipeline/message_decoder.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage_metrics.h"
#include "pipeline/stage_util.h"

namespace tideline::pipeline {

using namespace detail;  // NOLINT(google-build-using-namespace): this part's own helpers
using std::chrono::milliseconds;

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
                           MessageDecoder& decoder, const std::string& topic,
                           const std::string& sub, const StageOptions& o, Intake& in,
                           std::unique_ptr<io::Producer>& dlq, int time_col, StageMetrics& sm) {
  // Returns true when the source was idle (nothing received within idle_ms).
  TL_ASSIGN_OR_RETURN(auto msgs, consumer.receive(4096, milliseconds(o.idle_ms)));
  if (msgs.empty()) return true;
  sm.on_received(msgs);
  // One columnar decode of the round; row order follows message order.
  std::vector<const io::Message*> ptrs(msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i) ptrs[i] = &msgs[i];
  std::vector<avro::DecodeError> bad;
  const int64_t first_row = in.batch.num_rows;
  TL_RETURN_IF_ERROR(decoder.decode_batch(ptrs, in.batch, bad));
  for (auto& b : bad) {
    TL_RETURN_IF_ERROR(dead_letter(topics, topic, sub, msgs[b.index], "decode", b.why, dlq));
    ++in.dead_letters;
    sm.on_dead_letter(DeadLetterReason::kDecode);
  }
  if (time_col >= 0) {
    const Column& tc = in.batch.columns[static_cast<size_t>(time_col)];
    for (int64_t r = first_row; r < in.batch.num_rows; ++r)
      if (tc.is_valid(r)) in.min_time = std::min(in.min_time, tc.int_at(r));
  }
  for (const auto& m : msgs) in.ids.push_back(m.id);
  return false;
}

}  // namespace

Result<StageReport> run_consumer(const PipelineConfig& c, const StageOptions& o) {
  StageReport rep{.stage = "consumer"};
  StageMetrics sm("consumer", c, o);
  int64_t t0 = monotonic_ns();
  TL_ASSIGN_OR_RETURN(auto tables, open_table_store(c));
  TL_ASSIGN_OR_RETURN(auto topics, open_topic_service(c));
  std::string topic = c.topic_url(c.topic_output);
  TL_ASSIGN_OR_RETURN(auto codec, topic_codec(*topics, topic, c.output_schema));
  MessageDecoder decoder(*topics, topic, codec);  // each message with its writer schema
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
  ProgressBar bar("consume", o.follow || !backlog ? -1 : *backlog);
  bar.set_detail([&sm] { return sm.progress_detail(); });
  while (!stopped(o)) {
    Intake in;
    in.batch = Batch::empty(codec->type());
    bool idle = false;
    while (!stopped(o) && in.batch.num_rows < o.batch_rows) {
      TL_ASSIGN_OR_RETURN(
          idle, receive_round(*topics, *consumer, decoder, topic, sub, o, in, dlq, -1, sm));
      if (idle) break;
    }
    rep.dead_letters += in.dead_letters;
    if (in.ids.empty()) {
      if (!o.follow) break;
      continue;
    }
    const int64_t n = in.batch.num_rows;
    if (n > 0) {
      // The decoded columns move into the table's rows.
      TL_ASSIGN_OR_RETURN(auto rows, conform_batch(std::move(in.batch), table_type, true));
      TL_RETURN_IF_ERROR(tables->upsert(c.keyspace, c.table_output, rows));
    }
    failpoint("consumer.before_ack");
    TL_RETURN_IF_ERROR(consumer->acknowledge(in.ids));
    rep.rows_in += n;
    rep.rows_out += n;
    sm.on_events_in(n);
    sm.on_events_out(n);
    sm.refresh_backlog(*consumer);
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
