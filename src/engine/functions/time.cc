// Kernels of the time, duration and calendar functions (catalog: fenl/functions_time.cc).
#include "common/time.h"

#include <algorithm>
#include <climits>

#include "engine/functions/kernel_helpers.h"
#include "engine/functions/registry.h"

namespace tideline::engine {

namespace {

using namespace kernel;
using Types = std::vector<fenl::TypeRef>;

// Row i of the result = f(civil date of the time in row i, days since the epoch).
template <typename F>
Column time_part(const Ctx& x, F f) {
  Column out = result_column(x, {0});
  for (int64_t i = 0; i < x.n; ++i) {
    int64_t t = x.args[0].int_at(i);
    int64_t days = floor_div(t, kNanosPerDay);
    CivilDate cd = civil_from_days(days);
    out.ints()[static_cast<size_t>(i)] = f(cd, days);
  }
  return out;
}

int64_t add_months(int64_t t, int64_t months) {
  int64_t days = floor_div(t, kNanosPerDay);
  int64_t rem = t - days * kNanosPerDay;
  CivilDate cd = civil_from_days(days);
  int64_t m0 = cd.year * 12 + (cd.month - 1) + months;
  int64_t y = floor_div(m0, 12);
  unsigned m = static_cast<unsigned>(m0 - y * 12 + 1);
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  unsigned dim = kDays[m - 1];
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) dim = 29;
  unsigned d = std::min(cd.day, dim);
  return days_from_civil(y, m, d) * kNanosPerDay + rem;
}

Result<Column> year_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return time_part(make_ctx(args, types, result),
                   [](const CivilDate& c, int64_t) { return c.year; });
}

Result<Column> month_of_year_kernel(const ColumnList& args, const Types& types,
                                    const Type& result) {
  return time_part(make_ctx(args, types, result),
                   [](const CivilDate& c, int64_t) { return c.month; });
}

Result<Column> month_of_year0_kernel(const ColumnList& args, const Types& types,
                                     const Type& result) {
  return time_part(make_ctx(args, types, result),
                   [](const CivilDate& c, int64_t) { return c.month - 1; });
}

Result<Column> day_of_month_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return time_part(make_ctx(args, types, result),
                   [](const CivilDate& c, int64_t) { return c.day; });
}

Result<Column> day_of_month0_kernel(const ColumnList& args, const Types& types,
                                    const Type& result) {
  return time_part(make_ctx(args, types, result),
                   [](const CivilDate& c, int64_t) { return c.day - 1; });
}

Column day_of_year_from(const Ctx& x, int64_t base) {
  return time_part(x, [base](const CivilDate& c, int64_t days) {
    return days - days_from_civil(c.year, 1, 1) + base;
  });
}

Result<Column> day_of_year_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return day_of_year_from(make_ctx(args, types, result), 1);
}

Result<Column> day_of_year0_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return day_of_year_from(make_ctx(args, types, result), 0);
}

Result<Column> seconds_kernel(const ColumnList& args, const Types& types, const Type& result) {
  Ctx x = make_ctx(args, types, result);
  Column out = result_column(x, {0});
  for (int64_t i = 0; i < x.n; ++i) out.ints()[static_cast<size_t>(i)] = args[0].int_at(i);
  return out;
}

// days/months: the count, null outside [lo, INT32_MAX].
Column interval_from(const Ctx& x, int64_t lo) {
  Column out = result_column(x, {0});
  for (int64_t i = 0; i < x.n; ++i) {
    int64_t v = x.args[0].int_at(i);
    out.ints()[static_cast<size_t>(i)] = v;
    if (out.is_valid(i) && (v < lo || v > INT32_MAX)) null_out(out, i);
  }
  return out;
}

Result<Column> days_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return interval_from(make_ctx(args, types, result), 0);
}

Result<Column> months_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return interval_from(make_ctx(args, types, result), INT32_MIN);
}

Result<Column> add_time_kernel(const ColumnList& args, const Types& types, const Type& result) {
  Ctx x = make_ctx(args, types, result);
  Column out = result_column(x, {0, 1});
  Kind dk = types[0]->kind;
  for (int64_t i = 0; i < x.n; ++i) {
    if (!out.is_valid(i)) continue;
    int64_t d = args[0].int_at(i), t = args[1].int_at(i);
    int64_t r = 0;
    bool overflow = false;
    if (dk == Kind::kIntervalMonths) {
      // Beyond ±100000 years the civil arithmetic below is out of range anyway.
      overflow = d > 1'200'000 || d < -1'200'000;
      if (!overflow) r = add_months(t, d);
    } else {
      int64_t unit = dk == Kind::kIntervalDays ? kNanosPerDay : fenl::duration_unit_ns(dk);
      int64_t delta;
      overflow = __builtin_mul_overflow(d, unit, &delta) || __builtin_add_overflow(t, delta, &r);
    }
    if (overflow) {
      null_out(out, i);
      continue;
    }
    out.ints()[static_cast<size_t>(i)] = r;
  }
  return out;
}

enum class Between : uint8_t { kSeconds, kDays, kMonths };

Column between(const Ctx& x, Between unit) {
  Column out = result_column(x, {0, 1});
  for (int64_t i = 0; i < x.n; ++i) {
    int64_t a = x.args[0].int_at(i), b = x.args[1].int_at(i);
    int64_t r;
    int64_t diff = 0;
    if (unit != Between::kMonths && __builtin_sub_overflow(b, a, &diff)) {
      null_out(out, i);
      continue;
    }
    if (unit == Between::kSeconds)
      r = diff / kNanosPerSecond;
    else if (unit == Between::kDays)
      r = diff / kNanosPerDay;
    else {
      CivilDate ca = civil_from_days(floor_div(a, kNanosPerDay));
      CivilDate cb = civil_from_days(floor_div(b, kNanosPerDay));
      r = (cb.year - ca.year) * 12 +
          (static_cast<int64_t>(cb.month) - static_cast<int64_t>(ca.month));
    }
    out.ints()[static_cast<size_t>(i)] = r;
  }
  return out;
}

Result<Column> seconds_between_kernel(const ColumnList& args, const Types& types,
                                      const Type& result) {
  return between(make_ctx(args, types, result), Between::kSeconds);
}

Result<Column> days_between_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return between(make_ctx(args, types, result), Between::kDays);
}

Result<Column> months_between_kernel(const ColumnList& args, const Types& types,
                                     const Type& result) {
  return between(make_ctx(args, types, result), Between::kMonths);
}

constexpr KernelDef kTime[] = {
    {"add_time", add_time_kernel},
    {"seconds", seconds_kernel},
    {"days", days_kernel},
    {"months", months_kernel},
    {"seconds_between", seconds_between_kernel},
    {"days_between", days_between_kernel},
    {"months_between", months_between_kernel},
    {"year", year_kernel},
    {"month_of_year", month_of_year_kernel},
    {"month_of_year0", month_of_year0_kernel},
    {"day_of_month", day_of_month_kernel},
    {"day_of_month0", day_of_month0_kernel},
    {"day_of_year", day_of_year_kernel},
    {"day_of_year0", day_of_year0_kernel},
};

}  // namespace

std::span<const KernelDef> time_kernels() {
  return kTime;
}

}  // namespace tideline::engine
