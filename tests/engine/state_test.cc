// Engine state snapshots (Session::snapshot / restore, docs/formats/engine-state.md), per
// operator family: an aggregation of every accumulator kind (count, count_if, integer and
// float sum/min/max, mean, variance, stddev, first/last, sliding and since windows), lag,
// shift_to, shift_by, shift_until, a tick window since(daily()), lookup across groupings and
// with_key. For each: an empty session's snapshot, one entity, null keys, a snapshot after
// every row, deterministic bytes, refusal of another query's snapshot, truncated and
// corrupted snapshots; then the input-order rules of push/advance, and one query over a
// million entities (prints the snapshot size per entity; 100,000 under sanitizers).
//
// Seeds (tests/engine/seeds.h): OneEntity, NullKeys and SnapshotAfterEveryRow run 3 data sets
// (1 under sanitizers), or TIDELINE_EQUIVALENCE_SEEDS of them for a soak, e.g.
//   TIDELINE_EQUIVALENCE_SEEDS=100 build/tests/engine_tests --gtest_filter='*StateFamily*'

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>

#include "engine/equivalence.h"
#include "engine/seeds.h"
#include "fenl/hash.h"
#include "io/topic.h"

namespace tideline::engine {
namespace {

constexpr int64_t kT0 = 1'609'459'200'000'000'000LL;  // 2021-01-01T00:00:00Z
constexpr int64_t kHour = 3'600'000'000'000LL;

TypePtr t_schema() {
  return DataType::record({{"ts", DataType::of(TypeId::kTimestamp)},
                           {"key", DataType::of(TypeId::kString)},
                           {"n", DataType::of(TypeId::kI64)},
                           {"x", DataType::of(TypeId::kF64)},
                           {"flag", DataType::of(TypeId::kBool)},
                           {"s", DataType::of(TypeId::kString)},
                           {"ref", DataType::of(TypeId::kString)}});
}

TypePtr u_schema() {
  return DataType::record({{"ts", DataType::of(TypeId::kTimestamp)},
                           {"item", DataType::of(TypeId::kString)},
                           {"price", DataType::of(TypeId::kI64)}});
}

struct DataShape {
  int rows = 40;
  int keys = 4;            // distinct non-null keys of T (1: one entity)
  bool null_keys = false;  // some rows of T (and U, and T.ref) have a null key
};

// T (grouping T) and U (grouping `items`, keyed by item; T.ref names items). Times step by 0,
// 6, 12 or 18 hours, so rows share times and days have several rows and ticks fall between.
std::vector<TableInput> make_tables(uint32_t seed, DataShape shape) {
  std::mt19937 rng(seed);
  const char* items[] = {"i0", "i1", "i2", "i3"};
  const char* strs[] = {"a", "", "Wörld", "{\"x\":1}"};
  Batch t = Batch::empty(t_schema());
  int64_t time = kT0;
  for (int i = 0; i < shape.rows; ++i) {
    time += static_cast<int64_t>(rng() % 4) * 6 * kHour;
    t.columns[0].append_int(time);
    if (shape.null_keys && rng() % 3 == 0)
      t.columns[1].append_null();
    else
      t.columns[1].append_string("k" + std::to_string(rng() % static_cast<uint32_t>(shape.keys)));
    if (rng() % 5)
      t.columns[2].append_int(static_cast<int64_t>(rng() % 21) - 10);
    else
      t.columns[2].append_null();
    if (rng() % 5)
      t.columns[3].append_float(static_cast<double>(rng() % 100) / 8.0 - 3.0);
    else
      t.columns[3].append_null();
    if (rng() % 4)
      t.columns[4].append_int(rng() % 3 == 0);
    else
      t.columns[4].append_null();
    t.columns[5].append_string(strs[rng() % 4]);
    if (shape.null_keys && rng() % 4 == 0)
      t.columns[6].append_null();
    else
      t.columns[6].append_string(items[rng() % 4]);
  }
  t.num_rows = shape.rows;
  Batch u = Batch::empty(u_schema());
  time = kT0;
  for (int i = 0; i < shape.rows / 2; ++i) {
    time += static_cast<int64_t>(rng() % 4) * 9 * kHour;
    u.columns[0].append_int(time);
    if (shape.null_keys && rng() % 4 == 0)
      u.columns[1].append_null();
    else
      u.columns[1].append_string(items[rng() % 4]);
    u.columns[2].append_int(static_cast<int64_t>(rng() % 100));
  }
  u.num_rows = shape.rows / 2;
  return {{{"T", t_schema(), "ts", "key", "", ""}, std::move(t)},
          {{"U", u_schema(), "ts", "item", "", "items"}, std::move(u)}};
}

struct Family {
  const char* name;
  const char* query;
};

const std::vector<Family>& families() {
  static const std::vector<Family> f = {
      {"aggregation",
       "{ c: count(T), ci: count_if(T.flag), s: sum(T.n), sx: sum(T.x), mn: min(T.n), "
       "mx: max(T.x), mnx: min(T.x), mxn: max(T.n), me: mean(T.x), v: variance(T.x), "
       "sd: stddev(T.n), f: first(T.s), l: last(T.n), lr: last(T), "
       "sl: sum(T.n, window = sliding(3, T.flag)), ml: mean(T.x, window = sliding(2, "
       "is_valid(T))), "
       "ss: sum(T.n, window = since(T.flag)), cs: count(T, window = since(T.flag)) }"},
      {"lag", "{ l1: T.n | lag(1), l2: lag(2, T.s), l3: lag(3, T.x) }"},
      {"shift_to", "{ n: T.n, s: T.s } | shift_to(add_time(seconds(25200), time_of($input)))"},
      {"shift_by", "{ n: T.n, c: count(T) } | shift_by(seconds(90000))"},
      {"shift_until", "{ n: T.n, s: T.s } | shift_until(T.flag)"},
      {"tick",
       "{ d: sum(T.n, window = since(daily())), c: count(T, window = since(daily())), "
       "l: last(T.s, window = since(daily())) }"},
      {"lookup",
       "{ ref: T.ref, p: lookup(T.ref, last(U.price)), raw: lookup(T.ref, U.price), "
       "n: lookup(T.ref, count(U)) }"},
      {"with_key",
       "T | with_key($input.ref) | { n: count($input), total: sum($input.n), l: lag(1, $input.x) "
       "}"},
      {"with_key_lookup",
       "{ v: lookup(T.ref, T | with_key(T.ref, grouping = 'items') | count()) }"},
  };
  return f;
}

std::shared_ptr<const CompiledQuery> compile_family(const std::string& query,
                                                    const std::vector<TableInput>& tables) {
  std::vector<TableSpec> specs;
  for (const auto& t : tables) specs.push_back(t.spec);
  auto q = compile(query, specs, {}, {});
  EXPECT_TRUE(q) << q.error().message();
  return q ? *q : nullptr;
}

std::unique_ptr<Session> session(const std::shared_ptr<const CompiledQuery>& q) {
  auto s = start_session(q);
  EXPECT_TRUE(s);
  return std::move(*s);
}

Batch run_batch(const std::shared_ptr<const CompiledQuery>& q,
                const std::vector<TableInput>& tables, const ResultOptions& ro = {}) {
  auto s = session(q);
  for (const auto& t : tables) EXPECT_TRUE(s->add_input(t.spec.name, t.batch).ok());
  auto r = s->finish(ro);
  EXPECT_TRUE(r) << r.error().message();
  return r ? std::move(*r) : Batch{};
}

// Collects the result batches of a sequence of calls: history rows in order, final rows
// upserted by key (without their time, which is the call's own).
struct Collected {
  std::vector<std::string> history;
  std::map<std::string, std::string> final;
  void add(const Batch& b) {
    for (auto& r : result_rows(b)) history.push_back(r);
    for (int64_t i = 0; i < b.num_rows; ++i) {
      std::string row;
      for (size_t c = 2; c < b.columns.size(); ++c) row += cell_text(b.columns[c], i) + "|";
      final[cell_text(b.columns[1], i)] = row;
    }
  }
};

// "" when `got` holds `want`'s rows (history) / `want`'s latest rows per key (final).
std::string compare(const Batch& want, const Collected& got, ResultBehavior rb) {
  Collected w;
  w.add(want);
  if (rb == ResultBehavior::kHistory) {
    if (w.history == got.history) return "";
    for (size_t i = 0; i < std::max(w.history.size(), got.history.size()); ++i) {
      std::string a = i < w.history.size() ? w.history[i] : "<none>";
      std::string b = i < got.history.size() ? got.history[i] : "<none>";
      if (a != b)
        return "history: batch " + std::to_string(w.history.size()) + " rows, incremental " +
               std::to_string(got.history.size()) + "; row " + std::to_string(i) + ": batch " + a +
               " vs incremental " + b;
    }
  }
  if (w.final == got.final) return "";
  return "final: batch " + std::to_string(w.final.size()) + " entities, incremental " +
         std::to_string(got.final.size());
}

// The rows of all tables in time order (stable: a table's rows keep their order).
struct RowRef {
  size_t table;
  int64_t row;
  int64_t time;
};
std::vector<RowRef> rows_in_time_order(const std::vector<TableInput>& tables) {
  std::vector<RowRef> out;
  for (size_t t = 0; t < tables.size(); ++t) {
    auto times = batch_times(tables[t]);
    for (int64_t r = 0; r < tables[t].batch.num_rows; ++r)
      out.push_back({t, r, times[static_cast<size_t>(r)]});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const RowRef& a, const RowRef& b) { return a.time < b.time; });
  return out;
}

// Feeds the rows one at a time in time order; after each: advance to the row's time,
// snapshot, destroy the session and restore a new one. The results must be the batch's.
std::string every_row_round_trip(const std::string& query, const std::vector<TableInput>& tables,
                                 ResultBehavior rb, int* snapshots = nullptr) {
  auto q = compile_family(query, tables);
  if (!q) return "compile failed";
  ResultOptions ro;
  ro.results = rb;
  Batch want = run_batch(q, tables, ro);
  Collected got;
  auto s = session(q);
  for (const RowRef& r : rows_in_time_order(tables)) {
    Status st =
        s->push(tables[r.table].spec.name, slice_rows(tables[r.table].batch, r.row, r.row + 1));
    if (!st.ok()) return "push: " + st.message();
    auto out = s->advance(r.time, ro);
    if (!out) return "advance: " + out.error().message();
    got.add(*out);
    auto bytes = s->snapshot();
    if (!bytes) return "snapshot: " + bytes.error().message();
    s = session(q);
    st = s->restore(*bytes);
    if (!st.ok()) return "restore: " + st.message();
    if (snapshots) ++*snapshots;
  }
  auto last = s->finish(ro);
  if (!last) return "finish: " + last.error().message();
  got.add(*last);
  return compare(want, got, rb);
}

// A snapshot taken midway through the input (buffered rows, entities, operator states).
struct Midway {
  std::string bytes;
  std::vector<RowRef> rest;  // rows not pushed yet
};
Midway midway_snapshot(const std::shared_ptr<const CompiledQuery>& q,
                       const std::vector<TableInput>& tables) {
  auto rows = rows_in_time_order(tables);
  auto s = session(q);
  const size_t half = rows.size() / 2;
  for (size_t i = 0; i < half; ++i)
    EXPECT_TRUE(s->push(tables[rows[i].table].spec.name,
                        slice_rows(tables[rows[i].table].batch, rows[i].row, rows[i].row + 1))
                    .ok());
  // Advance to a quarter: the rows after it stay buffered in the snapshot.
  EXPECT_TRUE(s->advance(rows[half / 2].time));
  auto bytes = s->snapshot();
  EXPECT_TRUE(bytes);
  return {bytes ? *bytes : "",
          std::vector<RowRef>(rows.begin() + static_cast<long>(half), rows.end())};
}

// Pushes `rest` into `s` and finishes; the history must equal the batch history.
std::string finish_with(Session& s, const std::vector<TableInput>& tables,
                        const std::vector<RowRef>& rest, const Batch& want_rows_after,
                        Collected got) {
  for (const RowRef& r : rest) {
    Status st =
        s.push(tables[r.table].spec.name, slice_rows(tables[r.table].batch, r.row, r.row + 1));
    if (!st.ok()) return "push: " + st.message();
  }
  auto out = s.finish();
  if (!out) return "finish: " + out.error().message();
  got.add(*out);
  return compare(want_rows_after, got, ResultBehavior::kHistory);
}

void PrintTo(const Family& f, std::ostream* os) {
  *os << f.name;
}

class StateFamily : public ::testing::TestWithParam<Family> {};

std::string family_name(const ::testing::TestParamInfo<Family>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Families, StateFamily, ::testing::ValuesIn(families()), family_name);

// (a) A session without input: its snapshot restores, and the restored session then gives
// the batch result (of the full input, and of no input).
TEST_P(StateFamily, EmptySessionRoundTrip) {
  const auto tables = make_tables(11, {});
  auto q = compile_family(GetParam().query, tables);
  ASSERT_TRUE(q);
  for (ResultBehavior rb : {ResultBehavior::kHistory, ResultBehavior::kFinal}) {
    ResultOptions ro;
    ro.results = rb;
    const Batch want = run_batch(q, tables, ro);
    ASSERT_GT(want.num_rows, 0);
    auto bytes = session(q)->snapshot();
    ASSERT_TRUE(bytes) << bytes.error().message();
    {
      auto s = session(q);
      ASSERT_TRUE(s->restore(*bytes).ok());
      for (const auto& t : tables) ASSERT_TRUE(s->add_input(t.spec.name, t.batch).ok());
      auto r = s->finish(ro);
      ASSERT_TRUE(r) << r.error().message();
      Collected got;
      got.add(*r);
      EXPECT_EQ(compare(want, got, rb), "");
    }
    {
      // No input at all.
      std::vector<TableInput> none = tables;
      for (auto& t : none) t.batch = Batch::empty(t.spec.schema);
      const Batch want_none = run_batch(q, none, ro);
      auto s = session(q);
      ASSERT_TRUE(s->restore(*bytes).ok());
      auto r = s->finish(ro);
      ASSERT_TRUE(r) << r.error().message();
      Collected got;
      got.add(*r);
      EXPECT_EQ(compare(want_none, got, rb), "");
      EXPECT_EQ(r->num_rows, 0);
    }
    {
      // Advanced (with nothing to emit) before any input, then snapshotted.
      auto s0 = session(q);
      auto none_yet = s0->advance(kT0 - kHour, ro);
      ASSERT_TRUE(none_yet);
      EXPECT_EQ(none_yet->num_rows, 0);
      auto b2 = s0->snapshot();
      ASSERT_TRUE(b2);
      auto s = session(q);
      ASSERT_TRUE(s->restore(*b2).ok());
      EXPECT_EQ(s->watermark(), kT0 - kHour);
      for (const auto& t : tables) ASSERT_TRUE(s->add_input(t.spec.name, t.batch).ok());
      auto r = s->finish(ro);
      ASSERT_TRUE(r);
      Collected got;
      got.add(*r);
      EXPECT_EQ(compare(want, got, rb), "");
    }
  }
}

// (b) One entity; (c) null keys (T's key, T.ref and U's key); and several keys: a snapshot
// after every row, and the random-chunk equivalence property.
// Data sets per test, and check_incremental chunking seeds per data set and result behaviour.
uint32_t data_seeds() {
  return seeds_or(kSanitizedBuild ? 1 : 3);
}
uint32_t chunk_seeds() {
  return soak() || !kSanitizedBuild ? 10 : 1;
}

// Every data set of `shape` (seeds from `base`): a snapshot after every row, and
// check_incremental, with history and final results.
void round_trips(const Family& f, uint32_t base, DataShape shape) {
  for (uint32_t k = 0; k < data_seeds(); ++k) {
    const uint32_t seed = base + first_seed() + k;
    const auto tables = make_tables(seed, shape);
    for (ResultBehavior rb : {ResultBehavior::kHistory, ResultBehavior::kFinal}) {
      SCOPED_TRACE("data seed " + std::to_string(seed) +
                   (rb == ResultBehavior::kFinal ? " final" : " history"));
      EXPECT_EQ(every_row_round_trip(f.query, tables, rb), "");
      ResultOptions ro;
      ro.results = rb;
      for (uint32_t s = 0; s < chunk_seeds(); ++s)
        for (RestoreMode mode :
             {RestoreMode::kSnapshot, RestoreMode::kDeltaChain, RestoreMode::kSplitMerge})
          EXPECT_EQ(check_incremental(f.query, tables, {}, ro, s, nullptr, {}, mode), "")
              << "chunking seed " << s << " restore mode " << static_cast<int>(mode);
    }
  }
}

TEST_P(StateFamily, OneEntity) {
  round_trips(GetParam(), 0, {.rows = 30, .keys = 1, .null_keys = false});
}

TEST_P(StateFamily, NullKeys) {
  round_trips(GetParam(), 1000, {.rows = 40, .keys = 3, .null_keys = true});
}

TEST_P(StateFamily, SnapshotAfterEveryRow) {
  int snapshots = 0, rows = 0;
  for (uint32_t k = 0; k < data_seeds(); ++k) {
    const auto tables =
        make_tables(2000 + first_seed() + k,
                    {.rows = kSanitizedBuild ? 30 : 60, .keys = 5, .null_keys = false});
    for (ResultBehavior rb : {ResultBehavior::kHistory, ResultBehavior::kFinal}) {
      EXPECT_EQ(every_row_round_trip(GetParam().query, tables, rb, &snapshots), "") << k;
      for (const auto& t : tables) rows += static_cast<int>(t.batch.num_rows);
    }
  }
  EXPECT_EQ(snapshots, rows);
}

// (e) Equal states give equal bytes: two sessions fed the same way, and a restored session
// snapshotted again.
TEST_P(StateFamily, DeterministicBytes) {
  const auto tables =
      make_tables(21, {.rows = kSanitizedBuild ? 30 : 50, .keys = 4, .null_keys = true});
  auto q = compile_family(GetParam().query, tables);
  ASSERT_TRUE(q);
  const auto rows = rows_in_time_order(tables);
  auto a = session(q);
  auto b = session(q);
  int compared = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowRef& r = rows[i];
    for (Session* s : {a.get(), b.get()})
      ASSERT_TRUE(
          s->push(tables[r.table].spec.name, slice_rows(tables[r.table].batch, r.row, r.row + 1))
              .ok());
    if (i % 3 == 0) {
      ASSERT_TRUE(a->advance(r.time));
      ASSERT_TRUE(b->advance(r.time));
    }
    auto x = a->snapshot();
    auto y = b->snapshot();
    ASSERT_TRUE(x && y);
    ASSERT_EQ(*x, *y) << "row " << i;
    auto c = session(q);
    ASSERT_TRUE(c->restore(*x).ok());
    auto z = c->snapshot();
    ASSERT_TRUE(z);
    ASSERT_EQ(*x, *z) << "snapshot of a restored session differs, row " << i;
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(rows.size()));
}

// (f) A snapshot restores only into a session of the same query and input schema.
TEST_P(StateFamily, RefusesAnotherQuery) {
  const auto tables = make_tables(31, {});
  auto q = compile_family(GetParam().query, tables);
  ASSERT_TRUE(q);
  const std::string bytes = midway_snapshot(q, tables).bytes;
  ASSERT_FALSE(bytes.empty());
  int refused = 0;
  for (const Family& other : families()) {
    if (std::string(other.name) == GetParam().name) continue;
    auto oq = compile_family(other.query, tables);
    ASSERT_TRUE(oq);
    auto s = session(oq);
    Status st = s->restore(bytes);
    ASSERT_FALSE(st.ok()) << other.name;
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
    EXPECT_NE(st.message().find("different query"), std::string::npos) << st.message();
    ++refused;
  }
  EXPECT_EQ(refused, static_cast<int>(families().size()) - 1);
  // The same text over another input schema (U has one more column).
  std::vector<TableInput> wider = tables;
  std::vector<Field> fields = u_schema()->fields;
  fields.push_back({"extra", DataType::of(TypeId::kI64)});
  wider[1].spec.schema = DataType::record(fields);
  auto wq = compile_family(GetParam().query, wider);
  ASSERT_TRUE(wq);
  Status st = session(wq)->restore(bytes);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("different query"), std::string::npos) << st.message();
  // The same query compiled again accepts it.
  EXPECT_TRUE(session(compile_family(GetParam().query, tables))->restore(bytes).ok());
}

// (g) A truncated snapshot (at every 97th offset and one byte short) and a snapshot with a
// flipped byte in the middle fail with kCorruption; the failed session is left as it was.
TEST_P(StateFamily, TruncatedSnapshotIsCorruption) {
  const auto tables = make_tables(41, {.rows = 60, .keys = 4, .null_keys = true});
  auto q = compile_family(GetParam().query, tables);
  ASSERT_TRUE(q);
  const std::string bytes = midway_snapshot(q, tables).bytes;
  ASSERT_GT(bytes.size(), 100u);
  std::vector<size_t> offsets;
  for (size_t off = 0; off < bytes.size(); off += 97) offsets.push_back(off);
  offsets.push_back(bytes.size() - 1);
  for (size_t off : offsets) {
    auto s = session(q);
    Status st = s->restore(std::string_view(bytes).substr(0, off));
    ASSERT_FALSE(st.ok()) << "truncated at " << off << " of " << bytes.size();
    EXPECT_EQ(st.code(), StatusCode::kCorruption) << "truncated at " << off << ": " << st.message();
  }
  // After a failed restore the session is still the fresh one it was.
  auto s = session(q);
  ASSERT_FALSE(s->restore(std::string_view(bytes).substr(0, bytes.size() / 2)).ok());
  Collected got;
  EXPECT_EQ(finish_with(*s, tables, rows_in_time_order(tables), run_batch(q, tables), got), "");
  std::printf("%s: snapshot midway %zu bytes, %zu truncations refused\n", GetParam().name,
              bytes.size(), offsets.size());
}

TEST_P(StateFamily, FlippedByteInTheMiddleIsCorruption) {
  const auto tables = make_tables(41, {.rows = 60, .keys = 4, .null_keys = true});
  auto q = compile_family(GetParam().query, tables);
  ASSERT_TRUE(q);
  const std::string bytes = midway_snapshot(q, tables).bytes;
  std::string bad = bytes;
  bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x5A);
  Status st = session(q)->restore(bad);
  ASSERT_FALSE(st.ok()) << "a snapshot with byte " << bad.size() / 2 << " of " << bad.size()
                        << " flipped was restored";
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.message();
}

// Robustness: a byte flipped anywhere (every 97th offset, several patterns; the checksum
// re-sealed) is refused or,
// if the format cannot tell, restores into a session that still runs to the end (no crash;
// under ASan no invalid access).
TEST_P(StateFamily, FlippedBytesNeverCrash) {
  const auto tables = make_tables(43, {.rows = 40, .keys = 3, .null_keys = true});
  auto q = compile_family(GetParam().query, tables);
  ASSERT_TRUE(q);
  Midway m = midway_snapshot(q, tables);
  int refused = 0, accepted = 0;
  for (size_t off = 3; off < m.bytes.size(); off += 97) {
    for (uint8_t mask : {0x01, 0x80, 0xFF}) {
      if (kSanitizedBuild && mask == 0x80) continue;
      std::string bad = m.bytes;
      if (off >= bad.size() - 8) continue;
      bad[off] = static_cast<char>(bad[off] ^ mask);
      // Re-seal the checksum, so the reader's own bounds and invariant checks are what is
      // tested (an unsealed flip is refused by the checksum, FlippedByteInTheMiddle...).
      const uint64_t sum = fenl::hash_string(std::string_view(bad).substr(0, bad.size() - 8));
      std::memcpy(bad.data() + bad.size() - 8, &sum, 8);
      const std::string where = "byte " + std::to_string(off) + " of " +
                                std::to_string(bad.size()) + " xor " + std::to_string(mask);
      auto s = session(q);
      Status st;
      try {
        st = s->restore(bad);
      } catch (const std::exception& e) {
        ADD_FAILURE() << where << ": restore threw " << e.what();
        continue;
      }
      if (!st.ok()) {
        ++refused;
        EXPECT_TRUE(st.code() == StatusCode::kCorruption ||
                    st.code() == StatusCode::kInvalidArgument)
            << where << ": " << st.message();
        continue;
      }
      ++accepted;
      try {
        for (const RowRef& r : m.rest)
          (void)s->push(tables[r.table].spec.name,
                        slice_rows(tables[r.table].batch, r.row, r.row + 1));
        (void)s->finish();
      } catch (const std::exception& e) {
        ADD_FAILURE() << where << ": restored, then push/finish threw " << e.what();
      }
    }
  }
  std::printf("%s: flipped bytes: %d refused, %d restored (values the format cannot check)\n",
              GetParam().name, refused, accepted);
}

// (h) Input order rules.
TEST(SessionInputOrder, PushAfterEndFails) {
  const auto tables = make_tables(51, {});
  auto q = compile_family(families()[0].query, tables);
  ASSERT_TRUE(q);
  auto s = session(q);
  ASSERT_TRUE(s->push("T", slice_rows(tables[0].batch, 0, 10)).ok());
  ASSERT_TRUE(s->advance(Session::kEndOfTime));
  Status st = s->push("T", slice_rows(tables[0].batch, 10, 11));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  // Refused as input after the end (not merely as older than the watermark kEndOfTime).
  EXPECT_NE(st.message().find("end of input"), std::string::npos) << st.message();
  EXPECT_FALSE(s->advance(Session::kEndOfTime)) << "advance after the end";
  EXPECT_FALSE(s->finish()) << "finish after the end";
  // After finish() too.
  auto f = session(q);
  ASSERT_TRUE(f->finish());
  EXPECT_FALSE(f->push("T", slice_rows(tables[0].batch, 0, 1)).ok());
  // An ended session restored from its snapshot stays ended (sum keeps no value slots; see
  // SnapshotAfterEndRestores for the families that do).
  auto sq = compile_family("{ s: sum(T.n) }", tables);
  ASSERT_TRUE(sq);
  auto e = session(sq);
  ASSERT_TRUE(e->push("T", slice_rows(tables[0].batch, 0, 10)).ok());
  ASSERT_TRUE(e->advance(Session::kEndOfTime));
  auto bytes = e->snapshot();
  ASSERT_TRUE(bytes);
  auto r = session(sq);
  Status rs = r->restore(*bytes);
  ASSERT_TRUE(rs.ok()) << rs.message();
  EXPECT_FALSE(r->push("T", slice_rows(tables[0].batch, 10, 11)).ok());
  EXPECT_FALSE(r->finish());
}

// A snapshot taken after the end of input (advance(kEndOfTime) or finish()) restores.
TEST_P(StateFamily, SnapshotAfterEndRestores) {
  const std::string query = GetParam().query;
  const auto tables = make_tables(53, {});
  auto q = compile_family(GetParam().query, tables);
  ASSERT_TRUE(q);
  for (bool by_finish : {false, true}) {
    auto s = session(q);
    for (const auto& t : tables) ASSERT_TRUE(s->add_input(t.spec.name, t.batch).ok());
    ASSERT_TRUE(by_finish ? s->finish() : s->advance(Session::kEndOfTime));
    auto bytes = s->snapshot();
    ASSERT_TRUE(bytes);
    auto r = session(q);
    Status st = r->restore(*bytes);
    ASSERT_TRUE(st.ok()) << (by_finish ? "after finish(): " : "after advance(end): ")
                         << st.message();
    EXPECT_FALSE(r->push("T", slice_rows(tables[0].batch, 0, 1)).ok()) << "input after the end";
    auto again = r->snapshot();
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *bytes);
  }
}

TEST(SessionInputOrder, RowOlderThanWatermarkNamesTheTable) {
  Batch b = Batch::empty(u_schema());
  for (int i = 0; i < 4; ++i) {
    b.columns[0].append_int(kT0 + i * kHour);
    b.columns[1].append_string("i" + std::to_string(i));
    b.columns[2].append_int(i);
  }
  b.num_rows = 4;
  std::vector<TableInput> tables{{{"Purchases", u_schema(), "ts", "item", "", ""}, b}};
  auto q = compile_family("{ s: sum(Purchases.price) }", tables);
  ASSERT_TRUE(q);
  auto s = session(q);
  ASSERT_TRUE(s->push("Purchases", slice_rows(b, 2, 4)).ok());
  ASSERT_TRUE(s->advance(kT0 + 2 * kHour));
  // A row at the watermark is accepted, one before it is not.
  ASSERT_TRUE(s->push("Purchases", slice_rows(b, 2, 3)).ok());
  Status st = s->push("Purchases", slice_rows(b, 0, 2));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("Purchases"), std::string::npos) << st.message();
  // The watermark survives a snapshot.
  auto bytes = s->snapshot();
  ASSERT_TRUE(bytes);
  auto r = session(q);
  ASSERT_TRUE(r->restore(*bytes).ok());
  EXPECT_EQ(r->watermark(), kT0 + 2 * kHour);
  st = r->push("Purchases", slice_rows(b, 1, 2));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("Purchases"), std::string::npos) << st.message();
}

TEST(SessionInputOrder, WatermarkBelowThePreviousFails) {
  const auto tables = make_tables(52, {});
  auto q = compile_family(families()[0].query, tables);
  ASSERT_TRUE(q);
  auto s = session(q);
  ASSERT_TRUE(s->push("T", Batch(tables[0].batch)).ok());
  ASSERT_TRUE(s->advance(kT0 + 24 * kHour));
  auto r = s->advance(kT0 + 24 * kHour - 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s->watermark(), kT0 + 24 * kHour);
  // The same watermark again is fine (nothing new), and the session still ends correctly.
  auto again = s->advance(kT0 + 24 * kHour);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->num_rows, 0);
  auto rest = s->finish();
  ASSERT_TRUE(rest);
}

// (d) A million entities (100,000 under sanitizers, which are ~40x slower): snapshot after
// half the rows, restore, finish; equal to batch.
TEST(StateScale, MillionEntities) {
  constexpr int64_t kRows = kSanitizedBuild ? 100'000 : 1'000'000;
  TypePtr sch = DataType::record({{"ts", DataType::of(TypeId::kTimestamp)},
                                  {"key", DataType::of(TypeId::kString)},
                                  {"n", DataType::of(TypeId::kI64)}});
  Batch b = Batch::empty(sch);
  for (auto& c : b.columns) c.reserve(kRows);
  for (int64_t i = 0; i < kRows; ++i) {
    b.columns[0].append_int(kT0 + i * 1'000'000'000LL);
    b.columns[1].append_string("key" + std::to_string(i));
    b.columns[2].append_int(i % 1000);
  }
  b.num_rows = kRows;
  std::vector<TableInput> tables{{{"T", sch, "ts", "key", "", ""}, b}};
  auto q = compile_family("{ s: sum(T.n), l: T.n | lag(1) }", tables);
  ASSERT_TRUE(q);
  const auto t0 = std::chrono::steady_clock::now();
  const Batch want = run_batch(q, tables);
  ASSERT_EQ(want.num_rows, kRows);
  const auto t1 = std::chrono::steady_clock::now();
  const int64_t half = kRows / 2;
  auto s = session(q);
  ASSERT_TRUE(s->push("T", slice_rows(b, 0, half)).ok());
  auto first = s->advance(kT0 + half * 1'000'000'000LL);
  ASSERT_TRUE(first);
  auto bytes = s->snapshot();
  ASSERT_TRUE(bytes);
  s.reset();
  auto r = session(q);
  ASSERT_TRUE(r->restore(*bytes).ok());
  // Every key appears once, so the restored entities' states never reach the output again;
  // the restored session's own snapshot must hold them unchanged.
  auto again = r->snapshot();
  ASSERT_TRUE(again);
  EXPECT_TRUE(*again == *bytes) << "the restored state of " << half << " entities differs";
  again->clear();
  ASSERT_TRUE(r->push("T", slice_rows(b, half, kRows)).ok());
  auto second = r->finish();
  ASSERT_TRUE(second);
  const auto t2 = std::chrono::steady_clock::now();
  ASSERT_EQ(first->num_rows + second->num_rows, kRows);
  // Column-wise comparison (result_rows would build millions of strings).
  auto same = [&](const Batch& part, int64_t offset) -> std::string {
    for (size_t c = 0; c < want.columns.size(); ++c) {
      const Column& x = want.columns[c];
      const Column& y = part.columns[c];
      if (x.type_id() != y.type_id()) return "column " + std::to_string(c) + " type";
      for (int64_t i = 0; i < part.num_rows; ++i) {
        const int64_t j = offset + i;
        if (x.is_valid(j) != y.is_valid(i)) return "row " + std::to_string(j) + " validity";
        if (!x.is_valid(j)) continue;
        const bool eq = storage_of(x.type_id()) == Storage::kInts ? x.int_at(j) == y.int_at(i)
                        : x.type_id() == TypeId::kString          ? x.string_at(j) == y.string_at(i)
                                                         : cell_text(x, j) == cell_text(y, i);
        if (!eq) return "row " + std::to_string(j) + " column " + std::to_string(c);
      }
    }
    return "";
  };
  EXPECT_EQ(same(*first, 0), "");
  EXPECT_EQ(same(*second, first->num_rows), "");
  std::printf(
      "%lld entities: snapshot at %lld of %lld rows: %zu bytes, %.1f bytes per entity; "
      "batch %.2f s, incremental with snapshot/restore %.2f s\n",
      static_cast<long long>(kRows), static_cast<long long>(half), static_cast<long long>(kRows),
      bytes->size(), static_cast<double>(bytes->size()) / static_cast<double>(half),
      std::chrono::duration<double>(t1 - t0).count(),
      std::chrono::duration<double>(t2 - t1).count());
}

// --- Incremental images: deltas, key-range partials (docs/formats/engine-state.md) -----

// Feeds the rows one at a time in time order; after each: advance, then a delta (a full
// image every `full_every` rows) appended to the chain, and every third row a new session
// restored from the whole chain. The results must be the batch's.
std::string every_row_delta_chain(const std::string& query, const std::vector<TableInput>& tables,
                                  ResultBehavior rb, size_t full_every, size_t* longest) {
  auto q = compile_family(query, tables);
  if (!q) return "compile failed";
  ResultOptions ro;
  ro.results = rb;
  Batch want = run_batch(q, tables, ro);
  Collected got;
  auto s = session(q);
  std::vector<std::string> chain;
  size_t i = 0;
  for (const RowRef& r : rows_in_time_order(tables)) {
    Status st =
        s->push(tables[r.table].spec.name, slice_rows(tables[r.table].batch, r.row, r.row + 1));
    if (!st.ok()) return "push: " + st.message();
    auto out = s->advance(r.time, ro);
    if (!out) return "advance: " + out.error().message();
    got.add(*out);
    const bool full = chain.empty() || i % full_every == 0;
    auto img = s->checkpoint(full ? ImageKind::kFull : ImageKind::kDelta);
    if (!img) return "checkpoint: " + img.error().message();
    if (full) chain.clear();
    chain.push_back(std::move(*img));
    if (longest) *longest = std::max(*longest, chain.size());
    if (i++ % 3 == 2) {
      s = session(q);
      st = s->restore_chain(std::vector<std::string_view>(chain.begin(), chain.end()));
      if (!st.ok()) return "restore_chain: " + st.message();
    }
  }
  auto last = s->finish(ro);
  if (!last) return "finish: " + last.error().message();
  got.add(*last);
  return compare(want, got, rb);
}

TEST_P(StateFamily, DeltaChainAfterEveryRow) {
  size_t longest = 0;
  for (uint32_t k = 0; k < data_seeds(); ++k) {
    const auto tables = make_tables(
        3000 + first_seed() + k, {.rows = kSanitizedBuild ? 30 : 60, .keys = 5, .null_keys = true});
    for (ResultBehavior rb : {ResultBehavior::kHistory, ResultBehavior::kFinal})
      for (size_t every : {size_t{4}, size_t{1000}})
        EXPECT_EQ(every_row_delta_chain(GetParam().query, tables, rb, every, &longest), "")
            << "data " << k << " full image every " << every;
  }
  EXPECT_GT(longest, 20u);  // long chains were restored
}

// Midway through the input, partial images by key range (two, three and 65536 one-slot
// ranges cut anywhere), merged into a new session in reverse order, which then finishes:
// the rows before plus the rows after equal the unsplit batch run.
TEST_P(StateFamily, SplitByRangeMergeEqualsUnsplit) {
  const auto tables = make_tables(51, {.rows = 60, .keys = 6, .null_keys = true});
  auto q = compile_family(GetParam().query, tables);
  ASSERT_TRUE(q);
  const auto rows = rows_in_time_order(tables);
  const size_t half = rows.size() / 2;
  const std::vector<std::vector<std::vector<KeyHashRange>>> splits = {
      {{{0, 32767}}, {{32768, 65535}}},
      {{{0, 9999}, {50000, 65535}}, {{10000, 29999}}, {{30000, 49999}}},
      {{{0, 65535}}},
  };
  for (ResultBehavior rb : {ResultBehavior::kHistory, ResultBehavior::kFinal}) {
    ResultOptions ro;
    ro.results = rb;
    const Batch want = run_batch(q, tables, ro);
    for (const auto& split : splits) {
      auto s = session(q);
      Collected got;
      for (size_t i = 0; i < half; ++i)
        ASSERT_TRUE(s->push(tables[rows[i].table].spec.name,
                            slice_rows(tables[rows[i].table].batch, rows[i].row, rows[i].row + 1))
                        .ok());
      auto early = s->advance(rows[half / 2].time, ro);  // rows after it stay buffered
      ASSERT_TRUE(early);
      got.add(*early);
      std::vector<std::string> parts;
      size_t listed = 0;
      for (const auto& ranges : split) {
        auto img = s->snapshot_partial(key_hash_ranges(ranges));
        ASSERT_TRUE(img) << img.error().message();
        parts.push_back(std::move(*img));
        ++listed;
      }
      std::reverse(parts.begin(), parts.end());
      auto m = session(q);
      Status st = m->restore_merge(std::vector<std::string_view>(parts.begin(), parts.end()));
      ASSERT_TRUE(st.ok()) << st.message();
      EXPECT_EQ(m->watermark(), s->watermark());
      for (size_t i = half; i < rows.size(); ++i)
        ASSERT_TRUE(m->push(tables[rows[i].table].spec.name,
                            slice_rows(tables[rows[i].table].batch, rows[i].row, rows[i].row + 1))
                        .ok());
      auto rest = m->finish(ro);
      ASSERT_TRUE(rest) << rest.error().message();
      got.add(*rest);
      EXPECT_EQ(compare(want, got, rb), "") << split.size() << " partials";
    }
  }
}

// A midway session's full image and a chain of deltas after it, for the error cases.
struct Chain {
  std::shared_ptr<const CompiledQuery> q;
  std::vector<std::string> images;
};
Chain make_chain(const std::string& query, const std::vector<TableInput>& tables) {
  Chain c;
  c.q = compile_family(query, tables);
  auto s = session(c.q);
  size_t i = 0;
  for (const RowRef& r : rows_in_time_order(tables)) {
    EXPECT_TRUE(
        s->push(tables[r.table].spec.name, slice_rows(tables[r.table].batch, r.row, r.row + 1))
            .ok());
    if (++i % 10) continue;
    EXPECT_TRUE(s->advance(r.time));
    auto img = s->checkpoint(c.images.empty() ? ImageKind::kFull : ImageKind::kDelta);
    EXPECT_TRUE(img);
    c.images.push_back(*img);
  }
  return c;
}

// Corrupted, truncated, missing, reordered or misplaced deltas are refused with a message
// naming the image; the session is left as it was.
TEST_P(StateFamily, BadDeltasAreRefused) {
  const auto tables = make_tables(61, {.rows = 60, .keys = 4, .null_keys = true});
  Chain c = make_chain(GetParam().query, tables);
  ASSERT_GE(c.images.size(), 4u);
  auto views = [](const std::vector<std::string>& v) {
    return std::vector<std::string_view>(v.begin(), v.end());
  };
  {
    auto s = session(c.q);
    Status st = s->restore_chain(views(c.images));
    ASSERT_TRUE(st.ok()) << st.message();
  }
  int refused = 0;
  for (size_t k = 1; k < c.images.size(); ++k) {
    // Truncated at several offsets, and one flipped byte.
    for (size_t off : {size_t{0}, size_t{9}, c.images[k].size() / 2, c.images[k].size() - 1}) {
      auto bad = c.images;
      bad[k].resize(off);
      Status st = session(c.q)->restore_chain(views(bad));
      ASSERT_FALSE(st.ok()) << "delta " << k << " truncated at " << off;
      EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.message();
      EXPECT_NE(st.message().find("image " + std::to_string(k) + " of the chain"),
                std::string::npos)
          << st.message();
      ++refused;
    }
    auto bad = c.images;
    bad[k][bad[k].size() / 3] ^= 0x21;
    Status st = session(c.q)->restore_chain(views(bad));
    EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.message();
    // Missing: the delta before it left out.
    if (k >= 2) {
      auto gap = c.images;
      gap.erase(gap.begin() + static_cast<long>(k) - 1);
      st = session(c.q)->restore_chain(views(gap));
      ASSERT_FALSE(st.ok());
      EXPECT_NE(st.message().find("does not follow"), std::string::npos) << st.message();
    }
  }
  // Reordered.
  auto swapped = c.images;
  std::swap(swapped[1], swapped[2]);
  Status st = session(c.q)->restore_chain(views(swapped));
  EXPECT_NE(st.message().find("does not follow"), std::string::npos) << st.message();
  // A delta alone, a delta given to restore(), a full image where a delta belongs.
  st = session(c.q)->restore_chain({c.images[1]});
  EXPECT_NE(st.message().find("a delta image where a full image is expected"), std::string::npos)
      << st.message();
  st = session(c.q)->restore(c.images[1]);
  EXPECT_NE(st.message().find("restore_chain"), std::string::npos) << st.message();
  st = session(c.q)->restore_chain({c.images[0], c.images[0]});
  EXPECT_FALSE(st.ok());
  // The session a failed restore_chain leaves behind is the fresh one it was.
  auto s = session(c.q);
  auto bad = c.images;
  bad.back().resize(bad.back().size() / 2);
  ASSERT_FALSE(s->restore_chain(views(bad)).ok());
  Collected got;
  EXPECT_EQ(finish_with(*s, tables, rows_in_time_order(tables), run_batch(c.q, tables), got), "");
  EXPECT_GT(refused, 0);
}

TEST_P(StateFamily, OverlappingPartialsAreRefused) {
  const auto tables = make_tables(71, {.rows = 40, .keys = 5, .null_keys = false});
  auto q = compile_family(GetParam().query, tables);
  Midway m = midway_snapshot(q, tables);
  auto s = session(q);
  ASSERT_TRUE(s->restore(m.bytes).ok());
  // Every key is in both: the second range set covers the first.
  auto a = s->snapshot_partial(key_hash_ranges({{0, 40000}}));
  auto b = s->snapshot_partial(key_hash_ranges({{0, 65535}}));
  ASSERT_TRUE(a && b);
  Status st = session(q)->restore_merge({*a, *b});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("overlap"), std::string::npos) << st.message();
  // A partial is not a full image, nor a link of a chain.
  st = session(q)->restore(*a);
  EXPECT_NE(st.message().find("restore_merge"), std::string::npos) << st.message();
}

// Images of format version 1 (before deltas) are refused with a message saying what to do.
TEST(StateImages, VersionOneIsRefused) {
  const auto tables = make_tables(81, {});
  auto q = compile_family("{ c: count(T) }", tables);
  auto bytes = session(q)->snapshot();
  ASSERT_TRUE(bytes);
  std::string v1 = *bytes;
  const uint32_t one = 1;
  std::memcpy(v1.data() + 8, &one, 4);
  v1.resize(v1.size() - 8);
  const uint64_t sum = fenl::hash_string(v1);
  v1.append(reinterpret_cast<const char*>(&sum), 8);
  Status st = session(q)->restore(v1);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("format version 1 is not supported"), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("--reset-state"), std::string::npos) << st.message();
}

// Change tracking is selective: after one row of one entity among many, the delta holds
// that entity (and the global state), not all of them; with every entity touched it is as
// large as a full image. A delta without a base is refused.
TEST(StateImages, DeltaHoldsOnlyChangedEntities) {
  constexpr int64_t kKeys = 5000;
  TypePtr sch = DataType::record({{"ts", DataType::of(TypeId::kTimestamp)},
                                  {"key", DataType::of(TypeId::kString)},
                                  {"n", DataType::of(TypeId::kI64)}});
  auto rows = [&](int64_t from, int64_t to, int64_t t) {
    Batch b = Batch::empty(sch);
    for (int64_t i = from; i < to; ++i) {
      b.columns[0].append_int(t);
      b.columns[1].append_string("key-" + std::to_string(i));
      b.columns[2].append_int(i);
    }
    b.num_rows = to - from;
    return b;
  };
  std::vector<TableInput> tables{{{"T", sch, "ts", "key", "", ""}, rows(0, 1, kT0)}};
  auto q = compile_family(
      "{ s: sum(T.n), l: lag(1, T.n), f: last(T.key), d: count(T, window = since(daily())) }",
      tables);
  ASSERT_TRUE(q);
  auto s = session(q);
  EXPECT_FALSE(s->checkpoint(ImageKind::kDelta));
  ASSERT_TRUE(s->push("T", rows(0, kKeys, kT0)).ok());
  ASSERT_TRUE(s->advance(kT0 + 1));
  auto full = s->checkpoint(ImageKind::kFull);
  ASSERT_TRUE(full);
  ASSERT_TRUE(s->push("T", rows(17, 18, kT0 + 5)).ok());
  ASSERT_TRUE(s->advance(kT0 + 6));
  auto small = s->checkpoint(ImageKind::kDelta);
  ASSERT_TRUE(small);
  EXPECT_LT(small->size() * 50, full->size()) << small->size() << " vs " << full->size();
  auto none = s->checkpoint(ImageKind::kDelta);
  ASSERT_TRUE(none);
  EXPECT_LE(none->size(), small->size());
  ASSERT_TRUE(s->push("T", rows(0, kKeys, kT0 + 10)).ok());
  ASSERT_TRUE(s->advance(kT0 + 11));
  auto all = s->checkpoint(ImageKind::kDelta);
  ASSERT_TRUE(all);
  EXPECT_GT(all->size() * 10, full->size() * 9);
  auto r = session(q);
  Status st = r->restore_chain({*full, *small, *none, *all});
  ASSERT_TRUE(st.ok()) << st.message();
  auto x = r->snapshot();
  auto y = s->snapshot();
  ASSERT_TRUE(x && y);
  EXPECT_TRUE(*x == *y) << "the chain restores a different state";
  std::printf(
      "%lld entities: full image %zu bytes, delta after 1 entity %zu bytes, empty "
      "delta %zu bytes, delta after all %zu bytes\n",
      static_cast<long long>(kKeys), full->size(), small->size(), none->size(), all->size());
}

// The Key_Shared slot of a key is the producer's message key hashed as the broker does.
TEST(StateImages, KeyHashSlotMatchesThePulsarHashOfTheMessageKey) {
  Column k(DataType::of(TypeId::kString));
  k.append_string("user-42");
  k.append_null();
  Column n(DataType::of(TypeId::kI64));
  n.append_int(-7);
  EXPECT_EQ(key_hash_slot(k, 0), io::pulsar_key_hash("user-42") % 65536);
  EXPECT_EQ(key_hash_slot(k, 1), io::pulsar_key_hash("") % 65536);
  EXPECT_EQ(key_hash_slot(n, 0), io::pulsar_key_hash("-7") % 65536);
  auto keep = key_hash_ranges({{key_hash_slot(k, 0), key_hash_slot(k, 0)}});
  EXPECT_TRUE(keep(0, k, 0));
}

// Robustness of deltas and partials: a byte flipped anywhere in the last delta of a chain,
// or in a partial image (checksums re-sealed), is refused or restores into a session that
// runs to the end (no crash; under ASan no invalid access).
TEST_P(StateFamily, FlippedDeltaAndPartialBytesNeverCrash) {
  const auto tables = make_tables(45, {.rows = 60, .keys = 4, .null_keys = true});
  Chain c = make_chain(GetParam().query, tables);
  ASSERT_GE(c.images.size(), 3u);
  auto s0 = session(c.q);
  ASSERT_TRUE(s0->restore_chain({c.images.begin(), c.images.end()}).ok());
  auto half = s0->snapshot_partial(key_hash_ranges({{0, 32767}}));
  auto other = s0->snapshot_partial(key_hash_ranges({{32768, 65535}}));
  ASSERT_TRUE(half && other);
  const auto rows = rows_in_time_order(tables);
  int refused = 0, accepted = 0;
  for (int target = 0; target < 2; ++target) {
    const std::string& image = target == 0 ? c.images.back() : *half;
    for (size_t off = 3; off + 8 < image.size(); off += kSanitizedBuild ? 61 : 23) {
      std::string bad = image;
      bad[off] = static_cast<char>(bad[off] ^ 0x41);
      const uint64_t sum = fenl::hash_string(std::string_view(bad).substr(0, bad.size() - 8));
      std::memcpy(bad.data() + bad.size() - 8, &sum, 8);
      auto s = session(c.q);
      Status st;
      if (target == 0) {
        std::vector<std::string_view> chain(c.images.begin(), c.images.end());
        chain.back() = bad;
        st = s->restore_chain(chain);
      } else {
        st = s->restore_merge({bad, *other});
      }
      if (!st.ok()) {
        ++refused;
        EXPECT_TRUE(st.code() == StatusCode::kCorruption ||
                    st.code() == StatusCode::kInvalidArgument)
            << "byte " << off << ": " << st.message();
        continue;
      }
      ++accepted;
      for (const RowRef& r : rows)
        if (r.time >= s->watermark())
          (void)s->push(tables[r.table].spec.name,
                        slice_rows(tables[r.table].batch, r.row, r.row + 1));
      (void)s->finish();
    }
  }
  EXPECT_GT(refused, 0);
  std::printf("%s: flipped delta/partial bytes: %d refused, %d restored\n", GetParam().name,
              refused, accepted);
}

}  // namespace
}  // namespace tideline::engine
