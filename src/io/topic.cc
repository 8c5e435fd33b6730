#include "io/topic.h"

#include <cstring>

namespace tideline::io {

namespace {
inline uint32_t rotl32(uint32_t x, int r) {
  return (x << r) | (x >> (32 - r));
}

// MurmurHash3 x86 32-bit over `data` (little-endian block reads, as the reference).
uint32_t murmur3_32(const unsigned char* data, size_t len, uint32_t seed) {
  constexpr uint32_t kC1 = 0xcc9e2d51, kC2 = 0x1b873593;
  uint32_t h = seed;
  const size_t blocks = len / 4;
  for (size_t i = 0; i < blocks; ++i) {
    const unsigned char* p = data + i * 4;
    uint32_t k =
        uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
    k *= kC1;
    k = rotl32(k, 15);
    k *= kC2;
    h ^= k;
    h = rotl32(h, 13);
    h = h * 5 + 0xe6546b64;
  }
  const unsigned char* tail = data + blocks * 4;
  uint32_t k = 0;
  switch (len & 3) {
    case 3:
      k ^= uint32_t(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      k ^= uint32_t(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      k ^= tail[0];
      k *= kC1;
      k = rotl32(k, 15);
      k *= kC2;
      h ^= k;
  }
  h ^= static_cast<uint32_t>(len);
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}
}  // namespace

uint32_t pulsar_key_hash(std::string_view key) {
  return murmur3_32(reinterpret_cast<const unsigned char*>(key.data()), key.size(), 0) &
         0x7fffffffu;
}

}  // namespace tideline::io
