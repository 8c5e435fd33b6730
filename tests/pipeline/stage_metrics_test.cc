// The stages' metrics (docs/metrics.md): the embedded pipeline runs in-process with one
// registry served on a loopback port, and a real HTTP client's scrape must agree with the
// stage reports. The config carries secrets, which must reach neither the metrics nor the log.
#include "pipeline/stage_metrics.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/metrics_exposition_reader.h"
#include "common/metrics_server.h"
#include "common/time.h"
#include "pipeline/curl_scrape.h"
#include "pipeline/eshop.h"
#include "pipeline/pipeline.h"

namespace tideline::pipeline {
namespace {

namespace fs = std::filesystem;
using tideline::testing::Exposition;
using tideline::testing::read_exposition;

const char* kSecrets[] = {"AdS3cretValue", "CassPassw0rdValue", "PulsarT0kenValue"};

// Sends spdlog's default logger to a string for the test's lifetime.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() {
    spdlog::default_logger()->flush();
    return out_.str();
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream out_;
};

class StageMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tl-stage-metrics-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const std::string conf = std::string(TIDELINE_SOURCE_DIR) + "/conf";
    std::ofstream((dir_ / "client.conf").string())
        << "brokerServiceUrl=pulsar://127.0.0.1:6650\nwebServiceUrl=http://127.0.0.1:8080\n"
           "authPlugin=org.apache.pulsar.client.impl.auth.AuthenticationToken\n"
           "authParams=token:"
        << kSecrets[2] << "\n";
    const std::string path = (dir_ / "main.properties").string();
    std::ofstream(path) << "ad.keyspace=shop\nad.table.input=clicks_in\n"
                           "ad.table.output=clicks_out\nas.tenant=public\nas.namespace=m\n"
                           "as.topic.input=clicks_in\nas.topic.output=clicks_out\n"
                           "as.client.conf=client.conf\n"
                           "ad.client.id=someone\nad.client.secret="
                        << kSecrets[0] << "\ntideline.cassandra.password=" << kSecrets[1]
                        << "\ntideline.backend=embedded\ntideline.data.dir=data\n"
                           "tideline.log.report.interval.ms=20\n"
                           "tideline.processor.query="
                        << conf << "/fenl/eshop_output.fenl\ntideline.cql.input.stmt=" << conf
                        << "/cql/input_tbl.stmt\ntideline.cql.output.stmt=" << conf
                        << "/cql/output_tbl.stmt\ntideline.schema.input=" << conf
                        << "/pulsar-schema/input_topic.json\ntideline.schema.output=" << conf
                        << "/pulsar-schema/output_topic.json\n";
    auto c = load_config(path);
    ASSERT_TRUE(c.has_value()) << c.error().to_string();
    config_ = *c;
    ASSERT_EQ(config_.pulsar.auth_params, std::string("token:") + kSecrets[2]);
    ASSERT_EQ(config_.log_report_interval_ms, 20);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  void load(int64_t rows) {
    const std::string csv = (dir_ / "eshop.csv").string();
    ASSERT_TRUE(generate_eshop(csv, {.rows = rows, .seed = 7, .header = false}).has_value());
    PrepEnvOptions p;
    p.load_raw = true;
    p.raw_file = csv;
    p.load_count = -1;
    auto rep = prep_env(config_, p);
    ASSERT_TRUE(rep.has_value()) << rep.error().to_string();
    ASSERT_EQ(rep->rows_loaded, rows);
  }

  Exposition scrape(uint16_t port) {
    auto s = tideline::testing::curl_get(tideline::testing::metrics_url(port));
    EXPECT_TRUE(s.ok) << s.error;
    EXPECT_EQ(s.status, 200);
    EXPECT_EQ(s.content_type.rfind("text/plain; version=0.0.4", 0), 0u) << s.content_type;
    for (const char* secret : kSecrets)
      EXPECT_EQ(s.body.find(secret), std::string::npos) << "secret in the metrics";
    auto e = read_exposition(s.body);
    EXPECT_TRUE(e.ok) << e.error << "\n" << s.body;
    return e;
  }

  fs::path dir_;
  PipelineConfig config_;
};

TEST_F(StageMetricsTest, ScrapedCountersEqualTheStageReports) {
  const int64_t kRows = 1500;
  ASSERT_NO_FATAL_FAILURE(load(kRows));
  MetricsRegistry registry;
  auto server = serve_metrics(registry, 0);
  ASSERT_TRUE(server.has_value()) << server.error().to_string();
  const uint16_t port = (*server)->port();
  LogCapture log;

  StageOptions o;
  o.metrics = &registry;
  o.idle_ms = 200;
  auto prod = run_producer(config_, o);
  ASSERT_TRUE(prod.has_value()) << prod.error().to_string();
  auto proc = run_processor(config_, o);
  ASSERT_TRUE(proc.has_value()) << proc.error().to_string();
  auto cons = run_consumer(config_, o);
  ASSERT_TRUE(cons.has_value()) << cons.error().to_string();
  ASSERT_EQ(prod->rows_in, kRows);
  ASSERT_EQ(proc->rows_in, kRows);

  Exposition e = scrape(port);
  auto v = [&](const char* name, const char* stage) { return e.value(name, {{"stage", stage}}); };
  for (const auto* rep : {&*prod, &*proc, &*cons}) {
    const char* st = rep->stage.c_str();
    EXPECT_EQ(v("tideline_events_in_total", st), rep->rows_in) << st;
    EXPECT_EQ(v("tideline_events_out_total", st), rep->rows_out) << st;
    EXPECT_EQ(e.sum("tideline_dead_letters_total", {{"stage", st}}), rep->dead_letters) << st;
    for (const char* reason : {"decode", "late", "schema"})
      EXPECT_TRUE(e.has("tideline_dead_letters_total", {{"stage", st}, {"reason", reason}}));
  }
  // The processor received exactly the messages the producer published.
  EXPECT_GT(v("tideline_bytes_out_total", "producer"), 0);
  EXPECT_EQ(v("tideline_bytes_in_total", "processor"), v("tideline_bytes_out_total", "producer"));
  EXPECT_EQ(v("tideline_messages_in_total", "processor"), kRows);
  EXPECT_EQ(v("tideline_bytes_in_total", "consumer"), v("tideline_bytes_out_total", "processor"));
  EXPECT_EQ(v("tideline_messages_in_total", "consumer"), proc->rows_out);
  // Checkpoints, watermark and backlog of a drained processor.
  EXPECT_GE(v("tideline_checkpoint_duration_seconds_count", "processor"), 1);
  EXPECT_GT(v("tideline_checkpoint_size_bytes", "processor"), 0);
  EXPECT_TRUE(e.has("tideline_checkpoint_age_seconds", {{"stage", "processor"}}));
  EXPECT_EQ(v("tideline_watermark_lag_seconds", "processor"), 0) << "drained: all final";
  EXPECT_GT(v("tideline_watermark_timestamp_seconds", "processor"), 1.2e9);  // 2008
  EXPECT_TRUE(e.has("tideline_backlog_messages", {{"stage", "processor"}}));
  EXPECT_EQ(e.type.at("tideline_checkpoint_duration_seconds"), "histogram");

  // Replayed input is late: every event is dead-lettered with reason "late".
  auto prod2 = run_producer(config_, o);
  ASSERT_TRUE(prod2.has_value()) << prod2.error().to_string();
  auto proc2 = run_processor(config_, o);
  ASSERT_TRUE(proc2.has_value()) << proc2.error().to_string();
  ASSERT_EQ(proc2->dead_letters, kRows);
  e = scrape(port);
  EXPECT_EQ(e.value("tideline_dead_letters_total", {{"stage", "processor"}, {"reason", "late"}}),
            kRows);
  EXPECT_EQ(e.value("tideline_late_events_total", {{"stage", "processor"}}), kRows);
  EXPECT_EQ(e.value("tideline_events_in_total", {{"stage", "processor"}}), kRows)
      << "late events are not taken in";
  EXPECT_EQ(e.value("tideline_events_in_total", {{"stage", "producer"}}), 2 * kRows)
      << "counters accumulate over runs sharing a registry";

  const std::string logs = log.text();
  for (const char* secret : kSecrets)
    EXPECT_EQ(logs.find(secret), std::string::npos) << "secret in the log";
}

TEST_F(StageMetricsTest, TheLogReportComesAtTheIntervalWithTheNumbers) {
  LogCapture log;
  StageOptions o;
  MetricsRegistry registry;
  o.metrics = &registry;
  StageMetrics sm("processor", config_, o);  // report every 20 ms
  sm.on_events_in(5);
  sm.on_events_out(3);
  sm.on_dead_letter(DeadLetterReason::kLate);
  sm.on_late_event();
  sm.set_backlog(11);
  sm.set_watermark(2'000'000'000'000'000'000, 2'000'000'002'500'000'000);
  const std::string want =
      "processor: 5 events in (0.0/s), 3 out, 1 dead letters, 1 late, backlog 11, watermark "
      "lag 2.5 s";
  // Poll until the report thread wrote a line covering the updates (the first report may
  // come before them and show a rate).
  const int64_t deadline = monotonic_ns() + 10'000'000'000;
  std::string logs;
  while (monotonic_ns() < deadline) {
    logs = log.text();
    if (logs.find(want) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_NE(logs.find(want), std::string::npos) << logs;
  EXPECT_EQ(sm.progress_detail(), "wm lag 2.5s  1 dead");
  for (const char* secret : kSecrets) EXPECT_EQ(logs.find(secret), std::string::npos);
}

TEST_F(StageMetricsTest, NoReportWhenTheIntervalIsZero) {
  config_.log_report_interval_ms = 0;
  LogCapture log;
  {
    StageMetrics sm("consumer", config_, {});
    sm.on_events_in(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // would be 5 reports at 20 ms
  }
  EXPECT_EQ(log.text(), "");
}

}  // namespace
}  // namespace tideline::pipeline
