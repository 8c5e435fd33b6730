// Kernels of the boolean functions (catalog: fenl/functions_logic.cc).
#include "engine/functions/kernel_helpers.h"
#include "engine/functions/registry.h"

namespace tideline::engine {

namespace {

using namespace kernel;
using Types = std::vector<fenl::TypeRef>;

Result<Column> not_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return unary_num(
      make_ctx(args, types, result), [](int64_t a) { return static_cast<int64_t>(a == 0); },
      [](double a) { return a; });
}

// Kleene logic: a known false (and) / true (or) decides even when the other side is null.
Column logical_and_or(const ColumnList& args, bool is_and) {
  int64_t n = args.empty() ? 0 : args[0].size();
  Column out = alloc_column(DataType::of(TypeId::kBool), n);
  for (int64_t i = 0; i < n; ++i) {
    bool va = args[0].is_valid(i), vb = args[1].is_valid(i);
    bool a = va && args[0].int_at(i), b = vb && args[1].int_at(i);
    if (va && vb) {
      out.ints()[static_cast<size_t>(i)] = is_and ? (a && b) : (a || b);
    } else if (is_and && ((va && !a) || (vb && !b))) {
      out.ints()[static_cast<size_t>(i)] = 0;
    } else if (!is_and && ((va && a) || (vb && b))) {
      out.ints()[static_cast<size_t>(i)] = 1;
    } else {
      null_out(out, i);
    }
  }
  return out;
}

Result<Column> logical_and_kernel(const ColumnList& args, const Types&, const Type&) {
  return logical_and_or(args, true);
}

Result<Column> logical_or_kernel(const ColumnList& args, const Types&, const Type&) {
  return logical_and_or(args, false);
}

constexpr KernelDef kLogic[] = {
    {"not", not_kernel},
    {"logical_and", logical_and_kernel},
    {"logical_or", logical_or_kernel},
};

}  // namespace

std::span<const KernelDef> logic_kernels() {
  return kLogic;
}

}  // namespace tideline::engine
