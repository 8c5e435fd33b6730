// Null handling and conditional values (kernels: engine/functions/null.cc).
#include "fenl/functions.h"

namespace tideline::fenl {

namespace {

// if/null_if keep every row (unlike `when`): the engine's when operator
// (engine/operators/when.cc) aligns condition and value, then runs them as kernels.
constexpr FunctionDef kNull[] = {
    {"if", "if<T: any>(condition: bool, value: T) -> T", FnKind::kElementwise,
     "value where condition is true, else null"},
    {"null_if", "null_if<T: any>(condition: bool, value: T) -> T", FnKind::kElementwise,
     "null where condition is true, else value"},
    {"else", "else<T: any>(default: T, value: T) -> T", FnKind::kElementwise,
     "value, or default where value is null"},
    {"coalesce", "coalesce<T: any>(values+: T) -> T", FnKind::kElementwise,
     "the first non-null value"},
    {"is_valid", "is_valid<T: any>(input: T) -> bool", FnKind::kElementwise,
     "whether input is not null"},
};

}  // namespace

std::span<const FunctionDef> null_functions() {
  return kNull;
}

}  // namespace tideline::fenl
