// Google Benchmark for the Fenl engine's hot kernels: element-wise arithmetic, gather,
// entity-key hashing, and whole-plan evaluation of a per-entity aggregation.

#include <benchmark/benchmark.h>

#include <random>

#include "engine/kernels.h"
#include "engine/query.h"
#include "fenl/types.h"

using namespace tideline;

namespace {

Column f64_column(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Column c = engine::alloc_column(DataType::of(TypeId::kF64), n);
  for (auto& v : c.floats()) v = static_cast<double>(rng() % 1000);
  return c;
}

void BM_AddF64(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::vector<Column> args = {f64_column(n, 1), f64_column(n, 2)};
  auto f = fenl::Type::of(fenl::Kind::kF64);
  for (auto _ : state) {
    auto r = engine::call_kernel("add", args, {f, f}, *f);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_AddF64)->Arg(1 << 20);

void BM_Gather(benchmark::State& state) {
  const int64_t n = state.range(0);
  Column c = f64_column(n, 3);
  std::vector<int32_t> idx(static_cast<size_t>(n));
  std::mt19937 rng(4);
  for (auto& i : idx) i = static_cast<int32_t>(rng() % static_cast<uint32_t>(n));
  for (auto _ : state) benchmark::DoNotOptimize(engine::gather(c, idx));
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Gather)->Arg(1 << 20);

void BM_HashI64(benchmark::State& state) {
  const int64_t n = state.range(0);
  Column c = engine::alloc_column(DataType::of(TypeId::kI64), n);
  for (int64_t i = 0; i < n; ++i) c.ints()[static_cast<size_t>(i)] = i * 7919;
  for (auto _ : state)
    benchmark::DoNotOptimize(engine::hash_column(c, *fenl::Type::of(fenl::Kind::kI64)));
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_HashI64)->Arg(1 << 20);

// Whole pipeline for one aggregation: table preparation, per-entity sum, output.
void BM_SumPerEntity(benchmark::State& state) {
  const int64_t n = state.range(0), entities = state.range(1);
  auto schema = DataType::record({{"time", DataType::of(TypeId::kTimestamp)},
                                  {"key", DataType::of(TypeId::kI64)},
                                  {"amount", DataType::of(TypeId::kF64)}});
  Batch b = Batch::empty(schema);
  std::mt19937_64 rng(5);
  for (int64_t i = 0; i < n; ++i) {
    b.columns[0].append_int(i * 1000);
    b.columns[1].append_int(static_cast<int64_t>(rng() % static_cast<uint64_t>(entities)));
    b.columns[2].append_float(static_cast<double>(rng() % 100));
  }
  b.num_rows = n;
  engine::QueryOptions opts;
  engine::ResultOptions opts_r;
  opts_r.results = engine::ResultBehavior::kFinal;
  auto q = engine::compile("{ total: sum(T.amount), n: count(T) }",
                           {{"T", schema, "time", "key", "", ""}}, {}, opts);
  for (auto _ : state) {
    auto s = engine::start_session(*q);
    (void)(*s)->add_input("T", b);
    benchmark::DoNotOptimize((*s)->finish(opts_r));
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_SumPerEntity)->Args({1 << 20, 10'000})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
