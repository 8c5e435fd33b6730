#include "fenl/functions.h"

#include <unordered_map>
#include <vector>

namespace tideline::fenl {

std::span<const FunctionDef> all_functions() {
  static const std::vector<FunctionDef> kAll = [] {
    std::vector<FunctionDef> all;
    for (auto family :
         {math_functions(), comparison_functions(), logic_functions(), null_functions(),
          aggregation_functions(), time_functions(), domain_functions(), record_functions(),
          string_functions(), json_functions(), hash_functions()}) {
      all.insert(all.end(), family.begin(), family.end());
    }
    return all;
  }();
  return kAll;
}

const FunctionDef* find_function(std::string_view name) {
  static const auto kByName = [] {
    std::unordered_map<std::string_view, const FunctionDef*> m;
    for (const FunctionDef& f : all_functions()) m.emplace(f.name, &f);
    return m;
  }();
  auto it = kByName.find(name);
  return it == kByName.end() ? nullptr : it->second;
}

}  // namespace tideline::fenl
