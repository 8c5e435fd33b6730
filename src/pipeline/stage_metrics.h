#pragma once
// The metrics of one pipeline stage (docs/metrics.md): handles registered once in the stage's
// registry (StageOptions::metrics, else a private one), updated from the stage's loop with
// atomics only; a progress-line detail for ProgressBar; and, every
// tideline.log.report.interval.ms, a one-line report in the log written by a thread of its
// own (so it also comes while the stage waits for input). Only counts, rates, times and the
// stage name reach the metrics and the report: never config values, keys or payloads.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "io/topic.h"
#include "pipeline/config.h"
#include "pipeline/pipeline.h"

namespace tideline::pipeline {

// Why a message went to the dead-letter topic: a fixed set, the `reason` label.
enum class DeadLetterReason {
  kDecode,  // the payload does not decode with the topic's schema
  kLate,    // the event is older than the processor's watermark
  kSchema,  // the record does not fit the target type (reserved: no stage sends these yet)
};
const char* dead_letter_reason_label(DeadLetterReason r);

class StageMetrics {
 public:
  // `stage`: producer, processor or consumer (the `stage` label).
  StageMetrics(std::string stage, const PipelineConfig& config, const StageOptions& options);
  ~StageMetrics();  // stops the report thread
  StageMetrics(const StageMetrics&) = delete;
  StageMetrics& operator=(const StageMetrics&) = delete;

  // Messages received from the input topic (all of them: redelivered, undecodable, late).
  void on_received(const std::vector<io::Message>& messages);
  // Events taken in for processing (StageReport::rows_in).
  void on_events_in(int64_t n);
  // Events written (StageReport::rows_out); `published`, when given, are the messages sent
  // for them (their payload bytes are counted).
  void on_events_out(int64_t n, const std::vector<io::OutgoingMessage>& published = {});
  void on_dead_letter(DeadLetterReason why);
  void on_late_event();
  // A checkpoint written in `seconds`, of `bytes` bytes of state.
  void on_checkpoint(double seconds, size_t bytes);
  // The processor's watermark and the latest event time received (ns since the epoch;
  // INT64_MIN = none yet, ignored).
  void set_watermark(int64_t watermark_ns, int64_t latest_event_ns);
  void set_backlog(int64_t messages);
  // Processor: one event's result delay (input publish -> result publish), and the p50/p99
  // over the last second (for the report line and the gauges).
  void on_result_delay(double seconds);
  void set_recent_result_delay(double p50_seconds, double p99_seconds);
  // Asks `consumer` for its backlog at most every 5 s (an admin round trip on Pulsar).
  void refresh_backlog(io::Consumer& consumer);

  // For the progress line, e.g. "wm lag 3.2s  2 dead".
  std::string progress_detail() const;
  // The log report, e.g. "processor: 1200 events in (240.0/s), 1100 out, ...". `rate` is
  // events in per second over the last interval.
  std::string report_line(double rate) const;

  MetricsRegistry& registry() { return *registry_; }

 private:
  void report_loop(int64_t interval_ms);

  std::string stage_;
  std::unique_ptr<MetricsRegistry> own_registry_;
  MetricsRegistry* registry_;
  bool is_processor_;
  bool has_input_topic_;

  Counter* messages_in_;
  Counter* bytes_in_;
  Counter* events_in_;
  Counter* events_out_;
  Counter* bytes_out_;
  Counter* late_events_ = nullptr;
  Counter* dead_letters_[3];
  Gauge* backlog_ = nullptr;
  Gauge* watermark_lag_ = nullptr;
  Gauge* watermark_time_ = nullptr;
  Histogram* checkpoint_seconds_ = nullptr;
  Histogram* result_delay_ = nullptr;
  Gauge* result_delay_p50_ = nullptr;
  Gauge* result_delay_p99_ = nullptr;
  std::atomic<bool> delay_known_{false};
  Gauge* checkpoint_bytes_ = nullptr;
  AgeGauge* checkpoint_age_ = nullptr;
  std::atomic<bool> backlog_known_{false};  // read by the report thread
  std::atomic<bool> watermark_known_{false};
  int64_t backlog_polled_ns_ = 0;
  bool backlog_polled_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread reporter_;
};

}  // namespace tideline::pipeline
