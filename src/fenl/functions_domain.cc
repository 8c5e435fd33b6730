// Operators that change which rows or which entity a value has: filtering, shifting in
// time, lag, cross-entity lookup and re-keying (engine/operators/when.cc, shift.cc, lag.cc,
// lookup.cc; shift_by is compiled to shift_to and never reaches the engine).
#include "fenl/functions.h"

namespace tideline::fenl {

namespace {

constexpr FunctionDef kDomain[] = {
    {"when", "when<T: any>(condition: bool, value: T) -> T", FnKind::kOperator,
     "value, only at the rows where condition is true"},
    {"shift_to", "shift_to<T: any>(time: timestamp_ns, value: T) -> T", FnKind::kOperator,
     "value, produced again at the given later time"},
    {"shift_by", "shift_by<D: timedelta, T: any>(delta: D, value: T) -> T", FnKind::kOperator,
     "value, produced again delta later (compiled to shift_to)"},
    {"shift_until", "shift_until<T: any>(predicate: bool, value: T) -> T", FnKind::kOperator,
     "value, produced again at the next row where predicate is true"},
    // Extension: the reference limits lag to ordered types; Tideline also lags strings and
    // booleans (class 'lagged'), e.g. the previous page a visitor viewed (docs/fenl.md).
    {"lag", "lag<O: lagged>(const n: i64, input: O) -> O", FnKind::kOperator,
     "the n-th previous non-null input"},
    {"lookup", "lookup<K: key, T: any>(key: K, value: T) -> T", FnKind::kOperator,
     "value of the entity named by key"},
    {"with_key", "with_key<K: key, T: any>(key: K, value: T, const grouping: string = null) -> T",
     FnKind::kOperator, "value re-keyed by key (in grouping)"},
};

}  // namespace

std::span<const FunctionDef> domain_functions() {
  return kDomain;
}

}  // namespace tideline::fenl
