// The engine facade: compile, feed batches in several calls, finish.
#include "engine/query.h"

#include <gtest/gtest.h>

namespace tideline::engine {
namespace {

TypePtr schema() {
  return DataType::record({{"time", DataType::of(TypeId::kTimestamp)},
                           {"user", DataType::of(TypeId::kString)},
                           {"amount", DataType::of(TypeId::kI64)}});
}

Batch batch(std::vector<std::tuple<int64_t, std::string, int64_t>> rows) {
  Batch b = Batch::empty(schema());
  for (auto& [t, u, a] : rows) {
    b.columns[0].append_int(t);
    b.columns[1].append_string(u);
    b.columns[2].append_int(a);
  }
  b.num_rows = static_cast<int64_t>(rows.size());
  return b;
}

TEST(EngineFacade, OrdersRowsAcrossBatchesAndComputesHistory) {
  auto q = compile("{ total: sum(P.amount) }", {{"P", schema(), "time", "user", "", ""}}, {}, {});
  ASSERT_TRUE(q) << q.error().message();
  ASSERT_EQ((*q)->output_type()->to_string(), "{_time: timestamp_ns, _key: string, total: i64}");
  auto s = start_session(*q);
  ASSERT_TRUE(s);
  ASSERT_TRUE((*s)->add_input("P", batch({{30, "a", 3}, {10, "a", 1}})).ok());
  ASSERT_TRUE((*s)->add_input("P", batch({{20, "b", 2}, {40, "a", 4}})).ok());
  auto r = (*s)->finish();
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->num_rows, 4);
  std::vector<int64_t> times, totals;
  for (int64_t i = 0; i < 4; ++i) {
    times.push_back(r->columns[0].int_at(i));
    totals.push_back(r->columns[2].int_at(i));
  }
  EXPECT_EQ(times, (std::vector<int64_t>{10, 20, 30, 40}));
  EXPECT_EQ(totals, (std::vector<int64_t>{1, 2, 4, 8}));
  EXPECT_EQ(r->columns[1].string_at(1), "b");
}

TEST(EngineFacade, FinalResultsOnePerEntity) {
  QueryOptions o;
  ResultOptions o_r;
  o_r.results = ResultBehavior::kFinal;
  auto q = compile("{ total: sum(P.amount) }", {{"P", schema(), "time", "user", "", ""}}, {}, o);
  ASSERT_TRUE(q);
  auto s = start_session(*q);
  ASSERT_TRUE((*s)->add_input("P", batch({{10, "a", 1}, {20, "b", 2}, {30, "a", 3}})).ok());
  auto r = (*s)->finish(o_r);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->num_rows, 2);
  EXPECT_EQ(r->columns[0].int_at(0), 31);  // stamped t_last + 1ns
  EXPECT_FALSE((*s)->finish());
  EXPECT_FALSE((*s)->add_input("P", batch({})).ok());
}

TEST(EngineFacade, RejectsMismatchedBatchesAndUnknownTables) {
  auto q = compile("{ total: sum(P.amount) }", {{"P", schema(), "time", "user", "", ""}}, {}, {});
  ASSERT_TRUE(q);
  auto s = start_session(*q);
  EXPECT_FALSE((*s)->add_input("Q", batch({})).ok());
  Batch wrong = Batch::empty(DataType::record({{"time", DataType::of(TypeId::kTimestamp)}}));
  EXPECT_FALSE((*s)->add_input("P", wrong).ok());
}

TEST(EngineFacade, CompileErrorsNamePosition) {
  auto q = compile("{ total: sum(P.amont) }", {{"P", schema(), "time", "user", "", ""}}, {}, {});
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code(), StatusCode::kTypeError);
  EXPECT_NE(q.error().message().find("Type error at 1:14: no field named 'amont'"),
            std::string::npos);
  EXPECT_NE(q.error().message().find("nearest matches: 'amount'"), std::string::npos);
  auto bad_table = compile("{ x: 1 }", {{"P", schema(), "ts", "user", "", ""}}, {}, {});
  ASSERT_FALSE(bad_table);
  EXPECT_NE(bad_table.error().message().find("no time column 'ts'"), std::string::npos);
}

}  // namespace
}  // namespace tideline::engine
