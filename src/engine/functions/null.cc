// Kernels of the null-handling and conditional functions (catalog: fenl/functions_null.cc).
#include "engine/functions/kernel_helpers.h"
#include "engine/functions/registry.h"

namespace tideline::engine {

namespace {

using namespace kernel;
using Types = std::vector<fenl::TypeRef>;

// if (want = true) / null_if (want = false): the value where the condition is `want`.
Column if_null_if(const ColumnList& args, bool want) {
  int64_t n = args.empty() ? 0 : args[0].size();
  std::vector<int32_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    bool cv = args[0].is_valid(i);
    bool keep = cv && ((args[0].int_at(i) != 0) == want);
    idx[static_cast<size_t>(i)] = keep ? static_cast<int32_t>(i) : -1;
  }
  return gather(args[1], idx);
}

Result<Column> if_kernel(const ColumnList& args, const Types&, const Type&) {
  return if_null_if(args, true);
}

Result<Column> null_if_kernel(const ColumnList& args, const Types&, const Type&) {
  return if_null_if(args, false);
}

// Row i of the result: row i of the first column of `order` that is valid there.
Column first_valid(const std::vector<const Column*>& order, int64_t n, const Type& result) {
  Column out(fenl::physical_type(result));
  for (int64_t i = 0; i < n; ++i) {
    const Column* pick = nullptr;
    for (const Column* c : order) {
      if (c->type_id() != TypeId::kNull && c->is_valid(i)) {
        pick = c;
        break;
      }
    }
    if (pick)
      out.append_from(*pick, i);
    else if (result.kind == Kind::kRecord) {
      for (size_t f = 0; f < out.num_children(); ++f) out.child(f).append_null();
      out.append_record_row(false);
    } else
      out.append_null();
  }
  return out;
}

Result<Column> else_kernel(const ColumnList& args, const Types&, const Type& result) {
  // else(default, value) == coalesce(value, default)
  return first_valid({&args[1], &args[0]}, args[0].size(), result);
}

Result<Column> coalesce_kernel(const ColumnList& args, const Types&, const Type& result) {
  std::vector<const Column*> order;
  for (size_t a = 0; a < args.size(); ++a) order.push_back(&args[a]);
  return first_valid(order, args.empty() ? 0 : args[0].size(), result);
}

Result<Column> is_valid_kernel(const ColumnList& args, const Types&, const Type&) {
  int64_t n = args.empty() ? 0 : args[0].size();
  Column out = alloc_column(DataType::of(TypeId::kBool), n);
  for (int64_t i = 0; i < n; ++i) out.ints()[static_cast<size_t>(i)] = args[0].is_valid(i);
  return out;
}

// is_null / is_not_null: whether the input is (not) null; never null themselves.
Result<Column> presence(const ColumnList& args, bool want_valid) {
  int64_t n = args.empty() ? 0 : args[0].size();
  Column out = alloc_column(DataType::of(TypeId::kBool), n);
  for (int64_t i = 0; i < n; ++i)
    out.ints()[static_cast<size_t>(i)] = args[0].is_valid(i) == want_valid;
  return out;
}

Result<Column> is_null_kernel(const ColumnList& args, const Types&, const Type&) {
  return presence(args, false);
}

Result<Column> is_not_null_kernel(const ColumnList& args, const Types&, const Type&) {
  return presence(args, true);
}

constexpr KernelDef kNull[] = {
    {"if", if_kernel},
    {"null_if", null_if_kernel},
    {"else", else_kernel},
    {"coalesce", coalesce_kernel},
    {"is_valid", is_valid_kernel},
    {"is_null", is_null_kernel},
    {"is_not_null", is_not_null_kernel},
};

}  // namespace

std::span<const KernelDef> null_kernels() {
  return kNull;
}

}  // namespace tideline::engine
