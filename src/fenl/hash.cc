#include "fenl/hash.h"

#include <bit>
#include <cstring>

namespace tideline::fenl {

namespace {

constexpr uint64_t kPi2[4] = {0x452821e638d01377ULL, 0xbe5466cf34e90c6cULL, 0xc0ac29b7c97c50ddULL,
                              0x3f84d5b5b5470917ULL};
constexpr uint64_t kSeeds[4] = {1234, 5678, 9012, 3456};
constexpr uint64_t kMult = 6364136223846793005ULL;
constexpr int kRot = 23;

inline uint64_t fold(uint64_t s, uint64_t by) {
  unsigned __int128 r = static_cast<unsigned __int128>(s) * by;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

struct Hasher {
  uint64_t buffer = kSeeds[0] ^ kPi2[0];
  uint64_t pad = kSeeds[1] ^ kPi2[1];
  uint64_t extra0 = kSeeds[2] ^ kPi2[2];
  uint64_t extra1 = kSeeds[3] ^ kPi2[3];

  void update(uint64_t x) { buffer = fold(x ^ buffer, kMult); }
  void big(uint64_t lo, uint64_t hi) {
    buffer = std::rotl((buffer + pad) ^ fold(lo ^ extra0, hi ^ extra1), kRot);
  }
  static uint64_t le(const unsigned char* p, size_t n) {
    uint64_t v = 0;
    std::memcpy(&v, p, n);  // little-endian host
    return v;
  }
  void write(std::string_view s) {
    const auto* d = reinterpret_cast<const unsigned char*>(s.data());
    size_t n = s.size();
    buffer = (buffer + n) * kMult;
    if (n > 16) {
      big(le(d + n - 16, 8), le(d + n - 8, 8));
      while (n > 16) {
        big(le(d, 8), le(d + 8, 8));
        d += 16;
        n -= 16;
      }
    } else if (n > 8) {
      big(le(d, 8), le(d + n - 8, 8));
    } else if (n >= 4) {
      big(le(d, 4), le(d + n - 4, 4));
    } else if (n >= 2) {
      big(le(d, 2), d[n - 1]);
    } else if (n == 1) {
      big(d[0], d[0]);
    } else {
      big(0, 0);
    }
  }
  uint64_t finish() const { return std::rotl(fold(buffer, pad), static_cast<int>(buffer & 63)); }
};

}  // namespace

uint64_t hash_int(uint64_t value, int width_bits) {
  if (width_bits < 64) value &= (uint64_t{1} << width_bits) - 1;
  Hasher h;
  h.update(value);
  return h.finish();
}

uint64_t hash_string(std::string_view s) {
  Hasher h;
  h.write(s);
  h.update(0xFF);
  return h.finish();
}

uint64_t hash_float(double v, bool is_f32) {
  if (is_f32) return hash_int(std::bit_cast<uint32_t>(static_cast<float>(v)), 32);
  return hash_int(std::bit_cast<uint64_t>(v), 64);
}

}  // namespace tideline::fenl
