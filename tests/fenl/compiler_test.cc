#include <gtest/gtest.h>

#include "fenl/plan.h"
#include "fenl/types.h"

namespace tideline::fenl {
namespace {

std::vector<TableDecl> tables() {
  auto p = Type::record({{"ts", Type::of(Kind::kTimestamp)},
                         {"user", Type::of(Kind::kString)},
                         {"amount", Type::of(Kind::kI64)},
                         {"price", Type::of(Kind::kF64)},
                         {"qty", Type::of(Kind::kI32)},
                         {"big", Type::of(Kind::kU64)},
                         {"ok", Type::of(Kind::kBool)}});
  auto r = Type::record({{"ts", Type::of(Kind::kTimestamp)},
                         {"item", Type::of(Kind::kString)},
                         {"stars", Type::of(Kind::kI64)}});
  return {{"P", p, "ts", "user", "", ""}, {"R", r, "ts", "item", "", "items"}};
}

// Type of field `x` of the compiled query `{ x: <expr> }`, or the error message.
std::string type_of(std::string_view expr, std::vector<ViewDecl> views = {}) {
  std::string q = "{ x: " + std::string(expr) + " }";
  auto plan = compile_plan(q, tables(), views);
  if (!plan) return "ERROR: " + plan.error().message();
  return plan->root->type->fields[0].type->to_string();
}

TEST(FenlTypes, LiteralsAndArithmetic) {
  EXPECT_EQ(type_of("1"), "i64");
  EXPECT_EQ(type_of("1.5"), "f64");
  EXPECT_EQ(type_of("P.qty + 1"), "i64");  // literals are not narrowed
  EXPECT_EQ(type_of("P.qty + P.qty"), "i32");
  EXPECT_EQ(type_of("P.amount * 2.0"), "f64");
  EXPECT_EQ(type_of("P.big + 1"), "i64");  // (u64, i64) -> i64
  EXPECT_EQ(type_of("1 + P.big"), "f64");  // (i64, u64) -> f64
  EXPECT_EQ(type_of("-P.big"), "f64");
  EXPECT_EQ(type_of("P.amount / P.price"), "f64");
  EXPECT_EQ(type_of("P.amount > 1"), "bool");
  EXPECT_EQ(type_of("null + 1"), "i64");
}

TEST(FenlTypes, Functions) {
  EXPECT_EQ(type_of("sum(P.amount)"), "i64");
  EXPECT_EQ(type_of("count(P)"), "u32");
  EXPECT_EQ(type_of("mean(P.qty)"), "f64");
  EXPECT_EQ(type_of("last(P)"), type_of("P"));
  EXPECT_EQ(type_of("P.ts | add_time(days(3))"), "timestamp_ns");
  EXPECT_EQ(type_of("days_between(P.ts, P.ts) as i32"), "i32");
  EXPECT_EQ(type_of("P.amount | lag(1)"), "i64");
  EXPECT_EQ(type_of("P.price | clamp(min = 0.5)"), "f64");
  EXPECT_EQ(type_of("P | select_fields($input, 'amount', 'user')"), "{user: string, amount: i64}");
  EXPECT_EQ(type_of("P | remove_fields($input, 'ts', 'user', 'price', 'qty', 'big')"),
            "{amount: i64, ok: bool}");
  EXPECT_EQ(type_of("{a: 1} | extend({b: 'x'})"), "{b: string, a: i64}");
  EXPECT_EQ(type_of("json(P.user).a"), "string");
  EXPECT_EQ(type_of("coalesce(P.amount, 0)"), "i64");
  EXPECT_EQ(type_of("lookup(P.user, sum(R.stars))"), "i64");
}

TEST(FenlTypes, PipeBindsFirstUnfilledRequiredParameter) {
  auto plan = compile_plan("{ x: P.ts | add_time(days(3)) }", tables(), {});
  ASSERT_TRUE(plan) << plan.error().message();
  const auto& call = *plan->root->args[0];
  ASSERT_EQ(call.fn, "add_time");
  EXPECT_EQ(call.args[0]->fn, "days");
  EXPECT_EQ(call.args[1]->op, Op::kField);
}

TEST(FenlTypes, Errors) {
  EXPECT_EQ(type_of("P.nope"),
            "ERROR: Type error at 1:6: no field named 'nope' in record with fields [ts, user, "
            "amount, price, qty, big, "
            "ok]\n  { x: P.nope }\n       ^^^^^^");
  EXPECT_NE(type_of("Q.amount").find("unbound reference 'Q'; nearest matches: 'P'"),
            std::string::npos);
  EXPECT_NE(type_of("summ(P.amount)").find("undefined function 'summ'"), std::string::npos);
  EXPECT_NE(type_of("P.user + 1").find("incompatible argument types 'string' and 'i64'"),
            std::string::npos);
  EXPECT_NE(type_of("P.user < P.user").find("expects 'ordered'"), std::string::npos);
  EXPECT_NE(type_of("$input").find("'$input' is only defined"), std::string::npos);
  EXPECT_NE(type_of("P.amount + sum(R.stars)").find("cannot combine values of grouping"),
            std::string::npos);
  EXPECT_NE(type_of("lag(P.amount, P.amount)").find("constant literal"), std::string::npos);
  EXPECT_NE(type_of("clamp(P.amount, 1)").find("must be passed by keyword"), std::string::npos);
  EXPECT_NE(type_of("sum(P.amount, P.amount, P.amount)").find("must be passed by keyword"),
            std::string::npos);
  EXPECT_NE(type_of("len(P.user, P.user)").find("too many arguments"), std::string::npos);
  EXPECT_NE(type_of("sum()").find("missing argument 'input'"), std::string::npos);
  EXPECT_NE(type_of("sum(P.amount, foo = 1)").find("no parameter named 'foo'"), std::string::npos);
  EXPECT_NE(type_of("P.amount as nope").find("unknown type 'nope'"), std::string::npos);
  EXPECT_NE(type_of("{}").find("at least one field"), std::string::npos);
  EXPECT_NE(type_of("{a: 1, a: 2}").find("duplicate record field 'a'"), std::string::npos);
  EXPECT_NE(type_of("seconds(1)").find("cannot be written; try `as i64`"), std::string::npos);
  EXPECT_NE(type_of("P | select_fields($input, 'zzz')").find("no field 'zzz'"), std::string::npos);
  EXPECT_NE(
      type_of("P.amount | first(window = sliding(2, daily()))").find("does not support sliding"),
      std::string::npos);
}

TEST(FenlTypes, TicksNeedAnInput) {
  EXPECT_EQ(type_of("count(P, window = since(daily()))"), "u32");
  EXPECT_EQ(type_of("P.amount | when(hourly() or P.ok)"), "i64");
  EXPECT_NE(type_of("daily()").find("Type error at 1:6: 'daily()' needs an input"),
            std::string::npos);
  EXPECT_NE(
      type_of("let t = monthly() in count(P, window = since(t)) + count(t)").find("needs an input"),
      std::string::npos);
}

TEST(FenlTypes, SharedSubexpressionsCompileQuickly) {
  std::string q = "let a0 = P.amount\n";
  for (int i = 1; i < 60; ++i)
    q += "let a" + std::to_string(i) + " = a" + std::to_string(i - 1) + " + a" +
         std::to_string(i - 1) + "\n";
  q += "in { x: a59 }";
  auto plan = compile_plan(q, tables(), {});
  EXPECT_TRUE(plan) << plan.error().message();
}

TEST(FenlTypes, Views) {
  EXPECT_EQ(type_of("total * 2", {{"total", "sum(P.amount)"}}), "i64");
  EXPECT_NE(type_of("a", {{"a", "b + 1"}, {"b", "a + 1"}}).find("circular dependency"),
            std::string::npos);
  EXPECT_NE(type_of("a", {{"a", "P.nope"}}).find("in view 'a'"), std::string::npos);
}

TEST(FenlTypes, NonRecordResultBecomesResultField) {
  auto plan = compile_plan("sum(P.amount)", tables(), {});
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->root->type->fields.size(), 1u);
  EXPECT_EQ(plan->root->type->fields[0].name, "result");
}

TEST(FenlTypes, RequireRecordRejectsOtherResults) {
  auto plan = compile_plan("sum(P.amount)", tables(), {}, /*require_record=*/true);
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().message().find("the query must produce a record"), std::string::npos);
}

TEST(FenlTypes, WarnsAboutUnusedBindings) {
  auto plan =
      compile_plan("let a = 1\nlet b = P.amount\nin { b } | { c: P.amount | sum() }", tables(), {});
  ASSERT_TRUE(plan) << plan.error().message();
  ASSERT_EQ(plan->warnings.size(), 2u);
  EXPECT_EQ(
      plan->warnings[0],
      "Warning at 3:4: the value left of '|' is not used: the right side never refers to $input\n"
      "  in { b } | { c: P.amount | sum() }\n"
      "     ^^^^^");
  EXPECT_EQ(plan->warnings[1], "Warning at 1:5: unused binding 'a'\n  let a = 1\n      ^");
}

TEST(FenlTypes, LeastUpperBound) {
  auto lub = [](Kind a, Kind b) {
    auto t = least_upper_bound(Type::of(a), Type::of(b));
    return t ? t->to_string() : "none";
  };
  EXPECT_EQ(lub(Kind::kI32, Kind::kI64), "i64");
  EXPECT_EQ(lub(Kind::kI32, Kind::kU32), "i64");
  EXPECT_EQ(lub(Kind::kU64, Kind::kU32), "u64");
  EXPECT_EQ(lub(Kind::kI32, Kind::kF32), "f64");
  EXPECT_EQ(lub(Kind::kString, Kind::kTimestamp), "timestamp_ns");
  EXPECT_EQ(lub(Kind::kDurationS, Kind::kDurationMs), "duration_ms");
  EXPECT_EQ(lub(Kind::kString, Kind::kI64), "none");
  EXPECT_EQ(lub(Kind::kNull, Kind::kBool), "bool");
}

}  // namespace
}  // namespace tideline::fenl
