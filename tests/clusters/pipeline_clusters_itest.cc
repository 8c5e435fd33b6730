// The whole pipeline on the clusters backend: real Cassandra and real Pulsar on loopback
// (tests/services fixtures), through the binary as a user runs it: prep-env -> producer ->
// processor -> consumer with tideline.backend=clusters. The output table (read back by the
// official Python driver, an independent peer) must equal the projection of the input table,
// and a second run of the whole pipeline must change nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/run_binary.h"
#include "clusters/python_peer.h"

namespace tideline {
namespace {

using testing::run_tideline;
namespace fs = std::filesystem;

class ClustersPipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    // Keyspace and namespace unique per test (the Pulsar namespace outlives the test).
    static int counter = 0;
    tag_ = "tl_e2e_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    dir_ = fs::temp_directory_path() / ("tl-clusters-" + tag_);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::string conf = std::string(TIDELINE_SOURCE_DIR) + "/conf";
    std::ofstream(dir_ / "client.conf") << "webServiceUrl=http://127.0.0.1:8080/\n"
                                           "brokerServiceUrl=pulsar://127.0.0.1:6650/\n";
    config_ = (dir_ / "main.properties").string();
    std::ofstream(config_) << "ad.keyspace=" + tag_ +
                                  "\n"
                                  "ad.table.input=clicks_in\n"
                                  "ad.table.output=clicks_out\n"
                                  "as.client.conf=client.conf\n"
                                  "as.tenant=public\nas.namespace=" +
                                  tag_ +
                                  "\n"
                                  "as.topic.input=clicks_in\nas.topic.output=clicks_out\n"
                                  "as.topic.schema=true\n"
                                  "tideline.backend=clusters\n"
                                  "tideline.cassandra.contact.points=127.0.0.1:9042\n"
                                  "tideline.cassandra.consistency=ONE\n"
                                  "tideline.processor.query=" +
                                  conf +
                                  "/fenl/eshop_output.fenl\n"
                                  "tideline.cql.input.stmt=" +
                                  conf +
                                  "/cql/input_tbl.stmt\n"
                                  "tideline.cql.output.stmt=" +
                                  conf +
                                  "/cql/output_tbl.stmt\n"
                                  "tideline.schema.input=" +
                                  conf +
                                  "/pulsar-schema/input_topic.json\n"
                                  "tideline.schema.output=" +
                                  conf + "/pulsar-schema/output_topic.json\n";
  }
  void TearDown() override {
    // Drop the keyspace with the reference driver; the Pulsar namespace stays (standalone
    // test server, unique name per run).
    python(
        "from cassandra.cluster import Cluster\n"
        "s = Cluster(['127.0.0.1']).connect()\n"
        "s.execute('DROP KEYSPACE IF EXISTS " +
        tag_ + "')\n");
    if (!HasFailure()) fs::remove_all(dir_);
  }

  testing::RunResult run(std::vector<std::string> args, std::vector<std::string> env = {}) {
    return run_tideline(args, "", env);
  }

  testing::RunResult python(const std::string& script) {
    return testing::run_python_peer(dir_, script);
  }

  // `replay`: see testing::expected_stage_report.
  void run_pipeline(const std::string& csv, int64_t rows, bool replay = false) {
    auto prep = run({"prep-env", "-cf", config_, "-cdt", "true", "-cpt", "true", "-ldr", "true",
                     "-rsf", csv, "-ldn", "-1"});
    ASSERT_EQ(prep.exit_code, 0) << prep.out << prep.err;
    EXPECT_NE(prep.out.find("loaded " + std::to_string(rows) + ", rejected 0"), std::string::npos)
        << prep.out;
    for (const char* wt : {"producer", "processor", "consumer"}) {
      auto r = run({"main-proc", "-cf", config_, "-wt", wt, "--idle-ms", "2000"});
      ASSERT_EQ(r.exit_code, 0) << wt << ": " << r.out << r.err;
      const std::string want = testing::expected_stage_report(wt, rows, replay);
      EXPECT_NE(r.out.find(want), std::string::npos) << wt << ": " << r.out;
    }
  }

  // The table as sorted CSV lines of `columns`, read by the Python driver.
  std::vector<std::string> read_with_python(const std::string& table,
                                            const std::vector<std::string>& columns) {
    std::string cols;
    for (const auto& c : columns) cols += (cols.empty() ? "" : ", ") + c;
    auto r = python(
        "from cassandra.cluster import Cluster\n"
        "s = Cluster(['127.0.0.1']).connect()\n"
        "rows = s.execute('SELECT " +
        cols + " FROM " + tag_ + "." + table +
        "')\n"
        "out = []\n"
        "for r in rows:\n"
        "    out.append(','.join('' if v is None else (v.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] "
        "if hasattr(v, 'strftime') else repr(v) if isinstance(v, float) else str(v)) for v in r))\n"
        "print('\\n'.join(sorted(out)))\n");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> lines;
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }

  // Messages stored in `topic` of this test's namespace (testing::count_topic_with_python).
  int64_t count_topic_with_python(const std::string& topic) {
    return testing::count_topic_with_python(dir_, "persistent://public/" + tag_ + "/" + topic);
  }

  std::string tag_;
  fs::path dir_;
  std::string config_;
};

TEST_F(ClustersPipeline, OutputEqualsProjectionOfInputAndRerunChangesNothing) {
  const int64_t kRows = 2000;
  std::string csv = (dir_ / "eshop.csv").string();
  auto gen =
      run({"gen-eshop", "--rows", std::to_string(kRows), "--seed", "7", "--header", "--out", csv});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  ASSERT_NO_FATAL_FAILURE(run_pipeline(csv, kRows));

  const std::vector<std::string> cols = {"year",      "month",      "day",   "order_seq",
                                         "session",   "category",   "model", "price",
                                         "price_ind", "event_time", "so_key"};
  auto input = read_with_python("clicks_in", cols);
  auto output = read_with_python("clicks_out", cols);
  ASSERT_EQ(input.size(), static_cast<size_t>(kRows));
  EXPECT_EQ(output, input);

  // Tideline's own reader agrees on the count.
  auto count = run({"table", "count", "-cf", config_, "output"});
  EXPECT_EQ(count.out, std::to_string(kRows) + "\n") << count.err;

  // The whole pipeline again: the processor recognises the replayed events as late (its
  // watermark is past them) and the output table is unchanged.
  ASSERT_NO_FATAL_FAILURE(run_pipeline(csv, kRows, /*replay=*/true));
  EXPECT_EQ(read_with_python("clicks_out", cols), output);
}

// Fail points on the real servers: a processor SIGKILLed before its checkpoint or before
// acknowledging its input loses nothing and duplicates nothing on the output topic (journal
// replay with deterministic sequence ids, broker deduplication); a consumer killed after
// writing but before acknowledging loses nothing (redelivery; the upserts absorb it).
TEST_F(ClustersPipeline, KilledProcessorAndConsumerLoseNothing) {
  const int64_t kRows = 1500;
  std::string csv = (dir_ / "eshop.csv").string();
  ASSERT_EQ(
      run({"gen-eshop", "--rows", std::to_string(kRows), "--seed", "8", "--out", csv}).exit_code,
      0);
  auto prep = run({"prep-env", "-cf", config_, "-cdt", "true", "-cpt", "true", "-ldr", "true",
                   "-rsf", csv, "-ldn", "-1"});
  ASSERT_EQ(prep.exit_code, 0) << prep.out << prep.err;
  auto producer = run({"main-proc", "-cf", config_, "-wt", "producer", "--idle-ms", "2000"});
  ASSERT_EQ(producer.exit_code, 0) << producer.err;

  // Killed before its checkpoint: the next run replays its journaled steps, re-sending their
  // rows under the same sequence ids, and processes the rest. Killed after the checkpoint but
  // before acknowledging: the next run skips the redelivered input the checkpoint covers.
  auto killed = run({"main-proc", "-cf", config_, "-wt", "processor", "--idle-ms", "2000"},
                    {"TIDELINE_FAILPOINTS=processor.before_checkpoint"});
  EXPECT_EQ(killed.exit_code, 128 + 9) << killed.out << killed.err;
  killed = run({"main-proc", "-cf", config_, "-wt", "processor", "--idle-ms", "2000"},
               {"TIDELINE_FAILPOINTS=processor.before_ack"});
  EXPECT_EQ(killed.exit_code, 128 + 9) << killed.out << killed.err;
  auto again = run({"main-proc", "-cf", config_, "-wt", "processor", "--idle-ms", "2000"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("0 rows in"), std::string::npos)
      << "the redelivered input is covered by the checkpoint: " << again.out;
  // Every result row is on the output topic exactly once: the replayed steps re-sent their
  // rows under the same sequence ids and the broker's deduplication dropped them.
  EXPECT_EQ(count_topic_with_python("clicks_out"), kRows);

  killed = run({"main-proc", "-cf", config_, "-wt", "consumer", "--idle-ms", "2000"},
               {"TIDELINE_FAILPOINTS=consumer.before_ack"});
  EXPECT_EQ(killed.exit_code, 128 + 9) << killed.out << killed.err;
  again = run({"main-proc", "-cf", config_, "-wt", "consumer", "--idle-ms", "2000"});
  ASSERT_EQ(again.exit_code, 0) << again.err;

  const std::vector<std::string> cols = {"year",      "month",      "day",   "order_seq",
                                         "session",   "category",   "model", "price",
                                         "price_ind", "event_time", "so_key"};
  auto input = read_with_python("clicks_in", cols);
  ASSERT_EQ(input.size(), static_cast<size_t>(kRows));
  EXPECT_EQ(read_with_python("clicks_out", cols), input);
}

// Scale-out through Pulsar: two processors on one Key_Shared subscription run at the same
// time (with the default Exclusive type the second would be refused); between them they
// process every input message once, and the output table equals the input table.
TEST_F(ClustersPipeline, KeySharedProcessorsSplitTheInput) {
  const int64_t kRows = 4000;
  std::ofstream(config_, std::ios::app) << "tideline.processor.subscription.type=Key_Shared\n";
  std::string csv = (dir_ / "eshop.csv").string();
  ASSERT_EQ(
      run({"gen-eshop", "--rows", std::to_string(kRows), "--seed", "9", "--out", csv}).exit_code,
      0);
  auto prep = run({"prep-env", "-cf", config_, "-cdt", "true", "-cpt", "true", "-ldr", "true",
                   "-rsf", csv, "-ldn", "-1"});
  ASSERT_EQ(prep.exit_code, 0) << prep.out << prep.err;
  ASSERT_EQ(run({"main-proc", "-cf", config_, "-wt", "producer", "--idle-ms", "2000"}).exit_code,
            0);
  testing::RunResult a, b;
  std::thread other([&] {
    a = run({"main-proc", "-cf", config_, "-wt", "processor", "--idle-ms", "3000"});
  });
  b = run({"main-proc", "-cf", config_, "-wt", "processor", "--idle-ms", "3000"});
  other.join();
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  auto rows_in = [](const std::string& out) -> int64_t {
    auto pos = out.find(" rows in");
    if (pos == std::string::npos) return -1;
    auto start = out.rfind(' ', pos - 1);
    return std::stoll(out.substr(start + 1, pos - start - 1));
  };
  // Key_Shared holds a key's messages back from a consumer that joined after they were
  // dispatched until the earlier consumer acknowledges them, so a few can still be in the
  // backlog when both idle out; a last run drains them.
  auto drain = run({"main-proc", "-cf", config_, "-wt", "processor", "--idle-ms", "3000"});
  ASSERT_EQ(drain.exit_code, 0) << drain.out << drain.err;
  const int64_t in_a = rows_in(a.out), in_b = rows_in(b.out), in_c = rows_in(drain.out);
  std::printf("Key_Shared split: %lld + %lld rows, then %lld\n", static_cast<long long>(in_a),
              static_cast<long long>(in_b), static_cast<long long>(in_c));
  // How the keys split depends on which processor connects first (seen: 1998/2002 and
  // 3658/324 + 18 drained), so only the total is asserted.
  EXPECT_EQ(in_a + in_b + in_c, kRows) << a.out << b.out << drain.out;
  ASSERT_EQ(run({"main-proc", "-cf", config_, "-wt", "consumer", "--idle-ms", "2000"}).exit_code,
            0);
  const std::vector<std::string> cols = {"session", "model", "price", "event_time", "so_key"};
  auto input = read_with_python("clicks_in", cols);
  ASSERT_EQ(input.size(), static_cast<size_t>(kRows));
  EXPECT_EQ(read_with_python("clicks_out", cols), input);
}

}  // namespace
}  // namespace tideline
