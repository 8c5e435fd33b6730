// Property test: randomly generated, mostly well-typed queries over a small table either
// fail to compile with a diagnostic or run to completion with a well-formed result (run
// under ASan/UBSan in the sanitizer build, this exercises every operator's edge cases).

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "engine/query.h"
#include "engine/random_gen.h"

namespace tideline::engine {
namespace {

constexpr uint32_t kFirstSeed = 0;
TEST(EngineRandomQueries, CompileOrRunCleanly) {
  std::mt19937 data_rng(7);
  Batch t = table(data_rng);
  int compiled = 0, ran = 0;
  for (uint32_t seed = kFirstSeed; seed < kFirstSeed + 400; ++seed) {
    Gen g(seed);
    std::string q = g.query();
    SCOPED_TRACE(q);
    QueryOptions opts;
    ResultOptions opts_r;
    if (seed % 3 == 1) opts_r.results = ResultBehavior::kFinal;
    auto cq = compile(q, {{"T", schema(), "time", "key", "", ""}}, {}, opts);
    if (!cq) {
      EXPECT_FALSE(cq.error().message().empty());
      continue;
    }
    ++compiled;
    auto s = start_session(*cq);
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->add_input("T", t).ok());
    auto r = (*s)->finish(opts_r);
    if (!r) continue;
    ++ran;
    ASSERT_TRUE(r->validate().ok()) << r->validate().message();
    ASSERT_EQ(r->columns.size(), (*cq)->output_type()->fields.size());
    for (int64_t i = 1; i < r->num_rows; ++i)
      ASSERT_LE(r->columns[0].int_at(i - 1), r->columns[0].int_at(i));
  }
  EXPECT_GT(compiled, 200);
  EXPECT_GT(ran, 150);
}

// Tick-window fusion (Evaluator::fuse_ticks_) must not change any value: `v |
// when(is_valid(T))` (fused: since(<tick>) windows reset from T's own row times) has to
// equal `v | when(is_valid(T) == true)` (same meaning, never fused: the tick rows are
// materialized and filtered). The table has rows exactly on day and month boundaries.
Batch boundary_table(std::mt19937& rng) {
  Batch b = Batch::empty(schema());
  const char* keys[] = {"a", "b", "c"};
  int64_t t = 1'600'041'600'000'000'000LL;  // 2020-09-14T00:00:00Z
  for (int i = 0; i < 60; ++i) {
    t += static_cast<int64_t>(rng() % 5) * kDay / 2;  // lands on midnights, crosses months
    b.columns[0].append_int(t);
    b.columns[1].append_string(keys[rng() % 3]);
    if (rng() % 4)
      b.columns[2].append_int(static_cast<int64_t>(rng() % 21) - 10);
    else
      b.columns[2].append_null();
    b.columns[3].append_float(static_cast<double>(rng() % 100) / 8.0 - 3.0);
    if (rng() % 4)
      b.columns[4].append_int(rng() % 2);
    else
      b.columns[4].append_null();
    b.columns[5].append_string("s");
  }
  b.num_rows = 60;
  return b;
}

// Every row of a result as one string of its cells.
std::vector<std::string> rows_of(const Batch& r) {
  std::vector<std::string> rows;
  for (int64_t i = 0; i < r.num_rows; ++i) {
    std::string row;
    for (const auto& c : r.columns) row += value_to_string(value_at(c, i)) + "|";
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::string> run_rows(const std::string& q, const Batch& t, ResultBehavior rb) {
  QueryOptions opts;
  ResultOptions opts_r;
  opts_r.results = rb;
  auto cq = compile(q, {{"T", schema(), "time", "key", "", ""}}, {}, opts);
  EXPECT_TRUE(cq) << q << ": " << (cq ? "" : cq.error().message());
  if (!cq) return {};
  auto s = start_session(*cq);
  EXPECT_TRUE(s && (*s)->add_input("T", t).ok());
  auto r = (*s)->finish(opts_r);
  EXPECT_TRUE(r) << q << ": " << (r ? "" : r.error().message());
  if (!r) return {};
  return rows_of(*r);
}

TEST(EngineRandomQueries, TickWindowFusionKeepsValues) {
  std::mt19937 data_rng(11);
  Batch t = boundary_table(data_rng);
  std::mt19937 rng(5);
  auto pick = [&](std::initializer_list<const char*> xs) {
    auto it = xs.begin();
    std::advance(it, rng() % xs.size());
    return std::string(*it);
  };
  int checked = 0;
  for (int q = 0; q < 120; ++q) {
    std::string fields;
    int n = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < n; ++f) {
      std::string agg = pick({"sum", "min", "max", "first", "last", "mean", "count"});
      std::string in = agg == "count" ? pick({"T", "T.n"}) : pick({"T.n", "T.x", "(T.n + T.x)"});
      std::string win = rng() % 4 ? ", window = since(" +
                                        pick({"daily()", "monthly()", "hourly()", "yearly()"}) + ")"
                                  : "";
      std::string e = agg + "(" + in + win + ")";
      if (rng() % 3 == 0) e = "(" + e + " + " + pick({"T.n", "1", "T.x"}) + ")";
      fields += (f ? ", f" : "f") + std::to_string(f) + ": " + e;
    }
    const std::string v = "{ " + fields + " }";
    for (ResultBehavior rb : {ResultBehavior::kHistory, ResultBehavior::kFinal}) {
      SCOPED_TRACE(v);
      auto fused = run_rows(v + " | when(is_valid(T))", t, rb);
      auto plain = run_rows(v + " | when(is_valid(T) == true)", t, rb);
      ASSERT_FALSE(fused.empty());
      ASSERT_EQ(fused, plain);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 240);
}

// Final results equal each entity's last history row (at or before final_at), whatever
// shortcuts the final evaluation takes (Evaluator::set_final_only evaluates the root's
// aggregations at last rows only and returns them in a compact domain).
std::map<std::string, std::string> by_key(const Batch& r, int64_t cutoff) {
  std::map<std::string, std::string> out;
  for (int64_t i = 0; i < r.num_rows; ++i) {
    if (r.columns[0].int_at(i) > cutoff) continue;
    std::string v;
    for (size_t c = 2; c < r.columns.size(); ++c)
      v += value_to_string(value_at(r.columns[c], i)) + "|";
    out[value_to_string(value_at(r.columns[1], i))] = v;
  }
  return out;
}

TEST(EngineRandomQueries, FinalResultsAreLastHistoryRows) {
  std::mt19937 data_rng(3);
  Batch t = boundary_table(data_rng);
  std::mt19937 rng(9);
  auto pick = [&](std::initializer_list<const char*> xs) {
    auto it = xs.begin();
    std::advance(it, rng() % xs.size());
    return std::string(*it);
  };
  const int64_t t0 = t.columns[0].int_at(0), t1 = t.columns[0].int_at(t.num_rows - 1);
  for (int q = 0; q < 150; ++q) {
    std::string fields;
    int n = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < n; ++f) {
      std::string agg = pick({"sum", "min", "max", "first", "last", "mean", "count", "variance"});
      std::string in = agg == "count" ? pick({"T", "T.n"}) : pick({"T.n", "T.x"});
      std::string win = pick({"", "", ", window = since(T.flag)", ", window = since(daily())",
                              ", window = sliding(2, T.flag)", ", window = since(monthly())"});
      if ((agg == "first" || agg == "last") && win.find("sliding") != std::string::npos)
        win.clear();
      std::string e = agg + "(" + in + win + ")";
      if (rng() % 4 == 0) e = "(" + e + " + 1)";
      fields += (f ? ", f" : "f") + std::to_string(f) + ": " + e;
    }
    const std::string v = "{ " + fields + " }" + (q % 2 ? " | when(is_valid(T))" : "");
    SCOPED_TRACE(v);
    auto cq_h = compile(v, {{"T", schema(), "time", "key", "", ""}}, {}, {});
    ASSERT_TRUE(cq_h) << cq_h.error().message();
    auto sh = start_session(*cq_h);
    ASSERT_TRUE((*sh)->add_input("T", t).ok());
    auto hist = (*sh)->finish();
    ASSERT_TRUE(hist);
    for (bool at : {false, true}) {
      QueryOptions opts;
      ResultOptions opts_r;
      opts_r.results = ResultBehavior::kFinal;
      int64_t cutoff = INT64_MAX;
      if (at) cutoff = t0 + static_cast<int64_t>(rng() % static_cast<uint64_t>(t1 - t0));
      if (at) opts_r.final_at = cutoff;
      auto cq_f = compile(v, {{"T", schema(), "time", "key", "", ""}}, {}, opts);
      ASSERT_TRUE(cq_f);
      auto sf = start_session(*cq_f);
      ASSERT_TRUE((*sf)->add_input("T", t).ok());
      auto fin = (*sf)->finish(opts_r);
      ASSERT_TRUE(fin);
      // One row per entity, in key-hash order, all stamped with the same time.
      for (int64_t i = 1; i < fin->num_rows; ++i)
        ASSERT_EQ(fin->columns[0].int_at(i), fin->columns[0].int_at(0));
      EXPECT_EQ(by_key(*fin, INT64_MAX), by_key(*hist, cutoff)) << "final_at: " << at;
    }
  }
}

// A dictionary-encoded key (Session::add_input_dictionary_key, the path `tideline query`
// takes for .tlc tables) gives the same results as plain keys for every kind of query:
// it takes a different preparation (lazy row keys, no key/time copies).
TEST(EngineRandomQueries, DictionaryKeysGiveSameResults) {
  std::mt19937 data_rng(21);
  Batch plain = table(data_rng);
  // Empty keys become null keys, so null codes are covered too.
  for (int64_t i = 0; i < plain.num_rows; ++i)
    if (plain.columns[1].string_at(i).empty()) plain.columns[1].set_valid(i, false);
  Column values(DataType::of(TypeId::kString));
  Column codes(DataType::of(TypeId::kU32));
  std::map<std::string, int64_t> code_of;
  for (int64_t i = 0; i < plain.num_rows; ++i) {
    if (!plain.columns[1].is_valid(i)) {
      codes.append_null();
      continue;
    }
    std::string k(plain.columns[1].string_at(i));
    auto [it, fresh] = code_of.emplace(k, static_cast<int64_t>(code_of.size()));
    if (fresh) values.append_string(k);
    codes.append_int(it->second);
  }
  int ran = 0;
  for (uint32_t seed = 1000; seed < 1300; ++seed) {
    Gen g(seed);
    std::string q = g.query();
    SCOPED_TRACE(q);
    QueryOptions opts;
    ResultOptions opts_r;
    if (seed % 3 == 1) opts_r.results = ResultBehavior::kFinal;
    auto cq = compile(q, {{"T", schema(), "time", "key", "", ""}}, {}, opts);
    if (!cq) continue;
    auto s1 = start_session(*cq);
    ASSERT_TRUE((*s1)->add_input("T", plain).ok());
    auto r1 = (*s1)->finish(opts_r);
    Batch encoded = plain;
    encoded.columns[1] = codes;
    Column dict = values;
    auto s2 = start_session(*cq);
    ASSERT_TRUE((*s2)->add_input_dictionary_key("T", std::move(encoded), std::move(dict)).ok());
    auto r2 = (*s2)->finish(opts_r);
    ASSERT_EQ(r1.has_value(), r2.has_value());
    if (!r1) continue;
    ++ran;
    ASSERT_EQ(rows_of(*r1), rows_of(*r2));
  }
  EXPECT_GT(ran, 100);
}

}  // namespace
}  // namespace tideline::engine
