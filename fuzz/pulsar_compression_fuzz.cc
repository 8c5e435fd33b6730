// libFuzzer target for Pulsar payload decompression (src/io/pulsar/compression.h).
// Input: byte 0 selects the codec (LZ4, ZLIB, ZSTD, SNAPPY) and the mode, bytes 1-2 an
// uncompressed_size (little-endian, < 64 KiB), the rest is the data.
//   bit 2 clear: the data is a compressed payload from a broker. Decompression must fail with
//                kCorruption (and leave `out` empty) or yield exactly uncompressed_size bytes,
//                which must compress and decompress back to themselves.
//   bit 2 set:   the data is a payload to send: compress, then decompress with its size, must
//                give the data back.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "io/pulsar/compression.h"

namespace {

using namespace tideline;
using namespace tideline::pulsar;

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr proto::CompressionType kCodecs[] = {proto::LZ4, proto::ZLIB, proto::ZSTD, proto::SNAPPY};

void round_trip(proto::CompressionType type, std::string_view plain) {
  std::string packed, back;
  check(compress(type, plain, packed).ok());
  check(decompress(type, packed, static_cast<uint32_t>(plain.size()), back).ok());
  check(back == plain);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const auto type = kCodecs[data[0] & 3];
  const uint32_t declared = data[1] | (static_cast<uint32_t>(data[2]) << 8);
  const std::string_view rest(reinterpret_cast<const char*>(data) + 3, size - 3);
  if (data[0] & 4) {
    round_trip(type, rest);
    return 0;
  }
  std::string out;
  Status st = decompress(type, rest, declared, out, 1u << 16);
  if (!st.ok()) {
    check(st.code() == StatusCode::kCorruption);
    check(out.empty());
    return 0;
  }
  check(out.size() == declared);
  round_trip(type, out);
  return 0;
}
