#include "io/cql/token.h"

#include <algorithm>
#include <limits>

namespace tideline::io::cql {

namespace {

uint64_t rotl(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

uint64_t fmix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

// Little-endian 64-bit block, bytes taken unsigned.
uint64_t block(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A tail byte as Cassandra's Java code reads it: a signed byte widened to long.
uint64_t tail_byte(const unsigned char* p, int i) {
  return static_cast<uint64_t>(static_cast<int64_t>(static_cast<signed char>(p[i])));
}

}  // namespace

int64_t murmur3_token(std::string_view key) {
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  const size_t len = key.size();
  const size_t nblocks = len / 16;
  uint64_t h1 = 0, h2 = 0;
  const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
  for (size_t i = 0; i < nblocks; ++i) {
    uint64_t k1 = block(data + i * 16), k2 = block(data + i * 16 + 8);
    k1 *= c1;
    k1 = rotl(k1, 31);
    k1 *= c2;
    h1 ^= k1;
    h1 = rotl(h1, 27);
    h1 += h2;
    h1 = h1 * 5 + 0x52dce729;
    k2 *= c2;
    k2 = rotl(k2, 33);
    k2 *= c1;
    h2 ^= k2;
    h2 = rotl(h2, 31);
    h2 += h1;
    h2 = h2 * 5 + 0x38495ab5;
  }
  const unsigned char* tail = data + nblocks * 16;
  uint64_t k1 = 0, k2 = 0;
  switch (len & 15) {
    case 15:
      k2 ^= tail_byte(tail, 14) << 48;
      [[fallthrough]];
    case 14:
      k2 ^= tail_byte(tail, 13) << 40;
      [[fallthrough]];
    case 13:
      k2 ^= tail_byte(tail, 12) << 32;
      [[fallthrough]];
    case 12:
      k2 ^= tail_byte(tail, 11) << 24;
      [[fallthrough]];
    case 11:
      k2 ^= tail_byte(tail, 10) << 16;
      [[fallthrough]];
    case 10:
      k2 ^= tail_byte(tail, 9) << 8;
      [[fallthrough]];
    case 9:
      k2 ^= tail_byte(tail, 8);
      k2 *= c2;
      k2 = rotl(k2, 33);
      k2 *= c1;
      h2 ^= k2;
      [[fallthrough]];
    case 8:
      k1 ^= tail_byte(tail, 7) << 56;
      [[fallthrough]];
    case 7:
      k1 ^= tail_byte(tail, 6) << 48;
      [[fallthrough]];
    case 6:
      k1 ^= tail_byte(tail, 5) << 40;
      [[fallthrough]];
    case 5:
      k1 ^= tail_byte(tail, 4) << 32;
      [[fallthrough]];
    case 4:
      k1 ^= tail_byte(tail, 3) << 24;
      [[fallthrough]];
    case 3:
      k1 ^= tail_byte(tail, 2) << 16;
      [[fallthrough]];
    case 2:
      k1 ^= tail_byte(tail, 1) << 8;
      [[fallthrough]];
    case 1:
      k1 ^= tail_byte(tail, 0);
      k1 *= c1;
      k1 = rotl(k1, 31);
      k1 *= c2;
      h1 ^= k1;
      break;
    default:
      break;
  }
  h1 ^= len;
  h2 ^= len;
  h1 += h2;
  h2 += h1;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 += h2;
  const auto token = static_cast<int64_t>(h1);
  return token == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : token;
}

std::string routing_key(const std::vector<std::string_view>& components) {
  if (components.size() == 1) return std::string(components[0]);
  std::string out;
  for (auto c : components) {
    out.push_back(static_cast<char>((c.size() >> 8) & 0xFF));
    out.push_back(static_cast<char>(c.size() & 0xFF));
    out.append(c);
    out.push_back('\0');
  }
  return out;
}

void TokenRing::finish() {
  std::sort(ring_.begin(), ring_.end());
}

int TokenRing::owner(int64_t token) const {
  if (ring_.empty()) return -1;
  auto it = std::lower_bound(ring_.begin(), ring_.end(),
                             std::pair<int64_t, int>(token, std::numeric_limits<int>::min()));
  if (it == ring_.end()) it = ring_.begin();
  return it->second;
}

}  // namespace tideline::io::cql
