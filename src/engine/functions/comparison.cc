// Kernels of the comparisons (catalog: fenl/functions_comparison.cc).
#include "engine/functions/kernel_helpers.h"
#include "engine/functions/registry.h"

namespace tideline::engine {

namespace {

using namespace kernel;
using Types = std::vector<fenl::TypeRef>;

bool record_equal(const Column& a, const Column& b, const Type& t, int64_t i) {
  for (size_t f = 0; f < t.fields.size(); ++f) {
    bool va = a.child(f).is_valid(i), vb = b.child(f).is_valid(i);
    if (va != vb) return false;
    if (!va) continue;
    const Type& ft = *t.fields[f].type;
    if (ft.kind == Kind::kRecord) {
      if (!record_equal(a.child(f), b.child(f), ft, i)) return false;
    } else if (compare_at(a.child(f), b.child(f), ft.kind, i) != 0) {
      return false;
    }
  }
  return true;
}

template <typename P>
Column compare(const Ctx& x, P pred) {
  Column out = result_column(x, {0, 1});
  Kind k = x.types[0]->kind;
  auto& o = out.ints();
  for (int64_t i = 0; i < x.n; ++i) {
    int c = k == Kind::kRecord ? (record_equal(x.args[0], x.args[1], *x.types[0], i) ? 0 : 1)
                               : compare_at(x.args[0], x.args[1], k, i);
    o[static_cast<size_t>(i)] = pred(c);
  }
  return out;
}

Result<Column> eq_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return compare(make_ctx(args, types, result), [](int c) { return c == 0; });
}

Result<Column> neq_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return compare(make_ctx(args, types, result), [](int c) { return c != 0; });
}

Result<Column> lt_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return compare(make_ctx(args, types, result), [](int c) { return c < 0; });
}

Result<Column> lte_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return compare(make_ctx(args, types, result), [](int c) { return c <= 0; });
}

Result<Column> gt_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return compare(make_ctx(args, types, result), [](int c) { return c > 0; });
}

Result<Column> gte_kernel(const ColumnList& args, const Types& types, const Type& result) {
  return compare(make_ctx(args, types, result), [](int c) { return c >= 0; });
}

constexpr KernelDef kComparison[] = {
    {"eq", eq_kernel},   {"neq", neq_kernel}, {"lt", lt_kernel},
    {"lte", lte_kernel}, {"gt", gt_kernel},   {"gte", gte_kernel},
};

}  // namespace

std::span<const KernelDef> comparison_kernels() {
  return kComparison;
}

}  // namespace tideline::engine
