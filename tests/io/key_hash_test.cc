#include <gtest/gtest.h>

#include "io/topic.h"

namespace tideline::io {
namespace {

// Published MurmurHash3_x86_32 vectors (seed 0), masked to 31 bits as Pulsar does.
TEST(PulsarKeyHash, MatchesMurmur3Vectors) {
  EXPECT_EQ(pulsar_key_hash(""), 0u);
  EXPECT_EQ(pulsar_key_hash("hello"), 0x248bfa47u);
  EXPECT_EQ(pulsar_key_hash("hello, world"), 0x149bbb7fu);
  EXPECT_EQ(pulsar_key_hash("The quick brown fox jumps over the lazy dog"), 0x2e4ff723u);
  // High bit set before masking: murmur3("test") = 0xba6bd213, murmur3("abc") = 0xb3dd93fa.
  EXPECT_EQ(pulsar_key_hash("test"), 0xba6bd213u & 0x7fffffffu);
  EXPECT_EQ(pulsar_key_hash("abc"), 0xb3dd93fau & 0x7fffffffu);
}

TEST(PulsarKeyHash, StableAndSpread) {
  EXPECT_EQ(pulsar_key_hash("key-42"), pulsar_key_hash(std::string("key-") + "42"));
  int counts[4] = {0, 0, 0, 0};
  for (int i = 0; i < 4000; ++i) ++counts[pulsar_key_hash("k" + std::to_string(i)) % 4];
  for (int c : counts) EXPECT_GT(c, 800);
}

}  // namespace
}  // namespace tideline::io
