#pragma once
// Pulsar binary-protocol framing (docs/formats/pulsar.md): simple and payload frames,
// CRC32-C checksums, batched payloads. Pure functions over bytes, no I/O; safe to call from
// any thread. Decoders take untrusted bytes and fail with kCorruption naming the byte offset.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
// The generated header lands in <build>/src/io/pulsar/io/pulsar/ with the current
// protobuf_generate wiring (PROTOC_OUT_DIR keeps the proto's path relative to src/); accept
// both that and a flat output directory.
#if __has_include("pulsar_api.pb.h")
#include "pulsar_api.pb.h"
#else
#include "io/pulsar/pulsar_api.pb.h"
#endif

namespace tideline::pulsar {

// Serialized: must never change.
inline constexpr uint16_t kChecksumMagic = 0x0e01;
inline constexpr uint16_t kBrokerEntryMetadataMagic = 0x0e02;
// Frames larger than this are refused before CONNECTED tells the broker's limit.
inline constexpr uint32_t kDefaultMaxMessageSize = 5 * 1024 * 1024;
inline constexpr uint32_t kFrameHeadroom = 64 * 1024;
// The protocol version Tideline announces in CONNECT.
inline constexpr int32_t kProtocolVersion = 19;

// CRC32-C (Castagnoli). `crc32c_extend(crc32c(a), b) == crc32c(a + b)`.
uint32_t crc32c_extend(uint32_t crc, std::string_view data);
inline uint32_t crc32c(std::string_view data) {
  return crc32c_extend(0, data);
}

// Appends a simple frame (totalSize, commandSize, command) to `out`.
void append_command_frame(std::string& out, const proto::BaseCommand& command);
// Appends a payload frame with magic and checksum.
void append_payload_frame(std::string& out, const proto::BaseCommand& command,
                          const proto::MessageMetadata& metadata, std::string_view payload);

struct Frame {
  proto::BaseCommand command;
  bool has_payload = false;
  proto::MessageMetadata metadata;  // set when has_payload
  std::string payload;              // the (maybe batched) payload, when has_payload
};

// Validates a frame's totalSize prefix: at least 4 (a command size) and at most `max_size`.
Status check_frame_size(uint32_t total_size, uint32_t max_size);
// Decodes the bytes after the totalSize field (`body.size()` == totalSize).
Result<Frame> decode_frame(std::string_view body);
// Splits a stream: when `buffer` starts with a whole frame, decodes it and sets `consumed`
// to its length (totalSize + 4); when more bytes are needed, returns consumed = 0.
struct DecodeStep {
  size_t consumed = 0;  // 0 = need more bytes
  Frame frame;
};
Result<DecodeStep> decode_next(std::string_view buffer, uint32_t max_size);

struct SingleMessage {
  proto::SingleMessageMetadata metadata;
  std::string payload;
};
// Splits a batched payload of `count` messages.
Result<std::vector<SingleMessage>> parse_batch(std::string_view payload, int32_t count);
// Builds a batched payload (tests and fuzzing; Tideline's producer does not batch).
std::string build_batch(std::span<const SingleMessage> messages);

// "TopicNotFound" etc.; "ServerError(<n>)" for values this build does not know.
std::string server_error_name(int error);
std::string command_name(int type);

}  // namespace tideline::pulsar
