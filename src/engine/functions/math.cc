// Kernels of the arithmetic and numeric functions (catalog: fenl/functions_math.cc).
#include <cmath>

#include "engine/functions/kernel_helpers.h"
#include "engine/functions/registry.h"

namespace tideline::engine {

namespace {

using namespace kernel;
using Types = std::vector<fenl::TypeRef>;

Result<Column> add_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return arith(
      make_ctx(args, types, result),
      [](int64_t a, int64_t b) { return static_cast<int64_t>(as_u(a) + as_u(b)); },
      [](double a, double b) { return a + b; });
}

Result<Column> sub_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return arith(
      make_ctx(args, types, result),
      [](int64_t a, int64_t b) { return static_cast<int64_t>(as_u(a) - as_u(b)); },
      [](double a, double b) { return a - b; });
}

Result<Column> mul_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return arith(
      make_ctx(args, types, result),
      [](int64_t a, int64_t b) { return static_cast<int64_t>(as_u(a) * as_u(b)); },
      [](double a, double b) { return a * b; });
}

Result<Column> div_kernel(const ColumnList& args, const Types& types, const Type& result) {
  Ctx x = make_ctx(args, types, result);
  Kind rk = result.kind;
  Column out = arith(
      x,
      [&](int64_t a, int64_t b) -> int64_t {
        if (b == 0) return 0;
        if (rk == Kind::kU64) return static_cast<int64_t>(as_u(a) / as_u(b));
        if (b == -1) return static_cast<int64_t>(0 - as_u(a));
        return a / b;
      },
      [](double a, double b) { return a / b; });
  if (!fenl::is_float_kind(rk)) {
    for (int64_t i = 0; i < x.n; ++i) {
      if (out.is_valid(i) && args[1].int_at(i) == 0) null_out(out, i);
    }
  }
  return out;
}

Result<Column> neg_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return unary_num(
      make_ctx(args, types, result),
      [](int64_t a) { return static_cast<int64_t>(0 - static_cast<uint64_t>(a)); },
      [](double a) { return -a; });
}

Result<Column> ceil_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return unary_num(
      make_ctx(args, types, result), [](int64_t a) { return a; },
      [](double a) { return std::ceil(a); });
}

Result<Column> floor_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return unary_num(
      make_ctx(args, types, result), [](int64_t a) { return a; },
      [](double a) { return std::floor(a); });
}

Result<Column> round_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return unary_num(
      make_ctx(args, types, result), [](int64_t a) { return a; },
      [](double a) { return std::round(a); });
}

Result<Column> exp_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return unary_num(
      make_ctx(args, types, result), [](int64_t a) { return a; },
      [](double a) { return std::exp(a); });
}

Result<Column> sqrt_kernel(const ColumnList& args, const Types& types, const Type& result) {
  Ctx x = make_ctx(args, types, result);
  Column out = result_column(x, {0});
  for (int64_t i = 0; i < x.n; ++i) {
    double v = fenl::is_float_kind(types[0]->kind) ? args[0].float_at(i)
               : types[0]->kind == Kind::kU64
                   ? static_cast<double>(static_cast<uint64_t>(args[0].int_at(i)))
                   : static_cast<double>(args[0].int_at(i));
    out.floats()[static_cast<size_t>(i)] = std::pow(v, 0.5);
  }
  return out;
}

Result<Column> powf_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return arith(
      make_ctx(args, types, result), [](int64_t a, int64_t) { return a; },
      [](double a, double b) { return std::pow(a, b); });
}

Result<Column> clamp_kernel(const ColumnList& args, const Types& types, const Type& result) {
  Ctx x = make_ctx(args, types, result);
  Kind rk = result.kind;
  Column out = result_column(x, {0});
  bool fl = fenl::is_float_kind(rk);
  for (int64_t i = 0; i < x.n; ++i) {
    if (!out.is_valid(i)) continue;
    bool has_min = args[1].is_valid(i), has_max = args[2].is_valid(i);
    if (has_min && has_max && compare_at(args[1], args[2], rk, i) > 0) {
      null_out(out, i);
      continue;
    }
    const Column* pick = &args[0];
    if (has_min && compare_at(args[0], args[1], rk, i) < 0) pick = &args[1];
    if (has_max && compare_at(*pick, args[2], rk, i) > 0) pick = &args[2];
    if (fl)
      out.floats()[static_cast<size_t>(i)] = pick->float_at(i);
    else
      out.ints()[static_cast<size_t>(i)] = pick->int_at(i);
  }
  return out;
}

Column zip_min_max(const Ctx& x, bool is_min) {
  const ColumnList& args = x.args;
  Kind rk = x.result.kind;
  Column out = result_column(x, {0, 1});
  bool fl = fenl::is_float_kind(rk);
  for (int64_t i = 0; i < x.n; ++i) {
    if (!out.is_valid(i)) continue;
    bool take_a;
    if (fl) {
      double a = args[0].float_at(i), b = args[1].float_at(i);
      take_a = is_min ? a < b : a > b;
      out.floats()[static_cast<size_t>(i)] = take_a ? a : b;
    } else {
      int c = compare_at(args[0], args[1], rk, i);
      take_a = is_min ? c < 0 : c > 0;
      out.ints()[static_cast<size_t>(i)] = take_a ? args[0].int_at(i) : args[1].int_at(i);
    }
  }
  return out;
}

Result<Column> zip_min_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return zip_min_max(make_ctx(args, types, result), true);
}

Result<Column> zip_max_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return zip_min_max(make_ctx(args, types, result), false);
}

constexpr KernelDef kMath[] = {
    {"add", add_kernel},         {"sub", sub_kernel},         {"mul", mul_kernel},
    {"div", div_kernel},         {"neg", neg_kernel},         {"ceil", ceil_kernel},
    {"floor", floor_kernel},     {"round", round_kernel},     {"clamp", clamp_kernel},
    {"exp", exp_kernel},         {"powf", powf_kernel},       {"sqrt", sqrt_kernel},
    {"zip_min", zip_min_kernel}, {"zip_max", zip_max_kernel},
};

}  // namespace

std::span<const KernelDef> math_kernels() {
  return kMath;
}

}  // namespace tideline::engine
