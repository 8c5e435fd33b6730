#pragma once
// Cassandra's Murmur3Partitioner tokens and the token ring, for routing a statement to a
// replica of its partition key (docs/formats/cql.md, "Tokens").

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tideline::io::cql {

// The token Murmur3Partitioner gives a partition key whose serialized form (the routing key)
// is `key`: the first 64 bits of MurmurHash3 x64_128 with seed 0 as Cassandra computes it
// (the tail bytes sign-extended), with INT64_MIN mapped to INT64_MAX.
int64_t murmur3_token(std::string_view key);

// The routing key of a partition key given its components' serialized values: one component
// is its bytes; several are each `[unsigned short length][bytes][0x00]` (CompositeType).
std::string routing_key(const std::vector<std::string_view>& components);

// The ring: each node's tokens. A token belongs to the node with the smallest token >= it,
// wrapping to the smallest token of the ring (SimpleStrategy's first replica).
class TokenRing {
 public:
  void add(int64_t token, int node) { ring_.emplace_back(token, node); }
  void finish();  // sorts; call after the last add()
  bool empty() const { return ring_.empty(); }
  // The node owning `token` (-1 for an empty ring).
  int owner(int64_t token) const;

 private:
  std::vector<std::pair<int64_t, int>> ring_;
};

}  // namespace tideline::io::cql
