#include "engine/kernels.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tideline::engine {
namespace {

using fenl::Kind;
using fenl::Type;

Column ints(TypeId t, std::vector<std::optional<int64_t>> v) {
  Column c(DataType::of(t));
  for (auto x : v) {
    if (x)
      c.append_int(*x);
    else
      c.append_null();
  }
  return c;
}
Column floats(std::vector<std::optional<double>> v) {
  Column c(DataType::of(TypeId::kF64));
  for (auto x : v) {
    if (x)
      c.append_float(*x);
    else
      c.append_null();
  }
  return c;
}
Column strings(std::vector<std::optional<std::string>> v) {
  Column c(DataType::of(TypeId::kString));
  for (auto& x : v) {
    if (x)
      c.append_string(*x);
    else
      c.append_null();
  }
  return c;
}
std::string show(const Column& c) {
  std::string s;
  for (int64_t i = 0; i < c.size(); ++i) {
    if (i) s += ",";
    s += c.is_valid(i) ? value_to_string(value_at(c, i)) : "null";
  }
  return s;
}
Column call(std::string_view fn, std::vector<Column> args, std::vector<Kind> arg_kinds,
            Kind result) {
  std::vector<fenl::TypeRef> types;
  for (Kind k : arg_kinds) types.push_back(Type::of(k));
  auto r = call_kernel(fn, args, types, *Type::of(result));
  EXPECT_TRUE(r) << r.error().message();
  return r ? *r : Column();
}

TEST(FenlKernels, IntegerArithmeticWrapsPerWidth) {
  auto a = ints(TypeId::kI32, {2147483647, 5, std::nullopt});
  auto b = ints(TypeId::kI32, {1, -7, 1});
  EXPECT_EQ(show(call("add", {a, b}, {Kind::kI32, Kind::kI32}, Kind::kI32)), "-2147483648,-2,null");
  EXPECT_EQ(show(call("div", {ints(TypeId::kI64, {7, -7, 1}), ints(TypeId::kI64, {2, 2, 0})},
                      {Kind::kI64, Kind::kI64}, Kind::kI64)),
            "3,-3,null");
}

TEST(FenlKernels, FloatDivisionFollowsIeee) {
  auto r =
      call("div", {floats({1.0, 0.0}), floats({0.0, 0.0})}, {Kind::kF64, Kind::kF64}, Kind::kF64);
  EXPECT_TRUE(std::isinf(r.float_at(0)));
  EXPECT_TRUE(std::isnan(r.float_at(1)));
}

TEST(FenlKernels, KleeneLogic) {
  auto t = ints(TypeId::kBool, {1, 0, std::nullopt, std::nullopt, 1});
  auto u = ints(TypeId::kBool, {std::nullopt, std::nullopt, 0, 1, 1});
  EXPECT_EQ(show(call("logical_and", {t, u}, {Kind::kBool, Kind::kBool}, Kind::kBool)),
            "null,false,false,null,true");
  EXPECT_EQ(show(call("logical_or", {t, u}, {Kind::kBool, Kind::kBool}, Kind::kBool)),
            "true,null,null,true,true");
}

TEST(FenlKernels, ComparisonsUseTotalOrderForFloats) {
  auto a = floats({NAN, -0.0, 1.0, std::nullopt});
  auto b = floats({1.0, 0.0, 1.0, 1.0});
  EXPECT_EQ(show(call("gt", {a, b}, {Kind::kF64, Kind::kF64}, Kind::kBool)),
            "true,false,false,null");
  EXPECT_EQ(show(call("lt", {a, b}, {Kind::kF64, Kind::kF64}, Kind::kBool)),
            "false,true,false,null");
}

TEST(FenlKernels, Strings) {
  auto s = strings({"Hello World", "", std::nullopt});
  auto none = ints(TypeId::kI64, {std::nullopt, std::nullopt, std::nullopt});
  EXPECT_EQ(show(call("len", {s}, {Kind::kString}, Kind::kI32)), "11,0,null");
  EXPECT_EQ(
      show(call("substring", {s, ints(TypeId::kI64, {3, 0, 0}), ints(TypeId::kI64, {-3, 1, 1})},
                {Kind::kString, Kind::kI64, Kind::kI64}, Kind::kString)),
      "lo Wo,,null");
  EXPECT_EQ(
      show(call("substring",
                {strings({"hi"}), ints(TypeId::kI64, {-3}), ints(TypeId::kI64, {std::nullopt})},
                {Kind::kString, Kind::kI64, Kind::kI64}, Kind::kString)),
      "");
  EXPECT_EQ(show(call("upper", {s}, {Kind::kString}, Kind::kString)), "HELLO WORLD,,null");
  auto u = strings({"héllo straße", "ΣΊΣΥΦΟΣ Ωmega", "Ärger ÿ"});
  EXPECT_EQ(show(call("upper", {u}, {Kind::kString}, Kind::kString)),
            "HÉLLO STRASSE,ΣΊΣΥΦΟΣ ΩMEGA,ÄRGER Ÿ");
  EXPECT_EQ(show(call("lower", {u}, {Kind::kString}, Kind::kString)),
            "héllo straße,σίσυφοσ ωmega,ärger ÿ");
}

TEST(FenlKernels, TimeParts) {
  // 2021-03-01T12:00:00Z and 1996-12-31T00:00:00Z
  auto t = ints(TypeId::kTimestamp, {1614600000LL * 1'000'000'000, 851990400LL * 1'000'000'000});
  EXPECT_EQ(show(call("year", {t}, {Kind::kTimestamp}, Kind::kI32)), "2021,1996");
  EXPECT_EQ(show(call("day_of_year", {t}, {Kind::kTimestamp}, Kind::kU32)), "60,366");
  EXPECT_EQ(show(call("month_of_year0", {t}, {Kind::kTimestamp}, Kind::kU32)), "2,11");
  // add_time with months clamps to the end of the month: Jan 31 + 1 month = Feb 28.
  auto jan31 = ints(TypeId::kTimestamp, {1612051200LL * 1'000'000'000});
  auto r = call("add_time", {ints(TypeId::kI64, {1}), jan31},
                {Kind::kIntervalMonths, Kind::kTimestamp}, Kind::kTimestamp);
  EXPECT_EQ(r.int_at(0), 1614470400LL * 1'000'000'000);
  EXPECT_EQ(show(call("days", {ints(TypeId::kI64, {-1, 3})}, {Kind::kI64}, Kind::kIntervalDays)),
            "null,3");
}

TEST(FenlKernels, CastsAreSafe) {
  auto f = floats({1.9, -1.9, 1e30, std::nullopt});
  EXPECT_EQ(show(cast_column(f, *Type::of(Kind::kF64), *Type::of(Kind::kI64))), "1,-1,null,null");
  auto s = strings({"12", "x", "3.5"});
  EXPECT_EQ(show(cast_column(s, *Type::of(Kind::kString), *Type::of(Kind::kI64))), "12,null,null");
  auto big = ints(TypeId::kI64, {1LL << 40, 5});
  EXPECT_EQ(show(cast_column(big, *Type::of(Kind::kI64), *Type::of(Kind::kI32))), "null,5");
}

TEST(FenlKernels, GatherAndCoalesce) {
  auto s = strings({"a", std::nullopt, "c"});
  EXPECT_EQ(show(gather(s, {2, -1, 1, 0})), "c,null,null,a");
  auto r = call("coalesce",
                {strings({std::nullopt, "x", std::nullopt}), strings({"d", "y", std::nullopt})},
                {Kind::kString, Kind::kString}, Kind::kString);
  EXPECT_EQ(show(r), "d,x,null");
}

TEST(FenlKernels, IsNullAndIsNotNullAreNeverNull) {
  auto s = strings({"a", std::nullopt, ""});
  EXPECT_EQ(show(call("is_null", {s}, {Kind::kString}, Kind::kBool)), "false,true,false");
  EXPECT_EQ(show(call("is_not_null", {s}, {Kind::kString}, Kind::kBool)), "true,false,true");
  auto f = floats({std::nan(""), std::nullopt});
  EXPECT_EQ(show(call("is_null", {f}, {Kind::kF64}, Kind::kBool)), "false,true");
  // A null literal broadcast to two rows (the null type's column).
  Column nulls(DataType::of(TypeId::kNull));
  nulls.append_null();
  nulls.append_null();
  EXPECT_EQ(show(call("is_null", {nulls}, {Kind::kNull}, Kind::kBool)), "true,true");
  EXPECT_EQ(show(call("is_not_null", {nulls}, {Kind::kNull}, Kind::kBool)), "false,false");
}

TEST(FenlKernels, HashMatchesReferenceForKeys) {
  auto s = strings({"hello", ""});
  auto h = hash_column(s, *Type::of(Kind::kString));
  EXPECT_EQ(h[0], 1472103086483932002ULL);
  EXPECT_EQ(h[1], 5663277146615294718ULL);
  auto n = ints(TypeId::kI64, {5, std::nullopt});
  auto hn = hash_column(n, *Type::of(Kind::kI64));
  EXPECT_EQ(hn[0], 16461383214845928621ULL);
  EXPECT_EQ(hn[1], 0u);
}

}  // namespace
}  // namespace tideline::engine
