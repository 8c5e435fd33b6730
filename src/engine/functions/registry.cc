#include "engine/functions/registry.h"

#include <string>
#include <unordered_map>

namespace tideline::engine {

std::span<const KernelDef> all_kernels() {
  static const std::vector<KernelDef> kAll = [] {
    std::vector<KernelDef> all;
    for (auto family : {math_kernels(), comparison_kernels(), logic_kernels(), null_kernels(),
                        time_kernels(), string_kernels(), json_kernels(), hash_kernels()}) {
      all.insert(all.end(), family.begin(), family.end());
    }
    return all;
  }();
  return kAll;
}

const KernelDef* find_kernel(std::string_view name) {
  static const auto kByName = [] {
    std::unordered_map<std::string_view, const KernelDef*> m;
    for (const KernelDef& k : all_kernels()) m.emplace(k.name, &k);
    return m;
  }();
  auto it = kByName.find(name);
  return it == kByName.end() ? nullptr : it->second;
}

Result<Column> call_kernel(std::string_view fn, const ColumnList& args,
                           const std::vector<fenl::TypeRef>& types, const fenl::Type& result) {
  if (result.kind == fenl::Kind::kNull) {  // every input was the null literal
    Column out(DataType::of(TypeId::kNull));
    out.set_size(args.empty() ? 0 : args[0].size());
    return out;
  }
  const KernelDef* k = find_kernel(fn);
  if (!k) {
    return error(StatusCode::kUnimplemented, "function '" + std::string(fn) + "' has no kernel");
  }
  return k->fn(args, types, result);
}

}  // namespace tideline::engine
