// Murmur3Partitioner tokens: the expected values are what the official Python driver's
// cassandra.murmur3.murmur3 (which mirrors Cassandra's Java code, sign-extended tail bytes
// included) returns for the same bytes.
#include "io/cql/token.h"

#include <gtest/gtest.h>

#include <string>

namespace tideline::io::cql {
namespace {

std::string unhex(std::string_view h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST(Murmur3Token, MatchesThePythonDriver) {
  const std::pair<const char*, int64_t> cases[] = {
      {"61", -8839064797231613815LL},
      {"68656c6c6f", -3758069500696749310LL},
      {"ff807f", 38824423781480973LL},  // tail bytes >= 0x80: sign-extended as in Java
      {"000102030405060708090a0b0c0d0e", 5125964547706398185LL},
      {"000102030405060708090a0b0c0d0e0f", 4920504430128807728LL},
      {"000102030405060708090a0b0c0d0e0f10", 6662781046685680142LL},
      {"c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4"
       "f5f6f7f8f9fafbfcfdfe",
       6322383030230670822LL},
      {"0000002a", -7160136740246525330LL},  // int 42
      {"73657373696f6e2d303030313233", 3005861173049348460LL},
  };
  for (const auto& [hex, token] : cases) {
    EXPECT_EQ(murmur3_token(unhex(hex)), token) << hex;
  }
}

TEST(Murmur3Token, RoutingKeyOfSeveralComponentsIsComposite) {
  EXPECT_EQ(routing_key({"abc"}), "abc");
  EXPECT_EQ(routing_key({"ab", "c"}), std::string("\0\2ab\0\0\1c\0", 9));
}

TEST(TokenRing, TokenBelongsToTheNextTokenWrapping) {
  TokenRing ring;
  EXPECT_EQ(ring.owner(0), -1);
  ring.add(4611686018427387904LL, 2);
  ring.add(-4611686018427387904LL, 1);
  ring.finish();
  EXPECT_EQ(ring.owner(-4611686018427387904LL), 1);  // a node's own token is its
  EXPECT_EQ(ring.owner(-4611686018427387903LL), 2);
  EXPECT_EQ(ring.owner(0), 2);
  EXPECT_EQ(ring.owner(4611686018427387905LL), 1);  // past the last token: wraps
  EXPECT_EQ(ring.owner(std::numeric_limits<int64_t>::min()), 1);
}

}  // namespace
}  // namespace tideline::io::cql
