#pragma once
// FNV-1a, 64 bits: a small hash that is the same in every build and run, for names derived
// from data and for checksums against accidental damage (not against an adversary).

#include <cstdint>
#include <string_view>

namespace tideline {

inline uint64_t fnv1a_64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace tideline
