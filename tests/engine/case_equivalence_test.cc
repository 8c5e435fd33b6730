// Incremental/batch equivalence (tests/engine/equivalence.h: random arrival chunks, random
// watermarks, snapshot -> destroy -> restore at random points) over every example query the
// project has: each `query` case of tests/fenl/cases/*.test (with its result options) and
// each case of the Fenl conformance catalog (tests/conformance/catalog, or the shared
// suite's /work/shared/conformance/catalog where the repository has none; `diagnostics`
// cases are skipped). Each seed runs with the rewrites on; the first two seeds (one under
// sanitizers) also with the plain plan. A final_at case alternates, by seed, between
// check_incremental (finish with final_at) and check_final_at_by_advance (advance to final_at + 1).
//
// Environment (tests/engine/seeds.h):
//   TIDELINE_EQUIVALENCE_SEEDS=N       seeds per case (default 5, the CTest run; the soak
//                                      runs the plain plan on every seed too), e.g.
//                                      TIDELINE_EQUIVALENCE_SEEDS=200 build/tests/engine_tests
//                                        --gtest_filter='CaseEquivalence.*'
//   TIDELINE_EQUIVALENCE_FIRST_SEED=S  first seed (default 1), to replay a reported failure
//                                      (failures name the case, the seed and the plan).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "engine/case_files.h"
#include "engine/equivalence.h"
#include "engine/seeds.h"

namespace tideline::engine {
namespace {

uint32_t seeds_per_case() {
  return seeds_or(5);
}
// Seeds (from the first) that also run with the plain plan.
uint32_t plain_plan_seeds(uint32_t seeds) {
  return soak() ? seeds : std::min<uint32_t>(seeds, kSanitizedBuild ? 1 : 2);
}

struct Tally {
  int checked = 0;  // cases that compiled and went through check_incremental
  int runs = 0;     // check_incremental calls
  int failed_cases = 0;
  EquivalenceStats stats;
};

// The incremental form of a `final_at` query (engine/query.h, ResultOptions::final_at: "with
// advance(), pass the watermark final_at + 1 instead"): every row pushed in random chunks,
// in random table order, advanced at random watermarks up to final_at + 1 with final
// results, snapshotted and restored at random points; the final rows of all advances,
// upserted by key, must equal the batch finish(final_at) (values and keys; times are the
// advances' own). Returns "" when equal.
std::string check_final_at_by_advance(const std::string& query,
                                      const std::vector<TableInput>& tables,
                                      const std::vector<ViewSpec>& views, const ResultOptions& ro,
                                      uint32_t seed, EquivalenceStats* stats, QueryOptions qo) {
  std::vector<TableSpec> specs;
  for (const auto& t : tables) specs.push_back(t.spec);
  auto cq = compile(query, specs, views, qo);
  if (!cq) return "";
  auto bs = start_session(*cq);
  if (!bs) return "start_session failed";
  for (const auto& t : tables)
    if (Status st = (*bs)->add_input(t.spec.name, t.batch); !st.ok())
      return "batch push: " + st.message();
  auto expected = (*bs)->finish(ro);
  if (!expected) return "batch failed: " + expected.error().message();
  const TimestampNs end = *ro.final_at + 1;
  ResultOptions step = ro;
  step.final_at.reset();
  step.results = ResultBehavior::kFinal;
  std::mt19937 rng(seed);
  std::unique_ptr<Session> s = std::move(*start_session(*cq));
  // Chunks of every table, pushed in a random interleaving that keeps each table's order.
  struct Chunk {
    size_t table;
    int64_t from, to;
  };
  std::vector<std::vector<Chunk>> per_table(tables.size());
  std::vector<std::vector<int64_t>> times(tables.size());
  for (size_t i = 0; i < tables.size(); ++i) {
    const int64_t n = tables[i].batch.num_rows;
    times[i] = batch_times(tables[i]);
    std::vector<int64_t> cuts{0, n};
    for (int k = 0, chunks = 1 + static_cast<int>(rng() % 8); k < chunks && n > 1; ++k)
      cuts.push_back(1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(n - 1)));
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    for (size_t k = 0; k + 1 < cuts.size(); ++k) per_table[i].push_back({i, cuts[k], cuts[k + 1]});
  }
  std::vector<size_t> next(tables.size(), 0);
  std::map<std::string, std::string> got;
  auto collect = [&](const Batch& b) {
    for (int64_t i = 0; i < b.num_rows; ++i) {
      std::string row;
      for (size_t c = 2; c < b.columns.size(); ++c) row += cell_text(b.columns[c], i) + "|";
      got[cell_text(b.columns[1], i)] = row;
    }
  };
  TimestampNs w = INT64_MIN;
  while (true) {
    std::vector<size_t> open;
    for (size_t i = 0; i < tables.size(); ++i)
      if (next[i] < per_table[i].size()) open.push_back(i);
    if (open.empty()) break;
    const size_t ti = open[rng() % open.size()];
    const Chunk& ch = per_table[ti][next[ti]++];
    Status st =
        s->push(tables[ch.table].spec.name, slice_rows(tables[ch.table].batch, ch.from, ch.to));
    if (!st.ok()) return "push: " + st.message();
    if (stats) ++stats->pushes;
    if (rng() % 2 == 0) {
      int64_t bound = end;  // no later than final_at + 1 and no later than any unpushed row
      for (size_t i = 0; i < tables.size(); ++i)
        for (size_t k = next[i]; k < per_table[i].size(); ++k)
          for (int64_t r = per_table[i][k].from; r < per_table[i][k].to; ++r)
            bound = std::min(bound, times[i][static_cast<size_t>(r)]);
      if (bound >= w) {
        const int64_t pick =
            w == INT64_MIN || bound == w
                ? bound
                : w + static_cast<int64_t>(rng() % static_cast<uint64_t>(bound - w + 1));
        auto out = s->advance(pick, step);
        if (!out) return "advance: " + out.error().message();
        w = pick;
        if (stats) ++stats->advances;
        collect(*out);
      }
    }
    if (rng() % 3 == 0) {
      auto bytes = s->snapshot();
      if (!bytes) return "snapshot: " + bytes.error().message();
      s = std::move(*start_session(*cq));
      if (Status rs = s->restore(*bytes); !rs.ok()) return "restore: " + rs.message();
      if (stats) ++stats->restores;
    }
  }
  auto last = s->advance(end, step);
  if (!last) return "advance to final_at + 1: " + last.error().message();
  collect(*last);
  std::map<std::string, std::string> want;
  for (int64_t i = 0; i < expected->num_rows; ++i) {
    std::string row;
    for (size_t c = 2; c < expected->columns.size(); ++c)
      row += cell_text(expected->columns[c], i) + "|";
    want[cell_text(expected->columns[1], i)] = row;
  }
  if (want == got) return "";
  std::string msg = "final values as of final_at differ: batch " + std::to_string(want.size()) +
                    " entities, incremental " + std::to_string(got.size());
  for (const auto& [k, v] : want) {
    auto it = got.find(k);
    if (it == got.end() || it->second != v)
      return msg + "; entity " + k + ": batch " + v + " vs incremental " +
             (it == got.end() ? "<none>" : it->second);
  }
  return msg + "; incremental has extra entities";
}

// Runs `seeds` seeds of one case (the first plain_plan_seeds(seeds) under both plans);
// returns false if the query does not compile (nothing checked). A case's failures are
// reported once (its first failing run) with the number of failing runs.
bool check_case(const std::string& where, const std::string& query,
                const std::vector<TableInput>& tables, const std::vector<ViewSpec>& views,
                const ResultOptions& ro, QueryOptions qo, Tally& tally,
                uint32_t seeds = seeds_per_case()) {
  std::vector<TableSpec> specs;
  for (const auto& t : tables) specs.push_back(t.spec);
  if (!compile(query, specs, views, qo)) return false;
  const int pushes_before = tally.stats.pushes;
  int failures = 0, runs = 0;
  std::string first;
  for (uint32_t k = 0; k < seeds; ++k) {
    const uint32_t seed = first_seed() + k;
    for (bool rewrites : {true, false}) {
      if (!rewrites && k >= plain_plan_seeds(seeds)) continue;
      qo.rewrites = rewrites;
      // final_at: by seed, finish(final_at) after advances (check_incremental) or
      // advance(final_at + 1) (check_final_at_by_advance).
      const bool by_advance = ro.final_at && seed % 2 == 1;
      std::string diff =
          by_advance ? check_final_at_by_advance(query, tables, views, ro, seed, &tally.stats, qo)
                     : check_incremental(query, tables, views, ro, seed, &tally.stats, qo);
      ++tally.runs;
      ++runs;
      if (diff.empty()) continue;
      if (failures++ == 0)
        first = "seed " + std::to_string(seed) + (rewrites ? " (rewrites" : " (plain plan") +
                (ro.final_at ? (by_advance ? ", advance to final_at + 1)" : ", finish(final_at))")
                             : ")") +
                ": " + diff;
    }
  }
  size_t rows = 0;
  for (const auto& t : tables) rows += static_cast<size_t>(t.batch.num_rows);
  // Input rows that were never pushed would make the comparison vacuous.
  EXPECT_TRUE(rows == 0 || tally.stats.pushes > pushes_before) << where << ": nothing was pushed";
  if (failures) {
    ++tally.failed_cases;
    ADD_FAILURE() << where << ": incremental differs from batch in " << failures << " of " << runs
                  << " runs; first: " << first << "\nquery: " << query;
  }
  ++tally.checked;
  return true;
}

// `query` directives counted from the raw lines, independently of the parser.
int raw_query_directives(const std::vector<std::string>& paths) {
  int n = 0;
  for (const auto& p : paths) {
    std::ifstream f(p);
    for (std::string l; std::getline(f, l);)
      if (l == "query" || l.starts_with("query ")) ++n;
  }
  return n;
}

TEST(CaseEquivalence, LanguageCases) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto paths = language_case_paths();
  Tally tally;
  int queries = 0;
  for (const auto& path : paths) {
    CaseFile file = parse_case_file(path);
    EXPECT_TRUE(file.error.empty()) << file.error;
    for (const CaseDirective& c : file.cases) {
      if (c.kind != CaseDirective::Kind::kQuery) continue;
      ++queries;
      if (!check_case(c.where(), c.query, c.tables, c.views, c.result_options, c.query_options,
                      tally))
        ADD_FAILURE() << c.where() << ": does not compile, not checked";
    }
  }
  const int expected = raw_query_directives(paths);
  EXPECT_GT(tally.checked, 0);
  EXPECT_EQ(queries, expected) << "the parser saw another number of query directives";
  EXPECT_EQ(tally.checked, expected) << "query directives not checked";
  EXPECT_GT(tally.stats.advances, tally.checked);
  EXPECT_GT(tally.stats.restores, tally.checked);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "language cases: %d query cases checked (%zu files), %u seeds each (plain plan on %u), %d "
      "runs, "
      "%d pushes, %d advances, %d restores, %d failing cases, %.2f s\n",
      tally.checked, paths.size(), seeds_per_case(), plain_plan_seeds(seeds_per_case()), tally.runs,
      tally.stats.pushes, tally.stats.advances, tally.stats.restores, tally.failed_cases, secs);
}

// The median time of the input rows (a final_at inside the data), or nullopt without rows.
std::optional<TimestampNs> median_time(const std::vector<TableInput>& tables) {
  std::vector<int64_t> all;
  for (const auto& t : tables)
    for (int64_t v : batch_times(t))
      if (v != INT64_MAX) all.push_back(v);
  if (all.empty()) return std::nullopt;
  std::nth_element(all.begin(), all.begin() + static_cast<long>(all.size() / 2), all.end());
  return all[all.size() / 2];
}

// Only one language case has final_at; every query is also checked with final results as of
// the median input time (2 seeds by default: finish(final_at) and advance(final_at + 1)).
TEST(CaseEquivalence, AllCasesFinalAtMedianTime) {
  Tally tally;
  int cases = 0;
  for (const auto& path : language_case_paths()) {
    for (const CaseDirective& c : parse_case_file(path).cases) {
      if (c.kind != CaseDirective::Kind::kQuery) continue;
      ResultOptions ro;
      ro.results = ResultBehavior::kFinal;
      ro.final_at = median_time(c.tables);
      if (!ro.final_at) continue;
      ++cases;
      check_case(c.where() + " final_at=" + format_timestamp(*ro.final_at), c.query, c.tables,
                 c.views, ro, c.query_options, tally, seeds_or(2));
    }
  }
  const std::string dir = conformance_catalog_dir();
  QueryOptions qo;
  qo.require_record = true;
  for (const auto& path : conformance_case_paths(dir)) {
    std::string error;
    ConformanceCase c = load_conformance_case(path, &error);
    if (!error.empty() || c.diagnostics) continue;
    ResultOptions ro;
    ro.results = ResultBehavior::kFinal;
    ro.final_at = median_time(c.tables);
    if (!ro.final_at) continue;
    ++cases;
    check_case(c.file + " final_at=" + format_timestamp(*ro.final_at), c.expression, c.tables,
               c.views, ro, qo, tally, seeds_or(2));
  }
  EXPECT_GT(cases, 100);
  EXPECT_EQ(tally.checked, cases);
  std::printf("final_at at the median input time: %d cases checked, %d runs, %d failing cases\n",
              tally.checked, tally.runs, tally.failed_cases);
}

// check_incremental's own final_at form: advances (final results, watermarks at most
// final_at + 1ns) at random points, then finish(final_at): upserting every call's rows by
// key gives the batch's final values as of final_at.
TEST(CaseEquivalence, FinishFinalAtAfterAdvances) {
  int checked = 0;
  for (const auto& path : language_case_paths()) {
    for (const CaseDirective& c : parse_case_file(path).cases) {
      if (c.kind != CaseDirective::Kind::kQuery || !c.result_options.final_at) continue;
      for (uint32_t seed = first_seed(); seed < first_seed() + seeds_per_case(); ++seed)
        EXPECT_EQ(check_incremental(c.query, c.tables, c.views, c.result_options, seed), "")
            << c.where() << " seed " << seed;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

TEST(CaseEquivalence, ConformanceCatalog) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string dir = conformance_catalog_dir();
  ASSERT_FALSE(dir.empty()) << "no conformance catalog: neither " TIDELINE_SOURCE_DIR
                               "/tests/conformance/catalog nor /work/shared/conformance/catalog "
                               "exists";
  const auto paths = conformance_case_paths(dir);
  ASSERT_FALSE(paths.empty()) << dir << " holds no .json cases";
  Tally tally;
  int csv_cases = 0, diagnostics = 0;
  QueryOptions qo;
  qo.require_record = true;  // as `tideline query`
  for (const auto& path : paths) {
    std::string error;
    ConformanceCase c = load_conformance_case(path, &error);
    if (!error.empty()) {
      ADD_FAILURE() << error;
      continue;
    }
    if (c.diagnostics) {
      ++diagnostics;
      continue;
    }
    ++csv_cases;
    if (!check_case(c.file + " (" + c.name + ")", c.expression, c.tables, c.views, c.result_options,
                    qo, tally))
      ADD_FAILURE() << c.file << ": does not compile, not checked";
  }
  EXPECT_GT(tally.checked, 0);
  EXPECT_EQ(tally.checked, csv_cases) << "cases not checked";
  EXPECT_EQ(csv_cases + diagnostics, static_cast<int>(paths.size()));
  EXPECT_GT(tally.stats.advances, tally.checked);
  EXPECT_GT(tally.stats.restores, tally.checked);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "conformance catalog %s: %d cases checked, %d diagnostics cases skipped, %u seeds "
      "each (plain plan on %u), %d runs, %d pushes, %d advances, %d restores, %d failing cases, "
      "%.2f s\n",
      dir.c_str(), tally.checked, diagnostics, seeds_per_case(), plain_plan_seeds(seeds_per_case()),
      tally.runs, tally.stats.pushes, tally.stats.advances, tally.stats.restores,
      tally.failed_cases, secs);
}

}  // namespace
}  // namespace tideline::engine
