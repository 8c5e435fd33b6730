// The producer stage: input table -> input topic, in event-time order.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/failpoint.h"
#include "common/progress.h"
#include "common/time.h"
#include "engine/kernels.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage_metrics.h"
#include "pipeline/stage_util.h"

namespace tideline::pipeline {

using namespace detail;  // NOLINT(google-build-using-namespace): this part's own helpers
using std::chrono::milliseconds;

Result<StageReport> run_producer(const PipelineConfig& c, const StageOptions& o) {
  StageReport rep{.stage = "producer"};
  StageMetrics sm("producer", c, o);
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
        TL_ASSIGN_OR_RETURN(auto conformed, conform_batch(std::move(b), type, true));
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
    // With a rate, publish in 10 ms slices and wait for each slice's due time (steady, no
    // catch-up bursts beyond one slice).
    const size_t slice = o.rate > 0 ? static_cast<size_t>(std::max(1.0, o.rate / 100))
                                    : static_cast<size_t>(o.batch_rows);
    const int64_t paced_from = monotonic_ns();
    for (size_t from = 0; from < order.size() && s.ok(); from += slice) {
      if (o.rate > 0) {
        const auto due =
            paced_from + static_cast<int64_t>(static_cast<double>(from) / o.rate * 1e9);
        while (!stopped(o) && monotonic_ns() < due)
          std::this_thread::sleep_for(
              std::chrono::nanoseconds(std::min<int64_t>(due - monotonic_ns(), 50'000'000)));
      }
      if (stopped(o)) {
        s = {StatusCode::kCancelled, "stopped by signal"};
        break;
      }
      size_t to = std::min(order.size(), from + slice);
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
      sm.on_events_in(part.num_rows);
      sm.on_events_out(part.num_rows, scratch);
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

}  // namespace tideline::pipeline
