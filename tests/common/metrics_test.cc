// The metrics registry and its text exposition: the output is parsed back with the format's
// rules (a reader independent of the writer's code paths) and checked for the properties a
// Prometheus server relies on.
#include "common/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <sstream>
#include <thread>

#include "common/metrics_exposition_reader.h"

namespace tideline {
namespace {

using testing::Exposition;
using testing::read_exposition;

TEST(Metrics, CounterAndGaugeAreExposedWithHelpTypeAndLabels) {
  MetricsRegistry r;
  Counter& c = r.counter("t_events_total", "Events seen.", {{"stage", "a"}});
  Gauge& g = r.gauge("t_lag_seconds", "Lag.\nSecond line with a \\ backslash.");
  c.inc(3);
  c.inc();
  g.set(2.5);
  auto e = read_exposition(r.expose());
  ASSERT_TRUE(e.ok) << e.error;
  EXPECT_EQ(e.type.at("t_events_total"), "counter");
  EXPECT_EQ(e.type.at("t_lag_seconds"), "gauge");
  EXPECT_EQ(e.help.at("t_events_total"), "Events seen.");
  EXPECT_EQ(e.help.at("t_lag_seconds"), "Lag.\nSecond line with a \\ backslash.");
  EXPECT_EQ(e.value("t_events_total", {{"stage", "a"}}), 4);
  EXPECT_EQ(e.value("t_lag_seconds", {}), 2.5);
}

TEST(Metrics, SameNameAndLabelsGiveTheSameHandle) {
  MetricsRegistry r;
  Counter& a = r.counter("t_total", "h", {{"stage", "a"}});
  Counter& a2 = r.counter("t_total", "other help is ignored", {{"stage", "a"}});
  Counter& b = r.counter("t_total", "h", {{"stage", "b"}});
  EXPECT_EQ(&a, &a2);
  EXPECT_NE(&a, &b);
  a.inc(2);
  b.inc(5);
  auto e = read_exposition(r.expose());
  ASSERT_TRUE(e.ok) << e.error;
  EXPECT_EQ(e.value("t_total", {{"stage", "a"}}), 2);
  EXPECT_EQ(e.value("t_total", {{"stage", "b"}}), 5);
  EXPECT_EQ(e.help.at("t_total"), "h");
}

TEST(Metrics, LabelValuesAreEscapedAndReadBackUnchanged) {
  MetricsRegistry r;
  const std::string nasty = "a \"quoted\" \\path\\ and\na newline, {braces} = commas";
  r.counter("t_total", "h", {{"what", nasty}, {"x", ""}}).inc(7);
  std::string text = r.expose();
  // One sample line: the newline inside the value is escaped.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;
  auto e = read_exposition(text);
  ASSERT_TRUE(e.ok) << e.error;
  EXPECT_EQ(e.value("t_total", {{"what", nasty}, {"x", ""}}), 7);
}

TEST(Metrics, CountersAreMonotonicUnderConcurrentUpdatesAndScrapes) {
  MetricsRegistry r;
  Counter& c = r.counter("t_total", "h");
  Histogram& h = r.histogram("t_seconds", "h", {0.5, 1});
  constexpr int kThreads = 4, kPerThread = 20000;
  std::atomic<bool> done{false};
  std::vector<double> seen;
  std::string problem;
  std::thread scraper([&] {
    while (!done.load()) {
      auto e = read_exposition(r.expose());
      if (!e.ok) {
        problem = e.error;
        return;
      }
      seen.push_back(e.value("t_total", {}));
      if (e.value("t_seconds_count", {}) != e.value("t_seconds_bucket", {{"le", "+Inf"}}))
        problem = "_count differs from the +Inf bucket";
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        c.inc();
        h.observe(0.75);
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  scraper.join();
  EXPECT_EQ(problem, "");
  for (size_t i = 1; i < seen.size(); ++i) ASSERT_LE(seen[i - 1], seen[i]) << "scrape " << i;
  auto e = read_exposition(r.expose());
  EXPECT_EQ(e.value("t_total", {}), kThreads * kPerThread) << "no increment lost";
  EXPECT_EQ(e.value("t_seconds_count", {}), kThreads * kPerThread);
  EXPECT_EQ(e.value("t_seconds_bucket", {{"le", "0.5"}}), 0);
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInclusiveBounds) {
  MetricsRegistry r;
  Histogram& h = r.histogram("t_duration_seconds", "Durations.", {0.01, 0.1, 1}, {{"stage", "p"}});
  for (double v : {0.005, 0.01, 0.05, 0.1, 0.5, 2.0, 3.0}) h.observe(v);
  auto e = read_exposition(r.expose());
  ASSERT_TRUE(e.ok) << e.error;
  EXPECT_EQ(e.type.at("t_duration_seconds"), "histogram");
  auto b = [&](const char* le) {
    return e.value("t_duration_seconds_bucket", {{"stage", "p"}, {"le", le}});
  };
  // le is "less than or equal": 0.01 and 0.1 fall in their own buckets.
  EXPECT_EQ(b("0.01"), 2);
  EXPECT_EQ(b("0.1"), 4);
  EXPECT_EQ(b("1"), 5);
  EXPECT_EQ(b("+Inf"), 7);
  EXPECT_EQ(e.value("t_duration_seconds_count", {{"stage", "p"}}), 7);
  EXPECT_NEAR(e.value("t_duration_seconds_sum", {{"stage", "p"}}), 5.665, 1e-9);
  // Buckets in the text come in increasing `le` order with non-decreasing counts.
  double last_le = -INFINITY, last_count = 0;
  int buckets = 0;
  for (const auto& s : e.samples) {
    if (s.name != "t_duration_seconds_bucket") continue;
    ++buckets;
    double le = testing::parse_value(s.labels.at("le"));
    EXPECT_GT(le, last_le);
    EXPECT_GE(s.value, last_count);
    last_le = le;
    last_count = s.value;
  }
  EXPECT_EQ(buckets, 4);
  EXPECT_TRUE(std::isinf(last_le));
}

TEST(Metrics, AgeGaugeAppearsOnlyOnceMarked) {
  MetricsRegistry r;
  AgeGauge& a = r.age_gauge("t_age_seconds", "Age.");
  auto e = read_exposition(r.expose());
  ASSERT_TRUE(e.ok) << e.error;
  EXPECT_EQ(e.type.at("t_age_seconds"), "gauge");
  EXPECT_FALSE(e.has("t_age_seconds", {}));
  a.mark();
  e = read_exposition(r.expose());
  ASSERT_TRUE(e.has("t_age_seconds", {}));
  EXPECT_GE(e.value("t_age_seconds", {}), 0);
  EXPECT_LT(e.value("t_age_seconds", {}), 60);
}

TEST(Metrics, ValuesAndNames) {
  EXPECT_EQ(format_metric_value(3), "3");
  EXPECT_EQ(format_metric_value(-2), "-2");
  EXPECT_EQ(format_metric_value(0.25), "0.25");
  EXPECT_EQ(format_metric_value(INFINITY), "+Inf");
  EXPECT_EQ(format_metric_value(-INFINITY), "-Inf");
  EXPECT_EQ(format_metric_value(NAN), "NaN");
  EXPECT_EQ(testing::parse_value(format_metric_value(0.1 + 0.2)), 0.1 + 0.2) << "round trip";
  EXPECT_EQ(testing::parse_value(format_metric_value(1e300)), 1e300);
  EXPECT_TRUE(valid_metric_name("tideline_events_in_total"));
  EXPECT_TRUE(valid_metric_name("a:b_c9"));
  EXPECT_FALSE(valid_metric_name("9a"));
  EXPECT_FALSE(valid_metric_name("a-b"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_TRUE(valid_label_name("stage"));
  EXPECT_FALSE(valid_label_name("__name__"));
  EXPECT_FALSE(valid_label_name("a:b"));
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(Metrics, EveryFamilyHasOneHelpAndTypeBeforeItsSamples) {
  MetricsRegistry r;
  r.counter("b_total", "b", {{"k", "1"}}).inc();
  r.counter("b_total", "b", {{"k", "2"}}).inc();
  r.gauge("a_value", "a").set(1);
  r.histogram("c_seconds", "c", latency_buckets_seconds()).observe(0.2);
  std::string text = r.expose();
  auto e = read_exposition(text);
  ASSERT_TRUE(e.ok) << e.error << "\n" << text;  // the reader enforces the ordering rules
  EXPECT_EQ(e.type.size(), 3u);
  EXPECT_EQ(text.back(), '\n');
}

}  // namespace
}  // namespace tideline
