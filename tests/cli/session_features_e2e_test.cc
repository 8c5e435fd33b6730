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
#include <sstream>
#include <thread>

#include "cli/run_binary.h"

namespace tideline {
namespace {

using testing::run_tideline;
namespace fs = std::filesystem;

// A CSV with a header as maps from column name to cell.
std::vector<std::map<std::string, std::string>> as_records(const std::string& text) {
  auto rows = testing::split_simple_csv(text);
  std::vector<std::map<std::string, std::string>> out;
  for (size_t i = 1; i < rows.size(); ++i) {
    std::map<std::string, std::string> r;
    for (size_t c = 0; c < rows[0].size(); ++c)
      r[rows[0][c]] = c < rows[i].size() ? rows[i][c] : "";
    out.push_back(std::move(r));
  }
  return out;
}

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
  auto clicks = as_records(csv_text);
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
  expect_features(as_records(dump.out), expected, "output table");

  // Rows are keyed by session: the output table's primary key ((session), event_time) keeps
  // every click's row, and the first row of session 1 has no previous model.
  auto rows = as_records(dump.out);
  EXPECT_EQ(rows.front().at("session"), "1");
  EXPECT_EQ(rows.front().at("clicks"), "1");
  EXPECT_EQ(rows.front().at("prev_model"), "");
}

// Starts the binary in the background (output discarded); returns its pid.
pid_t spawn_tideline(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> argv;
    std::string bin = TIDELINE_BINARY;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// The crash-safety property of the live processor with a stateful query: the session-features
// processor, following the input topic while a producer publishes into it, is SIGKILLed at
// random moments and restarted each time; it resumes from its checkpoint (engine state +
// input positions), so every feature in the output table is right — with the old
// re-run-from-memory processor, counts restarted from 1 after each kill. The same with the
// consumer killed too.
TEST_F(SessionFeaturesPipeline, ProcessorKilledRepeatedlyResumesFromItsCheckpoint) {
  const int64_t kRows = 20000;
  const int kKills = 8;
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
  expect_features(as_records(dump.out), expected_features(testing::slurp(csv)),
                  "output table after " + std::to_string(kKills) + " kills");
  // And the output equals the batch query over the same input, row for row.
  const std::string query_file =
      std::string(TIDELINE_SOURCE_DIR) + "/examples/eshop/session_features.fenl";
  auto q = run({"query", "-cf", features_, "--expr-file", query_file, "--table",
                "kasTblInput=store:input,time=event_time,key=so_key"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  auto batch_rows = as_records(q.out);
  auto table_rows = as_records(dump.out);
  ASSERT_EQ(batch_rows.size(), table_rows.size());
  std::map<std::string, std::map<std::string, std::string>> by_key;
  for (auto& r : table_rows) by_key[r.at("so_key")] = r;
  for (const auto& b : batch_rows) {
    auto it = by_key.find(b.at("so_key"));
    ASSERT_NE(it, by_key.end()) << b.at("so_key");
    for (const char* col : {"session", "clicks", "sale_clicks", "seconds_since_first", "prev_model",
                            "model", "category", "price"})
      EXPECT_EQ(it->second.at(col), b.at(col)) << "so_key " << b.at("so_key") << " " << col;
  }
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
  auto rows = as_records(q.out);
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
