// Arithmetic and numeric functions (kernels: engine/functions/math.cc).
#include "fenl/functions.h"

namespace tideline::fenl {

namespace {

constexpr FunctionDef kMath[] = {
    {"add", "add<N: number>(a: N, b: N) -> N", FnKind::kElementwise, "a + b"},
    {"sub", "sub<N: number>(a: N, b: N) -> N", FnKind::kElementwise, "a - b"},
    {"mul", "mul<N: number>(a: N, b: N) -> N", FnKind::kElementwise, "a * b"},
    {"div", "div<N: number>(a: N, b: N) -> N", FnKind::kElementwise,
     "a / b (integer division by zero is null)"},
    {"neg", "neg<N: signed>(n: N) -> N", FnKind::kElementwise, "-n"},
    {"ceil", "ceil<N: number>(n: N) -> N", FnKind::kElementwise, "smallest integer >= n"},
    {"floor", "floor<N: number>(n: N) -> N", FnKind::kElementwise, "largest integer <= n"},
    {"round", "round<N: number>(n: N) -> N", FnKind::kElementwise,
     "nearest integer, halves away from zero"},
    {"clamp", "clamp<N: number>(value: N, min: N = null, max: N = null) -> N", FnKind::kElementwise,
     "value limited to [min, max] (null if min > max)"},
    {"exp", "exp(power: f64) -> f64", FnKind::kElementwise, "e raised to power"},
    {"powf", "powf(base: f64, power: f64) -> f64", FnKind::kElementwise, "base raised to power"},
    {"sqrt", "sqrt<N: number>(a: N) -> f64", FnKind::kElementwise, "square root"},
    {"zip_min", "zip_min<O: ordered>(a: O, b: O) -> O", FnKind::kElementwise,
     "the smaller of a and b"},
    {"zip_max", "zip_max<O: ordered>(a: O, b: O) -> O", FnKind::kElementwise,
     "the larger of a and b"},
};

}  // namespace

std::span<const FunctionDef> math_functions() {
  return kMath;
}

}  // namespace tideline::fenl
