// JSON values (kernel: engine/functions/json.cc; field access `j.name` is compiled to a
// field node, engine/operators/scalar.cc).
#include "fenl/functions.h"

namespace tideline::fenl {

namespace {

constexpr FunctionDef kJson[] = {
    {"json", "json(s: string) -> json", FnKind::kElementwise, "s as a json value"},
};

}  // namespace

std::span<const FunctionDef> json_functions() {
  return kJson;
}

}  // namespace tideline::fenl
