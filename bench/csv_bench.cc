// CSV reader and typed-loader throughput on e-shop shaped rows (16 columns, ~70 bytes/row).
//   build-release/bench/csv_bench [--benchmark_filter=...]
// Counters: rows/s (items_per_second) and bytes/s.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "io/csv/csv.h"

namespace {

using tideline::DataType;
using tideline::Field;
using tideline::TypeId;
using namespace tideline::csv;

constexpr int64_t kRows = 1'000'000;

const std::string& eshop_text() {
  static const std::string text = [] {
    std::mt19937_64 rng(42);
    std::string s;
    s.reserve(kRows * 80);
    const char* colors[] = {"1", "2", "3",  "4",  "5",  "6",  "7",
                            "8", "9", "10", "11", "12", "13", "14"};
    for (int64_t i = 0; i < kRows; ++i) {
      int64_t ms = 1'207'000'000'000 + i * 1000;
      char buf[256];
      int n = std::snprintf(
          buf, sizeof buf, "2008,%d,%d,%lld,%d,%lld,%d,%c%d,%s,%d,%d,%d,%d,%d,%lld,%lld\n",
          static_cast<int>(4 + i % 5), static_cast<int>(1 + i % 28),
          static_cast<long long>(i % 40 + 1), static_cast<int>(rng() % 47),
          static_cast<long long>(i / 7), static_cast<int>(1 + rng() % 4), "ABCP"[rng() % 4],
          static_cast<int>(rng() % 60), colors[rng() % 14], static_cast<int>(1 + rng() % 6),
          static_cast<int>(1 + rng() % 2), static_cast<int>(18 + rng() % 70),
          static_cast<int>(1 + rng() % 2), static_cast<int>(1 + rng() % 5),
          static_cast<long long>(ms), static_cast<long long>((i / 7) * 1000 + i % 7));
      s.append(buf, static_cast<size_t>(n));
    }
    return s;
  }();
  return text;
}

tideline::TypePtr eshop_schema() {
  std::vector<Field> f;
  auto add = [&](const char* n, TypeId t) { f.push_back({n, DataType::of(t)}); };
  add("year", TypeId::kI32);
  add("month", TypeId::kI32);
  add("day", TypeId::kI32);
  add("order_seq", TypeId::kI32);
  add("country", TypeId::kI32);
  add("session", TypeId::kI32);
  add("category", TypeId::kI32);
  add("model", TypeId::kString);
  add("color", TypeId::kI32);
  add("location", TypeId::kI32);
  add("photography", TypeId::kI32);
  add("price", TypeId::kI32);
  add("price_ind", TypeId::kI32);
  add("page", TypeId::kI32);
  add("event_time", TypeId::kTimestamp);
  add("so_key", TypeId::kI64);
  return DataType::record(std::move(f));
}

const std::string& eshop_file() {
  static const std::string path = [] {
    auto p = (std::filesystem::temp_directory_path() / "tideline_csv_bench.csv").string();
    std::ofstream(p, std::ios::binary) << eshop_text();
    return p;
  }();
  return path;
}

void BM_CsvReaderString(benchmark::State& state) {
  const std::string& text = eshop_text();
  for (auto _ : state) {
    auto reader = CsvReader::from_string(text);
    CsvRow row;
    int64_t n = 0;
    while (reader->next(row).value()) n += static_cast<int64_t>(row.fields.size());
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations() * kRows);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_CsvReaderString)->Unit(benchmark::kMillisecond);

void BM_CsvReaderFile(benchmark::State& state) {
  const std::string& path = eshop_file();
  for (auto _ : state) {
    auto reader = CsvReader::open_file(path).value();
    CsvRow row;
    int64_t n = 0;
    while (reader->next(row).value()) n += static_cast<int64_t>(row.fields.size());
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations() * kRows);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(eshop_text().size()));
}
BENCHMARK(BM_CsvReaderFile)->Unit(benchmark::kMillisecond);

void BM_CsvLoadTypedFile(benchmark::State& state) {
  const std::string& path = eshop_file();
  auto schema = eshop_schema();
  for (auto _ : state) {
    auto reader = CsvReader::open_file(path).value();
    int64_t rows = 0;
    auto st = load_typed(
        *reader, schema, {},
        [&](tideline::Batch&& b) {
          rows += b.num_rows;
          return tideline::Status();
        },
        [](const RowError&) {});
    if (!st || rows != kRows) state.SkipWithError("load failed");
  }
  state.SetItemsProcessed(state.iterations() * kRows);
}
BENCHMARK(BM_CsvLoadTypedFile)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
