#include "pipeline/stage_metrics.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "common/time.h"

namespace tideline::pipeline {

const char* dead_letter_reason_label(DeadLetterReason r) {
  switch (r) {
    case DeadLetterReason::kDecode:
      return "decode";
    case DeadLetterReason::kLate:
      return "late";
    case DeadLetterReason::kSchema:
      return "schema";
  }
  return "schema";
}

StageMetrics::StageMetrics(std::string stage, const PipelineConfig& config,
                           const StageOptions& options)
    : stage_(std::move(stage)),
      own_registry_(options.metrics ? nullptr : std::make_unique<MetricsRegistry>()),
      registry_(options.metrics ? options.metrics : own_registry_.get()),
      is_processor_(stage_ == "processor"),
      has_input_topic_(stage_ != "producer") {
  MetricsRegistry& r = *registry_;
  const MetricLabels l = {{"stage", stage_}};
  messages_in_ = &r.counter("tideline_messages_in_total",
                            "Messages received from the stage's input topic, including "
                            "redelivered, undecodable and late ones.",
                            l);
  bytes_in_ = &r.counter("tideline_bytes_in_total",
                         "Payload bytes of the messages received from the input topic.", l);
  events_in_ = &r.counter("tideline_events_in_total",
                          "Events taken in for processing (the stage report's rows in).", l);
  events_out_ =
      &r.counter("tideline_events_out_total",
                 "Events written to the stage's output (the stage report's rows out).", l);
  bytes_out_ = &r.counter("tideline_bytes_out_total",
                          "Payload bytes of the messages published to the output topic.", l);
  for (auto why : {DeadLetterReason::kDecode, DeadLetterReason::kLate, DeadLetterReason::kSchema}) {
    dead_letters_[static_cast<int>(why)] =
        &r.counter("tideline_dead_letters_total",
                   "Messages sent to the dead-letter topic, by reason (decode, late, schema).",
                   {{"stage", stage_}, {"reason", dead_letter_reason_label(why)}});
  }
  if (has_input_topic_) {
    backlog_ = &r.gauge("tideline_backlog_messages",
                        "Messages in the input subscription not yet acknowledged (polled at most "
                        "every 5 s).",
                        l);
  }
  if (is_processor_) {
    late_events_ = &r.counter("tideline_late_events_total",
                              "Events older than the watermark (dead-lettered or dropped).", l);
    watermark_lag_ = &r.gauge("tideline_watermark_lag_seconds",
                              "Event time of the latest event received minus the watermark.", l);
    watermark_time_ =
        &r.gauge("tideline_watermark_timestamp_seconds",
                 "The processor's watermark (event time, seconds since the epoch).", l);
    result_delay_ = &r.histogram(
        "tideline_result_delay_seconds",
        "Time from an input event's publication to the publication of the results it became "
        "final in.",
        latency_buckets_seconds(), l);
    auto q50 = l;
    q50.emplace_back("quantile", "0.5");
    auto q99 = l;
    q99.emplace_back("quantile", "0.99");
    result_delay_p50_ = &r.gauge("tideline_result_delay_recent_seconds",
                                 "Result delay quantiles over the last second.", q50);
    result_delay_p99_ = &r.gauge("tideline_result_delay_recent_seconds",
                                 "Result delay quantiles over the last second.", q99);
    checkpoint_seconds_ =
        &r.histogram("tideline_checkpoint_duration_seconds",
                     "Time to snapshot and store a checkpoint.", latency_buckets_seconds(), l);
    checkpoint_bytes_ =
        &r.gauge("tideline_checkpoint_size_bytes", "Size of the last checkpoint's state.", l);
    checkpoint_age_ = &r.age_gauge("tideline_checkpoint_age_seconds",
                                   "Seconds since the last checkpoint was stored.", l);
  }
  if (config.log_report_interval_ms > 0) {
    reporter_ = std::thread([this, ms = config.log_report_interval_ms] { report_loop(ms); });
  }
}

StageMetrics::~StageMetrics() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (reporter_.joinable()) reporter_.join();
}

void StageMetrics::on_received(const std::vector<io::Message>& messages) {
  uint64_t bytes = 0;
  for (const auto& m : messages) bytes += m.payload.size();
  messages_in_->inc(messages.size());
  bytes_in_->inc(bytes);
}

void StageMetrics::on_events_in(int64_t n) {
  if (n > 0) events_in_->inc(static_cast<uint64_t>(n));
}

void StageMetrics::on_events_out(int64_t n, const std::vector<io::OutgoingMessage>& published) {
  if (n > 0) events_out_->inc(static_cast<uint64_t>(n));
  uint64_t bytes = 0;
  for (const auto& m : published) bytes += m.payload.size();
  bytes_out_->inc(bytes);
}

void StageMetrics::on_dead_letter(DeadLetterReason why) {
  dead_letters_[static_cast<int>(why)]->inc();
}

void StageMetrics::on_late_event() {
  if (late_events_) late_events_->inc();
}

void StageMetrics::on_checkpoint(double seconds, size_t bytes) {
  if (!checkpoint_seconds_) return;
  checkpoint_seconds_->observe(seconds);
  checkpoint_bytes_->set(static_cast<double>(bytes));
  checkpoint_age_->mark();
}

void StageMetrics::set_watermark(int64_t watermark_ns, int64_t latest_event_ns) {
  if (!watermark_lag_ || watermark_ns == INT64_MIN) return;
  watermark_time_->set(static_cast<double>(watermark_ns) / 1e9);
  double lag = latest_event_ns == INT64_MIN ? 0
                                            : static_cast<double>(latest_event_ns) / 1e9 -
                                                  static_cast<double>(watermark_ns) / 1e9;
  watermark_lag_->set(lag > 0 ? lag : 0);
  watermark_known_.store(true, std::memory_order_relaxed);
}

void StageMetrics::set_backlog(int64_t messages) {
  if (!backlog_ || messages < 0) return;
  backlog_->set(static_cast<double>(messages));
  backlog_known_.store(true, std::memory_order_relaxed);
}

void StageMetrics::refresh_backlog(io::Consumer& consumer) {
  const int64_t now = monotonic_ns();
  if (backlog_polled_ && now - backlog_polled_ns_ < 5'000'000'000) return;
  backlog_polled_ = true;
  backlog_polled_ns_ = now;
  auto b = consumer.backlog();
  if (b) set_backlog(*b);  // unknown for now when the broker does not answer: keep the last
}

std::string StageMetrics::progress_detail() const {
  std::string s;
  if (watermark_lag_ && watermark_known_.load(std::memory_order_relaxed))
    s += fmt::format("wm lag {:.1f}s", watermark_lag_->value());
  uint64_t dead = 0;
  for (const Counter* c : dead_letters_) dead += c->value();
  if (dead > 0) s += fmt::format("{}{} dead", s.empty() ? "" : "  ", dead);
  return s;
}

void StageMetrics::on_result_delay(double seconds) {
  if (result_delay_) result_delay_->observe(seconds);
}

void StageMetrics::set_recent_result_delay(double p50_seconds, double p99_seconds) {
  if (!result_delay_p50_) return;
  result_delay_p50_->set(p50_seconds);
  result_delay_p99_->set(p99_seconds);
  delay_known_.store(true, std::memory_order_relaxed);
}

std::string StageMetrics::report_line(double rate) const {
  uint64_t dead = 0;
  for (const Counter* c : dead_letters_) dead += c->value();
  std::string s = fmt::format("{}: {} events in ({:.1f}/s), {} out, {} dead letters", stage_,
                              events_in_->value(), rate, events_out_->value(), dead);
  if (late_events_) s += fmt::format(", {} late", late_events_->value());
  if (backlog_ && backlog_known_.load(std::memory_order_relaxed))
    s += fmt::format(", backlog {}", format_metric_value(backlog_->value()));
  if (watermark_lag_ && watermark_known_.load(std::memory_order_relaxed))
    s += fmt::format(", watermark lag {:.1f} s", watermark_lag_->value());
  if (result_delay_p99_ && delay_known_.load(std::memory_order_relaxed))
    s += fmt::format(", result delay p50 {:.0f} ms p99 {:.0f} ms", result_delay_p50_->value() * 1e3,
                     result_delay_p99_->value() * 1e3);
  if (checkpoint_age_ && checkpoint_age_->marked())
    s += fmt::format(", checkpoint age {:.1f} s", checkpoint_age_->value());
  return s;
}

void StageMetrics::report_loop(int64_t interval_ms) {
  uint64_t last = events_in_->value();
  int64_t last_ns = monotonic_ns();
  std::unique_lock lock(mu_);
  for (;;) {
    if (cv_.wait_for(lock, std::chrono::milliseconds(interval_ms), [&] { return stopping_; }))
      return;
    uint64_t now_in = events_in_->value();
    int64_t now_ns = monotonic_ns();
    double secs = static_cast<double>(now_ns - last_ns) / 1e9;
    double rate = secs > 0 ? static_cast<double>(now_in - last) / secs : 0;
    last = now_in;
    last_ns = now_ns;
    spdlog::info("{}", report_line(rate));
  }
}

}  // namespace tideline::pipeline
