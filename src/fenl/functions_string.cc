// Strings (kernels: engine/functions/string.cc).
#include "fenl/functions.h"

namespace tideline::fenl {

namespace {

constexpr FunctionDef kString[] = {
    {"len", "len(s: string) -> i32", FnKind::kElementwise, "length in bytes"},
    {"upper", "upper(s: string) -> string", FnKind::kElementwise, "s in upper case"},
    {"lower", "lower(s: string) -> string", FnKind::kElementwise, "s in lower case"},
    {"substring", "substring(s: string, start: i64 = null, end: i64 = null) -> string",
     FnKind::kElementwise, "characters [start, end) of s (negative counts from the end)"},
};

}  // namespace

std::span<const FunctionDef> string_functions() {
  return kString;
}

}  // namespace tideline::fenl
