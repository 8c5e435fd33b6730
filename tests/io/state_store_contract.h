#pragma once
// The io::StateStore contract (io/state_store.h), run against every backend: the embedded
// job_state table (tests/io/embedded/job_state_test.cc) and Cassandra
// (tests/io/cql/state_store_itest.cc).

#include <gtest/gtest.h>

#include <string>

#include "io/state_store.h"

namespace tideline::testing {

inline void check_state_store_contract(io::StateStore& store, const std::string& scope) {
  // Absent, then put/get, overwrite.
  auto none = store.get(scope, "checkpoint");
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_FALSE(*none);
  ASSERT_TRUE(store.put(scope, "checkpoint", "v1").ok());
  ASSERT_TRUE(store.put(scope, "checkpoint", std::string("v2\0bytes", 8)).ok());
  auto got = store.get(scope, "checkpoint");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(**got, std::string("v2\0bytes", 8));

  // A large value (several chunks where the backend chunks), replaced by a small one and back.
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) >> 3);
  ASSERT_TRUE(store.put(scope, "snapshot", big).ok());
  got = store.get(scope, "snapshot");
  ASSERT_TRUE(got && *got);
  EXPECT_TRUE(**got == big) << "large value round trip";
  ASSERT_TRUE(store.put(scope, "snapshot", "small").ok());
  got = store.get(scope, "snapshot");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(**got, "small");
  big[12345] ^= 1;
  ASSERT_TRUE(store.put(scope, "snapshot", big).ok());
  got = store.get(scope, "snapshot");
  ASSERT_TRUE(got && *got);
  EXPECT_TRUE(**got == big);

  // Prefix scans in name order; other scopes are invisible.
  for (int i : {3, 1, 2, 10}) {
    char name[64];
    std::snprintf(name, sizeof name, "journal/%020d", i);
    ASSERT_TRUE(store.put(scope, name, "step" + std::to_string(i)).ok());
  }
  ASSERT_TRUE(store.put(scope + "-other", "journal/00000000000000000001", "x").ok());
  auto journal = store.scan(scope, "journal/");
  ASSERT_TRUE(journal) << journal.error().message();
  ASSERT_EQ(journal->size(), 4u);
  EXPECT_EQ((*journal)[0].second, "step1");
  EXPECT_EQ((*journal)[1].second, "step2");
  EXPECT_EQ((*journal)[2].second, "step3");
  EXPECT_EQ((*journal)[3].second, "step10");

  // Erase up to a name, then everything with a prefix.
  ASSERT_TRUE(store.erase(scope, "journal/", "journal/00000000000000000002").ok());
  journal = store.scan(scope, "journal/");
  ASSERT_TRUE(journal);
  ASSERT_EQ(journal->size(), 2u);
  EXPECT_EQ((*journal)[0].second, "step3");
  ASSERT_TRUE(store.erase(scope, "journal/").ok());
  journal = store.scan(scope, "journal/");
  ASSERT_TRUE(journal);
  EXPECT_TRUE(journal->empty());
  auto other = store.scan(scope + "-other", "journal/");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->size(), 1u);
  ASSERT_TRUE(store.erase(scope, "snapshot").ok());
  none = store.get(scope, "snapshot");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  got = store.get(scope, "checkpoint");
  ASSERT_TRUE(got && *got) << "erasing 'snapshot' keeps 'checkpoint'";

  // Engine state chains (pipeline::JobState): one entry per image under
  // state/<chain>/<image>; a new chain erases the older ones with a bounded prefix erase.
  auto image_name = [](int chain, int image) {
    char name[80];
    std::snprintf(name, sizeof name, "state/%020d/%020d", chain, image);
    return std::string(name);
  };
  for (int chain : {1, 2})
    for (int image = 0; image < 3; ++image)
      ASSERT_TRUE(
          store.put(scope, image_name(chain, image), std::string(100 + image, 'a' + chain)).ok());
  ASSERT_TRUE(store.put(scope, image_name(2, 1), big).ok());  // overwritten: a crash leftover
  auto chain2 = store.scan(scope, "state/00000000000000000002/");
  ASSERT_TRUE(chain2) << chain2.error().message();
  ASSERT_EQ(chain2->size(), 3u);
  EXPECT_EQ((*chain2)[0].first, image_name(2, 0));
  EXPECT_TRUE((*chain2)[1].second == big);
  ASSERT_TRUE(store.put(scope, image_name(3, 0), "base").ok());
  ASSERT_TRUE(store.erase(scope, "state/", "state/00000000000000000002/~").ok());
  auto left = store.scan(scope, "state/");
  ASSERT_TRUE(left);
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].first, image_name(3, 0));
  ASSERT_TRUE(store.erase(scope, "state/").ok());
  got = store.get(scope, "checkpoint");
  ASSERT_TRUE(got && *got) << "erasing 'state/' keeps 'checkpoint'";
}

}  // namespace tideline::testing
