// Hashing (kernel: engine/functions/hash.cc; the hash itself is fenl/hash.h).
#include "fenl/functions.h"

namespace tideline::fenl {

namespace {

constexpr FunctionDef kHash[] = {
    {"hash", "hash<K: key>(input: K) -> u64", FnKind::kElementwise,
     "the reference engine's hash of input (entity key hash)"},
};

}  // namespace

std::span<const FunctionDef> hash_functions() {
  return kHash;
}

}  // namespace tideline::fenl
