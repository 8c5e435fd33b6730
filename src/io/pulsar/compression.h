#pragma once
// Payload compression of Pulsar entries (docs/formats/pulsar.md "Compression"): the codecs of
// MessageMetadata.compression with the byte formats the official clients use. LZ4 is the raw
// LZ4 *block* format (no frame header), ZLIB the zlib format (RFC 1950: header, deflate,
// Adler-32), ZSTD a standard zstd frame, SNAPPY the raw Snappy format (no framing). The size
// after decompression is not in the compressed bytes for LZ4: it is
// MessageMetadata.uncompressed_size, which must match exactly for every codec.
// Pure functions over bytes, safe from any thread. Decompression takes untrusted bytes.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "io/pulsar/frame.h"

namespace tideline::pulsar {

// Largest uncompressed_size a consumer accepts: bounds what a corrupt or hostile entry can
// make the client allocate (a compressed batch may expand far beyond the broker's frame limit,
// so the frame limit is not used).
inline constexpr uint32_t kMaxUncompressedSize = 64 * 1024 * 1024;

// "NONE", "LZ4", "ZLIB", "ZSTD", "SNAPPY" in any case; "" = NONE. Others: kInvalidArgument
// listing the accepted names.
Result<proto::CompressionType> parse_compression(std::string_view name);
std::string_view compression_name(proto::CompressionType type);

// Replaces `out` with `in` compressed by `type` (NONE copies). Fails only for an input larger
// than the codec can take (kInvalidArgument) or a library failure (kInternal).
Status compress(proto::CompressionType type, std::string_view in, std::string& out);

// Replaces `out` with `in` decompressed by `type`; the result must be exactly
// `uncompressed_size` bytes (at most `max_size`). Bad input is kCorruption naming the codec and
// what is wrong ("LZ4: corrupt block", "ZSTD: 12 bytes after the frame", ...); never reads or
// writes out of bounds.
Status decompress(proto::CompressionType type, std::string_view in, uint32_t uncompressed_size,
                  std::string& out, uint32_t max_size = kMaxUncompressedSize);

}  // namespace tideline::pulsar
