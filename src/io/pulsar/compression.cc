// Pulsar payload codecs over the system's liblz4, zlib, libzstd and libsnappy (compression.h).
#include "io/pulsar/compression.h"

#include <fmt/format.h>
#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <cctype>
#include <limits>

namespace tideline::pulsar {

namespace {

// zlib's default level, zstd's level 3 (its default) and LZ4's default acceleration: the
// levels the official clients use, so payloads are comparable in size.
constexpr int kZstdLevel = 3;

Status too_large(std::string_view codec, size_t n) {
  return invalid_argument(
      fmt::format("{}: payload of {} bytes is too large to compress", codec, n));
}

Status lz4_compress(std::string_view in, std::string& out) {
  if (in.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) return too_large("LZ4", in.size());
  const int n = static_cast<int>(in.size());
  out.resize(static_cast<size_t>(LZ4_compressBound(n)));
  const int written = LZ4_compress_default(in.data(), out.data(), n, static_cast<int>(out.size()));
  if (written <= 0) return internal_error("LZ4: compression failed");
  out.resize(static_cast<size_t>(written));
  return {};
}

Status zlib_compress(std::string_view in, std::string& out) {
  if (in.size() > std::numeric_limits<uLong>::max() / 2) return too_large("ZLIB", in.size());
  uLongf cap = compressBound(static_cast<uLong>(in.size()));
  out.resize(cap);
  const int rc = compress2(reinterpret_cast<Bytef*>(out.data()), &cap,
                           reinterpret_cast<const Bytef*>(in.data()), static_cast<uLong>(in.size()),
                           Z_DEFAULT_COMPRESSION);
  if (rc != Z_OK) return internal_error(fmt::format("ZLIB: compression failed ({})", rc));
  out.resize(cap);
  return {};
}

Status zstd_compress(std::string_view in, std::string& out) {
  out.resize(ZSTD_compressBound(in.size()));
  const size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), kZstdLevel);
  if (ZSTD_isError(n)) {
    return internal_error(fmt::format("ZSTD: compression failed: {}", ZSTD_getErrorName(n)));
  }
  out.resize(n);
  return {};
}

Status snappy_compress_to(std::string_view in, std::string& out) {
  size_t n = snappy_max_compressed_length(in.size());
  out.resize(n);
  if (snappy_compress(in.data(), in.size(), out.data(), &n) != SNAPPY_OK) {
    return internal_error("SNAPPY: compression failed");
  }
  out.resize(n);
  return {};
}

Status lz4_decompress(std::string_view in, uint32_t size, std::string& out) {
  if (in.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return corruption(fmt::format("LZ4: compressed size {} too large", in.size()));
  }
  // LZ4_decompress_safe never writes past `size` bytes nor reads past the input; it returns
  // the decoded length or a negative value for a malformed block.
  const int n = LZ4_decompress_safe(in.data(), out.data(), static_cast<int>(in.size()),
                                    static_cast<int>(size));
  if (n < 0) return corruption("LZ4: corrupt block (or larger than uncompressed_size)");
  if (static_cast<uint32_t>(n) != size) {
    return corruption(fmt::format("LZ4: block holds {} bytes, uncompressed_size says {}", n, size));
  }
  return {};
}

Status zlib_decompress(std::string_view in, uint32_t size, std::string& out) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return internal_error("ZLIB: inflateInit failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(std::min<size_t>(in.size(), std::numeric_limits<uInt>::max()));
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = size;
  const int rc = inflate(&z, Z_FINISH);
  const uLong produced = z.total_out;
  const uInt left_in = z.avail_in;
  const std::string msg = z.msg ? z.msg : "";
  inflateEnd(&z);
  if (rc == Z_STREAM_END) {
    if (produced != size) {
      return corruption(
          fmt::format("ZLIB: stream holds {} bytes, uncompressed_size says {}", produced, size));
    }
    if (left_in != 0 || in.size() > std::numeric_limits<uInt>::max()) {
      return corruption(fmt::format("ZLIB: {} bytes after the end of the stream", left_in));
    }
    return {};
  }
  if (rc == Z_BUF_ERROR && z.avail_out == 0 && left_in > 0) {
    return corruption(
        fmt::format("ZLIB: stream holds more than uncompressed_size ({}) bytes", size));
  }
  if (rc == Z_BUF_ERROR) return corruption("ZLIB: truncated stream");
  return corruption(
      fmt::format("ZLIB: corrupt stream ({})", msg.empty() ? std::to_string(rc) : msg));
}

Status zstd_decompress(std::string_view in, uint32_t size, std::string& out) {
  const size_t n = ZSTD_decompress(out.data(), size, in.data(), in.size());
  if (ZSTD_isError(n)) {
    return corruption(fmt::format("ZSTD: {} (uncompressed_size {})", ZSTD_getErrorName(n), size));
  }
  if (n != size) {
    return corruption(
        fmt::format("ZSTD: frame holds {} bytes, uncompressed_size says {}", n, size));
  }
  return {};
}

Status snappy_decompress(std::string_view in, uint32_t size, std::string& out) {
  size_t declared = 0;
  if (snappy_uncompressed_length(in.data(), in.size(), &declared) != SNAPPY_OK) {
    return corruption("SNAPPY: corrupt length header");
  }
  if (declared != size) {
    return corruption(
        fmt::format("SNAPPY: block declares {} bytes, uncompressed_size says {}", declared, size));
  }
  size_t n = size;
  if (snappy_uncompress(in.data(), in.size(), out.data(), &n) != SNAPPY_OK || n != size) {
    return corruption("SNAPPY: corrupt block");
  }
  return {};
}

}  // namespace

Result<proto::CompressionType> parse_compression(std::string_view name) {
  std::string up;
  for (char c : name) up.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  if (up.empty() || up == "NONE") return proto::NONE;
  if (up == "LZ4") return proto::LZ4;
  if (up == "ZLIB") return proto::ZLIB;
  if (up == "ZSTD") return proto::ZSTD;
  if (up == "SNAPPY") return proto::SNAPPY;
  return error(invalid_argument(fmt::format(
      "unknown compression type '{}' (expected NONE, LZ4, ZLIB, ZSTD or SNAPPY)", name)));
}

std::string_view compression_name(proto::CompressionType type) {
  switch (type) {
    case proto::NONE:
      return "NONE";
    case proto::LZ4:
      return "LZ4";
    case proto::ZLIB:
      return "ZLIB";
    case proto::ZSTD:
      return "ZSTD";
    case proto::SNAPPY:
      return "SNAPPY";
  }
  return "?";
}

Status compress(proto::CompressionType type, std::string_view in, std::string& out) {
  switch (type) {
    case proto::NONE:
      out.assign(in);
      return {};
    case proto::LZ4:
      return lz4_compress(in, out);
    case proto::ZLIB:
      return zlib_compress(in, out);
    case proto::ZSTD:
      return zstd_compress(in, out);
    case proto::SNAPPY:
      return snappy_compress_to(in, out);
  }
  return invalid_argument(fmt::format("compression type {} is not known", static_cast<int>(type)));
}

Status decompress(proto::CompressionType type, std::string_view in, uint32_t uncompressed_size,
                  std::string& out, uint32_t max_size) {
  if (type == proto::NONE) {
    out.assign(in);
    return {};
  }
  if (uncompressed_size > max_size) {
    return corruption(fmt::format("{}: uncompressed_size {} exceeds the limit of {} bytes",
                                  compression_name(type), uncompressed_size, max_size));
  }
  out.resize(uncompressed_size);
  Status st;
  switch (type) {
    case proto::LZ4:
      st = lz4_decompress(in, uncompressed_size, out);
      break;
    case proto::ZLIB:
      st = zlib_decompress(in, uncompressed_size, out);
      break;
    case proto::ZSTD:
      st = zstd_decompress(in, uncompressed_size, out);
      break;
    case proto::SNAPPY:
      st = snappy_decompress(in, uncompressed_size, out);
      break;
    default:
      st = corruption(fmt::format("compression type {} is not known", static_cast<int>(type)));
  }
  if (!st.ok()) out.clear();
  return st;
}

}  // namespace tideline::pulsar
