#pragma once
// Metrics for Prometheus: counters, gauges and histograms with label sets, rendered in the
// text exposition format 0.0.4 (docs/metrics.md).
//
// Contract for hot paths: a metric is registered once (MetricsRegistry::counter/gauge/
// histogram, which lock and may allocate) and the returned handle is then updated with
// atomics only: no lock, no map lookup, no allocation. Handles live as long as the registry.
// expose() may run on another thread at any time; it reads each value atomically (a
// histogram's buckets, sum and count are read one after the other, so one scrape may see an
// observation in a bucket before it is in the sum; count is derived from the buckets, so
// `_count` always equals the `+Inf` bucket).
//
// Names and label names are programmer-chosen constants: an invalid one, a label named `le`
// on a histogram, or one name registered with two types is a programmer error (asserted;
// without asserts the handle is detached: it works but is never exposed). Label values are
// free text and escaped on output, but must never carry secrets or unbounded data.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tideline {

// Ordered (name, value) pairs; the order is kept in the output.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Monotonic count (Prometheus counter). Name it `..._total`.
class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Seconds since the last mark(), computed when read (e.g. checkpoint age). Not exposed
// before the first mark.
class AgeGauge {
 public:
  void mark();
  bool marked() const { return last_ns_.load(std::memory_order_relaxed) != kNever; }
  // Seconds since the last mark (0 before the first).
  double value() const;

 private:
  static constexpr int64_t kNever = INT64_MIN;
  std::atomic<int64_t> last_ns_{kNever};  // monotonic_ns()
};

// Fixed buckets: `bounds` are the upper bounds (`le`), strictly increasing; +Inf is implied.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Per-bucket counts (not cumulative), bounds().size() + 1 entries (the last is +Inf).
  std::vector<uint64_t> bucket_counts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// Default buckets for latencies in seconds (1 ms .. 60 s).
std::vector<double> latency_buckets_seconds();

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registering the same name and labels again returns the same handle. `help` is taken
  // from the first registration of a name.
  Counter& counter(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  AgeGauge& age_gauge(std::string_view name, std::string_view help,
                      const MetricLabels& labels = {});
  // `bounds` of the first registration of a name are used for all its label sets.
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                       const MetricLabels& labels = {});

  // The text exposition format 0.0.4: families sorted by name, each with # HELP and # TYPE,
  // label sets in registration order.
  std::string expose() const;

 private:
  enum class Kind { kCounter, kGauge, kAge, kHistogram };
  struct Child;
  struct Family;
  // The child of family `name` with `labels`, created on first use.
  Child& child(std::string_view name, std::string_view help, Kind kind, const MetricLabels& labels,
               std::vector<double>* bounds);
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
  std::vector<std::unique_ptr<Child>> detached_;  // handles given out for invalid registrations
};

// Checks used by the registry (exposed for tests): [a-zA-Z_:][a-zA-Z0-9_:]* and
// [a-zA-Z_][a-zA-Z0-9_]* not starting with "__".
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);
// Label value escaping of the exposition format: backslash, double quote, newline.
std::string escape_label_value(std::string_view v);
// A sample value as the format writes it: integers without a fraction, +Inf, -Inf, NaN.
std::string format_metric_value(double v);

}  // namespace tideline
