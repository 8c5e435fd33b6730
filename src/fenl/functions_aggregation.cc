// Aggregations and their windows (operators: engine/operators/aggregation.cc).
#include "fenl/functions.h"

namespace tideline::fenl {

namespace {

constexpr FunctionDef kAggregation[] = {
    {"count", "count<T: any>(input: T, window: window = null) -> u32", FnKind::kAggregation,
     "number of non-null inputs"},
    {"count_if", "count_if(input: bool, window: window = null) -> u32", FnKind::kAggregation,
     "number of true inputs"},
    {"sum", "sum<N: number>(input: N, window: window = null) -> N", FnKind::kAggregation,
     "sum of the inputs"},
    {"min", "min<O: ordered>(input: O, window: window = null) -> O", FnKind::kAggregation,
     "smallest input"},
    {"max", "max<O: ordered>(input: O, window: window = null) -> O", FnKind::kAggregation,
     "largest input"},
    {"mean", "mean<N: number>(input: N, window: window = null) -> f64", FnKind::kAggregation,
     "arithmetic mean of the inputs"},
    {"variance", "variance<N: number>(input: N, window: window = null) -> f64",
     FnKind::kAggregation, "population variance of the inputs"},
    {"stddev", "stddev<N: number>(input: N, window: window = null) -> f64", FnKind::kAggregation,
     "population standard deviation of the inputs"},
    {"first", "first<T: any>(input: T, window: window = null) -> T", FnKind::kAggregation,
     "first non-null input"},
    {"last", "last<T: any>(input: T, window: window = null) -> T", FnKind::kAggregation,
     "latest non-null input"},
    {"since", "since(condition: bool) -> window", FnKind::kWindow,
     "window that restarts after each row where condition is true"},
    {"sliding", "sliding(const duration: i64, condition: bool) -> window", FnKind::kWindow,
     "window over the last `duration` segments, each ended by condition"},
};

}  // namespace

std::span<const FunctionDef> aggregation_functions() {
  return kAggregation;
}

}  // namespace tideline::fenl
