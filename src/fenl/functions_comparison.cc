// Comparisons (kernels: engine/functions/comparison.cc).
#include "fenl/functions.h"

namespace tideline::fenl {

namespace {

constexpr FunctionDef kComparison[] = {
    {"eq", "eq<T: any>(a: T, b: T) -> bool", FnKind::kElementwise, "a == b"},
    {"neq", "neq<T: any>(a: T, b: T) -> bool", FnKind::kElementwise, "a != b"},
    {"lt", "lt<O: ordered>(a: O, b: O) -> bool", FnKind::kElementwise, "a < b"},
    {"lte", "lte<O: ordered>(a: O, b: O) -> bool", FnKind::kElementwise, "a <= b"},
    {"gt", "gt<O: ordered>(a: O, b: O) -> bool", FnKind::kElementwise, "a > b"},
    {"gte", "gte<O: ordered>(a: O, b: O) -> bool", FnKind::kElementwise, "a >= b"},
};

}  // namespace

std::span<const FunctionDef> comparison_functions() {
  return kComparison;
}

}  // namespace tideline::fenl
