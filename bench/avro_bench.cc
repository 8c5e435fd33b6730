// Avro datum codec throughput on the e-shop input schema (16 nullable fields).
//   build-release/bench/avro_bench
// items_per_second = records/s.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "common/time.h"
#include "io/avro/avro.h"

namespace {

using tideline::Batch;
using tideline::avro::Codec;

constexpr const char* kEshopSchema = R"({"type":"record","name":"EshopEvent","namespace":"tideline",
 "fields":[
  {"name":"year","type":["null","int"]},{"name":"month","type":["null","int"]},
  {"name":"day","type":["null","int"]},{"name":"order_seq","type":["null","int"]},
  {"name":"country","type":["null","int"]},{"name":"session","type":["null","int"]},
  {"name":"category","type":["null","int"]},{"name":"model","type":["null","string"]},
  {"name":"color","type":["null","int"]},{"name":"location","type":["null","int"]},
  {"name":"photography","type":["null","int"]},{"name":"price","type":["null","int"]},
  {"name":"price_ind","type":["null","int"]},{"name":"page","type":["null","int"]},
  {"name":"event_time","type":["null",{"type":"long","logicalType":"timestamp-millis"}]},
  {"name":"so_key","type":["null","long"]}]})";

constexpr int64_t kRecords = 100'000;

const std::shared_ptr<const Codec>& codec() {
  static const auto c = Codec::make(kEshopSchema).value();
  return c;
}

// A batch of e-shop shaped rows.
const Batch& source_batch() {
  static const Batch b = [] {
    Batch out = Batch::empty(codec()->type());
    std::mt19937_64 rng(42);
    for (int64_t i = 0; i < kRecords; ++i) {
      auto& c = out.columns;
      c[0].append_int(2008);
      c[1].append_int(4 + i % 5);
      c[2].append_int(1 + i % 28);
      c[3].append_int(1 + i % 40);
      c[4].append_int(static_cast<int64_t>(rng() % 47));
      c[5].append_int(i / 7);
      c[6].append_int(1 + static_cast<int64_t>(rng() % 4));
      std::string model = std::string(1, "ABCP"[rng() % 4]) + std::to_string(rng() % 60);
      c[7].append_string(model);
      c[8].append_int(1 + static_cast<int64_t>(rng() % 14));
      c[9].append_int(1 + static_cast<int64_t>(rng() % 6));
      c[10].append_int(1 + static_cast<int64_t>(rng() % 2));
      c[11].append_int(18 + static_cast<int64_t>(rng() % 70));
      c[12].append_int(1 + static_cast<int64_t>(rng() % 2));
      c[13].append_int(1 + static_cast<int64_t>(rng() % 5));
      c[14].append_int((1'207'000'000'000 + i * 1000) * tideline::kNanosPerMilli);
      if (i % 10 == 0)
        c[15].append_null();
      else
        c[15].append_int((i / 7) * 1000 + i % 7);
      ++out.num_rows;
    }
    return out;
  }();
  return b;
}

const std::vector<std::string>& payloads() {
  static const std::vector<std::string> p = [] {
    std::vector<std::string> out;
    out.reserve(kRecords);
    for (int64_t i = 0; i < kRecords; ++i) {
      std::string s;
      if (!codec()->encode_row(source_batch(), i, s).ok()) std::abort();
      out.push_back(std::move(s));
    }
    return out;
  }();
  return p;
}

void BM_AvroDecodeEshop(benchmark::State& state) {
  const auto& ps = payloads();
  const auto& c = *codec();
  for (auto _ : state) {
    Batch b = Batch::empty(c.type());
    for (auto& col : b.columns) col.reserve(kRecords);
    for (const auto& p : ps) {
      if (!c.decode_into(p, b).ok()) state.SkipWithError("decode failed");
    }
    benchmark::DoNotOptimize(b.num_rows);
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
}
BENCHMARK(BM_AvroDecodeEshop)->Unit(benchmark::kMillisecond);

void BM_AvroEncodeEshop(benchmark::State& state) {
  const Batch& b = source_batch();
  const auto& c = *codec();
  std::string out;
  for (auto _ : state) {
    for (int64_t i = 0; i < kRecords; ++i) {
      out.clear();
      if (!c.encode_row(b, i, out).ok()) state.SkipWithError("encode failed");
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
}
BENCHMARK(BM_AvroEncodeEshop)->Unit(benchmark::kMillisecond);

// The columnar decode the pipeline's stages use (Codec::decode_batch), 4096 records per call
// as the processor receives them.
void BM_AvroDecodeBatchEshop(benchmark::State& state) {
  const auto& ps = payloads();
  const auto& c = *codec();
  const std::vector<std::string_view> views(ps.begin(), ps.end());
  std::vector<tideline::avro::DecodeError> errors;
  constexpr size_t kCall = 4096;
  for (auto _ : state) {
    Batch b = Batch::empty(c.type());
    for (auto& col : b.columns) col.reserve(kRecords);
    for (size_t from = 0; from < views.size(); from += kCall) {
      const size_t n = std::min(kCall, views.size() - from);
      if (!c.decode_batch(std::span(views).subspan(from, n), b, errors).ok() || !errors.empty())
        state.SkipWithError("decode failed");
    }
    benchmark::DoNotOptimize(b.num_rows);
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
}
BENCHMARK(BM_AvroDecodeBatchEshop)->Unit(benchmark::kMillisecond);

// The columnar encode (Codec::encode_batch) of the whole batch.
void BM_AvroEncodeBatchEshop(benchmark::State& state) {
  const Batch& b = source_batch();
  const auto& c = *codec();
  tideline::avro::EncodedRows out;
  for (auto _ : state) {
    if (!c.encode_batch(b, out).ok()) state.SkipWithError("encode failed");
    benchmark::DoNotOptimize(out.bytes.data());
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
}
BENCHMARK(BM_AvroEncodeBatchEshop)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
