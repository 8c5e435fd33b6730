// Times, durations, calendar parts and ticks (kernels: engine/functions/time.cc; ticks
// are operators in engine/operators/tick.cc, time_of in engine/operators/scalar.cc).
#include "fenl/functions.h"

namespace tideline::fenl {

namespace {

constexpr FunctionDef kTime[] = {
    {"minutely", "minutely() -> bool", FnKind::kTick, "true at the start of every minute"},
    {"hourly", "hourly() -> bool", FnKind::kTick, "true at the start of every hour"},
    {"daily", "daily() -> bool", FnKind::kTick, "true at the start of every day"},
    {"monthly", "monthly() -> bool", FnKind::kTick, "true at the start of every month"},
    {"yearly", "yearly() -> bool", FnKind::kTick, "true at the start of every year"},
    {"time_of", "time_of<T: any>(input: T) -> timestamp_ns", FnKind::kOperator,
     "the time of each row of input"},
    {"add_time", "add_time<D: timedelta>(delta: D, time: timestamp_ns) -> timestamp_ns",
     FnKind::kElementwise, "time + delta (null on overflow)"},
    {"seconds", "seconds(seconds: i64) -> duration_s", FnKind::kElementwise,
     "a duration of that many seconds"},
    {"days", "days(days: i64) -> interval_days", FnKind::kElementwise,
     "an interval of that many days"},
    {"months", "months(months: i64) -> interval_months", FnKind::kElementwise,
     "an interval of that many months"},
    {"seconds_between", "seconds_between(t1: timestamp_ns, t2: timestamp_ns) -> duration_s",
     FnKind::kElementwise, "whole seconds from t1 to t2"},
    {"days_between", "days_between(t1: timestamp_ns, t2: timestamp_ns) -> interval_days",
     FnKind::kElementwise, "whole days from t1 to t2"},
    {"months_between", "months_between(t1: timestamp_ns, t2: timestamp_ns) -> interval_months",
     FnKind::kElementwise, "calendar months from t1 to t2"},
    {"year", "year(time: timestamp_ns) -> i32", FnKind::kElementwise, "the year (UTC)"},
    {"month_of_year", "month_of_year(time: timestamp_ns) -> u32", FnKind::kElementwise,
     "the month, 1-12"},
    {"month_of_year0", "month_of_year0(time: timestamp_ns) -> u32", FnKind::kElementwise,
     "the month, 0-11"},
    {"day_of_month", "day_of_month(time: timestamp_ns) -> u32", FnKind::kElementwise,
     "the day of the month, from 1"},
    {"day_of_month0", "day_of_month0(time: timestamp_ns) -> u32", FnKind::kElementwise,
     "the day of the month, from 0"},
    {"day_of_year", "day_of_year(time: timestamp_ns) -> u32", FnKind::kElementwise,
     "the day of the year, from 1"},
    {"day_of_year0", "day_of_year0(time: timestamp_ns) -> u32", FnKind::kElementwise,
     "the day of the year, from 0"},
};

}  // namespace

std::span<const FunctionDef> time_functions() {
  return kTime;
}

}  // namespace tideline::fenl
