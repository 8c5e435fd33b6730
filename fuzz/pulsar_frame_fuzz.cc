// libFuzzer target for the Pulsar frame codec (src/io/pulsar/frame.h).
// Input: the first byte selects the mode, the rest is the data.
//   even: a byte stream of frames as read from a broker: decode frames until the stream ends
//         or fails; every decoded frame must re-encode and decode to the same command,
//         metadata and payload; a payload frame's payload is also tried as a batch of
//         num_messages_in_batch messages.
//   odd:  a batched payload; the count is the next byte. A parsed batch must rebuild to the
//         same messages.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "io/pulsar/frame.h"

namespace {

using namespace tideline::pulsar;

void check(bool ok) {
  if (!ok) std::abort();
}

void round_trip(const Frame& frame) {
  std::string bytes;
  if (frame.has_payload) {
    append_payload_frame(bytes, frame.command, frame.metadata, frame.payload);
  } else {
    append_command_frame(bytes, frame.command);
  }
  auto again = decode_next(bytes, 1u << 30);
  check(again.has_value() && again->consumed == bytes.size());
  check(again->frame.has_payload == frame.has_payload);
  check(again->frame.command.SerializeAsString() == frame.command.SerializeAsString());
  if (frame.has_payload) {
    check(again->frame.metadata.SerializeAsString() == frame.metadata.SerializeAsString());
    check(again->frame.payload == frame.payload);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    std::string_view rest = input;
    while (!rest.empty()) {
      auto step = decode_next(rest, kDefaultMaxMessageSize + kFrameHeadroom);
      if (!step || step->consumed == 0) break;
      round_trip(step->frame);
      if (step->frame.has_payload && step->frame.metadata.has_num_messages_in_batch()) {
        (void)parse_batch(step->frame.payload, step->frame.metadata.num_messages_in_batch());
      }
      rest.remove_prefix(step->consumed);
    }
    return 0;
  }
  if (input.empty()) return 0;
  const int32_t count = static_cast<uint8_t>(input[0]);
  const std::string_view payload = input.substr(1);
  auto batch = parse_batch(payload, count);
  if (batch) {
    // Rebuilding re-serializes each single metadata, which may differ from the input bytes
    // (field order, duplicates); the rebuilt batch must parse to the same messages.
    const std::string rebuilt = build_batch(*batch);
    auto again = parse_batch(rebuilt, count);
    check(again.has_value() && again->size() == batch->size());
    for (size_t i = 0; i < batch->size(); ++i) {
      check((*again)[i].payload == (*batch)[i].payload);
      check((*again)[i].metadata.SerializeAsString() == (*batch)[i].metadata.SerializeAsString());
    }
  }
  return 0;
}
