// Equivalence of incremental and batch execution (tests/engine/equivalence.h) over
// generated random queries and data: every operator family, split into random arrival
// chunks, advanced at random watermarks, snapshotted and restored at random points: whole
// snapshots, chains of a full image and deltas (checkpoint / restore_chain), and partial
// images split by Key_Shared hash ranges merged back (snapshot_partial / restore_merge).

#include <gtest/gtest.h>

#include "engine/equivalence.h"

namespace tideline::engine {
namespace {

void run_seeds(uint32_t first, uint32_t count, ResultBehavior rb, bool rewrites,
               RestoreMode mode = RestoreMode::kSnapshot) {
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
    std::string diff = check_incremental(q, {t}, {}, ro, seed, &stats, qo, mode);
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
TEST(IncrementalEquivalence, RandomQueriesDeltaChainHistory) {
  run_seeds(20000, 300, ResultBehavior::kHistory, true, RestoreMode::kDeltaChain);
}
TEST(IncrementalEquivalence, RandomQueriesDeltaChainFinal) {
  run_seeds(30000, 150, ResultBehavior::kFinal, true, RestoreMode::kDeltaChain);
}
TEST(IncrementalEquivalence, RandomQueriesSplitMergeHistory) {
  run_seeds(40000, 300, ResultBehavior::kHistory, true, RestoreMode::kSplitMerge);
}
TEST(IncrementalEquivalence, RandomQueriesSplitMergeFinal) {
  run_seeds(50000, 150, ResultBehavior::kFinal, true, RestoreMode::kSplitMerge);
}

}  // namespace
}  // namespace tideline::engine
