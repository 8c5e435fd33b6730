#include "fenl/hash.h"

#include <gtest/gtest.h>

namespace tideline::fenl {
namespace {

// Reference values from the Fenl catalog (docs/fenl.md#key-hashes).
TEST(FenlHash, MatchesReferenceEngine) {
  EXPECT_EQ(hash_string("hello"), 1472103086483932002ULL);
  EXPECT_EQ(hash_string("world"), 8057155968893317866ULL);
  EXPECT_EQ(hash_string("hi"), 2460612554838835252ULL);
  EXPECT_EQ(hash_string("earth"), 14489671231712828724ULL);
  EXPECT_EQ(hash_string(""), 5663277146615294718ULL);
  EXPECT_EQ(hash_string("Ryan"), 4840222152338143374ULL);
  EXPECT_EQ(hash_string("Ben"), 16858319356675959811ULL);
  EXPECT_EQ(hash_int(5), 16461383214845928621ULL);
  EXPECT_EQ(hash_int(8), 6794973171266502674ULL);
  EXPECT_EQ(hash_int(9), 15653042715643359010ULL);
}

TEST(FenlHash, LongStringsUseAllBytes) {
  std::string a(40, 'x'), b(40, 'x');
  b[5] = 'y';
  EXPECT_NE(hash_string(a), hash_string(b));
  EXPECT_EQ(hash_string(a), hash_string(std::string(40, 'x')));
  EXPECT_EQ(hash_int(static_cast<uint64_t>(-1), 32), hash_int(0xFFFFFFFFULL, 64));
}

}  // namespace
}  // namespace tideline::fenl
