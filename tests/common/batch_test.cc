#include "common/batch.h"

#include <gtest/gtest.h>

namespace tideline {
namespace {

TEST(Batch, ValidityBitmapMaterializesOnFirstNull) {
  Column c(DataType::of(TypeId::kI64));
  for (int i = 0; i < 70; ++i) c.append_int(i);
  EXPECT_TRUE(c.all_valid());
  EXPECT_TRUE(c.validity().empty());
  c.append_null();
  c.append_int(71);
  EXPECT_EQ(c.size(), 72);
  EXPECT_EQ(c.null_count(), 1);
  EXPECT_TRUE(c.is_valid(69));
  EXPECT_FALSE(c.is_valid(70));
  EXPECT_TRUE(c.is_valid(71));
  EXPECT_EQ(c.int_at(71), 71);
  c.set_valid(3, false);
  EXPECT_FALSE(c.is_valid(3));
  EXPECT_EQ(c.null_count(), 2);
}

TEST(Batch, StringsAndRecords) {
  auto rec = DataType::record(
      {{"name", DataType::of(TypeId::kString)}, {"score", DataType::of(TypeId::kF64)}});
  EXPECT_EQ(rec->to_string(), "{name: string, score: f64}");
  EXPECT_EQ(rec->field_index("score"), 1);
  EXPECT_EQ(rec->field_index("nope"), -1);
  Column c(rec);
  c.child(0).append_string("ann");
  c.child(1).append_float(1.5);
  c.append_record_row(true);
  c.append_null();
  c.child(0).append_string("");
  c.child(1).append_null();
  c.append_record_row(true);
  ASSERT_EQ(c.size(), 3);
  EXPECT_TRUE(c.is_valid(0));
  EXPECT_FALSE(c.is_valid(1));
  EXPECT_EQ(c.child(0).string_at(0), "ann");
  EXPECT_EQ(c.child(0).string_at(2), "");
  EXPECT_FALSE(c.child(1).is_valid(2));

  Column copy(rec);
  for (int64_t i = 0; i < c.size(); ++i) copy.append_from(c, i);
  EXPECT_EQ(copy.size(), 3);
  EXPECT_FALSE(copy.is_valid(1));
  EXPECT_EQ(copy.child(0).string_at(0), "ann");
  EXPECT_DOUBLE_EQ(copy.child(1).float_at(0), 1.5);
}

TEST(Batch, ValidateCatchesRaggedColumns) {
  auto rec =
      DataType::record({{"a", DataType::of(TypeId::kI32)}, {"b", DataType::of(TypeId::kBool)}});
  Batch b = Batch::empty(rec);
  b.columns[0].append_int(1);
  b.num_rows = 1;
  EXPECT_FALSE(b.validate().ok());
  b.columns[1].append_int(1);
  EXPECT_TRUE(b.validate().ok());
  EXPECT_EQ(std::get<bool>(value_at(b.columns[1], 0)), true);
}

TEST(Batch, ValueConversions) {
  Column f(DataType::of(TypeId::kF64));
  append_value(f, Value{int64_t{3}});
  append_value(f, Value{});
  EXPECT_DOUBLE_EQ(f.float_at(0), 3.0);
  EXPECT_FALSE(f.is_valid(1));
  EXPECT_EQ(value_to_string(Value{std::string("x")}), "x");
  EXPECT_EQ(value_to_string(Value{true}), "true");
}

TEST(Status, ContextAndMacros) {
  Status s(StatusCode::kNotFound, "table t");
  EXPECT_EQ(s.with_context("scan").to_string(), "NotFound: scan: table t");
  auto f = [](bool fail) -> Result<int> {
    TL_RETURN_IF_ERROR(fail ? Status(StatusCode::kIoError, "disk") : Status());
    return 7;
  };
  EXPECT_EQ(*f(false), 7);
  EXPECT_EQ(f(true).error().code(), StatusCode::kIoError);
  auto g = [&](bool fail) -> Status {
    TL_ASSIGN_OR_RETURN(int v, f(fail));
    return v == 7 ? Status() : Status(StatusCode::kInternal, "?");
  };
  EXPECT_TRUE(g(false).ok());
  EXPECT_EQ(g(true).code(), StatusCode::kIoError);
}

}  // namespace
}  // namespace tideline
