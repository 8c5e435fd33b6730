// io::retry_transient: transient failures (kUnavailable, kTimeout) are retried until the
// operation succeeds or the budget is spent; other errors return at once. The inner store is
// a scripted one (the real Cassandra store going through a node restart is exercised by
// tests/clusters/faults_clusters_itest.cc).
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <map>

#include "io/state_store.h"

namespace tideline::io {
namespace {

using namespace std::chrono_literals;

// A map whose next operations fail with the scripted statuses first.
class FlakyStore final : public StateStore {
 public:
  std::deque<Status> failures;
  int calls = 0;

  Result<std::optional<std::string>> get(std::string_view scope, std::string_view name) override {
    if (Status s = next(); !s.ok()) return std::unexpected(s);
    auto it = data_.find(key(scope, name));
    if (it == data_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Result<std::vector<std::pair<std::string, std::string>>> scan(std::string_view,
                                                                std::string_view) override {
    if (Status s = next(); !s.ok()) return std::unexpected(s);
    return std::vector<std::pair<std::string, std::string>>{};
  }
  Status put(std::string_view scope, std::string_view name, std::string_view value) override {
    if (Status s = next(); !s.ok()) return s;
    data_[key(scope, name)] = std::string(value);
    return {};
  }
  Status erase(std::string_view, std::string_view, std::string_view) override { return next(); }

 private:
  static std::string key(std::string_view a, std::string_view b) {
    return std::string(a) + "\n" + std::string(b);
  }
  Status next() {
    ++calls;
    if (failures.empty()) return {};
    Status s = failures.front();
    failures.pop_front();
    return s;
  }
  std::map<std::string, std::string> data_;
};

TEST(StateStoreRetry, TransientFailuresAreRetriedUntilTheyPass) {
  auto flaky = std::make_unique<FlakyStore>();
  FlakyStore* inner = flaky.get();
  inner->failures = {Status(StatusCode::kUnavailable, "node down"),
                     Status(StatusCode::kTimeout, "no answer")};
  auto store = retry_transient(std::move(flaky), 10s);
  ASSERT_TRUE(store->put("job", "checkpoint", "v1").ok());
  EXPECT_EQ(inner->calls, 3);
  auto got = store->get("job", "checkpoint");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ(**got, "v1");
}

TEST(StateStoreRetry, OtherErrorsReturnAtOnce) {
  auto flaky = std::make_unique<FlakyStore>();
  FlakyStore* inner = flaky.get();
  inner->failures = {Status(StatusCode::kCorruption, "bad header")};
  auto store = retry_transient(std::move(flaky), 10s);
  auto got = store->get("job", "checkpoint");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), StatusCode::kCorruption);
  EXPECT_EQ(inner->calls, 1);
}

TEST(StateStoreRetry, GivesUpAfterTheBudgetWithTheLastError) {
  auto flaky = std::make_unique<FlakyStore>();
  FlakyStore* inner = flaky.get();
  for (int i = 0; i < 100; ++i) inner->failures.push_back(Status(StatusCode::kUnavailable, "down"));
  auto store = retry_transient(std::move(flaky), 350ms);
  const auto t0 = std::chrono::steady_clock::now();
  Status st = store->erase("job", "step/", "");
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("retried for"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("down"), std::string::npos) << st.message();
  EXPECT_GE(inner->calls, 2);
  EXPECT_LT(inner->calls, 6);
  EXPECT_LT(took, 2s);
}

}  // namespace
}  // namespace tideline::io
