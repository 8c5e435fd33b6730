// The second example pipeline (examples/eshop/session_features.*) through the binary: per-session
// features computed by the processor from the same input topic as the projection pipeline,
// checked against values computed here from the generated CSV. Also `tideline query` over the
// store's tables (store:...).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "cli/run_binary.h"
#include "io/avro/avro.h"
#include "io/embedded/embedded.h"
#include "pipeline/pipeline.h"

namespace tideline {
namespace {

using testing::run_tideline;
using testing::spawn_tideline;
namespace fs = std::filesystem;

// The features of one click, computed independently of the engine.
struct Expected {
  int64_t session = 0;
  int64_t clicks = 0;
  double mean_price = 0;
  int64_t sale_clicks = 0;
  int64_t seconds_since_first = 0;
  std::string prev_model;  // empty = null (the generator never writes an empty model)
};

std::map<std::string, Expected> expected_features(const std::string& csv_text) {
  auto clicks = testing::csv_records(csv_text);
  std::sort(clicks.begin(), clicks.end(), [](const auto& a, const auto& b) {
    return std::stoll(a.at("event_time")) < std::stoll(b.at("event_time"));
  });
  struct State {
    int64_t n = 0, price_sum = 0, sale = 0, first_ms = 0;
    std::string last_model;
  };
  std::map<int64_t, State> sessions;
  std::map<std::string, Expected> out;  // by so_key
  for (const auto& c : clicks) {
    int64_t session = std::stoll(c.at("session"));
    int64_t ms = std::stoll(c.at("event_time"));
    State& s = sessions[session];
    if (s.n == 0) s.first_ms = ms;
    Expected e;
    e.session = session;
    e.prev_model = s.last_model;
    ++s.n;
    s.price_sum += std::stoll(c.at("price"));
    if (c.at("category") == "4") ++s.sale;
    s.last_model = c.at("model");
    e.clicks = s.n;
    e.mean_price = static_cast<double>(s.price_sum) / static_cast<double>(s.n);
    e.sale_clicks = s.sale;
    e.seconds_since_first = (ms - s.first_ms) / 1000;
    out[c.at("so_key")] = e;
  }
  return out;
}

class SessionFeaturesPipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tl-sf-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const std::string src = TIDELINE_SOURCE_DIR;
    const std::string common =
        "ad.keyspace=shop\nad.table.input=clicks_in\n"
        "as.tenant=public\nas.namespace=sf\nas.topic.input=clicks_in\nas.topic.schema=true\n"
        "tideline.backend=embedded\ntideline.data.dir=data\n"
        "tideline.cql.input.stmt=" +
        src +
        "/conf/cql/input_tbl.stmt\n"
        "tideline.schema.input=" +
        src + "/conf/pulsar-schema/input_topic.json\n";
    projection_ = (dir_ / "projection.properties").string();
    std::ofstream(projection_) << common
                               << "ad.table.output=clicks_out\nas.topic.output=clicks_out\n"
                                  "tideline.processor.query=" +
                                      src +
                                      "/conf/fenl/eshop_output.fenl\n"
                                      "tideline.cql.output.stmt=" +
                                      src +
                                      "/conf/cql/output_tbl.stmt\n"
                                      "tideline.schema.output=" +
                                      src + "/conf/pulsar-schema/output_topic.json\n";
    // As examples/eshop/session_features.properties, with this test's names.
    features_ = (dir_ / "features.properties").string();
    std::ofstream(features_)
        << common
        << "ad.table.output=session_features\nas.topic.output=session_features\n"
           "tideline.processor.query=" +
               src +
               "/examples/eshop/session_features.fenl\n"
               "tideline.processor.subscription=sf-processor\n"
               "tideline.consumer.subscription=sf-consumer\n"
               "tideline.cql.output.stmt=" +
               src +
               "/examples/eshop/cql/session_features_tbl.stmt\n"
               "tideline.schema.output=" +
               src + "/examples/eshop/pulsar-schema/session_features_topic.json\n";
  }
  // The output table (`dump`, CSV) equals the batch session-features query over the input
  // table, row for row and value for value, and the output topic holds exactly one message
  // per result row.
  void expect_output_equals_batch_query(const std::string& dump) {
    const std::string query_file =
        std::string(TIDELINE_SOURCE_DIR) + "/examples/eshop/session_features.fenl";
    auto q = run({"query", "-cf", features_, "--expr-file", query_file, "--table",
                  "kasTblInput=store:input,time=event_time,key=so_key"});
    ASSERT_EQ(q.exit_code, 0) << q.err;
    auto batch_rows = testing::csv_records(q.out);
    auto table_rows = testing::csv_records(dump);
    ASSERT_EQ(batch_rows.size(), table_rows.size());
    auto topics = embedded::open_topic_service((dir_ / "data").string());
    ASSERT_TRUE(topics) << topics.error().message();
    auto published = (*topics)->message_count("persistent://public/sf/session_features");
    ASSERT_TRUE(published) << published.error().message();
    EXPECT_EQ(*published, static_cast<int64_t>(batch_rows.size()))
        << "each result row is published exactly once";
    std::map<std::string, std::map<std::string, std::string>> by_key;
    for (auto& r : table_rows) by_key[r.at("so_key")] = r;
    for (const auto& b : batch_rows) {
      auto it = by_key.find(b.at("so_key"));
      ASSERT_NE(it, by_key.end()) << b.at("so_key");
      for (const char* col : {"session", "clicks", "sale_clicks", "seconds_since_first",
                              "prev_model", "model", "category", "price"})
        EXPECT_EQ(it->second.at(col), b.at(col)) << "so_key " << b.at("so_key") << " " << col;
    }
  }

  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  testing::RunResult run(const std::vector<std::string>& args) { return run_tideline(args); }

  // gen-eshop + the projection pipeline (whose processor acknowledges every input message on
  // its own subscription) + prep-env of the features pipeline; returns the CSV's text.
  std::string prepare(int64_t rows) {
    std::string csv = (dir_ / "eshop.csv").string();
    auto gen = run(
        {"gen-eshop", "--rows", std::to_string(rows), "--seed", "11", "--header", "--out", csv});
    EXPECT_EQ(gen.exit_code, 0) << gen.err;
    auto prep = run({"prep-env", "-cf", projection_, "-ldr", "true", "-rsf", csv, "-ldn", "-1"});
    EXPECT_EQ(prep.exit_code, 0) << prep.err;
    for (const char* wt : {"producer", "processor"}) {
      auto r = run({"main-proc", "-cf", projection_, "-wt", wt, "--idle-ms", "200"});
      EXPECT_EQ(r.exit_code, 0) << wt << ": " << r.err;
    }
    auto prep2 =
        run({"prep-env", "-cf", features_, "-cdt", "true", "-cpt", "true", "-ldr", "false"});
    EXPECT_EQ(prep2.exit_code, 0) << prep2.err;
    EXPECT_NE(prep2.out.find("session_features ready"), std::string::npos) << prep2.out;
    return testing::slurp(csv);
  }

  fs::path dir_;
  std::string projection_;
  std::string features_;
};

void expect_features(const std::vector<std::map<std::string, std::string>>& rows,
                     const std::map<std::string, Expected>& expected, const std::string& what) {
  ASSERT_EQ(rows.size(), expected.size()) << what;
  size_t with_prev = 0, multi_sale = 0;
  for (const auto& r : rows) {
    const std::string& so_key = r.at("so_key");
    auto it = expected.find(so_key);
    ASSERT_NE(it, expected.end()) << what << ": so_key " << so_key;
    const Expected& e = it->second;
    SCOPED_TRACE(what + ": so_key " + so_key);
    EXPECT_EQ(r.at("session"), std::to_string(e.session));
    EXPECT_EQ(r.at("clicks"), std::to_string(e.clicks));
    EXPECT_NEAR(std::stod(r.at("mean_price")), e.mean_price, 1e-9 * e.mean_price);
    EXPECT_EQ(r.at("sale_clicks"), std::to_string(e.sale_clicks));
    EXPECT_EQ(r.at("seconds_since_first"), std::to_string(e.seconds_since_first));
    EXPECT_EQ(r.at("prev_model"), e.prev_model);
    with_prev += !e.prev_model.empty();
    multi_sale += e.sale_clicks > 1;
  }
  // The data exercise the features (not only first clicks of sessions).
  EXPECT_GT(with_prev, rows.size() / 2) << what;
  EXPECT_GT(multi_sale, 10u) << what;
}

TEST_F(SessionFeaturesPipeline, OutputTableMatchesFeaturesComputedFromTheCsv) {
  const int64_t kRows = 3000;
  std::string csv_text = prepare(kRows);
  ASSERT_FALSE(HasFailure());
  auto expected = expected_features(csv_text);
  ASSERT_EQ(expected.size(), static_cast<size_t>(kRows));

  // Its own subscription: the processor sees every message although the projection pipeline's
  // processor acknowledged them all on the default subscription.
  for (const char* wt : {"processor", "consumer"}) {
    auto r = run({"main-proc", "-cf", features_, "-wt", wt, "--idle-ms", "200"});
    ASSERT_EQ(r.exit_code, 0) << wt << ": " << r.err;
    EXPECT_NE(r.out.find(std::to_string(kRows) + " rows in"), std::string::npos)
        << wt << ": " << r.out;
  }
  auto dump = run({"table", "dump", "-cf", features_, "output"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  auto header = testing::split_simple_csv(dump.out).at(0);
  EXPECT_EQ(header, (std::vector<std::string>{"session", "event_time", "so_key", "model",
                                              "category", "price", "clicks", "mean_price",
                                              "sale_clicks", "seconds_since_first", "prev_model"}));
  expect_features(testing::csv_records(dump.out), expected, "output table");

  // Rows are keyed by session: the output table's primary key ((session), event_time) keeps
  // every click's row, and the first row of session 1 has no previous model.
  auto rows = testing::csv_records(dump.out);
  EXPECT_EQ(rows.front().at("session"), "1");
  EXPECT_EQ(rows.front().at("clicks"), "1");
  EXPECT_EQ(rows.front().at("prev_model"), "");
}

// The crash-safety property of the live processor with a stateful query: the session-features
// processor, following the input topic while a producer publishes 200,000 clicks into it, is
// SIGKILLed at 20 random moments and restarted each time; it resumes from its checkpoint and
// replays its step journal (docs/formats/checkpoint.md), so the output topic holds every
// result row exactly once and every feature in the output table is right — with the old
// re-run-from-memory processor, counts restarted from 1 after each kill. The consumer is
// killed too, in every other round.
TEST_F(SessionFeaturesPipeline, ProcessorKilledRepeatedlyResumesFromItsCheckpoint) {
  const int64_t kRows = 200000;
  const int kKills = 20;
  std::string csv = (dir_ / "eshop.csv").string();
  ASSERT_EQ(
      run({"gen-eshop", "--rows", std::to_string(kRows), "--seed", "23", "--header", "--out", csv})
          .exit_code,
      0);
  std::ofstream(features_, std::ios::app) << "tideline.processor.checkpoint.interval.ms=40\n"
                                             "tideline.processor.idle.timeout.ms=500\n";
  auto prep = run({"prep-env", "-cf", features_, "-ldr", "true", "-rsf", csv, "-ldn", "-1"});
  ASSERT_EQ(prep.exit_code, 0) << prep.err;
  const std::string log = (dir_ / "background.log").string();
  pid_t producer = spawn_tideline({"main-proc", "-cf", features_, "-wt", "producer"}, log);
  std::mt19937 rng(5);
  for (int k = 0; k < kKills; ++k) {
    pid_t proc = spawn_tideline(
        {"main-proc", "-cf", features_, "-wt", "processor", "--follow", "--idle-ms", "50"}, log);
    pid_t cons = k % 2 ? spawn_tideline({"main-proc", "-cf", features_, "-wt", "consumer",
                                         "--follow", "--idle-ms", "50"},
                                        log)
                       : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 450));
    ::kill(proc, SIGKILL);
    int status = 0;
    ::waitpid(proc, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status)) << "processor run " << k << " ended before it was killed";
    if (cons > 0) {
      ::kill(cons, SIGKILL);
      ::waitpid(cons, &status, 0);
    }
  }
  int status = 0;
  ::waitpid(producer, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::slurp(log);
  // Drain what is left, then the consumer.
  auto proc = run({"main-proc", "-cf", features_, "-wt", "processor", "--idle-ms", "300"});
  ASSERT_EQ(proc.exit_code, 0) << proc.err;
  auto cons = run({"main-proc", "-cf", features_, "-wt", "consumer", "--idle-ms", "300"});
  ASSERT_EQ(cons.exit_code, 0) << cons.err;
  auto dump = run({"table", "dump", "-cf", features_, "output"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  expect_features(testing::csv_records(dump.out), expected_features(testing::slurp(csv)),
                  "output table after " + std::to_string(kKills) + " kills");
  // And the output equals the batch query over the same input, row for row, with each
  // result row published exactly once.
  expect_output_equals_batch_query(dump.out);
}

// Out-of-order input (docs/formats/checkpoint.md, "Watermark"): the partitions of the input
// topic are skewed in time (partition 0 runs ahead of the others), one partition's events
// are shuffled within the allowed lateness, and after everything is processed some old
// events arrive late. The skew and the shuffle change nothing: the output equals the batch
// query over the on-time events, each row published once. The late events are not merged
// out of order: they are in the dead-letter topic with the reason in their properties.
TEST_F(SessionFeaturesPipeline, SkewedPartitionsAndLateEventsOutOfOrder) {
  const int64_t kRows = 20000;
  const int kLate = 40;
  std::string csv = (dir_ / "eshop.csv").string();
  ASSERT_EQ(
      run({"gen-eshop", "--rows", std::to_string(kRows), "--seed", "31", "--header", "--out", csv})
          .exit_code,
      0);
  std::ofstream(features_, std::ios::app) << "tideline.processor.allowed.lateness.ms=7200000\n"
                                             "tideline.processor.idle.timeout.ms=1000\n"
                                             "tideline.processor.checkpoint.interval.ms=100\n";
  auto prep = run({"prep-env", "-cf", features_, "-ldr", "true", "-rsf", csv, "-ldn", "-1"});
  ASSERT_EQ(prep.exit_code, 0) << prep.err;

  // The input table's rows as Avro messages in event-time order, keyed like the producer's.
  const std::string data = (dir_ / "data").string();
  const std::string in_topic = "persistent://public/sf/clicks_in";
  auto tables = embedded::open_table_store(data);
  ASSERT_TRUE(tables) << tables.error().message();
  auto topics = embedded::open_topic_service(data);
  ASSERT_TRUE(topics) << topics.error().message();
  const std::string envelope =
      testing::slurp(std::string(TIDELINE_SOURCE_DIR) + "/conf/pulsar-schema/input_topic.json");
  auto schema = avro::schema_from_pulsar_envelope(envelope);
  ASSERT_TRUE(schema) << schema.error().message();
  auto codec = avro::Codec::make(*schema);
  ASSERT_TRUE(codec) << codec.error().message();
  ASSERT_TRUE((*topics)->set_schema(in_topic, envelope).ok());
  struct Event {
    int64_t time_ns;
    io::OutgoingMessage message;
    uint32_t partition;
  };
  std::vector<Event> events;
  const TypePtr& type = (*codec)->type();
  const int time_col = type->field_index("event_time");
  const int key_col = type->field_index("so_key");
  auto partitions = (*topics)->partitions(in_topic);
  ASSERT_TRUE(partitions);
  Status scanned = (*tables)->scan("shop", "clicks_in", -1, 4096, [&](Batch&& b) -> Status {
    TL_ASSIGN_OR_RETURN(Batch rows, pipeline::conform_batch(b, type, true));
    for (int64_t r = 0; r < rows.num_rows; ++r) {
      Event e;
      e.time_ns = rows.columns[static_cast<size_t>(time_col)].int_at(r);
      e.message.key = std::to_string(rows.columns[static_cast<size_t>(key_col)].int_at(r));
      e.message.event_time_ms = e.time_ns / 1000000;
      TL_RETURN_IF_ERROR((*codec)->encode_row(rows, r, e.message.payload));
      e.partition = io::pulsar_key_hash(e.message.key) % static_cast<uint32_t>(*partitions);
      events.push_back(std::move(e));
    }
    return {};
  });
  ASSERT_TRUE(scanned.ok()) << scanned.message();
  ASSERT_EQ(events.size(), static_cast<size_t>(kRows));
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.time_ns < b.time_ns; });
  // Partition 1: reverse runs of 4 of its events that span at most 1.5 h (inside the 2 h
  // allowed lateness; the generator's clicks are minutes apart).
  std::vector<size_t> p1;
  for (size_t i = 0; i < events.size(); ++i)
    if (events[i].partition == 1) p1.push_back(i);
  int shuffled = 0;
  for (size_t k = 0; k + 4 <= p1.size(); k += 4) {
    if (events[p1[k + 3]].time_ns - events[p1[k]].time_ns > 5400000000000) continue;
    std::swap(events[p1[k]], events[p1[k + 3]]);
    std::swap(events[p1[k + 1]], events[p1[k + 2]]);
    ++shuffled;
  }
  EXPECT_GT(shuffled, 100) << "the shuffle must reorder real events";
  // Partition 0 runs 3 chunks ahead of the others.
  const size_t kChunk = 500;
  const size_t chunks = (events.size() + kChunk - 1) / kChunk;
  std::vector<std::vector<io::OutgoingMessage>> sends(chunks + 3);
  for (size_t i = 0; i < events.size(); ++i) {
    size_t c = i / kChunk;
    size_t at = events[i].partition == 0 ? c : c + 3;
    sends[at].push_back(events[i].message);
  }

  const std::string log = (dir_ / "processor.log").string();
  pid_t proc = spawn_tideline(
      {"main-proc", "-cf", features_, "-wt", "processor", "--follow", "--idle-ms", "50"}, log);
  {
    auto producer = (*topics)->create_producer(in_topic);
    ASSERT_TRUE(producer) << producer.error().message();
    for (auto& batch : sends) {
      if (!batch.empty()) {
        ASSERT_TRUE((*producer)->send(batch).ok());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // Wait until the processor published every result (its watermark passed every event).
  const std::string query_file =
      std::string(TIDELINE_SOURCE_DIR) + "/examples/eshop/session_features.fenl";
  auto q = run({"query", "-cf", features_, "--expr-file", query_file, "--table",
                "kasTblInput=store:input,time=event_time,key=so_key"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const auto want = static_cast<int64_t>(testing::csv_records(q.out).size());
  const std::string out_topic = "persistent://public/sf/session_features";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int64_t published = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    published = (*topics)->message_count(out_topic).value_or(0);
    if (published >= want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(published, want) << testing::slurp(log);

  // Old events, as new clicks (new keys), now arrive late.
  const std::string dlq_topic = in_topic + "-sf-processor-DLQ";
  std::set<std::string> late_keys;
  {
    std::vector<io::OutgoingMessage> late;
    for (int i = 0; i < kLate; ++i) {
      io::OutgoingMessage m = events[static_cast<size_t>(i) * 97].message;
      m.key = std::to_string(900000000 + i);
      late_keys.insert(m.key);
      late.push_back(std::move(m));
    }
    auto producer = (*topics)->create_producer(in_topic);
    ASSERT_TRUE(producer) << producer.error().message();
    ASSERT_TRUE((*producer)->send(late).ok());
  }
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline &&
         (*topics)->message_count(dlq_topic).value_or(0) < kLate)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(proc, SIGTERM);
  int status = 0;
  ::waitpid(proc, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::slurp(log);

  auto dlq = (*topics)->subscribe(dlq_topic, {.subscription = "test"});
  ASSERT_TRUE(dlq) << dlq.error().message();
  auto dead = (*dlq)->receive(1000, std::chrono::milliseconds(500));
  ASSERT_TRUE(dead) << dead.error().message();
  ASSERT_EQ(dead->size(), static_cast<size_t>(kLate));
  for (const auto& m : *dead) {
    EXPECT_TRUE(late_keys.count(m.key)) << "only the late events are dead letters: " << m.key;
    std::map<std::string, std::string> props(m.properties.begin(), m.properties.end());
    EXPECT_EQ(props["tideline.dead_letter.reason"], "late");
    EXPECT_NE(props["tideline.dead_letter.message"].find("before the watermark"),
              std::string::npos);
    EXPECT_NE(props["tideline.dead_letter.source"].find(in_topic), std::string::npos);
  }
  EXPECT_EQ((*topics)->message_count(out_topic).value_or(0), want)
      << "late events change no result";

  auto cons = run({"main-proc", "-cf", features_, "-wt", "consumer", "--idle-ms", "300"});
  ASSERT_EQ(cons.exit_code, 0) << cons.err;
  auto dump = run({"table", "dump", "-cf", features_, "output"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  expect_output_equals_batch_query(dump.out);
}

TEST_F(SessionFeaturesPipeline, QueryReadsTheStoresTables) {
  const int64_t kRows = 2000;
  std::string csv_text = prepare(kRows);
  ASSERT_FALSE(HasFailure());
  const std::string query_file =
      std::string(TIDELINE_SOURCE_DIR) + "/examples/eshop/session_features.fenl";

  // The session-features query straight over the input table of the store.
  auto q = run({"query", "-cf", features_, "--expr-file", query_file, "--table",
                "kasTblInput=store:input,time=event_time,key=so_key"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  auto rows = testing::csv_records(q.out);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.front().at("_key"), rows.front().at("session")) << "_key is the session";
  expect_features(rows, expected_features(csv_text), "query over store:input");

  // --config and a KEYSPACE.TABLE name; keyed by year, so one entity counts every click.
  auto n = run({"query", "--config", projection_, "--expr", "{ n: count(C), price: C.price }",
                "--results", "final", "--table", "C=store:shop.clicks_in,time=event_time,key=year",
                "--format", "jsonl"});
  ASSERT_EQ(n.exit_code, 0) << n.err;
  EXPECT_NE(n.out.find("\"n\":" + std::to_string(kRows)), std::string::npos) << n.out;

  // A missing table is a runtime failure naming it; a missing config is a usage error.
  auto missing = run({"query", "-cf", features_, "--expr", "{ n: count(C) }", "--table",
                      "C=store:shop.nope,time=event_time,key=so_key"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("shop.nope"), std::string::npos) << missing.err;
  auto no_config = run({"query", "-cf", (dir_ / "absent.properties").string(), "--expr",
                        "{ n: count(C) }", "--table", "C=store:input,time=event_time,key=so_key"});
  EXPECT_EQ(no_config.exit_code, 2);
  EXPECT_NE(no_config.err.find("absent.properties"), std::string::npos) << no_config.err;
}

}  // namespace
}  // namespace tideline
