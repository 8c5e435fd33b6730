#include "fenl/parser.h"

#include <gtest/gtest.h>

namespace tideline::fenl {
namespace {

std::string p(std::string_view text) {
  auto r = parse(text);
  if (!r) return "ERROR: " + r.error().message();
  return debug_string(**r);
}

TEST(FenlParser, Literals) {
  EXPECT_EQ(p("42"), "42");
  EXPECT_EQ(p("4.5"), "4.5");
  EXPECT_EQ(p("7u32"), "7u32");
  EXPECT_EQ(p("1.5f32"), "1.5f32");
  EXPECT_EQ(p("'a\\'b'"), "\"a'b\"");
  EXPECT_EQ(p("\"x\\ty\""), "\"x\ty\"");
  EXPECT_EQ(p("true"), "true");
  EXPECT_EQ(p("truer"), "truer");  // longest match: an identifier
  EXPECT_EQ(p("null"), "null");
}

TEST(FenlParser, Precedence) {
  EXPECT_EQ(p("a + b * c"), "(add a (mul b c))");
  EXPECT_EQ(p("a - b - c"), "(sub (sub a b) c)");
  EXPECT_EQ(p("a < b == c > d"), "(eq (lt a b) (gt c d))");
  EXPECT_EQ(p("a or b and c"), "(logical_or a (logical_and b c))");
  EXPECT_EQ(p("!a and b"), "(logical_and (not a) b)");
  EXPECT_EQ(p("-x.y"), "(neg (. x y))");
  EXPECT_EQ(p("a <> b"), "(neq a b)");
  EXPECT_EQ(p("a | f() as i64"), "(as (| a (f)) i64)");
  EXPECT_EQ(p("let x = 1 in x | f()"), "(let x=1 in (| x (f)))");
  EXPECT_EQ(p("a | b | c"), "(| a (| b c))");
  EXPECT_EQ(p("(a + b) * c"), "(mul (add a b) c)");
  EXPECT_EQ(p("a < b < c"), "(lt (lt a b) c)");
}

TEST(FenlParser, RecordsCallsLets) {
  EXPECT_EQ(p("{a: x, b, c: 1,}"), "{a:x b:b c:1}");
  EXPECT_EQ(p("sum(T.x, window = since(daily()))"), "(sum (. T x) window=(since (daily)))");
  EXPECT_EQ(p("let a = 1\nlet b = a + 1\nin {b}"), "(let a=1 b=(add a 1) in {b:b})");
  EXPECT_EQ(p("x | lag(1) # comment\n"), "(| x (lag 1))");
  EXPECT_EQ(p("$input.a"), "(. $input a)");
}

TEST(FenlParser, ErrorsCarryLineColumnAndCaret) {
  auto r = parse("let x = 1\nlet y = x +\nin y");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), StatusCode::kParseError);
  EXPECT_EQ(r.error().message(),
            "Parse error at 3:1: expected an expression but found 'in'\n"
            "  in y\n"
            "  ^^");
  auto r2 = parse("{ a: f(1, 2 }");
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().message(),
            "Parse error at 1:13: expected ',' or ')' but found '}'\n"
            "  { a: f(1, 2 }\n"
            "              ^");
}

TEST(FenlParser, CastsWhereverAnExpressionStands) {
  // A let binding's value (the reference grammar's ExprRef), with or without a pipe.
  EXPECT_EQ(p("let x = seconds_between(a, b) as i64 in x"),
            "(let x=(as (seconds_between a b) i64) in x)");
  EXPECT_EQ(p("let x = a | f() as i64 in x"), "(let x=(as (| a (f)) i64) in x)");
  EXPECT_EQ(p("let a = 1 let b = a as f64 in b"), "(let a=1 b=(as a f64) in b)");
  EXPECT_EQ(p("let x = let y = 1 in y as i32 in x"), "(let x=(let y=1 in (as y i32)) in x)");
  // A let body extends as far as possible, casts included.
  EXPECT_EQ(p("let x = 1 in x as i64"), "(let x=1 in (as x i64))");
  EXPECT_EQ(p("let x = 1 in x as i64 | f(x)"), "(let x=1 in (| (as x i64) (f x)))");
  // Arguments, record fields, indexes, parentheses: the cast covers the whole operand.
  EXPECT_EQ(p("f(a + b as f64, c)"), "(f (as (add a b) f64) c)");
  EXPECT_EQ(p("f(n = a as i64)"), "(f n=(as a i64))");
  EXPECT_EQ(p("{a: x as i64, b: y | g() as string}"), "{a:(as x i64) b:(as (| y (g)) string)}");
  EXPECT_EQ(p("x[y as i64]"), "(index x (as y i64))");
  EXPECT_EQ(p("(x as i64) + 1"), "(add (as x i64) 1)");
  EXPECT_EQ(p("-x as i64"), "(as (neg x) i64)");
  EXPECT_EQ(p("a < b as i64"), "(as (lt a b) i64)");
  // Beyond the reference: casts chain, and a cast may be piped on.
  EXPECT_EQ(p("x as i64 as f64"), "(as (as x i64) f64)");
  EXPECT_EQ(p("x as i64 | sum()"), "(| (as x i64) (sum))");
  EXPECT_EQ(p("a | b as i64 | c"), "(| (as (| a b) i64) c)");
  EXPECT_EQ(p("x as i64 | sum() as f64"), "(as (| (as x i64) (sum)) f64)");
}

TEST(FenlParser, CastErrorsPointAtTheType) {
  EXPECT_EQ(p("{ d: x as i65 }"),
            "ERROR: Parse error at 1:11: unknown type 'i65' after 'as'; nearest matches: "
            "'i64', 'f64', 'i32'\n"
            "  { d: x as i65 }\n"
            "            ^^^");
  EXPECT_EQ(p("let d = seconds_between(a, b)\n  as int64\nin d"),
            "ERROR: Parse error at 2:6: unknown type 'int64' after 'as'; nearest matches: 'i64'\n"
            "    as int64\n"
            "       ^^^^^");
  EXPECT_EQ(p("x as i8"),
            "ERROR: Parse error at 1:6: type 'i8' is not supported (use i32, i64, u32 or u64)\n"
            "  x as i8\n"
            "       ^^");
  EXPECT_EQ(p("f(x as)"),
            "ERROR: Parse error at 1:7: expected a type name after 'as' but found ')'\n"
            "  f(x as)\n"
            "        ^");
  EXPECT_EQ(p("x as i64 + 1"),
            "ERROR: Parse error at 1:10: expected an operator or end of input but found '+' (a "
            "cast applies to the whole expression before 'as'; write '(e as i64) + ...')\n"
            "  x as i64 + 1\n"
            "           ^");
  EXPECT_NE(p("f(x as f64 * 2)").find("write '(e as f64) * ...'"), std::string::npos);
}

TEST(FenlParser, LexErrors) {
  EXPECT_NE(p(".5").find("Parse error at 1:1"), std::string::npos);
  EXPECT_NE(p("5.").find("expected digits after '.'"), std::string::npos);
  EXPECT_NE(p("1.5i64").find("float suffix"), std::string::npos);
  EXPECT_NE(p("'abc").find("unterminated string"), std::string::npos);
  EXPECT_NE(p("'\\q'").find("invalid escape"), std::string::npos);
  EXPECT_NE(p("a\r\n+ b").find("carriage return"), std::string::npos);
  EXPECT_NE(p("$foo").find("$input"), std::string::npos);
  EXPECT_NE(p("a b").find("expected an operator or end of input"), std::string::npos);
  EXPECT_NE(p("").find("found end of input"), std::string::npos);
  EXPECT_NE(p("{ a: x = 1 }").find("use '==' to compare"), std::string::npos);
  EXPECT_NE(p("x = 1").find("use '==' to compare"), std::string::npos);
}

TEST(FenlParser, DeepNestingIsAnErrorNotACrash) {
  std::string s(5000, '(');
  EXPECT_NE(p(s).find("nests too deeply"), std::string::npos);
  std::string neg(5000, '-');
  EXPECT_NE(p(neg + "1").find("nests too deeply"), std::string::npos);
}

}  // namespace
}  // namespace tideline::fenl
