// The embedded job state store: the io::StateStore contract, in the topic log's database
// (inside an atomic unit: rolled back with it) and as a standalone file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "io/embedded/embedded.h"
#include "io/state_store_contract.h"

namespace tideline::embedded {
namespace {

namespace fs = std::filesystem;

class JobStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tl-jobstate-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(JobStateTest, TopicLogStoreKeepsTheContract) {
  auto topics = open_topic_service(dir_.string());
  ASSERT_TRUE(topics) << topics.error().message();
  io::StateStore* store = (*topics)->state_store();
  ASSERT_NE(store, nullptr);
  testing::check_state_store_contract(*store, "job-a");
}

TEST_F(JobStateTest, FileStoreKeepsTheContractAndPersists) {
  {
    auto store = open_state_store(dir_.string());
    ASSERT_TRUE(store) << store.error().message();
    testing::check_state_store_contract(**store, "job-b");
  }
  auto again = open_state_store(dir_.string());
  ASSERT_TRUE(again);
  auto got = (*again)->get("job-b", "checkpoint");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(**got, std::string("v2\0bytes", 8));
}

// Messages sent, acknowledgements and state writes inside one unit are durable together, or
// (rolled back) not at all.
TEST_F(JobStateTest, AtomicUnitCommitsOrDiscardsEverything) {
  const std::string topic = "persistent://public/default/t";
  {
    auto topics = open_topic_service(dir_.string());
    ASSERT_TRUE(topics);
    ASSERT_TRUE((*topics)->create_partitioned_topic(topic, 2).ok());
    auto pre = (*topics)->create_producer(topic);
    ASSERT_TRUE(pre);
    std::vector<io::OutgoingMessage> in = {{"a", "1"}, {"b", "2"}};
    ASSERT_TRUE((*pre)->send(in).ok());
  }
  auto topics = open_topic_service(dir_.string());
  ASSERT_TRUE(topics);
  io::AtomicWork* atomic = (*topics)->atomic_work();
  ASSERT_NE(atomic, nullptr);
  ASSERT_TRUE(atomic->enable().ok());
  auto consumer =
      (*topics)->subscribe(topic, {.subscription = "s", .type = io::SubscriptionType::kExclusive});
  ASSERT_TRUE(consumer);
  auto producer = (*topics)->create_producer("persistent://public/default/out");
  ASSERT_TRUE(producer);
  auto got = (*consumer)->receive(10, std::chrono::milliseconds(500));
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 2u);
  std::vector<io::MessageId> ids;
  for (auto& m : *got) ids.push_back(m.id);
  std::vector<io::OutgoingMessage> out = {{"k", "result"}};

  // Rolled back: nothing of it remains.
  ASSERT_TRUE(atomic->begin().ok());
  ASSERT_TRUE((*producer)->send(out).ok());
  ASSERT_TRUE((*consumer)->acknowledge(ids).ok());
  ASSERT_TRUE((*topics)->state_store()->put("job", "checkpoint", "cp").ok());
  atomic->rollback();
  EXPECT_EQ((*topics)->message_count("persistent://public/default/out").value_or(-1), 0);
  EXPECT_FALSE((*topics)->state_store()->get("job", "checkpoint").value());

  // Committed: all of it.
  ASSERT_TRUE(atomic->begin().ok());
  ASSERT_TRUE((*producer)->send(out).ok());
  ASSERT_TRUE((*topics)->state_store()->put("job", "checkpoint", "cp").ok());
  ASSERT_TRUE(atomic->commit().ok());
  EXPECT_EQ((*topics)->message_count("persistent://public/default/out").value_or(-1), 1);
  EXPECT_EQ((*topics)->state_store()->get("job", "checkpoint").value().value_or(""), "cp");
}

}  // namespace
}  // namespace tideline::embedded
