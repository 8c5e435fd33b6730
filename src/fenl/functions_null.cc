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
    // Extension: the reference has only is_valid (its Python API's is_null/is_not_null
    // are not(is_valid(x)) and is_valid(x)); docs/fenl.md#extensions.
    {"is_null", "is_null<T: any>(input: T) -> bool", FnKind::kElementwise, "whether input is null"},
    {"is_not_null", "is_not_null<T: any>(input: T) -> bool", FnKind::kElementwise,
     "whether input is not null (is_valid)"},
};

}  // namespace

std::span<const FunctionDef> null_functions() {
  return kNull;
}

}  // namespace tideline::fenl
