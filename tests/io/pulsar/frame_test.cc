#include "io/pulsar/frame.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

namespace tideline::pulsar {
namespace {

proto::BaseCommand send_command(uint64_t producer, uint64_t seq) {
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::SEND);
  cmd.mutable_send()->set_producer_id(producer);
  cmd.mutable_send()->set_sequence_id(seq);
  return cmd;
}

proto::MessageMetadata metadata(std::string_view key) {
  proto::MessageMetadata m;
  m.set_producer_name("p");
  m.set_sequence_id(7);
  m.set_publish_time(1700000000000);
  m.set_partition_key(std::string(key));
  m.set_event_time(42);
  return m;
}

TEST(PulsarCrc32c, StandardVectors) {
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c_extend(crc32c("1234"), "56789"), 0xE3069283u);
}

TEST(PulsarFrame, SimpleCommandRoundTrip) {
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::CONNECT);
  cmd.mutable_connect()->set_client_version("tideline");
  cmd.mutable_connect()->set_protocol_version(kProtocolVersion);
  std::string bytes;
  append_command_frame(bytes, cmd);
  ASSERT_GE(bytes.size(), 8u);
  // totalSize = 4 + commandSize, both big-endian.
  const uint32_t total = (uint8_t(bytes[0]) << 24) | (uint8_t(bytes[1]) << 16) |
                         (uint8_t(bytes[2]) << 8) | uint8_t(bytes[3]);
  EXPECT_EQ(total, bytes.size() - 4);
  auto step = decode_next(bytes, kDefaultMaxMessageSize);
  ASSERT_TRUE(step) << step.error().to_string();
  EXPECT_EQ(step->consumed, bytes.size());
  EXPECT_FALSE(step->frame.has_payload);
  EXPECT_EQ(step->frame.command.type(), proto::BaseCommand::CONNECT);
  EXPECT_EQ(step->frame.command.connect().client_version(), "tideline");
  EXPECT_EQ(step->frame.command.connect().protocol_version(), kProtocolVersion);
}

TEST(PulsarFrame, PayloadRoundTripAndLayout) {
  std::string bytes;
  append_payload_frame(bytes, send_command(3, 9), metadata("k1"), "hello");
  auto step = decode_next(bytes, kDefaultMaxMessageSize);
  ASSERT_TRUE(step) << step.error().to_string();
  EXPECT_EQ(step->consumed, bytes.size());
  ASSERT_TRUE(step->frame.has_payload);
  EXPECT_EQ(step->frame.command.send().producer_id(), 3u);
  EXPECT_EQ(step->frame.command.send().sequence_id(), 9u);
  EXPECT_EQ(step->frame.metadata.partition_key(), "k1");
  EXPECT_EQ(step->frame.metadata.event_time(), 42u);
  EXPECT_FALSE(step->frame.metadata.has_num_messages_in_batch());
  EXPECT_EQ(step->frame.payload, "hello");
  // Magic right after the command.
  const uint32_t cmd_size = (uint8_t(bytes[4]) << 24) | (uint8_t(bytes[5]) << 16) |
                            (uint8_t(bytes[6]) << 8) | uint8_t(bytes[7]);
  EXPECT_EQ(uint8_t(bytes[8 + cmd_size]), 0x0e);
  EXPECT_EQ(uint8_t(bytes[9 + cmd_size]), 0x01);
  // The checksum covers everything after it.
  const size_t crc_at = 10 + cmd_size;
  const uint32_t crc = (uint8_t(bytes[crc_at]) << 24) | (uint8_t(bytes[crc_at + 1]) << 16) |
                       (uint8_t(bytes[crc_at + 2]) << 8) | uint8_t(bytes[crc_at + 3]);
  EXPECT_EQ(crc, crc32c(std::string_view(bytes).substr(crc_at + 4)));
}

TEST(PulsarFrame, TwoFramesInAStream) {
  std::string bytes;
  append_payload_frame(bytes, send_command(1, 0), metadata("a"), "x");
  const size_t first = bytes.size();
  proto::BaseCommand ping;
  ping.set_type(proto::BaseCommand::PING);
  ping.mutable_ping();
  append_command_frame(bytes, ping);
  auto a = decode_next(bytes, kDefaultMaxMessageSize);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->consumed, first);
  auto b = decode_next(std::string_view(bytes).substr(first), kDefaultMaxMessageSize);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->frame.command.type(), proto::BaseCommand::PING);
  // Every strict prefix asks for more bytes.
  for (size_t n = 0; n < first; ++n) {
    auto p = decode_next(std::string_view(bytes).substr(0, n), kDefaultMaxMessageSize);
    ASSERT_TRUE(p) << n;
    EXPECT_EQ(p->consumed, 0u) << n;
  }
}

TEST(PulsarFrame, CorruptedChecksumNamesOffset) {
  std::string bytes;
  append_payload_frame(bytes, send_command(1, 0), metadata("a"), "payload");
  bytes.back() ^= 0x40;
  auto step = decode_next(bytes, kDefaultMaxMessageSize);
  ASSERT_FALSE(step);
  EXPECT_EQ(step.error().code(), StatusCode::kCorruption);
  EXPECT_NE(step.error().message().find("SEND frame: checksum mismatch at byte"), std::string::npos)
      << step.error().message();
}

TEST(PulsarFrame, OversizedAndUndersizedFrames) {
  std::string bytes = {0x00, 0x60, 0x00, 0x00};  // 6 MiB
  auto big = decode_next(bytes, kDefaultMaxMessageSize);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message().find("exceeds the limit"), std::string::npos);
  std::string tiny = {0, 0, 0, 2, 0, 0};
  auto small = decode_next(tiny, kDefaultMaxMessageSize);
  ASSERT_FALSE(small);
  EXPECT_NE(small.error().message().find("smaller than 4"), std::string::npos);
}

TEST(PulsarFrame, TruncatedInsideTheFrame) {
  // commandSize larger than the frame.
  std::string bytes = {0, 0, 0, 6, 0, 0, 0, 9, 8, 18};
  auto r = decode_next(bytes, kDefaultMaxMessageSize);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("commandSize 9 at byte 4 exceeds"), std::string::npos)
      << r.error().message();
  // metadataSize larger than what is left.
  std::string good;
  append_payload_frame(good, send_command(1, 0), metadata("a"), "payload");
  const uint32_t cmd_size = uint8_t(good[7]);
  const size_t meta_size_at = 14 + cmd_size;
  good[meta_size_at] = 0x7f;
  good[meta_size_at + 1] = good[meta_size_at + 2] = good[meta_size_at + 3] = 0;
  // Fix the checksum so the size check is reached.
  const uint32_t crc = crc32c(std::string_view(good).substr(meta_size_at));
  for (int i = 0; i < 4; ++i) good[meta_size_at - 4 + i] = static_cast<char>(crc >> (24 - 8 * i));
  auto m = decode_next(good, kDefaultMaxMessageSize);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find(
                fmt::format("metadataSize {} at byte {}", 0x7f000000u + 0, meta_size_at)),
            std::string::npos)
      << m.error().message();
}

TEST(PulsarFrame, MissingRequiredFieldIsAnError) {
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::SEND);
  cmd.mutable_send()->set_producer_id(1);  // sequence_id (required) missing
  std::string body = cmd.SerializePartialAsString();
  std::string bytes;
  const uint32_t n = static_cast<uint32_t>(body.size());
  for (uint32_t v : {n + 4, n}) {
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>(v >> (24 - 8 * i)));
  }
  bytes += body;
  auto r = decode_next(bytes, kDefaultMaxMessageSize);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("at byte 8 does not parse"), std::string::npos);
}

TEST(PulsarFrame, PayloadWithoutChecksumIsAccepted) {
  std::string bytes;
  append_payload_frame(bytes, send_command(1, 0), metadata("a"), "zz");
  const uint32_t cmd_size = uint8_t(bytes[7]);
  bytes.erase(8 + cmd_size, 6);  // drop magic + checksum
  const uint32_t total = static_cast<uint32_t>(bytes.size() - 4);
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>(total >> (24 - 8 * i));
  auto r = decode_next(bytes, kDefaultMaxMessageSize);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->frame.payload, "zz");
}

TEST(PulsarBatch, RoundTrip) {
  std::vector<SingleMessage> msgs(3);
  for (int i = 0; i < 3; ++i) {
    msgs[i].metadata.set_partition_key("key" + std::to_string(i));
    msgs[i].metadata.set_event_time(100 + i);
    msgs[i].payload = std::string(i * 5, static_cast<char>('a' + i));
  }
  const std::string batch = build_batch(msgs);
  auto parsed = parse_batch(batch, 3);
  ASSERT_TRUE(parsed) << parsed.error().to_string();
  ASSERT_EQ(parsed->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*parsed)[i].metadata.partition_key(), "key" + std::to_string(i));
    EXPECT_EQ((*parsed)[i].metadata.event_time(), 100u + i);
    EXPECT_EQ((*parsed)[i].payload, msgs[i].payload);
  }
}

TEST(PulsarBatch, CountMismatchAndTruncation) {
  std::vector<SingleMessage> msgs(2);
  msgs[0].payload = "one";
  msgs[1].payload = "two";
  const std::string batch = build_batch(msgs);
  auto more = parse_batch(batch, 3);
  ASSERT_FALSE(more);
  EXPECT_NE(more.error().message().find("message 2 of 3: truncated metadata size at payload byte"),
            std::string::npos)
      << more.error().message();
  auto fewer = parse_batch(batch, 1);
  ASSERT_FALSE(fewer);
  EXPECT_NE(fewer.error().message().find("after the last of 1 messages"), std::string::npos);
  auto cut = parse_batch(std::string_view(batch).substr(0, batch.size() - 1), 2);
  ASSERT_FALSE(cut);
  EXPECT_NE(cut.error().message().find("payload_size 3"), std::string::npos)
      << cut.error().message();
}

TEST(PulsarNames, ServerErrorsAndCommands) {
  EXPECT_EQ(server_error_name(11), "TopicNotFound");
  EXPECT_EQ(server_error_name(999), "ServerError(999)");
  EXPECT_EQ(command_name(proto::BaseCommand::SEND_RECEIPT), "SEND_RECEIPT");
}

}  // namespace
}  // namespace tideline::pulsar
