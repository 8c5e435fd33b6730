// Pulsar framing; layouts in docs/formats/pulsar.md.
#include "io/pulsar/frame.h"

#include <fmt/format.h>

#include <array>

namespace tideline::pulsar {

namespace {

constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

void put_u32(std::string& out, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 4);
}
void put_u16(std::string& out, uint16_t v) {
  const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 2);
}
uint32_t get_u32(std::string_view s, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint16_t get_u16(std::string_view s, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

}  // namespace

uint32_t crc32c_extend(uint32_t crc, std::string_view data) {
  uint32_t c = ~crc;
  for (unsigned char b : data) c = kCrc32cTable[(c ^ b) & 0xff] ^ (c >> 8);
  return ~c;
}

void append_command_frame(std::string& out, const proto::BaseCommand& command) {
  const size_t cmd_size = command.ByteSizeLong();
  put_u32(out, static_cast<uint32_t>(4 + cmd_size));
  put_u32(out, static_cast<uint32_t>(cmd_size));
  const size_t at = out.size();
  out.resize(at + cmd_size);
  command.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data() + at));
}

void append_payload_frame(std::string& out, const proto::BaseCommand& command,
                          const proto::MessageMetadata& metadata, std::string_view payload) {
  const size_t cmd_size = command.ByteSizeLong();
  const size_t meta_size = metadata.ByteSizeLong();
  const size_t total = 4 + cmd_size + 2 + 4 + 4 + meta_size + payload.size();
  const size_t start = out.size();
  out.reserve(start + 4 + total);
  put_u32(out, static_cast<uint32_t>(total));
  put_u32(out, static_cast<uint32_t>(cmd_size));
  size_t at = out.size();
  out.resize(at + cmd_size);
  command.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data() + at));
  put_u16(out, kChecksumMagic);
  const size_t checksum_at = out.size();
  put_u32(out, 0);
  const size_t covered_from = out.size();
  put_u32(out, static_cast<uint32_t>(meta_size));
  at = out.size();
  out.resize(at + meta_size);
  metadata.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data() + at));
  out.append(payload);
  const uint32_t crc = crc32c(std::string_view(out).substr(covered_from));
  for (int i = 0; i < 4; ++i) out[checksum_at + i] = static_cast<char>(crc >> (24 - 8 * i));
}

Status check_frame_size(uint32_t total_size, uint32_t max_size) {
  if (total_size < 4) {
    return corruption(fmt::format("frame at byte 0: totalSize {} is smaller than 4", total_size));
  }
  if (total_size > max_size) {
    return corruption(
        fmt::format("frame at byte 0: totalSize {} exceeds the limit {}", total_size, max_size));
  }
  return {};
}

Result<Frame> decode_frame(std::string_view body) {
  // Offsets in messages count from the frame's first byte (the totalSize field).
  constexpr size_t kBase = 4;
  if (body.size() < 4) {
    return error(corruption(
        fmt::format("frame: {} bytes cannot hold commandSize at byte {}", body.size(), kBase)));
  }
  const uint32_t cmd_size = get_u32(body, 0);
  if (cmd_size > body.size() - 4) {
    return error(corruption(
        fmt::format("frame: commandSize {} at byte {} exceeds the {} bytes left in the frame",
                    cmd_size, kBase, body.size() - 4)));
  }
  Frame frame;
  if (!frame.command.ParsePartialFromArray(body.data() + 4, static_cast<int>(cmd_size)) ||
      !frame.command.IsInitialized()) {
    return error(corruption(fmt::format(
        "frame: BaseCommand of {} bytes at byte {} does not parse (or lacks required fields)",
        cmd_size, kBase + 4)));
  }
  size_t at = 4 + size_t{cmd_size};
  if (at == body.size()) return frame;

  const std::string cmd = command_name(frame.command.type());
  if (body.size() - at >= 2 && get_u16(body, at) == kBrokerEntryMetadataMagic) {
    if (body.size() - at < 6) {
      return error(corruption(
          fmt::format("{} frame: truncated broker entry metadata at byte {}", cmd, kBase + at)));
    }
    const uint32_t size = get_u32(body, at + 2);
    if (size > body.size() - at - 6) {
      return error(corruption(
          fmt::format("{} frame: broker entry metadata size {} at byte {} exceeds the frame", cmd,
                      size, kBase + at + 2)));
    }
    at += 6 + size;
  }
  if (body.size() - at >= 2 && get_u16(body, at) == kChecksumMagic) {
    if (body.size() - at < 6) {
      return error(
          corruption(fmt::format("{} frame: truncated checksum at byte {}", cmd, kBase + at)));
    }
    const uint32_t expected = get_u32(body, at + 2);
    const uint32_t actual = crc32c(body.substr(at + 6));
    if (expected != actual) {
      return error(corruption(
          fmt::format("{} frame: checksum mismatch at byte {}: frame says {:#010x}, bytes {}..{} "
                      "give {:#010x}",
                      cmd, kBase + at + 2, expected, kBase + at + 6, kBase + body.size(), actual)));
    }
    at += 6;
  }
  if (body.size() - at < 4) {
    return error(
        corruption(fmt::format("{} frame: truncated metadataSize at byte {}", cmd, kBase + at)));
  }
  const uint32_t meta_size = get_u32(body, at);
  if (meta_size > body.size() - at - 4) {
    return error(corruption(
        fmt::format("{} frame: metadataSize {} at byte {} exceeds the {} bytes left in the frame",
                    cmd, meta_size, kBase + at, body.size() - at - 4)));
  }
  if (!frame.metadata.ParsePartialFromArray(body.data() + at + 4, static_cast<int>(meta_size)) ||
      !frame.metadata.IsInitialized()) {
    return error(corruption(fmt::format(
        "{} frame: MessageMetadata of {} bytes at byte {} does not parse (or lacks required "
        "fields)",
        cmd, meta_size, kBase + at + 4)));
  }
  at += 4 + size_t{meta_size};
  frame.has_payload = true;
  frame.payload.assign(body.substr(at));
  return frame;
}

Result<DecodeStep> decode_next(std::string_view buffer, uint32_t max_size) {
  DecodeStep step;
  if (buffer.size() < 4) return step;
  const uint32_t total = get_u32(buffer, 0);
  TL_RETURN_IF_ERROR(check_frame_size(total, max_size));
  if (buffer.size() - 4 < total) return step;
  TL_ASSIGN_OR_RETURN(step.frame, decode_frame(buffer.substr(4, total)));
  step.consumed = 4 + size_t{total};
  return step;
}

Result<std::vector<SingleMessage>> parse_batch(std::string_view payload, int32_t count) {
  if (count < 0) {
    return error(corruption(fmt::format("batch: negative message count {}", count)));
  }
  std::vector<SingleMessage> out;
  // Each message needs at least 4 bytes: do not reserve what a hostile count claims.
  out.reserve(std::min<size_t>(static_cast<size_t>(count), payload.size() / 4));
  size_t at = 0;
  for (int32_t i = 0; i < count; ++i) {
    if (payload.size() - at < 4) {
      return error(corruption(fmt::format(
          "batch: message {} of {}: truncated metadata size at payload byte {}", i, count, at)));
    }
    const uint32_t meta_size = get_u32(payload, at);
    if (meta_size > payload.size() - at - 4) {
      return error(corruption(fmt::format(
          "batch: message {} of {}: metadata size {} at payload byte {} exceeds the {} bytes "
          "left",
          i, count, meta_size, at, payload.size() - at - 4)));
    }
    SingleMessage msg;
    if (!msg.metadata.ParsePartialFromArray(payload.data() + at + 4, static_cast<int>(meta_size)) ||
        !msg.metadata.IsInitialized()) {
      return error(corruption(fmt::format(
          "batch: message {} of {}: SingleMessageMetadata at payload byte {} does not parse", i,
          count, at + 4)));
    }
    at += 4 + size_t{meta_size};
    const int32_t size = msg.metadata.payload_size();
    if (size < 0 || static_cast<size_t>(size) > payload.size() - at) {
      return error(corruption(fmt::format(
          "batch: message {} of {}: payload_size {} at payload byte {} exceeds the {} bytes "
          "left",
          i, count, size, at, payload.size() - at)));
    }
    msg.payload.assign(payload.substr(at, static_cast<size_t>(size)));
    at += static_cast<size_t>(size);
    out.push_back(std::move(msg));
  }
  if (at != payload.size()) {
    return error(
        corruption(fmt::format("batch: {} bytes after the last of {} messages at payload byte {}",
                               payload.size() - at, count, at)));
  }
  return out;
}

std::string build_batch(std::span<const SingleMessage> messages) {
  std::string out;
  for (const SingleMessage& m : messages) {
    proto::SingleMessageMetadata meta = m.metadata;
    meta.set_payload_size(static_cast<int32_t>(m.payload.size()));
    const std::string bytes = meta.SerializeAsString();
    put_u32(out, static_cast<uint32_t>(bytes.size()));
    out += bytes;
    out += m.payload;
  }
  return out;
}

std::string server_error_name(int error) {
  if (proto::ServerError_IsValid(error)) {
    return proto::ServerError_Name(static_cast<proto::ServerError>(error));
  }
  return fmt::format("ServerError({})", error);
}

std::string command_name(int type) {
  if (proto::BaseCommand_Type_IsValid(type)) {
    return proto::BaseCommand_Type_Name(static_cast<proto::BaseCommand_Type>(type));
  }
  return fmt::format("command({})", type);
}

}  // namespace tideline::pulsar
