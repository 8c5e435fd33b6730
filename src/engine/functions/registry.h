#pragma once
// The engine's element-wise kernels, one explicit list per family
// (src/engine/functions/<family>.cc), looked up by catalog name (fenl/functions.h: every
// kElementwise function has a kernel here; tests/engine/function_registry_test.cc).

#include <span>
#include <string_view>
#include <vector>

#include "common/batch.h"
#include "common/status.h"
#include "engine/kernels.h"
#include "fenl/types.h"

namespace tideline::engine {

// A kernel over aligned argument columns of equal length; `arg_types` and `result` are the
// logical types after implicit casts (see call_kernel in kernels.h). The result is never
// the null type (call_kernel handles that before the lookup).
using KernelFn = Result<Column> (*)(const ColumnList& args,
                                    const std::vector<fenl::TypeRef>& arg_types,
                                    const fenl::Type& result);

struct KernelDef {
  std::string_view name;
  KernelFn fn;
};

// The kernel of catalog function `name`, or nullptr if there is none.
const KernelDef* find_kernel(std::string_view name);
// Every kernel, family by family.
std::span<const KernelDef> all_kernels();

// The per-family lists joined by all_kernels() (one per functions/<family>.cc).
std::span<const KernelDef> math_kernels();
std::span<const KernelDef> comparison_kernels();
std::span<const KernelDef> logic_kernels();
std::span<const KernelDef> null_kernels();
std::span<const KernelDef> time_kernels();
std::span<const KernelDef> string_kernels();
std::span<const KernelDef> json_kernels();
std::span<const KernelDef> hash_kernels();

}  // namespace tideline::engine
