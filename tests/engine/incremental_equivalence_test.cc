// Equivalence of incremental and batch execution (tests/engine/equivalence.h) over
// generated random queries and data: every operator family, split into random arrival
// chunks, advanced at random watermarks, snapshotted and restored at random points.

#include <gtest/gtest.h>

#include "engine/equivalence.h"

namespace tideline::engine {
namespace {

void run_seeds(uint32_t first, uint32_t count, ResultBehavior rb, bool rewrites) {
  int checked = 0;
  EquivalenceStats stats;
  for (uint32_t seed = first; seed < first + count; ++seed) {
    std::mt19937 data_rng(seed * 7 + 1);
    TableInput t{{"T", schema(), "time", "key", "", ""},
                 table(data_rng, 20 + static_cast<int>(seed % 60))};
    Gen g(seed);
    std::string q = g.query();
    SCOPED_TRACE("seed " + std::to_string(seed) + ": " + q);
    ResultOptions ro;
    ro.results = rb;
    QueryOptions qo;
    qo.rewrites = rewrites;
    std::string diff = check_incremental(q, {t}, {}, ro, seed, &stats, qo);
    EXPECT_EQ(diff, "");
    ++checked;
  }
  EXPECT_GT(stats.advances, static_cast<int>(count));
  EXPECT_GT(stats.restores, static_cast<int>(count) / 2);
}

TEST(IncrementalEquivalence, RandomQueriesHistory) {
  run_seeds(0, 300, ResultBehavior::kHistory, true);
}
TEST(IncrementalEquivalence, RandomQueriesHistoryPlainPlan) {
  run_seeds(5000, 100, ResultBehavior::kHistory, false);
}
TEST(IncrementalEquivalence, RandomQueriesFinal) {
  run_seeds(10000, 200, ResultBehavior::kFinal, true);
}

}  // namespace
}  // namespace tideline::engine
