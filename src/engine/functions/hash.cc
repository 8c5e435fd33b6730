// Kernel of hash() (catalog: fenl/functions_hash.cc): the entity-key hash of each row.
#include "engine/functions/kernel_helpers.h"
#include "engine/functions/registry.h"

namespace tideline::engine {

namespace {

using namespace kernel;
using Types = std::vector<fenl::TypeRef>;

Result<Column> hash_kernel(const ColumnList& args, const Types& types, const Type&) {
  int64_t n = args.empty() ? 0 : args[0].size();
  Column out = alloc_column(DataType::of(TypeId::kU64), n);
  for (int64_t i = 0; i < n; ++i)
    out.ints()[static_cast<size_t>(i)] = static_cast<int64_t>(hash_value_at(args[0], *types[0], i));
  return out;
}

constexpr KernelDef kHash[] = {
    {"hash", hash_kernel},
};

}  // namespace

std::span<const KernelDef> hash_kernels() {
  return kHash;
}

}  // namespace tideline::engine
