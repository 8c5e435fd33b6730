// Pulsar payload codecs (src/io/pulsar/compression.h): round trips, the byte formats the
// official clients use, and corrupt input as errors.
#include "io/pulsar/compression.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace tideline::pulsar {
namespace {

const proto::CompressionType kCodecs[] = {proto::LZ4, proto::ZLIB, proto::ZSTD, proto::SNAPPY};

std::string sample(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s;
  // Half repetitive text, half noise: compressible but not trivially.
  for (size_t i = 0; i < n; ++i) {
    s.push_back(i % 2 ? static_cast<char>(rng()) : static_cast<char>('a' + (i / 7) % 5));
  }
  return s;
}

TEST(Compression, RoundTripsEveryCodecAndSize) {
  for (auto type : kCodecs) {
    for (size_t n : {0, 1, 17, 1000, 200000}) {
      const std::string in = sample(n, static_cast<uint32_t>(n));
      std::string packed, out;
      ASSERT_TRUE(compress(type, in, packed).ok()) << compression_name(type);
      Status st = decompress(type, packed, static_cast<uint32_t>(in.size()), out);
      ASSERT_TRUE(st.ok()) << compression_name(type) << " " << n << ": " << st.message();
      EXPECT_EQ(out, in) << compression_name(type) << " " << n;
    }
  }
}

TEST(Compression, ByteFormatsAreTheOfficialClients) {
  const std::string in(4096, 'x');
  std::string packed;
  // LZ4: a raw block, not an LZ4 frame (whose magic is 04 22 4D 18).
  ASSERT_TRUE(compress(proto::LZ4, in, packed).ok());
  EXPECT_NE(packed.substr(0, 4), std::string("\x04\x22\x4d\x18", 4));
  EXPECT_LT(packed.size(), 100u);
  // ZLIB: zlib header (CMF 0x78), not raw deflate or gzip.
  ASSERT_TRUE(compress(proto::ZLIB, in, packed).ok());
  EXPECT_EQ(static_cast<uint8_t>(packed[0]), 0x78);
  // ZSTD: a frame with the zstd magic FD 2F B5 28 (little-endian 0xFD2FB528).
  ASSERT_TRUE(compress(proto::ZSTD, in, packed).ok());
  EXPECT_EQ(packed.substr(0, 4), std::string("\x28\xb5\x2f\xfd", 4));
  // SNAPPY: raw format, starting with the uncompressed length as a varint (4096 = 80 20).
  ASSERT_TRUE(compress(proto::SNAPPY, in, packed).ok());
  EXPECT_EQ(packed.substr(0, 2), std::string("\x80\x20", 2));
}

TEST(Compression, KnownLz4BlockDecodes) {
  // A hand-made LZ4 block: token 0x50 (5 literals, no match) + "hello".
  std::string out;
  ASSERT_TRUE(decompress(proto::LZ4, std::string("\x50hello", 6), 5, out).ok());
  EXPECT_EQ(out, "hello");
}

TEST(Compression, CorruptInputIsAnErrorNamingTheCodec) {
  const std::string in = sample(5000, 7);
  for (auto type : kCodecs) {
    std::string packed, out;
    ASSERT_TRUE(compress(type, in, packed).ok());
    const auto size = static_cast<uint32_t>(in.size());
    const std::string name(compression_name(type));
    // Wrong uncompressed_size, both ways.
    Status st = decompress(type, packed, size - 1, out);
    EXPECT_EQ(st.code(), StatusCode::kCorruption) << name;
    EXPECT_NE(st.message().find(name), std::string::npos) << st.message();
    EXPECT_EQ(decompress(type, packed, size + 1, out).code(), StatusCode::kCorruption) << name;
    // Truncated.
    EXPECT_EQ(decompress(type, packed.substr(0, packed.size() / 2), size, out).code(),
              StatusCode::kCorruption)
        << name;
    // Garbage.
    EXPECT_EQ(decompress(type, std::string(64, '\xff'), size, out).code(), StatusCode::kCorruption)
        << name;
    EXPECT_TRUE(out.empty());
    // A size above the limit is refused before allocating.
    st = decompress(type, packed, 1u << 31, out);
    EXPECT_EQ(st.code(), StatusCode::kCorruption);
    EXPECT_NE(st.message().find("exceeds the limit"), std::string::npos) << st.message();
  }
  // zlib: bytes after the end of the stream.
  std::string packed, out;
  ASSERT_TRUE(compress(proto::ZLIB, "abc", packed).ok());
  EXPECT_EQ(decompress(proto::ZLIB, packed + "junk", 3, out).code(), StatusCode::kCorruption);
}

TEST(Compression, ParsesNames) {
  EXPECT_EQ(*parse_compression(""), proto::NONE);
  EXPECT_EQ(*parse_compression("lz4"), proto::LZ4);
  EXPECT_EQ(*parse_compression("Zstd"), proto::ZSTD);
  EXPECT_EQ(*parse_compression("SNAPPY"), proto::SNAPPY);
  EXPECT_EQ(*parse_compression("zlib"), proto::ZLIB);
  auto bad = parse_compression("gzip");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("gzip"), std::string::npos);
}

}  // namespace
}  // namespace tideline::pulsar
