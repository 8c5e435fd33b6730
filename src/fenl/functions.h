#pragma once
// The catalog of Fenl functions: one entry per function with its signature (parsed by the
// compiler, compiler.cc), how the engine runs it, and a one-line description. Each family
// of functions is an explicit list in its own file (functions_<family>.cc); all_functions()
// joins them. A kElementwise function needs an engine kernel of the same name
// (src/engine/functions/, checked by tests/engine/function_registry_test.cc).

#include <cstdint>
#include <span>
#include <string_view>

namespace tideline::fenl {

enum class FnKind : uint8_t {
  kElementwise,  // a kernel over aligned argument columns (engine/functions/registry.h)
  kAggregation,  // per-entity accumulation with an optional `window` argument
  kWindow,       // since/sliding: only valid as an aggregation's window
  kTick,         // rows generated at calendar boundaries (minutely() ... yearly())
  kOperator,     // run by the engine as its own operator (when, shifts, lag, lookup, ...;
                 // engine/operators/)
};

struct FunctionDef {
  std::string_view name;
  // Signature text, e.g. "sum<N: number>(input: N, window: window = null) -> N": type
  // variables with their class, parameters (`const`, variadic `+`, default `= null`), result.
  std::string_view signature;
  FnKind kind;
  std::string_view doc;
};

// The function named `name`, or nullptr if there is none.
const FunctionDef* find_function(std::string_view name);
// Every function, family by family.
std::span<const FunctionDef> all_functions();

// The per-family lists joined by all_functions() (one per functions_<family>.cc).
std::span<const FunctionDef> math_functions();
std::span<const FunctionDef> comparison_functions();
std::span<const FunctionDef> logic_functions();
std::span<const FunctionDef> null_functions();
std::span<const FunctionDef> aggregation_functions();
std::span<const FunctionDef> time_functions();
std::span<const FunctionDef> domain_functions();
std::span<const FunctionDef> record_functions();
std::span<const FunctionDef> string_functions();
std::span<const FunctionDef> json_functions();
std::span<const FunctionDef> hash_functions();

}  // namespace tideline::fenl
