#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>

#include "common/time.h"
#include "io/embedded/embedded.h"
#include "io/embedded/temp_dir.h"

namespace tideline::embedded {
namespace {

using namespace std::chrono_literals;
using io::Message;
using io::MessageId;
using io::OutgoingMessage;
using testing::TempDir;

constexpr std::string_view kTopic = "persistent://public/default/events";

std::unique_ptr<io::TopicService> open_service(const std::string& dir) {
  auto s = open_topic_service(dir);
  EXPECT_TRUE(s) << s.error().to_string();
  return std::move(*s);
}

std::vector<OutgoingMessage> make_messages(int n, int keys, int first = 0) {
  std::vector<OutgoingMessage> out;
  for (int i = first; i < first + n; ++i) {
    out.push_back({keys > 0 ? "key" + std::to_string(i % keys) : "", "payload-" + std::to_string(i),
                   1000 + i});
  }
  return out;
}

io::SubscribeOptions sub(std::string name,
                         io::SubscriptionType type = io::SubscriptionType::kExclusive) {
  return io::SubscribeOptions{std::move(name), type, io::InitialPosition::kEarliest};
}

// Receives until `n` messages arrived or nothing comes for `idle`.
std::vector<Message> receive_n(io::Consumer& c, size_t n, std::chrono::milliseconds idle = 2s) {
  std::vector<Message> out;
  while (out.size() < n) {
    auto got = c.receive(n - out.size(), idle);
    EXPECT_TRUE(got) << got.error().to_string();
    if (!got || got->empty()) break;
    for (auto& m : *got) out.push_back(std::move(m));
  }
  return out;
}

std::vector<MessageId> ids_of(const std::vector<Message>& ms) {
  std::vector<MessageId> ids;
  for (const auto& m : ms) ids.push_back(m.id);
  return ids;
}

TEST(EmbeddedTopicLog, TopicsAndSchemasPersist) {
  TempDir dir;
  const std::string envelope = R"({"type":"AVRO","schema":"{\"type\":\"long\"}","properties":{}})";
  {
    auto svc = open_service(dir.path());
    ASSERT_TRUE(svc->create_namespace("public", "default").ok());
    ASSERT_TRUE(svc->create_namespace("public", "default").ok());
    ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 4).ok());
    EXPECT_TRUE(svc->create_partitioned_topic(kTopic, 4).ok());
    EXPECT_EQ(svc->create_partitioned_topic(kTopic, 3).code(), StatusCode::kAlreadyExists);
    EXPECT_EQ(svc->create_partitioned_topic("persistent://a/b/c", 0).code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(*svc->get_schema(kTopic), std::nullopt);
    ASSERT_TRUE(svc->set_schema(kTopic, envelope).ok());
    EXPECT_EQ(svc->set_schema(kTopic, "{nope").code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(svc->partitions("persistent://public/default/missing").error().code(),
              StatusCode::kNotFound);
  }
  auto svc = open_service(dir.path());
  EXPECT_EQ(*svc->partitions(kTopic), 4);
  EXPECT_EQ(*svc->partitions("events"), 4);  // short names are public/default
  auto schema = svc->get_schema(kTopic);
  ASSERT_TRUE(schema && *schema);
  EXPECT_EQ(**schema, envelope);
  EXPECT_EQ(*svc->message_count(kTopic), 0);
}

TEST(EmbeddedTopicLog, RoutesByKeyHashAndKeepsPartitionOrder) {
  TempDir dir;
  auto svc = open_service(dir.path());
  ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 4).ok());
  auto producer = *svc->create_producer(kTopic);
  auto msgs = make_messages(1000, 37);
  for (size_t i = 0; i < msgs.size(); i += 100) {
    ASSERT_TRUE(producer->send(std::span(msgs).subspan(i, 100)).ok());
  }
  ASSERT_TRUE(producer->close().ok());
  EXPECT_EQ(*svc->message_count(kTopic), 1000);

  auto consumer = *svc->subscribe(kTopic, sub("s"));
  auto got = receive_n(*consumer, 1000);
  ASSERT_EQ(got.size(), 1000u);
  std::map<int32_t, MessageId> last_id;
  std::map<std::string, int> last_seq;
  const int64_t now_ms = now_ns() / kNanosPerMilli;
  for (const auto& m : got) {
    EXPECT_EQ(m.id.partition, static_cast<int32_t>(io::pulsar_key_hash(m.key) % 4)) << m.key;
    EXPECT_EQ(m.id.ledger_id, 0);
    // No gaps: the next batch index of the same entry, or index 0 of the next entry.
    auto it = last_id.find(m.id.partition);
    if (it == last_id.end()) {
      EXPECT_EQ(m.id.entry_id, 0);
      EXPECT_EQ(m.id.batch_index, 0);
    } else if (m.id.entry_id == it->second.entry_id) {
      EXPECT_EQ(m.id.batch_index, it->second.batch_index + 1);
    } else {
      EXPECT_EQ(m.id.entry_id, it->second.entry_id + 1);
      EXPECT_EQ(m.id.batch_index, 0);
    }
    last_id[m.id.partition] = m.id;
    int seq = std::stoi(m.payload.substr(8));
    EXPECT_EQ(m.event_time_ms, 1000 + seq);
    EXPECT_LE(std::abs(m.publish_time_ms - now_ms), 60'000);
    EXPECT_EQ(m.redelivery_count, 0);
    if (last_seq.count(m.key)) {
      EXPECT_GT(seq, last_seq[m.key]) << m.key;
    }
    last_seq[m.key] = seq;
  }
  EXPECT_EQ(last_id.size(), 4u);
  // One entry per send() call and partition: 10 calls, each reaching all 4 partitions.
  for (const auto& [p, id] : last_id) EXPECT_EQ(id.entry_id, 9) << p;
  EXPECT_EQ(*consumer->backlog(), 1000);
  ASSERT_TRUE(consumer->acknowledge(ids_of(got)).ok());
  EXPECT_EQ(*consumer->backlog(), 0);
  auto none = consumer->receive(10, 50ms);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(EmbeddedTopicLog, EmptyKeysGoRoundRobin) {
  TempDir dir;
  auto svc = open_service(dir.path());
  ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 3).ok());
  auto producer = *svc->create_producer(kTopic);
  auto msgs = make_messages(30, 0);
  ASSERT_TRUE(producer->send(msgs).ok());
  auto consumer = *svc->subscribe(kTopic, sub("s"));
  std::map<int32_t, int> per_partition;
  for (const auto& m : receive_n(*consumer, 30)) ++per_partition[m.id.partition];
  EXPECT_EQ(per_partition, (std::map<int32_t, int>{{0, 10}, {1, 10}, {2, 10}}));
}

TEST(EmbeddedTopicLog, SubscriptionCursorPersistsAcrossReopen) {
  TempDir dir;
  {
    auto svc = open_service(dir.path());
    ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 1).ok());
    ASSERT_TRUE((*svc->create_producer(kTopic))->send(make_messages(20, 5)).ok());
    auto consumer = *svc->subscribe(kTopic, sub("s"));
    auto got = receive_n(*consumer, 10);
    ASSERT_EQ(got.size(), 10u);
    ASSERT_TRUE(consumer->acknowledge(ids_of(got)).ok());
    ASSERT_TRUE(consumer->close().ok());
  }
  auto svc = open_service(dir.path());
  auto consumer = *svc->subscribe(kTopic, sub("s"));
  EXPECT_EQ(*consumer->backlog(), 10);
  auto got = receive_n(*consumer, 10);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got.front().payload, "payload-10");
  EXPECT_EQ(got.front().redelivery_count, 0);  // nothing was delivered-and-unacked
  // Another subscription starts from the beginning; a Latest one sees only new messages.
  auto other = *svc->subscribe(kTopic, sub("other"));
  EXPECT_EQ(*other->backlog(), 20);
  auto latest = *svc->subscribe(
      kTopic,
      io::SubscribeOptions{"latest", io::SubscriptionType::kShared, io::InitialPosition::kLatest});
  EXPECT_EQ(*latest->backlog(), 0);
  ASSERT_TRUE((*svc->create_producer(kTopic))->send(make_messages(1, 0, 100)).ok());
  auto fresh = receive_n(*latest, 1);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].payload, "payload-100");
}

TEST(EmbeddedTopicLog, IndividualAcksOutOfOrder) {
  TempDir dir;
  {
    auto svc = open_service(dir.path());
    ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 1).ok());
    ASSERT_TRUE((*svc->create_producer(kTopic))->send(make_messages(10, 0)).ok());
    auto consumer = *svc->subscribe(kTopic, sub("s"));
    auto got = receive_n(*consumer, 10);
    ASSERT_EQ(got.size(), 10u);
    std::vector<MessageId> odd;
    for (int i = 9; i >= 1; i -= 2) odd.push_back(got[static_cast<size_t>(i)].id);
    ASSERT_TRUE(consumer->acknowledge(odd).ok());
    ASSERT_TRUE(consumer->acknowledge(odd).ok());  // duplicates are ignored
    EXPECT_EQ(*consumer->backlog(), 5);
    MessageId bad{7, 0, 0};
    EXPECT_EQ(consumer->acknowledge(std::span(&bad, 1)).code(), StatusCode::kInvalidArgument);
  }  // closed without acknowledging the even entries
  auto svc = open_service(dir.path());
  auto consumer = *svc->subscribe(kTopic, sub("s"));
  EXPECT_EQ(*consumer->backlog(), 5);
  auto again = receive_n(*consumer, 10, 200ms);
  ASSERT_EQ(again.size(), 5u);
  for (size_t i = 0; i < again.size(); ++i) {
    EXPECT_EQ(again[i].id.entry_id, 0);  // one send(): one entry
    EXPECT_EQ(again[i].id.batch_index, static_cast<int32_t>(2 * i));
    EXPECT_EQ(again[i].redelivery_count, 1);
  }
  // Acknowledge 2, 4, 6, 8 first, then 0: the entry is complete, mark-delete moves to it
  // and its partial-acknowledgement row goes.
  ASSERT_TRUE(consumer->acknowledge(ids_of({again.begin() + 1, again.end()})).ok());
  EXPECT_EQ(*consumer->backlog(), 1);
  ASSERT_TRUE(consumer->acknowledge(std::span(&again[0].id, 1)).ok());
  EXPECT_EQ(*consumer->backlog(), 0);
  ASSERT_TRUE(consumer->close().ok());

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() + "/topics.sqlite").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT (SELECT count(*) FROM individual_acks), "
                               "(SELECT mark_delete FROM cursors)",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(st, 0), 0);
  EXPECT_EQ(sqlite3_column_int64(st, 1), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(EmbeddedTopicLog, OneActiveConsumerPerSubscription) {
  TempDir dir;
  auto svc = open_service(dir.path());
  ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 2).ok());
  auto first = svc->subscribe(kTopic, sub("orders-sub"));
  ASSERT_TRUE(first);
  auto second = svc->subscribe(kTopic, sub("orders-sub"));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.error().message().find("orders-sub"), std::string::npos);
  ASSERT_TRUE((*first)->close().ok());
  EXPECT_TRUE(svc->subscribe(kTopic, sub("orders-sub")));
}

// Non-exclusive consumers of a held subscription wait as standbys and take over, with the
// unacknowledged messages, when the active consumer closes.
TEST(EmbeddedTopicLog, StandbyTakesOverWhenActiveCloses) {
  TempDir dir;
  auto svc = open_service(dir.path());
  ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 2).ok());
  ASSERT_TRUE((*svc->create_producer(kTopic))->send(make_messages(10, 3)).ok());
  auto active = *svc->subscribe(kTopic, sub("fo", io::SubscriptionType::kFailover));
  auto standby = svc->subscribe(kTopic, sub("fo", io::SubscriptionType::kShared));
  ASSERT_TRUE(standby) << standby.error().to_string();
  auto exclusive = svc->subscribe(kTopic, sub("fo"));
  ASSERT_FALSE(exclusive);
  EXPECT_NE(exclusive.error().message().find("'fo'"), std::string::npos);

  auto got = receive_n(*active, 10);
  ASSERT_EQ(got.size(), 10u);
  ASSERT_TRUE(active->acknowledge(ids_of({got.begin(), got.begin() + 4})).ok());
  auto nothing = (*standby)->receive(10, 80ms);
  ASSERT_TRUE(nothing);
  EXPECT_TRUE(nothing->empty());
  EXPECT_EQ((*standby)->acknowledge(ids_of(got)).code(), StatusCode::kUnavailable);
  EXPECT_EQ(*(*standby)->backlog(), 6);

  ASSERT_TRUE(active->close().ok());
  auto rest = receive_n(**standby, 6);
  ASSERT_EQ(rest.size(), 6u);
  for (const auto& m : rest) EXPECT_EQ(m.redelivery_count, 1);
  ASSERT_TRUE((*standby)->acknowledge(ids_of(rest)).ok());
  EXPECT_EQ(*(*standby)->backlog(), 0);
}

TEST(EmbeddedTopicLog, ReceiveTimesOut) {
  TempDir dir;
  auto svc = open_service(dir.path());
  ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 2).ok());
  auto consumer = *svc->subscribe(kTopic, sub("s"));
  const int64_t t0 = monotonic_ns();
  auto got = consumer->receive(10, 120ms);
  const int64_t waited_ms = (monotonic_ns() - t0) / kNanosPerMilli;
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->empty());
  EXPECT_GE(waited_ms, 110);
  EXPECT_LT(waited_ms, 1000);
}

// A consumer process dies (SIGKILL) after receiving and before acknowledging; the next
// consumer of the subscription takes it over and gets the same messages again.
TEST(EmbeddedTopicLog, RedeliversAfterKillNine) {
  TempDir dir;
  {
    auto svc = open_service(dir.path());
    ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 2).ok());
    ASSERT_TRUE((*svc->create_producer(kTopic))->send(make_messages(8, 4)).ok());
  }  // no connection stays open across fork()
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto svc = open_topic_service(dir.path());
    if (!svc) _exit(2);
    auto consumer = (*svc)->subscribe(kTopic, sub("crashy"));
    if (!consumer) _exit(3);
    size_t n = 0;
    while (n < 8) {
      auto got = (*consumer)->receive(8, 2s);
      if (!got || got->empty()) _exit(4);
      n += got->size();
    }
    kill(getpid(), SIGKILL);
    _exit(5);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exit code " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);

  auto svc = open_service(dir.path());
  auto consumer = svc->subscribe(kTopic, sub("crashy"));
  ASSERT_TRUE(consumer) << consumer.error().to_string();
  auto again = receive_n(**consumer, 8);
  ASSERT_EQ(again.size(), 8u);
  std::set<std::string> payloads;
  for (const auto& m : again) {
    EXPECT_GE(m.redelivery_count, 1);
    payloads.insert(m.payload);
  }
  EXPECT_EQ(payloads.size(), 8u);
  ASSERT_TRUE((*consumer)->acknowledge(ids_of(again)).ok());
  EXPECT_EQ(*(*consumer)->backlog(), 0);
}

// A producer process and a consumer process run at once; the consumer acknowledges
// everything and sees every message exactly once.
TEST(EmbeddedTopicLog, ConcurrentProducerAndConsumerProcesses) {
  TempDir dir;
  constexpr int kMessages = 20000;
  {
    auto svc = open_service(dir.path());
    ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 4).ok());
  }
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto svc = open_topic_service(dir.path());
    if (!svc) _exit(2);
    auto producer = (*svc)->create_producer(kTopic);
    if (!producer) _exit(3);
    for (int i = 0; i < kMessages; i += 100) {
      if (!(*producer)->send(make_messages(100, 13, i)).ok()) _exit(4);
      if (i % 2000 == 0) usleep(2000);
    }
    (void)(*producer)->close();
    _exit(0);
  }
  auto svc = open_service(dir.path());
  auto consumer = *svc->subscribe(kTopic, sub("s"));
  std::set<std::string> seen;
  int duplicates = 0;
  const int64_t deadline = monotonic_ns() + 120 * kNanosPerSecond;
  while (static_cast<int>(seen.size()) < kMessages && monotonic_ns() < deadline) {
    auto got = consumer->receive(500, 1s);
    ASSERT_TRUE(got) << got.error().to_string();
    for (const auto& m : *got) {
      if (!seen.insert(m.payload).second) ++duplicates;
      EXPECT_EQ(m.redelivery_count, 0);
    }
    ASSERT_TRUE(consumer->acknowledge(ids_of(*got)).ok());
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kMessages));
  EXPECT_EQ(duplicates, 0);
  auto rest = consumer->receive(10, 100ms);
  ASSERT_TRUE(rest);
  EXPECT_TRUE(rest->empty());
  EXPECT_EQ(*consumer->backlog(), 0);
  EXPECT_EQ(*svc->message_count(kTopic), kMessages);
}

// A live holder in another process blocks the subscription; once that process has exited
// (without closing its consumer) the subscription can be taken over.
TEST(EmbeddedTopicLog, SubscriptionHeldByAnotherProcess) {
  TempDir dir;
  {
    auto svc = open_service(dir.path());
    ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 1).ok());
  }
  int to_parent[2], to_child[2];
  ASSERT_EQ(pipe(to_parent), 0);
  ASSERT_EQ(pipe(to_child), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto svc = open_topic_service(dir.path());
    if (!svc) _exit(2);
    auto consumer = (*svc)->subscribe(kTopic, sub("held", io::SubscriptionType::kFailover));
    if (!consumer) _exit(3);
    char c = 1;
    if (write(to_parent[1], &c, 1) != 1) _exit(4);
    if (read(to_child[0], &c, 1) != 1) _exit(5);
    _exit(0);  // exits without closing the consumer
  }
  char c = 0;
  ASSERT_EQ(read(to_parent[0], &c, 1), 1);
  {
    auto svc = open_service(dir.path());
    auto second = svc->subscribe(kTopic, sub("held"));
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code(), StatusCode::kUnavailable);
    EXPECT_NE(second.error().message().find("'held'"), std::string::npos);
    EXPECT_NE(second.error().message().find(std::to_string(child)), std::string::npos)
        << second.error().message();
  }
  ASSERT_EQ(write(to_child[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) close(fd);
  auto svc = open_service(dir.path());
  EXPECT_TRUE(svc->subscribe(kTopic, sub("held")));
}

// Reads one SQL value from the topic database (a separate connection, as a tool would).
int64_t sql_int(const std::string& dir, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open((dir + "/topics.sqlite").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int64_t v = -999;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

void sql_exec(const std::string& dir, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/topics.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

// One send() call is split into entries of at most 1000 messages / about 1 MiB; counts are
// in messages, not entries.
TEST(EmbeddedTopicLog, SendSplitsIntoBoundedEntries) {
  TempDir dir;
  auto svc = open_service(dir.path());
  ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 1).ok());
  auto producer = *svc->create_producer(kTopic);
  ASSERT_TRUE(producer->send(make_messages(2500, 7)).ok());
  std::vector<OutgoingMessage> big(3, OutgoingMessage("k", std::string(600 * 1024, 'x'), 5));
  ASSERT_TRUE(producer->send(big).ok());
  EXPECT_EQ(*svc->message_count(kTopic), 2503);
  EXPECT_EQ(sql_int(dir.path(), "SELECT count(*) FROM messages"), 3 + 3);
  EXPECT_EQ(sql_int(dir.path(), "SELECT max(num_messages) FROM messages"), 1000);
  EXPECT_EQ(sql_int(dir.path(), "SELECT first_message FROM messages WHERE entry_id = 2"), 2000);
  auto consumer = *svc->subscribe(kTopic, sub("s"));
  EXPECT_EQ(*consumer->backlog(), 2503);
  // receive() limits cut entries; the rest of an entry comes first next time, in order.
  std::vector<Message> got;
  while (got.size() < 2503) {
    auto part = consumer->receive(333, 1s);
    ASSERT_TRUE(part) << part.error().to_string();
    ASSERT_FALSE(part->empty());
    EXPECT_LE(part->size(), 333u);
    for (auto& m : *part) got.push_back(std::move(m));
  }
  for (size_t i = 0; i < 2500; ++i) {
    EXPECT_EQ(got[i].payload, "payload-" + std::to_string(i));
    EXPECT_EQ(got[i].id.entry_id, static_cast<int64_t>(i / 1000));
    EXPECT_EQ(got[i].id.batch_index, static_cast<int32_t>(i % 1000));
  }
  for (size_t i = 2500; i < 2503; ++i) {
    EXPECT_EQ(got[i].id.entry_id, static_cast<int64_t>(i - 2500 + 3));
    EXPECT_EQ(got[i].id.batch_index, 0);
    EXPECT_EQ(got[i].payload.size(), 600u * 1024);
  }
  // A whole entry is acknowledged by batch index -1; a batch index beyond it is refused.
  MessageId whole{0, 0, 1, -1};
  ASSERT_TRUE(consumer->acknowledge(std::span(&whole, 1)).ok());
  EXPECT_EQ(*consumer->backlog(), 1503);
  MessageId beyond{0, 0, 3, 1};
  EXPECT_EQ(consumer->acknowledge(std::span(&beyond, 1)).code(), StatusCode::kInvalidArgument);
  MessageId missing{0, 0, 99, 0};
  EXPECT_EQ(consumer->acknowledge(std::span(&missing, 1)).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(consumer->acknowledge(ids_of(got)).ok());
  EXPECT_EQ(*consumer->backlog(), 0);
  EXPECT_EQ(sql_int(dir.path(), "SELECT mark_delete FROM cursors"), 5);
  EXPECT_EQ(sql_int(dir.path(), "SELECT acked_messages FROM cursors"), 2503);
}

// Acknowledging part of an entry persists: after a restart only the unacknowledged messages
// of the entry come again.
TEST(EmbeddedTopicLog, PartialAcksOfAnEntrySurviveRestart) {
  TempDir dir;
  {
    auto svc = open_service(dir.path());
    ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 1).ok());
    ASSERT_TRUE((*svc->create_producer(kTopic))->send(make_messages(10, 3)).ok());
    ASSERT_TRUE((*svc->create_producer(kTopic))->send(make_messages(5, 3, 10)).ok());
    auto consumer = *svc->subscribe(kTopic, sub("s"));
    auto got = receive_n(*consumer, 15);
    ASSERT_EQ(got.size(), 15u);
    std::vector<MessageId> some;
    for (size_t i : {1, 3, 4, 9, 11, 14}) some.push_back(got[i].id);
    ASSERT_TRUE(consumer->acknowledge(some).ok());
    EXPECT_EQ(*consumer->backlog(), 9);
  }  // destroyed without acknowledging the rest
  EXPECT_EQ(sql_int(dir.path(), "SELECT count(*) FROM individual_acks"), 2);
  EXPECT_EQ(sql_int(dir.path(), "SELECT sum(acked_count) FROM individual_acks"), 6);
  auto svc = open_service(dir.path());
  auto consumer = *svc->subscribe(kTopic, sub("s"));
  EXPECT_EQ(*consumer->backlog(), 9);
  auto again = receive_n(*consumer, 15, 200ms);
  std::vector<std::string> payloads;
  for (const auto& m : again) {
    payloads.push_back(m.payload);
    EXPECT_EQ(m.redelivery_count, 1);
  }
  EXPECT_EQ(payloads, (std::vector<std::string>{"payload-0", "payload-2", "payload-5", "payload-6",
                                                "payload-7", "payload-8", "payload-10",
                                                "payload-12", "payload-13"}));
  ASSERT_TRUE(consumer->acknowledge(ids_of(again)).ok());
  EXPECT_EQ(*consumer->backlog(), 0);
  EXPECT_EQ(sql_int(dir.path(), "SELECT count(*) FROM individual_acks"), 0);
  EXPECT_EQ(sql_int(dir.path(), "SELECT mark_delete FROM cursors"), 1);
}

// The same after kill -9 of a consumer process that acknowledged half of an entry.
TEST(EmbeddedTopicLog, PartialAcksOfAnEntrySurviveKillNine) {
  TempDir dir;
  {
    auto svc = open_service(dir.path());
    ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 1).ok());
    ASSERT_TRUE((*svc->create_producer(kTopic))->send(make_messages(100, 10)).ok());
  }
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto svc = open_topic_service(dir.path());
    if (!svc) _exit(2);
    auto consumer = (*svc)->subscribe(kTopic, sub("crashy"));
    if (!consumer) _exit(3);
    auto got = (*consumer)->receive(100, 2s);
    if (!got || got->size() != 100) _exit(4);
    std::vector<MessageId> even;
    for (size_t i = 0; i < got->size(); i += 2) even.push_back((*got)[i].id);
    if (!(*consumer)->acknowledge(even).ok()) _exit(5);
    kill(getpid(), SIGKILL);
    _exit(6);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exit code " << WEXITSTATUS(status);
  auto svc = open_service(dir.path());
  auto consumer = *svc->subscribe(kTopic, sub("crashy"));
  EXPECT_EQ(*consumer->backlog(), 50);
  auto again = receive_n(*consumer, 100, 200ms);
  ASSERT_EQ(again.size(), 50u);
  for (const auto& m : again) {
    EXPECT_EQ(m.id.batch_index % 2, 1);
    EXPECT_EQ(m.payload, "payload-" + std::to_string(m.id.batch_index));
    EXPECT_GE(m.redelivery_count, 1);
  }
  ASSERT_TRUE(consumer->acknowledge(ids_of(again)).ok());
  EXPECT_EQ(*consumer->backlog(), 0);
}

// A damaged entry row is a Corruption error naming the topic, partition and entry, and
// nothing of it is delivered.
TEST(EmbeddedTopicLog, CorruptEntryIsCorruption) {
  const char* damage[] = {
      "UPDATE messages SET body = substr(body, 1, length(body) - 3)",          // truncated
      "UPDATE messages SET body = body || x'00'",                              // trailing byte
      "UPDATE messages SET num_messages = 4",                                  // count mismatch
      "UPDATE messages SET body = x'0300000001'",                              // short garbage
      "UPDATE messages SET body = x'01000000' || zeroblob(8) || x'ffffffff'",  // huge length
      "UPDATE messages SET body = x''",
  };
  for (const char* sql : damage) {
    TempDir dir;
    {
      auto svc = open_service(dir.path());
      ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 1).ok());
      ASSERT_TRUE((*svc->create_producer(kTopic))->send(make_messages(3, 1)).ok());
    }
    sql_exec(dir.path(), sql);
    auto svc = open_service(dir.path());
    auto consumer = *svc->subscribe(kTopic, sub("s"));
    auto got = consumer->receive(10, 100ms);
    ASSERT_FALSE(got) << sql;
    EXPECT_EQ(got.error().code(), StatusCode::kCorruption) << sql;
    const std::string& msg = got.error().message();
    EXPECT_NE(msg.find(std::string(kTopic) + " partition 0 entry 0"), std::string::npos)
        << sql << ": " << msg;
  }
}

// A corrupt acknowledgement row is refused when attaching, not guessed at.
TEST(EmbeddedTopicLog, CorruptAckRowIsCorruption) {
  TempDir dir;
  {
    auto svc = open_service(dir.path());
    ASSERT_TRUE(svc->create_partitioned_topic(kTopic, 1).ok());
    ASSERT_TRUE((*svc->create_producer(kTopic))->send(make_messages(10, 1)).ok());
    ASSERT_TRUE((*svc->create_producer(kTopic))->send(make_messages(10, 1)).ok());
    auto consumer = *svc->subscribe(kTopic, sub("s"));
    auto got = receive_n(*consumer, 20);
    ASSERT_EQ(got.size(), 20u);
    ASSERT_TRUE(consumer->acknowledge(std::span(&got[12].id, 1)).ok());
  }
  sql_exec(dir.path(), "UPDATE individual_acks SET acked_count = 2");
  auto svc = open_service(dir.path());
  auto consumer = svc->subscribe(kTopic, sub("s"));
  ASSERT_FALSE(consumer);
  EXPECT_EQ(consumer.error().code(), StatusCode::kCorruption);
  EXPECT_NE(consumer.error().message().find("entry 1"), std::string::npos)
      << consumer.error().message();
}

TEST(EmbeddedTopicLog, RejectsOtherFormatVersion) {
  TempDir dir;
  { ASSERT_TRUE(open_topic_service(dir.path())); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() + "/topics.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '0' WHERE key = 'format_version'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto svc = open_topic_service(dir.path());
  ASSERT_FALSE(svc);
  EXPECT_NE(svc.error().message().find("topics.sqlite"), std::string::npos);
  EXPECT_NE(svc.error().message().find("version '0'"), std::string::npos) << svc.error().message();
}

}  // namespace
}  // namespace tideline::embedded
