// End-to-end Fenl engine benchmark: generated events through engine::compile / Session.
//
//   fenl_e2e_bench [--events N] [--entities N] [--merchants N]
//
// Table T (N events, `entities` users, time-ordered, 10 days): time, user (i64), merchant
// (i64), amount (f64). Table M (N/10 events keyed by merchant). Prints one line per
// query and behaviour: input rows, output rows, seconds, and events per second.

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "common/time.h"
#include "engine/query.h"

using namespace tideline;

namespace {

struct Tables {
  Batch t;
  Batch m;
};

Tables generate(int64_t events, int64_t entities, int64_t merchants) {
  std::mt19937_64 rng(42);
  auto schema_t = DataType::record({{"time", DataType::of(TypeId::kTimestamp)},
                                    {"user", DataType::of(TypeId::kI64)},
                                    {"merchant", DataType::of(TypeId::kI64)},
                                    {"amount", DataType::of(TypeId::kF64)}});
  auto schema_m = DataType::record({{"time", DataType::of(TypeId::kTimestamp)},
                                    {"merchant", DataType::of(TypeId::kI64)},
                                    {"amount", DataType::of(TypeId::kF64)}});
  Tables out{Batch::empty(schema_t), Batch::empty(schema_m)};
  const int64_t start = 1'600'000'000LL * kNanosPerSecond;
  const int64_t span = 10 * kNanosPerDay;
  auto fill = [&](Batch& b, int64_t n, bool with_user) {
    for (auto& c : b.columns) c.reserve(n);
    for (int64_t i = 0; i < n; ++i) {
      size_t c = 0;
      b.columns[c++].append_int(start + span / n * i);
      if (with_user)
        b.columns[c++].append_int(static_cast<int64_t>(rng() % static_cast<uint64_t>(entities)));
      b.columns[c++].append_int(static_cast<int64_t>(rng() % static_cast<uint64_t>(merchants)));
      b.columns[c++].append_float(static_cast<double>(rng() % 10000) / 100.0);
    }
    b.num_rows = n;
  };
  fill(out.t, events, true);
  fill(out.m, std::max<int64_t>(1, events / 10), false);
  return out;
}

void run(const Tables& tables, const char* label, const std::string& query,
         engine::ResultBehavior behavior) {
  std::vector<engine::TableSpec> specs = {{"T", tables.t.schema, "time", "user", "", ""},
                                          {"M", tables.m.schema, "time", "merchant", "", ""}};
  engine::QueryOptions opts;
  engine::ResultOptions opts_r;
  opts_r.results = behavior;
  auto t0 = std::chrono::steady_clock::now();
  auto q = engine::compile(query, specs, {}, opts);
  if (!q) {
    std::fprintf(stderr, "%s: %s\n", label, q.error().message().c_str());
    return;
  }
  auto s = engine::start_session(*q);
  if (!s || !(*s)->add_input("T", tables.t).ok() || !(*s)->add_input("M", tables.m).ok()) {
    std::fprintf(stderr, "%s: session failed\n", label);
    return;
  }
  auto r = (*s)->finish(opts_r);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!r) {
    std::fprintf(stderr, "%s: %s\n", label, r.error().message().c_str());
    return;
  }
  std::printf("%-28s %-8s events=%lld rows_out=%lld seconds=%.3f events_per_sec=%.0f\n", label,
              behavior == engine::ResultBehavior::kFinal ? "final" : "history",
              static_cast<long long>(tables.t.num_rows), static_cast<long long>(r->num_rows), secs,
              static_cast<double>(tables.t.num_rows) / secs);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t events = 10'000'000, entities = 100'000, merchants = 1'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--events"))
      events = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--entities"))
      entities = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--merchants"))
      merchants = std::atoll(argv[i + 1]);
  }
  auto t0 = std::chrono::steady_clock::now();
  Tables tables = generate(events, entities, merchants);
  std::printf("generated %lld events, %lld entities in %.2fs\n", static_cast<long long>(events),
              static_cast<long long>(entities),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  const std::string sum = "{ total: sum(T.amount) }";
  run(tables, "sum", sum, engine::ResultBehavior::kHistory);
  run(tables, "sum", sum, engine::ResultBehavior::kFinal);
  run(tables, "windowed (since daily)",
      "{ daily: sum(T.amount, window = since(daily())), n: count(T) }",
      engine::ResultBehavior::kFinal);
  run(tables, "lookup (merchant total)",
      "{ spent: sum(T.amount), merchant: lookup(T.merchant, sum(M.amount)) }",
      engine::ResultBehavior::kHistory);
  return 0;
}
