// The embedded pipeline end to end through the binary: gen-eshop -> prep-env -> producer ->
// processor -> consumer, then the output table must equal the projection of the input table,
// and a second run of the whole pipeline must change nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/run_binary.h"
#include "io/embedded/embedded.h"

namespace tideline {
namespace {

using testing::run_tideline;
namespace fs = std::filesystem;

class EmbeddedPipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tl-e2e-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::string conf = std::string(TIDELINE_SOURCE_DIR) + "/conf";
    config_ = (dir_ / "main.properties").string();
    std::ofstream(config_) << "ad.keyspace=shop\n"
                              "ad.table.input=clicks_in\n"
                              "ad.table.output=clicks_out\n"
                              "as.tenant=public\nas.namespace=e2e\n"
                              "as.topic.input=clicks_in\nas.topic.output=clicks_out\n"
                              "as.topic.schema=true\n"
                              "tideline.backend=embedded\n"
                              "tideline.data.dir=data\n"
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
    if (!HasFailure()) fs::remove_all(dir_);
  }

  testing::RunResult run(std::vector<std::string> args, std::vector<std::string> env = {}) {
    return run_tideline(args, "", env);
  }

  // `replay`: see testing::expected_stage_report.
  void run_pipeline(const std::string& csv, int64_t rows, bool replay = false) {
    auto prep = run({"prep-env", "-cf", config_, "-ldr", "true", "-rsf", csv, "-ldn", "-1"});
    ASSERT_EQ(prep.exit_code, 0) << prep.err;
    EXPECT_NE(prep.out.find("loaded " + std::to_string(rows) + ", rejected 0"), std::string::npos)
        << prep.out;
    for (const char* wt : {"producer", "processor", "consumer"}) {
      auto r = run({"main-proc", "-cf", config_, "-wt", wt, "--idle-ms", "200"});
      ASSERT_EQ(r.exit_code, 0) << wt << ": " << r.err;
      const std::string want = testing::expected_stage_report(wt, rows, replay);
      EXPECT_NE(r.out.find(want), std::string::npos) << wt << ": " << r.out;
    }
  }

  std::string dump(const std::string& table) {
    auto r = run({"table", "dump", "-cf", config_, table});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  fs::path dir_;
  std::string config_;
};

// Selects `columns` (by header name) from a CSV dump.
std::vector<std::vector<std::string>> project(const std::vector<std::vector<std::string>>& rows,
                                              const std::vector<std::string>& columns) {
  std::vector<size_t> idx;
  for (const auto& c : columns) {
    auto it = std::find(rows[0].begin(), rows[0].end(), c);
    EXPECT_NE(it, rows[0].end()) << c;
    idx.push_back(static_cast<size_t>(it - rows[0].begin()));
  }
  std::vector<std::vector<std::string>> out;
  for (const auto& r : rows) {
    std::vector<std::string> p;
    for (size_t i : idx) p.push_back(i < r.size() ? r[i] : "");
    out.push_back(p);
  }
  return out;
}

TEST_F(EmbeddedPipeline, OutputEqualsProjectionOfInputAndRerunChangesNothing) {
  const int64_t kRows = 10000;
  std::string csv = (dir_ / "eshop.csv").string();
  auto gen =
      run({"gen-eshop", "--rows", std::to_string(kRows), "--seed", "5", "--header", "--out", csv});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  ASSERT_NO_FATAL_FAILURE(run_pipeline(csv, kRows));

  auto input = testing::split_simple_csv(dump("input"));
  auto output_text = dump("output");
  auto output = testing::split_simple_csv(output_text);
  ASSERT_EQ(input.size(), static_cast<size_t>(kRows + 1));
  ASSERT_EQ(output.size(), static_cast<size_t>(kRows + 1));
  const std::vector<std::string> cols = {"year",      "month",      "day",   "order_seq",
                                         "session",   "category",   "model", "price",
                                         "price_ind", "event_time", "so_key"};
  EXPECT_EQ(output[0], cols) << "output table header";
  EXPECT_EQ(project(input, cols), output);

  // The whole pipeline again, on the same data: the processor recognises the replayed
  // events as late (its watermark is past them) and the output table is unchanged.
  ASSERT_NO_FATAL_FAILURE(run_pipeline(csv, kRows, /*replay=*/true));
  EXPECT_EQ(dump("output"), output_text);
  auto count = run({"table", "count", "-cf", config_, "output"});
  EXPECT_EQ(count.out, std::to_string(kRows) + "\n");
}

// A stage killed (SIGKILL) at any point loses nothing and repeats nothing. The processor
// commits each step's output with its journal record, and a checkpoint with the
// acknowledgements it allows, in one transaction (docs/formats/checkpoint.md): killed before
// the first commit it starts over; killed while committing a later step it replays the
// committed steps without publishing them again. The output topic ends with exactly one
// message per result row. The consumer rerun gets the unacknowledged messages again.
TEST_F(EmbeddedPipeline, KilledProcessorAndConsumerLoseNothing) {
  const int64_t kRows = 3000;
  std::string csv = (dir_ / "eshop.csv").string();
  ASSERT_EQ(run({"gen-eshop", "--rows", std::to_string(kRows), "--out", csv}).exit_code, 0);
  ASSERT_EQ(run({"prep-env", "-cf", config_, "-ldr", "true", "-rsf", csv, "-ldn", "-1"}).exit_code,
            0);
  ASSERT_EQ(run({"main-proc", "-cf", config_, "-wt", "producer"}).exit_code, 0);

  auto killed = run({"main-proc", "-cf", config_, "-wt", "processor", "--idle-ms", "200"},
                    {"TIDELINE_FAILPOINTS=processor.before_commit"});
  EXPECT_EQ(killed.exit_code, 128 + 9) << killed.err;
  // The first step commits (output + journal); the drained step's checkpoint dies.
  killed = run({"main-proc", "-cf", config_, "-wt", "processor", "--idle-ms", "200"},
               {"TIDELINE_FAILPOINTS=processor.before_checkpoint"});
  EXPECT_EQ(killed.exit_code, 128 + 9) << killed.err;
  auto again = run({"main-proc", "-cf", config_, "-wt", "processor", "--idle-ms", "200"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("replaying 1 journal steps"), std::string::npos) << again.err;
  {
    auto topics = embedded::open_topic_service((dir_ / "data").string());
    ASSERT_TRUE(topics) << topics.error().message();
    auto published = (*topics)->message_count("persistent://public/e2e/clicks_out");
    ASSERT_TRUE(published) << published.error().message();
    EXPECT_EQ(*published, kRows) << "each result row is published exactly once";
  }

  killed = run({"main-proc", "-cf", config_, "-wt", "consumer", "--idle-ms", "200"},
               {"TIDELINE_FAILPOINTS=consumer.before_ack"});
  EXPECT_EQ(killed.exit_code, 128 + 9) << killed.err;
  again = run({"main-proc", "-cf", config_, "-wt", "consumer", "--idle-ms", "200"});
  ASSERT_EQ(again.exit_code, 0) << again.err;

  auto input = testing::split_simple_csv(dump("input"));
  auto output = testing::split_simple_csv(dump("output"));
  const std::vector<std::string> cols = {"year",      "month",      "day",   "order_seq",
                                         "session",   "category",   "model", "price",
                                         "price_ind", "event_time", "so_key"};
  ASSERT_EQ(output.size(), static_cast<size_t>(kRows + 1));
  EXPECT_EQ(project(input, cols), output);
}

// Messages that do not decode, between good ones of the same entry (one columnar decode),
// go to the stage's dead-letter topic with their reason; their neighbours are processed.
TEST_F(EmbeddedPipeline, UndecodableMessagesMidBatchAreDeadLetteredAndNeighboursKept) {
  const int64_t kRows = 2000;
  std::string csv = (dir_ / "eshop.csv").string();
  auto gen =
      run({"gen-eshop", "--rows", std::to_string(kRows), "--seed", "9", "--header", "--out", csv});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  auto prep = run({"prep-env", "-cf", config_, "-ldr", "true", "-rsf", csv, "-ldn", "-1"});
  ASSERT_EQ(prep.exit_code, 0) << prep.err;
  auto produced = run({"main-proc", "-cf", config_, "-wt", "producer"});
  ASSERT_EQ(produced.exit_code, 0) << produced.err;

  const std::string in_topic = "persistent://public/e2e/clicks_in";
  const std::string out_topic = "persistent://public/e2e/clicks_out";
  auto topics = embedded::open_topic_service((dir_ / "data").string());
  ASSERT_TRUE(topics) << topics.error().message();
  // Copies of two published messages around a garbage payload, in one send (one entry).
  auto insert_garbage = [&](const std::string& topic) {
    auto sub = (*topics)->subscribe(topic, {.subscription = "copy"});
    ASSERT_TRUE(sub) << sub.error().message();
    auto got = (*sub)->receive(2, std::chrono::milliseconds(1000));
    ASSERT_TRUE(got && got->size() == 2);
    std::vector<io::OutgoingMessage> send;
    send.emplace_back("mid", (*got)[0].payload, (*got)[0].event_time_ms);
    send.emplace_back("mid", std::string("\xff\xff\xff", 3), (*got)[0].event_time_ms);
    send.emplace_back("mid", (*got)[1].payload, (*got)[1].event_time_ms);
    auto producer = (*topics)->create_producer(topic);
    ASSERT_TRUE(producer) << producer.error().message();
    ASSERT_TRUE((*producer)->send(send).ok());
    ASSERT_TRUE((*sub)->close().ok());
  };
  auto expect_one_dead_letter = [&](const std::string& dlq_topic) {
    auto dlq = (*topics)->subscribe(dlq_topic, {.subscription = "check"});
    ASSERT_TRUE(dlq) << dlq.error().message();
    auto dead = (*dlq)->receive(10, std::chrono::milliseconds(500));
    ASSERT_TRUE(dead) << dead.error().message();
    ASSERT_EQ(dead->size(), 1u) << dlq_topic;
    const io::Message& m = (*dead)[0];
    EXPECT_EQ(m.payload, std::string("\xff\xff\xff", 3));
    std::map<std::string, std::string> props(m.properties.begin(), m.properties.end());
    EXPECT_EQ(props["tideline.dead_letter.reason"], "decode");
    EXPECT_NE(props["tideline.dead_letter.message"].find("offset"), std::string::npos)
        << props["tideline.dead_letter.message"];
    ASSERT_TRUE((*dlq)->close().ok());
  };

  ASSERT_NO_FATAL_FAILURE(insert_garbage(in_topic));
  auto proc = run({"main-proc", "-cf", config_, "-wt", "processor", "--idle-ms", "200"});
  ASSERT_EQ(proc.exit_code, 0) << proc.err;
  EXPECT_NE(proc.out.find(std::to_string(kRows + 2) + " rows in, " + std::to_string(kRows + 2) +
                          " rows out, 1 dead letters"),
            std::string::npos)
      << proc.out;
  EXPECT_EQ((*topics)->message_count(out_topic).value_or(-1), kRows + 2);
  ASSERT_NO_FATAL_FAILURE(expect_one_dead_letter(in_topic + "-tideline-processor-DLQ"));

  ASSERT_NO_FATAL_FAILURE(insert_garbage(out_topic));
  auto cons = run({"main-proc", "-cf", config_, "-wt", "consumer", "--idle-ms", "200"});
  ASSERT_EQ(cons.exit_code, 0) << cons.err;
  EXPECT_NE(cons.out.find(std::to_string(kRows + 4) + " rows in"), std::string::npos) << cons.out;
  ASSERT_NO_FATAL_FAILURE(expect_one_dead_letter(out_topic + "-tideline-consumer-DLQ"));
  // The copies carry their originals' keys: the table holds each input row once.
  auto count = run({"table", "count", "-cf", config_, "output"});
  EXPECT_EQ(count.out, std::to_string(kRows) + "\n");
}

TEST_F(EmbeddedPipeline, BadRowsAreReportedWithFileAndLineAndSkipped) {
  std::string csv = (dir_ / "bad.csv").string();
  ASSERT_EQ(run({"gen-eshop", "--rows", "50", "--out", csv}).exit_code, 0);
  {
    std::ofstream out(csv, std::ios::app);
    out << "2008,4,1,1,29,1,1,A1,1,1,1,30,1,1,1207008000000\n";            // line 51: 15 columns
    out << "2008,4,1,2,29,x9,1,A1,1,1,1,30,1,1,1207008001000,9000002\n";   // line 52: non-integer
    out << "2008,4,1,3,29,9,1,\"A1,1,1,1,30,1,1,1207008002000,9000003\n";  // line 53: open quote
  }
  auto r = run({"prep-env", "-cf", config_, "-ldr", "true", "-rsf", csv, "-ldn", "-1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("loaded 50, rejected 3"), std::string::npos) << r.out << r.err;
  for (const char* line : {":51", ":52", ":53"}) {
    EXPECT_NE(r.err.find(csv + line), std::string::npos) << line << "\n" << r.err;
  }
  auto count = run({"table", "count", "-cf", config_, "input"});
  EXPECT_EQ(count.out, "50\n");

  auto strict =
      run({"prep-env", "-cf", config_, "-ldr", "true", "-rsf", csv, "-ldn", "-1", "--strict"});
  EXPECT_EQ(strict.exit_code, 1) << strict.err;
}

TEST_F(EmbeddedPipeline, LoadRecNumLimitsTheLoadAndProducer) {
  std::string csv = (dir_ / "eshop.csv").string();
  ASSERT_EQ(run({"gen-eshop", "--rows", "300", "--out", csv}).exit_code, 0);
  auto prep = run({"prep-env", "-cf", config_, "-ldr", "true", "-rsf", csv, "-ldn", "120"});
  ASSERT_EQ(prep.exit_code, 0) << prep.err;
  EXPECT_NE(prep.out.find("loaded 120, rejected 0"), std::string::npos) << prep.out;
  auto prod = run({"main-proc", "-cf", config_, "-wt", "producer", "-ldn", "40"});
  ASSERT_EQ(prod.exit_code, 0) << prod.err;
  EXPECT_NE(prod.out.find("40 rows in"), std::string::npos) << prod.out;
}

// --rate paces the producer: 3,000 events at 2,000 per second cannot take less than 1.5 s
// (only the lower bound is a property; an upper bound would time the machine).
TEST_F(EmbeddedPipeline, ProducerRateLimitsPublishing) {
  std::string csv = (dir_ / "eshop.csv").string();
  ASSERT_EQ(run({"gen-eshop", "--rows", "3000", "--out", csv}).exit_code, 0);
  ASSERT_EQ(run({"prep-env", "-cf", config_, "-ldr", "true", "-rsf", csv, "-ldn", "-1"}).exit_code,
            0);
  auto t0 = std::chrono::steady_clock::now();
  auto prod = run({"main-proc", "-cf", config_, "-wt", "producer", "--rate", "2000"});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(prod.exit_code, 0) << prod.err;
  EXPECT_NE(prod.out.find("3000 rows in"), std::string::npos) << prod.out;
  EXPECT_GE(seconds, 1.45);
  auto bad = run({"main-proc", "-cf", config_, "-wt", "producer", "--rate", "-5"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

}  // namespace
}  // namespace tideline
