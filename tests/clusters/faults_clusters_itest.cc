// Crash safety of the live processor on the clusters backend (real Pulsar and Cassandra on
// loopback, tests/services fixtures), with the stateful session-features query
// (examples/eshop/session_features.fenl): while a producer publishes clicks at a steady rate,
// the processor follows the input topic and is SIGKILLed at random moments, the Pulsar broker
// is restarted and the Cassandra node is restarted (`scripts/services/*.sh restart`, data
// kept). A processor that exits because a server went away is started again, as a supervisor
// would. Finally the output topic must hold every result row exactly once (counted by the
// official Python client) and the output table must equal `tideline query` over the input
// table, row for row and value for value.
//
// The restarts affect every user of the shared servers, so CTest runs this test alone
// (RUN_SERIAL, tests/clusters/tests.cmake).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string_view>
#include <thread>

#include "cli/run_binary.h"
#include "clusters/python_peer.h"

namespace tideline {
namespace {

using testing::run_tideline;
using testing::spawn_tideline;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class ClustersFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;  // keyspace and namespace unique per test
    tag_ = "tl_faults_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    dir_ = fs::temp_directory_path() / ("tl-faults-" + tag_);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const std::string src = TIDELINE_SOURCE_DIR;
    // A generous operation timeout: the clients keep retrying while a server restarts.
    std::ofstream(dir_ / "client.conf") << "webServiceUrl=http://127.0.0.1:8080/\n"
                                           "brokerServiceUrl=pulsar://127.0.0.1:6650/\n"
                                           "operationTimeoutMs=120000\n";
    config_ = (dir_ / "features.properties").string();
    std::ofstream(config_) << "ad.keyspace=" << tag_
                           << "\nad.table.input=clicks_in\nad.table.output=session_features\n"
                              "as.client.conf=client.conf\nas.tenant=public\nas.namespace="
                           << tag_
                           << "\nas.topic.input=clicks_in\nas.topic.output=session_features\n"
                              "as.topic.schema=true\n"
                              "tideline.backend=clusters\n"
                              "tideline.cassandra.contact.points=127.0.0.1:9042\n"
                              "tideline.cassandra.consistency=ONE\n"
                              "tideline.processor.query="
                           << src
                           << "/examples/eshop/session_features.fenl\n"
                              "tideline.processor.subscription=sf-processor\n"
                              "tideline.processor.checkpoint.interval.ms=200\n"
                              "tideline.processor.idle.timeout.ms=5000\n"
                              "tideline.log.report.interval.ms=500\n"
                              "tideline.consumer.subscription=sf-consumer\n"
                              "tideline.topic.partitions=3\n"
                              "tideline.cql.input.stmt="
                           << src
                           << "/conf/cql/input_tbl.stmt\n"
                              "tideline.cql.output.stmt="
                           << src
                           << "/examples/eshop/cql/session_features_tbl.stmt\n"
                              "tideline.schema.input="
                           << src
                           << "/conf/pulsar-schema/input_topic.json\n"
                              "tideline.schema.output="
                           << src << "/examples/eshop/pulsar-schema/session_features_topic.json\n";
  }
  void TearDown() override {
    python(
        "from cassandra.cluster import Cluster\n"
        "s = Cluster(['127.0.0.1']).connect()\n"
        "s.execute('DROP KEYSPACE IF EXISTS " +
        tag_ + "')\n");
    if (!HasFailure()) fs::remove_all(dir_);
  }

  testing::RunResult run(const std::vector<std::string>& args) { return run_tideline(args); }

  testing::RunResult python(const std::string& script) {
    return testing::run_python_peer(dir_, script);
  }

  // Generates `rows` clicks, runs prep-env (tables, topics, subscriptions, load) and starts a
  // producer publishing them at `rate` events/s in the background (output to `log`).
  pid_t start_input(int64_t rows, int seed, int rate, const std::string& log) {
    const std::string csv = (dir_ / "eshop.csv").string();
    auto gen = run({"gen-eshop", "--rows", std::to_string(rows), "--seed", std::to_string(seed),
                    "--header", "--out", csv});
    EXPECT_EQ(gen.exit_code, 0) << gen.err;
    auto prep = run({"prep-env", "-cf", config_, "-cdt", "true", "-cpt", "true", "-ldr", "true",
                     "-rsf", csv, "-ldn", "-1"});
    EXPECT_EQ(prep.exit_code, 0) << prep.out << prep.err;
    if (gen.exit_code != 0 || prep.exit_code != 0) return -1;
    return spawn_tideline(
        {"main-proc", "-cf", config_, "-wt", "producer", "--rate", std::to_string(rate)}, log);
  }

  // `scripts/services/NAME.sh restart` (stops the server and starts it on its data).
  void restart(const std::string& server) {
    const auto t0 = Clock::now();
    auto r = testing::run_command(
        {std::string(TIDELINE_SOURCE_DIR) + "/scripts/services/" + server + ".sh", "restart"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    std::printf("[faults] %s restarted in %.1f s\n", server.c_str(),
                std::chrono::duration<double>(Clock::now() - t0).count());
  }

  // Messages stored in `topic` of this test's namespace (testing::count_topic_with_python).
  int64_t count_topic_with_python(const std::string& topic) {
    return testing::count_topic_with_python(dir_, "persistent://public/" + tag_ + "/" + topic);
  }

  // The output topic holds each row of the batch session-features query over the input table
  // exactly once (counted by the official client), and the output table equals that query,
  // row for row and value for value.
  // `published`: the output topic's message count, taken before the consumer ran (once it has
  // acknowledged them, the broker deletes consumed ledgers and a reader sees only the rest).
  void expect_output_equals_batch_query(int64_t rows, int64_t published, const std::string& log) {
    const std::string query_file =
        std::string(TIDELINE_SOURCE_DIR) + "/examples/eshop/session_features.fenl";
    auto q = run({"query", "-cf", config_, "--expr-file", query_file, "--table",
                  "kasTblInput=store:input,time=event_time,key=so_key"});
    ASSERT_EQ(q.exit_code, 0) << q.err;
    auto batch_rows = testing::csv_records(q.out);
    ASSERT_GT(batch_rows.size(), static_cast<size_t>(rows / 2));
    EXPECT_EQ(published, static_cast<int64_t>(batch_rows.size()))
        << "each result row is published exactly once\n"
        << testing::slurp(log);

    auto dump = run({"table", "dump", "-cf", config_, "output"});
    ASSERT_EQ(dump.exit_code, 0) << dump.err;
    auto table_rows = testing::csv_records(dump.out);
    ASSERT_EQ(table_rows.size(), batch_rows.size());
    std::map<std::string, std::map<std::string, std::string>> by_key;
    for (auto& r : table_rows) by_key[r.at("so_key")] = r;
    int wrong = 0;
    for (const auto& b : batch_rows) {
      auto it = by_key.find(b.at("so_key"));
      ASSERT_NE(it, by_key.end()) << b.at("so_key");
      for (const char* col : {"session", "clicks", "sale_clicks", "seconds_since_first",
                              "prev_model", "model", "category", "price"}) {
        if (it->second.at(col) != b.at(col) && ++wrong <= 10) {
          ADD_FAILURE() << "so_key " << b.at("so_key") << " " << col << ": table "
                        << it->second.at(col) << ", batch query " << b.at(col);
        }
      }
    }
    EXPECT_EQ(wrong, 0);
  }

  std::string tag_;
  fs::path dir_;
  std::string config_;
};

// A processor that is running in the background: restarted when it exits on its own (a server
// went away), killed on request.
class Supervised {
 public:
  Supervised(std::vector<std::string> args, std::string log)
      : args_(std::move(args)), log_(std::move(log)) {}
  ~Supervised() { stop(SIGKILL); }
  // Starts the process again if it is not running; counts exits that were not ours.
  void keep_running() {
    if (pid_ > 0) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == 0) return;
      ++unplanned_exits_;
      pid_ = -1;
    }
    pid_ = spawn_tideline(args_, log_);
  }
  // Sends `sig` and waits; returns the wait status.
  int stop(int sig) {
    if (pid_ <= 0) return 0;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  int unplanned_exits() const { return unplanned_exits_; }

 private:
  std::vector<std::string> args_;
  std::string log_;
  pid_t pid_ = -1;
  int unplanned_exits_ = 0;
};

TEST_F(ClustersFaults, ProcessorKilledAndServersRestartedKeepsResultsExactlyOnce) {
  const int64_t kRows = 30000;
  const std::string log = (dir_ / "background.log").string();
  // About 15 s of input; the faults below happen while it streams in.
  const pid_t producer = start_input(kRows, 31, 2000, log);
  ASSERT_GT(producer, 0);
  Supervised processor(
      {"main-proc", "-cf", config_, "-wt", "processor", "--follow", "--idle-ms", "100"}, log);
  std::mt19937 rng(7);
  // Faults are placed by progress, not by the clock (a loaded machine may take seconds to
  // start a stage): each waits until the processor running now has consumed input (its
  // report lines, every 500 ms), then lets it run a little longer (past a checkpoint).
  auto progressed = [&](size_t from) {
    // A report line "processor: N events in" with N > 0 after `from`.
    const std::string text = testing::slurp(log);
    const std::string_view marker = "processor: ";
    for (size_t at = text.find(marker, from); at != std::string::npos;
         at = text.find(marker, at + 1)) {
      size_t d = at + marker.size();
      if (d >= text.size() || text[d] < '1' || text[d] > '9') continue;
      while (d < text.size() && text[d] >= '0' && text[d] <= '9') ++d;
      if (text.compare(d, 11, " events in ") == 0) return true;
    }
    return false;
  };

  auto run_until_progress = [&](int extra_ms) {
    const size_t from = testing::slurp(log).size();
    processor.keep_running();
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    while (!progressed(from) && Clock::now() < deadline) {
      processor.keep_running();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(progressed(from)) << "no processor progress within 120 s\n" << testing::slurp(log);
    const auto end = Clock::now() + std::chrono::milliseconds(extra_ms);
    while (Clock::now() < end) {
      processor.keep_running();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  auto kill_processor = [&] {
    int status = processor.stop(SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(status)) << "the processor ended before it was killed";
  };
  for (int k = 0; k < 3; ++k) {
    ASSERT_NO_FATAL_FAILURE(run_until_progress(300 + static_cast<int>(rng() % 700)));
    kill_processor();
  }
  ASSERT_NO_FATAL_FAILURE(run_until_progress(300));
  ASSERT_NO_FATAL_FAILURE(restart("pulsar"));
  ASSERT_NO_FATAL_FAILURE(run_until_progress(500));
  kill_processor();
  ASSERT_NO_FATAL_FAILURE(run_until_progress(300));
  ASSERT_NO_FATAL_FAILURE(restart("cassandra"));
  ASSERT_NO_FATAL_FAILURE(run_until_progress(500));
  kill_processor();

  int status = 0;
  ::waitpid(producer, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the producer must ride out the restarts\n"
      << testing::slurp(log);
  std::printf("[faults] processor exits caused by the restarts: %d\n", processor.unplanned_exits());
  // Every restarted processor resumed from a checkpoint (each kill came after progress).
  const std::string text = testing::slurp(log);
  int resumed = 0;
  for (size_t at = 0; (at = text.find("resumed from the checkpoint", at)) != std::string::npos;
       ++at)
    ++resumed;
  std::printf("[faults] processor runs that resumed from a checkpoint: %d\n", resumed);
  EXPECT_GE(resumed, 4) << text;
  EXPECT_EQ(processor.unplanned_exits(), 0) << "the processor must ride out the restarts\n" << text;
  // Drain what is left, then the consumer.
  auto proc = run({"main-proc", "-cf", config_, "-wt", "processor", "--idle-ms", "2000"});
  ASSERT_EQ(proc.exit_code, 0) << proc.out << proc.err;
  const int64_t published = count_topic_with_python("session_features");
  auto cons = run({"main-proc", "-cf", config_, "-wt", "consumer", "--idle-ms", "2000"});
  ASSERT_EQ(cons.exit_code, 0) << cons.out << cons.err;

  expect_output_equals_batch_query(kRows, published, log);
}

// Scale-out through Pulsar: two processors share the Exclusive subscription, each owning
// some of the input topic's partitions (--partitions; exclusivity is per partition), while
// the input streams in; each is SIGKILLed once and restarted with the same partitions, and
// resumes their state from its own checkpoint. The query re-keys the clicks by session, so
// the producer keys the messages by session (tideline.processor.key.column=session): every
// session's clicks are in one partition, in order (keyed by so_key instead, a session's
// clicks are spread over partitions owned by different processors and the counts go wrong).
// The union of their outputs equals the batch query (the single-processor result) and each
// row is on the output topic once.
TEST_F(ClustersFaults, PartitionOwnersKilledAndRestartedEqualTheBatchQuery) {
  const int64_t kRows = 20000;
  std::ofstream(config_, std::ios::app) << "tideline.processor.key.column=session\n";
  const std::string log = (dir_ / "background.log").string();
  const pid_t producer = start_input(kRows, 37, 2500, log);
  ASSERT_GT(producer, 0);
  auto owner = [&](const char* partitions) {
    return std::vector<std::string>{"main-proc", "-cf",       config_, "-wt",          "processor",
                                    "--follow",  "--idle-ms", "100",   "--partitions", partitions};
  };
  Supervised low(owner("0,1"), log), high(owner("2"), log);
  auto run_for = [&](int ms) {
    const auto end = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < end) {
      low.keep_running();
      high.keep_running();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  run_for(2500);
  EXPECT_TRUE(WIFSIGNALED(low.stop(SIGKILL))) << "the first processor ended early";
  run_for(2000);
  EXPECT_TRUE(WIFSIGNALED(high.stop(SIGKILL))) << "the second processor ended early";
  run_for(1500);
  int status = 0;
  ::waitpid(producer, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::slurp(log);
  run_for(1000);
  EXPECT_EQ(low.unplanned_exits(), 0) << testing::slurp(log);
  EXPECT_EQ(high.unplanned_exits(), 0) << testing::slurp(log);
  low.stop(SIGTERM);
  high.stop(SIGTERM);

  // Drain: both owners at once.
  testing::RunResult a, b;
  std::thread other([&] {
    a = run({"main-proc", "-cf", config_, "-wt", "processor", "--idle-ms", "2000", "--partitions",
             "0,1"});
  });
  b = run(
      {"main-proc", "-cf", config_, "-wt", "processor", "--idle-ms", "2000", "--partitions", "2"});
  other.join();
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  const int64_t published = count_topic_with_python("session_features");
  auto cons = run({"main-proc", "-cf", config_, "-wt", "consumer", "--idle-ms", "2000"});
  ASSERT_EQ(cons.exit_code, 0) << cons.out << cons.err;

  const std::string text = testing::slurp(log);
  EXPECT_NE(text.find("resumed from the checkpoint"), std::string::npos) << text;
  expect_output_equals_batch_query(kRows, published, log);
}

}  // namespace
}  // namespace tideline
