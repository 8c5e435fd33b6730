#pragma once
// Fenl's hash() and entity key hashes: the ahash 0.8 fallback hasher with the engine's fixed
// seeds (docs/fenl.md#key-hashes), so key ordering and hash() outputs match the reference engine.

#include <cstdint>
#include <string_view>

namespace tideline::fenl {

// Hash of an integer-like value zero-extended from `width_bits` (32 or 64).
uint64_t hash_int(uint64_t value, int width_bits = 64);
uint64_t hash_string(std::string_view s);
inline uint64_t hash_bool(bool b) {
  return hash_int(b ? 1 : 0, 8);
}
uint64_t hash_float(double v, bool is_f32);

}  // namespace tideline::fenl
