// Incremental engine throughput: events fed to one Session in batches, with an advance()
// after each batch (the processor's loop), and the per-batch cost early vs late in the run
// (it must not grow with the history already processed).
//
//   incremental_bench [--events N] [--batch B[,B...]] [--query sessions|monthly|both]
//
// sessions: examples/eshop/session_features.fenl over generated clicks (sessions of ~10
//           clicks, ~2,000 sessions open at a time, one entity per session).
// monthly:  { s: sum(T.amount, window=since(monthly())), n: count(T) } over purchases by
//           100,000 users spread over two years.
// Reported per run: events/s on one core (wall clock of push + advance only: generating
// the input and building batches are outside the clock), microseconds per batch over the
// first and the last tenth of the run, output rows, and the snapshot size at the end
// (bytes per entity).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/time.h"
#include "engine/kernels.h"
#include "engine/query.h"

using namespace tideline;

namespace {

struct Input {
  engine::TableSpec spec;
  Batch batch;
  std::string query;
  int64_t entities = 0;
};

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Input sessions(int64_t n) {
  auto schema = DataType::record({{"event_time", DataType::of(TypeId::kTimestamp)},
                                  {"so_key", DataType::of(TypeId::kI64)},
                                  {"session", DataType::of(TypeId::kI32)},
                                  {"category", DataType::of(TypeId::kI32)},
                                  {"model", DataType::of(TypeId::kString)},
                                  {"price", DataType::of(TypeId::kI32)}});
  Input in{{"kasTblInput", schema, "event_time", "so_key", "", ""}, Batch::empty(schema), "", 0};
  std::mt19937_64 rng(7);
  const int64_t open = 2000;
  std::vector<int64_t> active(open), left(open);
  int64_t next_session = 0;
  for (int64_t k = 0; k < open; ++k) {
    active[static_cast<size_t>(k)] = next_session++;
    left[static_cast<size_t>(k)] = 1 + static_cast<int64_t>(rng() % 20);
  }
  for (auto& c : in.batch.columns) c.reserve(n);
  const int64_t t0 = 1'640'995'200LL * kNanosPerSecond;
  char model[8];
  for (int64_t i = 0; i < n; ++i) {
    size_t k = static_cast<size_t>(rng() % open);
    in.batch.columns[0].append_int(t0 + i * (kNanosPerSecond / 1000));
    in.batch.columns[1].append_int(i);
    in.batch.columns[2].append_int(active[k]);
    in.batch.columns[3].append_int(1 + static_cast<int64_t>(rng() % 4));
    std::snprintf(model, sizeof model, "%c%d", "ABCP"[rng() % 4], static_cast<int>(rng() % 80));
    in.batch.columns[4].append_string(model);
    in.batch.columns[5].append_int(20 + static_cast<int64_t>(rng() % 60));
    if (--left[k] == 0) {
      active[k] = next_session++;
      left[k] = 1 + static_cast<int64_t>(rng() % 20);
    }
  }
  in.batch.num_rows = n;
  in.entities = next_session;
  in.query = read_file(std::string(TIDELINE_SOURCE_DIR) + "/examples/eshop/session_features.fenl");
  return in;
}

Input monthly(int64_t n) {
  auto schema = DataType::record({{"time", DataType::of(TypeId::kTimestamp)},
                                  {"user", DataType::of(TypeId::kI64)},
                                  {"amount", DataType::of(TypeId::kF64)}});
  Input in{{"T", schema, "time", "user", "", ""}, Batch::empty(schema), "", 100'000};
  std::mt19937_64 rng(11);
  for (auto& c : in.batch.columns) c.reserve(n);
  const int64_t t0 = 1'577'836'800LL * kNanosPerSecond;
  const int64_t span = 730 * kNanosPerDay;
  for (int64_t i = 0; i < n; ++i) {
    in.batch.columns[0].append_int(t0 + span / n * i);
    in.batch.columns[1].append_int(static_cast<int64_t>(rng() % 100'000));
    in.batch.columns[2].append_float(static_cast<double>(rng() % 10000) / 100.0);
  }
  in.batch.num_rows = n;
  in.query = "{ s: sum(T.amount, window=since(monthly())), n: count(T) }";
  return in;
}

Batch slice(const Batch& b, int64_t from, int64_t to) {
  std::vector<int32_t> idx(static_cast<size_t>(to - from));
  for (int64_t i = from; i < to; ++i) idx[static_cast<size_t>(i - from)] = static_cast<int32_t>(i);
  Batch out;
  out.schema = b.schema;
  for (const auto& c : b.columns) out.columns.push_back(engine::gather(c, idx));
  out.num_rows = to - from;
  return out;
}

int run(const char* label, const Input& in, int64_t batch) {
  auto q = engine::compile(in.query, {in.spec}, {}, {});
  if (!q) {
    std::fprintf(stderr, "%s: %s\n", label, q.error().message().c_str());
    return 1;
  }
  auto s = engine::start_session(*q);
  const int64_t n = in.batch.num_rows;
  const size_t tcol = static_cast<size_t>(in.batch.schema->field_index(in.spec.time_column));
  // Batches are cut before the clock starts.
  std::vector<Batch> parts;
  std::vector<int64_t> marks;  // watermark after each batch: the next batch's first time
  for (int64_t i = 0; i < n; i += batch) {
    int64_t j = std::min(n, i + batch);
    parts.push_back(slice(in.batch, i, j));
    marks.push_back(j < n ? in.batch.columns[tcol].int_at(j) : engine::Session::kEndOfTime);
  }
  std::vector<double> per_batch(parts.size());
  int64_t out_rows = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t k = 0; k < parts.size(); ++k) {
    auto b0 = std::chrono::steady_clock::now();
    Status st = (*s)->push(in.spec.name, std::move(parts[k]));
    if (!st.ok()) {
      std::fprintf(stderr, "%s: %s\n", label, st.message().c_str());
      return 1;
    }
    auto r = marks[k] == engine::Session::kEndOfTime ? (*s)->finish() : (*s)->advance(marks[k]);
    if (!r) {
      std::fprintf(stderr, "%s: %s\n", label, r.error().message().c_str());
      return 1;
    }
    out_rows += r->num_rows;
    per_batch[k] =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - b0).count();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  size_t tenth = std::max<size_t>(1, parts.size() / 10);
  auto mean = [&](size_t from, size_t to) {
    double sum = 0;
    for (size_t k = from; k < to; ++k) sum += per_batch[k];
    return sum / static_cast<double>(to - from);
  };
  // Per-batch cost early and late (the last batch, which ends the input, is left out).
  size_t last = parts.size() > 1 ? parts.size() - 1 : parts.size();
  double early = mean(0, std::min(tenth, last));
  double late = mean(last > tenth ? last - tenth : 0, last);
  // State size at the end of the stream (before the final batch would end it): measured on
  // a session fed the same input up to the last batch.
  std::printf(
      "%-9s events=%lld batch=%lld: %.0f events/s, %.3f s, us/batch first 10%% %.1f, last 10%% "
      "%.1f, rows out %lld\n",
      label, static_cast<long long>(n), static_cast<long long>(batch),
      static_cast<double>(n) / secs, secs, early, late, static_cast<long long>(out_rows));
  return 0;
}

// Snapshot size after all but the end of input.
void state_size(const char* label, const Input& in) {
  auto q = engine::compile(in.query, {in.spec}, {}, {});
  auto s = engine::start_session(*q);
  Batch all = in.batch;
  const size_t tcol = static_cast<size_t>(in.batch.schema->field_index(in.spec.time_column));
  int64_t last_t = in.batch.columns[tcol].int_at(in.batch.num_rows - 1);
  (void)(*s)->push(in.spec.name, std::move(all));
  (void)(*s)->advance(last_t + 1);
  auto bytes = (*s)->snapshot();
  if (!bytes) return;
  std::printf("%-9s snapshot after %lld events: %zu bytes, %lld entities, %.1f bytes/entity\n",
              label, static_cast<long long>(in.batch.num_rows), bytes->size(),
              static_cast<long long>(in.entities),
              static_cast<double>(bytes->size()) / static_cast<double>(in.entities));
}

}  // namespace

int main(int argc, char** argv) {
  int64_t events = 1'000'000;
  std::vector<int64_t> batches{1000, 10000, 100000};
  std::string which = "both";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--events")) {
      events = std::atoll(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--batch")) {
      batches.clear();
      std::stringstream ss(argv[i + 1]);
      std::string tok;
      while (std::getline(ss, tok, ',')) batches.push_back(std::atoll(tok.c_str()));
    } else if (!std::strcmp(argv[i], "--query")) {
      which = argv[i + 1];
    } else {
      std::fprintf(stderr,
                   "usage: incremental_bench [--events N] [--batch B,...] [--query "
                   "sessions|monthly|both]\n");
      return 2;
    }
  }
  int rc = 0;
  if (which == "sessions" || which == "both") {
    Input in = sessions(events);
    for (int64_t b : batches) rc |= run("sessions", in, b);
    state_size("sessions", in);
  }
  if (which == "monthly" || which == "both") {
    Input in = monthly(events);
    for (int64_t b : batches) rc |= run("monthly", in, b);
    state_size("monthly", in);
  }
  return rc;
}
