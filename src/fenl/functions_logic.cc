// Boolean logic (kernels: engine/functions/logic.cc).
#include "fenl/functions.h"

namespace tideline::fenl {

namespace {

constexpr FunctionDef kLogic[] = {
    {"not", "not(input: bool) -> bool", FnKind::kElementwise, "!input"},
    {"logical_and", "logical_and(a: bool, b: bool) -> bool", FnKind::kElementwise,
     "a and b (false if either is false, even when the other is null)"},
    {"logical_or", "logical_or(a: bool, b: bool) -> bool", FnKind::kElementwise,
     "a or b (true if either is true, even when the other is null)"},
};

}  // namespace

std::span<const FunctionDef> logic_functions() {
  return kLogic;
}

}  // namespace tideline::fenl
