// Throughput of the embedded SQLite backends: topic publish, consume+acknowledge, table
// upsert and scan. Messages carry ~200-byte payloads.
//   cmake -S . -B build-embedded/release -G Ninja -DCMAKE_BUILD_TYPE=Release
//   ninja -C build-embedded/release embedded_bench && build-embedded/release/bench/embedded_bench
#include <benchmark/benchmark.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "io/embedded/embedded.h"

namespace tideline::embedded {
namespace {

using namespace std::chrono_literals;
constexpr std::string_view kTopic = "persistent://public/default/bench";

class ScratchDir {
 public:
  explicit ScratchDir(std::string_view tag) {
    path_ = (std::filesystem::temp_directory_path() /
             ("tideline-bench-" + std::string(tag) + "-" + std::to_string(getpid())))
                .string();
    std::filesystem::remove_all(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<io::OutgoingMessage> make_batch(int n, int64_t first) {
  std::vector<io::OutgoingMessage> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = first; i < first + n; ++i) {
    std::string payload(200, 'x');
    std::string id = std::to_string(i);
    payload.replace(0, id.size(), id);
    out.push_back({"user-" + std::to_string(i % 1000), std::move(payload), 1'600'000'000'000 + i});
  }
  return out;
}

void BM_TopicPublish(benchmark::State& state) {
  ScratchDir dir("publish");
  auto svc = std::move(*open_topic_service(dir.path()));
  (void)svc->create_partitioned_topic(kTopic, 4);
  auto producer = std::move(*svc->create_producer(kTopic));
  const int batch = static_cast<int>(state.range(0));
  auto msgs = make_batch(batch, 0);
  for (auto _ : state) {
    Status st = producer->send(msgs);
    if (!st.ok()) state.SkipWithError(st.to_string().c_str());
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.SetBytesProcessed(state.iterations() * batch * 200);
}
BENCHMARK(BM_TopicPublish)
    ->Arg(100)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_TopicConsumeAck(benchmark::State& state) {
  ScratchDir dir("consume");
  auto svc = std::move(*open_topic_service(dir.path()));
  (void)svc->create_partitioned_topic(kTopic, 4);
  auto producer = std::move(*svc->create_producer(kTopic));
  int64_t published = 0;
  auto publish = [&](int64_t n) {
    for (int64_t i = 0; i < n; i += 10000) {
      (void)producer->send(make_batch(10000, published));
      published += 10000;
    }
  };
  publish(500'000);
  auto consumer = std::move(*svc->subscribe(
      kTopic, {"bench", io::SubscriptionType::kExclusive, io::InitialPosition::kEarliest}));
  const auto batch = static_cast<size_t>(state.range(0));
  int64_t consumed = 0;
  std::vector<io::MessageId> ids;
  for (auto _ : state) {
    auto got = consumer->receive(batch, 0ms);
    if (!got) {
      state.SkipWithError(got.error().to_string().c_str());
      break;
    }
    if (got->empty()) {
      state.PauseTiming();
      publish(200'000);
      state.ResumeTiming();
      continue;
    }
    ids.clear();
    for (const auto& m : *got) ids.push_back(m.id);
    Status st = consumer->acknowledge(ids);
    if (!st.ok()) state.SkipWithError(st.to_string().c_str());
    consumed += static_cast<int64_t>(got->size());
  }
  state.SetItemsProcessed(consumed);
}
BENCHMARK(BM_TopicConsumeAck)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

// A producer process and a consumer process on the same data directory at once (the embedded
// pipeline's shape): time until the consumer has received and acknowledged everything.
void BM_TopicProducerConsumerProcesses(benchmark::State& state) {
  constexpr int64_t kMessages = 300'000;
  constexpr int kBatch = 1000;
  for (auto _ : state) {
    ScratchDir dir("processes");
    {
      auto svc = std::move(*open_topic_service(dir.path()));
      (void)svc->create_partitioned_topic(kTopic, 4);
    }  // no connection open across fork()
    pid_t child = fork();
    if (child == 0) {
      auto svc = std::move(*open_topic_service(dir.path()));
      auto producer = std::move(*svc->create_producer(kTopic));
      for (int64_t i = 0; i < kMessages; i += kBatch) {
        if (!producer->send(make_batch(kBatch, i)).ok()) _exit(1);
      }
      _exit(0);
    }
    if (state.range(0) == 0) {  // baseline: the producer process alone
      int status = 0;
      waitpid(child, &status, 0);
      continue;
    }
    auto svc = std::move(*open_topic_service(dir.path()));
    auto consumer = std::move(*svc->subscribe(
        kTopic, {"bench", io::SubscriptionType::kExclusive, io::InitialPosition::kEarliest}));
    int64_t consumed = 0;
    std::vector<io::MessageId> ids;
    while (consumed < kMessages) {
      auto got = consumer->receive(kBatch, 5s);
      if (!got || got->empty()) {
        state.SkipWithError("consumer timed out");
        break;
      }
      ids.clear();
      for (const auto& m : *got) ids.push_back(m.id);
      if (!consumer->acknowledge(ids).ok()) state.SkipWithError("ack failed");
      consumed += static_cast<int64_t>(got->size());
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) state.SkipWithError("producer failed");
  }
  state.SetItemsProcessed(state.iterations() * kMessages);
}
BENCHMARK(BM_TopicProducerConsumerProcesses)
    ->ArgName("with_consumer")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

Batch make_rows(int64_t n, int64_t first) {
  Batch b = Batch::empty(DataType::record({{"so_key", DataType::of(TypeId::kI64)},
                                           {"event_time", DataType::of(TypeId::kTimestamp)},
                                           {"amount", DataType::of(TypeId::kF64)},
                                           {"name", DataType::of(TypeId::kString)}}));
  for (int64_t i = first; i < first + n; ++i) {
    b.columns[0].append_int(i);
    b.columns[1].append_int(i * 1'000'000'000);
    b.columns[2].append_float(static_cast<double>(i) * 0.5);
    b.columns[3].append_string("name-" + std::to_string(i % 977));
  }
  b.num_rows = n;
  return b;
}

constexpr std::string_view kTable =
    "CREATE TABLE IF NOT EXISTS ks.t (so_key bigint, event_time timestamp, amount double, "
    "name text, PRIMARY KEY ((so_key)))";

void BM_TableUpsert(benchmark::State& state) {
  ScratchDir dir("upsert");
  auto store = std::move(*open_table_store(dir.path()));
  (void)store->execute_ddl(kTable);
  const int64_t n = state.range(0);
  int64_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Batch rows = make_rows(n, next % 1'000'000);  // mixes inserts and replacements
    next += n;
    state.ResumeTiming();
    Status st = store->upsert("ks", "t", rows);
    if (!st.ok()) state.SkipWithError(st.to_string().c_str());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_TableUpsert)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_TableScan(benchmark::State& state) {
  ScratchDir dir("scan");
  auto store = std::move(*open_table_store(dir.path()));
  (void)store->execute_ddl(kTable);
  for (int64_t i = 0; i < 200'000; i += 20'000)
    (void)store->upsert("ks", "t", make_rows(20'000, i));
  int64_t rows = 0;
  for (auto _ : state) {
    Status st = store->scan("ks", "t", -1, 4096, [&](Batch&& b) -> Status {
      rows += b.num_rows;
      return {};
    });
    if (!st.ok()) state.SkipWithError(st.to_string().c_str());
  }
  state.SetItemsProcessed(rows);
}
BENCHMARK(BM_TableScan)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace tideline::embedded

BENCHMARK_MAIN();
