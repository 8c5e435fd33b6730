// Integration tests of the Pulsar client against the real standalone broker (CTest fixture
// pulsar_server, or scripts/services/pulsar.sh start): admin calls, interop with the official
// Python client (scripts/services/venv-python) in both directions, redelivery, backlog,
// throughput. Every run works in its own namespace public/tl-it-<pid>, deleted at the end.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "io/pulsar/admin.h"
#include "io/pulsar/pulsar.h"

namespace tideline::pulsar {
namespace {

using namespace std::chrono_literals;

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string broker_url() {
  return "pulsar://127.0.0.1:" + env_or("TIDELINE_PULSAR_PORT", "6650");
}
std::string web_url() {
  return "http://127.0.0.1:" + env_or("TIDELINE_PULSAR_HTTP_PORT", "8080");
}
std::string ns_name() {
  return "tl-it-" + std::to_string(getpid());
}
std::string topic_name(const std::string& local) {
  return "persistent://public/" + ns_name() + "/" + local;
}

PulsarOptions options() {
  PulsarOptions o;
  o.broker_service_url = broker_url();
  o.web_service_url = web_url();
  return o;
}

AdminClient admin() {
  AdminOptions o;
  o.web_service_url = web_url();
  return AdminClient(o);
}

std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

// Runs a Python script with the reference client; returns its stdout lines.
std::vector<std::string> run_python(const std::string& script, const std::string& args) {
  const std::string dir = ::testing::TempDir();
  const std::string py = dir + "/tl_pulsar_it_" + std::to_string(getpid()) + ".py";
  const std::string out = py + ".out";
  { std::ofstream(py) << script; }
  const std::string cmd = std::string(TIDELINE_VENV_PYTHON) + " " + py + " " + args + " > " + out;
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd;
  std::ifstream in(out);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::remove(py.c_str());
  std::remove(out.c_str());
  return lines;
}

constexpr const char* kPythonConsume = R"py(
import json, logging, sys
import pulsar
# The client's own log goes to stderr: stdout carries only the data the test compares. A
# native logger: a Python one can be called by the library's threads while the interpreter
# exits (seen: the peer aborted, and log text reached stdout).
logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
url, topic, sub, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = pulsar.Client(url, operation_timeout_seconds=30,
                       logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, '/dev/stderr'))
consumer = client.subscribe(topic, sub, consumer_type=pulsar.ConsumerType.Shared,
                            initial_position=pulsar.InitialPosition.Earliest)
for _ in range(count):
    m = consumer.receive(timeout_millis=30000)
    print(json.dumps({"topic": m.topic_name(), "key": m.partition_key(),
                      "payload": m.data().hex(), "event_time": m.event_timestamp()}))
    consumer.acknowledge(m)
consumer.close()
client.close()
)py";

constexpr const char* kPythonProduce = R"py(
import logging, sys
import pulsar
# The client's own log goes to stderr: stdout carries only the data the test compares. A
# native logger: a Python one can be called by the library's threads while the interpreter
# exits (seen: the peer aborted, and log text reached stdout).
logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
url, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = pulsar.Client(url, operation_timeout_seconds=30,
                       logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, '/dev/stderr'))
producer = client.create_producer(topic, batching_enabled=True, batching_max_messages=100,
                                  batching_max_publish_delay_ms=20,
                                  block_if_queue_full=True)
errors = []
def done(res, _id):
    if res != pulsar.Result.Ok:
        errors.append(res)
for i in range(count):
    producer.send_async(("py-payload-%d-" % i).encode() + b"x" * (i % 50), done,
                        partition_key="pykey-%d" % (i % 97), event_timestamp=1000 + i)
producer.flush()
producer.close()
client.close()
print("errors=%d" % len(errors))
)py";

class PulsarIntegration : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    auto svc = open_pulsar_topic_service(options());
    ASSERT_TRUE(svc) << svc.error().to_string();
    Status st = (*svc)->create_namespace("public", ns_name());
    ASSERT_TRUE(st.ok()) << st.to_string();
  }
  // The broker refuses forced namespace deletion: delete the topics, then the namespace.
  static void TearDownTestSuite() {
    AdminClient a = admin();
    const std::string base = "/admin/v2/persistent/public/" + ns_name();
    auto list = a.call("GET", base + "/partitioned", std::nullopt);
    if (list && list->status == 200) {
      for (const auto& name : nlohmann::json::parse(list->body)) {
        auto t = parse_topic_name(name.get<std::string>());
        if (!t) continue;
        auto r = a.call("DELETE", "/admin/v2/" + t->rest_path() + "/partitions?force=true",
                        std::nullopt);
        if (!r || r->status / 100 != 2) {
          std::fprintf(stderr, "cleanup: DELETE %s: %ld\n", t->full().c_str(), r ? r->status : 0L);
        }
      }
    }
    Status st = a.delete_namespace("public", ns_name(), false);
    if (!st.ok()) std::fprintf(stderr, "cleanup: %s\n", st.to_string().c_str());
  }

 protected:
  void SetUp() override {
    auto svc = open_pulsar_topic_service(options());
    ASSERT_TRUE(svc) << svc.error().to_string();
    svc_ = std::move(*svc);
  }
  std::unique_ptr<io::TopicService> svc_;
};

TEST_F(PulsarIntegration, AdminCalls) {
  EXPECT_TRUE(svc_->create_namespace("public", ns_name()).ok());  // exists: fine
  const std::string t = topic_name("admin");
  ASSERT_TRUE(svc_->create_partitioned_topic(t, 3).ok());
  EXPECT_TRUE(svc_->create_partitioned_topic(t, 3).ok());
  Status other = svc_->create_partitioned_topic(t, 4);
  EXPECT_EQ(other.code(), StatusCode::kAlreadyExists) << other.to_string();
  EXPECT_NE(other.message().find("exists with 3 partitions, not 4"), std::string::npos);
  EXPECT_EQ(svc_->partitions(t).value(), 3);
  EXPECT_EQ(svc_->partitions(topic_name("nothing-here")).value(), 0);

  auto none = svc_->get_schema(t);
  ASSERT_TRUE(none) << none.error().to_string();
  EXPECT_FALSE(none->has_value());
  const std::string avro =
      R"({"type":"record","name":"Ev","fields":[{"name":"k","type":"string"},{"name":"v","type":"long"}]})";
  nlohmann::json envelope = {
      {"type", "AVRO"}, {"schema", avro}, {"properties", nlohmann::json::object()}};
  Status set = svc_->set_schema(t, envelope.dump());
  ASSERT_TRUE(set.ok()) << set.to_string();
  auto got = svc_->get_schema(t);
  ASSERT_TRUE(got && got->has_value());
  auto j = nlohmann::json::parse(**got);
  EXPECT_EQ(j["type"], "AVRO");
  EXPECT_EQ(nlohmann::json::parse(j["schema"].get<std::string>()), nlohmann::json::parse(avro));

  // Errors name the path, the status and the broker's reason.
  Status bad = svc_->create_namespace("no-such-tenant-tl", "x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("PUT /admin/v2/namespaces/no-such-tenant-tl/x: HTTP 404"),
            std::string::npos)
      << bad.message();
}

TEST_F(PulsarIntegration, TidelineProducesPythonConsumes) {
  const std::string t = topic_name("to-python");
  ASSERT_TRUE(svc_->create_partitioned_topic(t, 3).ok());
  {  // The durable subscription exists before producing, so nothing is trimmed.
    auto c = svc_->subscribe(t, {"py", io::SubscriptionType::kShared});
    ASSERT_TRUE(c) << c.error().to_string();
    ASSERT_TRUE((*c)->close().ok());
  }
  constexpr int kCount = 10000;
  std::vector<io::OutgoingMessage> msgs;
  std::map<std::string, std::string> expected;  // payload hex -> key
  std::map<std::string, int64_t> event_times;   // payload hex -> event time
  for (int i = 0; i < kCount; ++i) {
    io::OutgoingMessage m{"key-" + std::to_string(i % 257),
                          "payload-" + std::to_string(i) + std::string(i % 40, 'z'), 5000 + i};
    expected[hex(m.payload)] = m.key;
    event_times[hex(m.payload)] = m.event_time_ms;
    msgs.push_back(std::move(m));
  }
  auto p = svc_->create_producer(t);
  ASSERT_TRUE(p) << p.error().to_string();
  Status st = (*p)->send(msgs);
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_TRUE((*p)->close().ok());
  EXPECT_EQ(svc_->message_count(t).value(), kCount);

  auto lines = run_python(kPythonConsume, broker_url() + " " + t + " py " + std::to_string(kCount));
  ASSERT_EQ(lines.size(), static_cast<size_t>(kCount));
  std::set<std::string> seen;
  int wrong_partition = 0;
  for (const std::string& line : lines) {
    auto j = nlohmann::json::parse(line);
    const std::string payload = j["payload"];
    const std::string key = j["key"];
    ASSERT_TRUE(expected.count(payload)) << line;
    EXPECT_EQ(expected[payload], key);
    EXPECT_EQ(j["event_time"].get<int64_t>(), event_times[payload]);
    EXPECT_TRUE(seen.insert(payload).second) << "duplicate " << line;
    const std::string topic = j["topic"];
    const std::string want = t + "-partition-" + std::to_string(io::pulsar_key_hash(key) % 3);
    if (topic != want) ++wrong_partition;
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(wrong_partition, 0);
}

TEST_F(PulsarIntegration, PythonProducesBatchesTidelineConsumes) {
  const std::string t = topic_name("from-python");
  ASSERT_TRUE(svc_->create_partitioned_topic(t, 3).ok());
  auto c = svc_->subscribe(t, {"tl", io::SubscriptionType::kShared});
  ASSERT_TRUE(c) << c.error().to_string();
  constexpr int kCount = 5000;
  auto out = run_python(kPythonProduce, broker_url() + " " + t + " " + std::to_string(kCount));
  ASSERT_EQ(out, std::vector<std::string>{"errors=0"});

  std::map<std::string, int> got;
  int batched_entries = 0;
  std::map<std::tuple<int, int64_t, int64_t>, int> per_entry;
  size_t total = 0;
  while (total < kCount) {
    auto r = (*c)->receive(1000, 10s);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_FALSE(r->empty()) << "timed out after " << total;
    std::vector<io::MessageId> ids;
    for (const io::Message& m : *r) {
      ++got[m.payload];
      const std::string prefix = "py-payload-";
      ASSERT_TRUE(m.payload.starts_with(prefix));
      const int i = std::stoi(m.payload.substr(prefix.size()));
      EXPECT_EQ(m.key, "pykey-" + std::to_string(i % 97));
      EXPECT_EQ(m.event_time_ms, 1000 + i);
      EXPECT_EQ(m.payload, "py-payload-" + std::to_string(i) + "-" + std::string(i % 50, 'x'));
      ++per_entry[{m.id.partition, m.id.ledger_id, m.id.entry_id}];
      ids.push_back(m.id);
    }
    total += r->size();
    ASSERT_TRUE((*c)->acknowledge(ids).ok());
  }
  EXPECT_EQ(got.size(), static_cast<size_t>(kCount));
  for (const auto& [payload, n] : got) EXPECT_EQ(n, 1) << payload;
  for (const auto& [entry, n] : per_entry) batched_entries += n > 1;
  EXPECT_GT(batched_entries, 0) << "the Python producer was expected to batch";
  auto more = (*c)->receive(10, 500ms);
  ASSERT_TRUE(more);
  EXPECT_TRUE(more->empty());
  // Whole batches were acknowledged: nothing left.
  int64_t backlog = -1;
  for (int i = 0; i < 50 && backlog != 0; ++i) {
    backlog = (*c)->backlog().value();
    if (backlog != 0) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(backlog, 0);
  EXPECT_TRUE((*c)->close().ok());
}

TEST_F(PulsarIntegration, UnackedMessagesAreRedeliveredAndBacklogCounts) {
  const std::string t = topic_name("redeliver");
  ASSERT_TRUE(svc_->create_partitioned_topic(t, 2).ok());
  const io::SubscribeOptions sub{"work", io::SubscriptionType::kShared};
  auto c = svc_->subscribe(t, sub);
  ASSERT_TRUE(c) << c.error().to_string();
  std::vector<io::OutgoingMessage> msgs;
  for (int i = 0; i < 100; ++i) msgs.push_back({"k" + std::to_string(i), "m" + std::to_string(i)});
  auto p = svc_->create_producer(t);
  ASSERT_TRUE(p);
  ASSERT_TRUE((*p)->send(msgs).ok());

  std::vector<io::Message> received;
  while (received.size() < 100) {
    auto r = (*c)->receive(100, 10s);
    ASSERT_TRUE(r && !r->empty());
    for (auto& m : *r) received.push_back(std::move(m));
  }
  std::set<std::string> acked, unacked;
  std::vector<io::MessageId> ids;
  for (const io::Message& m : received) {
    EXPECT_EQ(m.redelivery_count, 0);
    const int i = std::stoi(m.payload.substr(1));
    if (i % 2 == 0) {
      ids.push_back(m.id);
      acked.insert(m.payload);
    } else {
      unacked.insert(m.payload);
    }
  }
  ASSERT_TRUE((*c)->acknowledge(ids).ok());
  int64_t backlog = -1;
  for (int i = 0; i < 50 && backlog != 50; ++i) {
    backlog = (*c)->backlog().value();
    if (backlog != 50) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(backlog, 50);
  // The broker keeps redelivery counts while the subscription has a consumer (it forgets
  // them when the last one leaves): a second consumer stays while the first closes.
  auto again = svc_->subscribe(t, sub);
  ASSERT_TRUE(again) << again.error().to_string();
  ASSERT_TRUE((*c)->close().ok());
  std::set<std::string> redelivered;
  while (redelivered.size() < unacked.size()) {
    auto r = (*again)->receive(100, 10s);
    ASSERT_TRUE(r);
    ASSERT_FALSE(r->empty()) << "only " << redelivered.size() << " redelivered";
    for (const io::Message& m : *r) {
      EXPECT_TRUE(unacked.count(m.payload)) << m.payload << " was acknowledged";
      EXPECT_GT(m.redelivery_count, 0) << m.payload;
      redelivered.insert(m.payload);
    }
  }
  EXPECT_EQ(redelivered, unacked);
  auto extra = (*again)->receive(10, 1s);
  ASSERT_TRUE(extra);
  EXPECT_TRUE(extra->empty());

  // REDELIVER_UNACKNOWLEDGED_MESSAGES brings them once more without reconnecting.
  ASSERT_TRUE(redeliver_unacknowledged(**again).ok());
  std::set<std::string> once_more;
  while (once_more.size() < unacked.size()) {
    auto r = (*again)->receive(100, 10s);
    ASSERT_TRUE(r);
    ASSERT_FALSE(r->empty()) << "only " << once_more.size() << " after REDELIVER";
    std::vector<io::MessageId> all;
    for (const io::Message& m : *r) {
      EXPECT_GT(m.redelivery_count, 1) << m.payload;
      once_more.insert(m.payload);
      all.push_back(m.id);
    }
    ASSERT_TRUE((*again)->acknowledge(all).ok());
  }
  EXPECT_EQ(once_more, unacked);
  ASSERT_TRUE((*again)->close().ok());

  // Sole consumer: unacknowledged messages still come back after close + resubscribe.
  ASSERT_TRUE((*p)->send(std::span(msgs).subspan(0, 10)).ok());
  auto solo = svc_->subscribe(t, sub);
  ASSERT_TRUE(solo);
  size_t first = 0;
  while (first < 10) {
    auto r = (*solo)->receive(10, 10s);
    ASSERT_TRUE(r && !r->empty());
    first += r->size();
  }
  ASSERT_TRUE((*solo)->close().ok());
  auto solo2 = svc_->subscribe(t, sub);
  ASSERT_TRUE(solo2);
  size_t second = 0;
  while (second < 10) {
    auto r = (*solo2)->receive(10, 10s);
    ASSERT_TRUE(r && !r->empty()) << "after " << second;
    second += r->size();
  }
  EXPECT_EQ(second, 10u);
  ASSERT_TRUE((*solo2)->close().ok());
  ASSERT_TRUE((*p)->close().ok());
}

TEST_F(PulsarIntegration, SubscriptionTypesAndErrors) {
  const std::string t = topic_name("types");
  ASSERT_TRUE(svc_->create_partitioned_topic(t, 2).ok());
  auto ex = svc_->subscribe(t, {"ex", io::SubscriptionType::kExclusive});
  ASSERT_TRUE(ex) << ex.error().to_string();
  auto ex2 = svc_->subscribe(t, {"ex", io::SubscriptionType::kExclusive});
  ASSERT_FALSE(ex2);
  EXPECT_NE(ex2.error().message().find("SUBSCRIBE: ConsumerBusy"), std::string::npos)
      << ex2.error().message();
  auto ks = svc_->subscribe(t, {"ks", io::SubscriptionType::kKeyShared});
  ASSERT_TRUE(ks) << ks.error().to_string();
  auto fo = svc_->subscribe(t, {"fo", io::SubscriptionType::kFailover});
  ASSERT_TRUE(fo) << fo.error().to_string();
  auto p = svc_->create_producer(t);
  ASSERT_TRUE(p);
  std::vector<io::OutgoingMessage> msgs;
  for (int i = 0; i < 20; ++i) msgs.push_back({"key" + std::to_string(i % 5), std::to_string(i)});
  ASSERT_TRUE((*p)->send(msgs).ok());
  for (io::Consumer* c : {ex->get(), ks->get(), fo->get()}) {
    size_t n = 0;
    while (n < msgs.size()) {
      auto r = c->receive(100, 10s);
      ASSERT_TRUE(r && !r->empty());
      n += r->size();
    }
    EXPECT_EQ(n, msgs.size());
  }
}

// Broker deduplication (what the processor's journal-first recovery relies on): a second
// producer with the same fixed name re-sending messages under the sequence ids it used
// before stores nothing new; only ids above the highest stored one are appended. Counted
// by draining a subscription that existed before the first send.
TEST_F(PulsarIntegration, FixedNameAndSequenceIdsAreDeduplicated) {
  const std::string t = topic_name("dedup");
  ASSERT_TRUE(svc_->enable_deduplication(t).ok());
  ASSERT_TRUE(svc_->create_partitioned_topic(t, 3).ok());
  auto c = svc_->subscribe(t, {"count", io::SubscriptionType::kExclusive});
  ASSERT_TRUE(c) << c.error().to_string();
  auto batch = [](int from, int to) {
    std::vector<io::OutgoingMessage> msgs;
    for (int i = from; i < to; ++i) {
      io::OutgoingMessage m{"key-" + std::to_string(i % 31), "m" + std::to_string(i)};
      m.sequence_id = i;
      msgs.push_back(std::move(m));
    }
    return msgs;
  };
  const io::ProducerOptions named{.name = "tl-dedup-" + std::to_string(getpid())};
  {
    auto p = svc_->create_producer(t, named);
    ASSERT_TRUE(p) << p.error().to_string();
    ASSERT_TRUE((*p)->send(batch(0, 300)).ok());
    ASSERT_TRUE((*p)->close().ok());
  }
  {  // A restarted producer: the first 300 again, then 50 new ones.
    auto p = svc_->create_producer(t, named);
    ASSERT_TRUE(p) << p.error().to_string();
    ASSERT_TRUE((*p)->send(batch(0, 350)).ok());
    ASSERT_TRUE((*p)->close().ok());
  }
  std::map<std::string, int> seen;
  while (true) {
    auto r = (*c)->receive(1000, 3s);
    ASSERT_TRUE(r) << r.error().to_string();
    if (r->empty()) break;
    for (const auto& m : *r) ++seen[m.payload];
  }
  EXPECT_EQ(seen.size(), 350u);
  int duplicated = 0;
  for (const auto& [payload, n] : seen) duplicated += n > 1;
  EXPECT_EQ(duplicated, 0);
}

TEST_F(PulsarIntegration, ReconnectsAfterTopicUnload) {
  const std::string local = "reconnect";
  const std::string t = topic_name(local);
  ASSERT_TRUE(svc_->create_partitioned_topic(t, 2).ok());
  auto c = svc_->subscribe(t, {"rc", io::SubscriptionType::kShared});
  ASSERT_TRUE(c) << c.error().to_string();
  auto p = svc_->create_producer(t);
  ASSERT_TRUE(p) << p.error().to_string();
  auto batch = [](int from) {
    std::vector<io::OutgoingMessage> msgs;
    for (int i = from; i < from + 200; ++i) {
      msgs.push_back({"k" + std::to_string(i % 17), "r" + std::to_string(i)});
    }
    return msgs;
  };
  ASSERT_TRUE((*p)->send(batch(0)).ok());
  std::set<std::string> seen;
  while (seen.size() < 50) {
    auto r = (*c)->receive(50 - seen.size(), 10s);
    ASSERT_TRUE(r && !r->empty());
    std::vector<io::MessageId> ids;
    for (const io::Message& m : *r) {
      seen.insert(m.payload);
      ids.push_back(m.id);
    }
    ASSERT_TRUE((*c)->acknowledge(ids).ok());
  }
  // The broker closes every producer and consumer of the topic; both must come back.
  AdminClient a = admin();
  auto unload = a.call("PUT", "/admin/v2/persistent/public/" + ns_name() + "/" + local + "/unload",
                       std::nullopt);
  ASSERT_TRUE(unload);
  ASSERT_EQ(unload->status / 100, 2) << unload->body;
  const auto reconnect_start = std::chrono::steady_clock::now();
  Status sent = (*p)->send(batch(200));
  ASSERT_TRUE(sent.ok()) << sent.to_string();
  while (seen.size() < 400) {
    auto r = (*c)->receive(100, 15s);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_FALSE(r->empty()) << "only " << seen.size() << " of 400";
    std::vector<io::MessageId> ids;
    for (const io::Message& m : *r) {
      seen.insert(m.payload);
      ids.push_back(m.id);
    }
    ASSERT_TRUE((*c)->acknowledge(ids).ok());
  }
  EXPECT_EQ(seen.size(), 400u);
  // Nothing waited for the 30 s operation timeout (an ack to a closed consumer is never
  // answered; the client must notice the CLOSE_CONSUMER instead).
  EXPECT_LT(std::chrono::steady_clock::now() - reconnect_start, 15s);
  int64_t backlog = -1;
  for (int i = 0; i < 50 && backlog != 0; ++i) {
    backlog = (*c)->backlog().value();
    if (backlog != 0) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(backlog, 0);
  EXPECT_TRUE((*c)->close().ok());
  EXPECT_TRUE((*p)->close().ok());
}

TEST_F(PulsarIntegration, Throughput100k) {
  const std::string t = topic_name("throughput");
  ASSERT_TRUE(svc_->create_partitioned_topic(t, 3).ok());
  auto c = svc_->subscribe(t, {"tp", io::SubscriptionType::kShared});
  ASSERT_TRUE(c);
  constexpr int kCount = 100000;
  std::vector<io::OutgoingMessage> msgs;
  msgs.reserve(kCount);
  for (int i = 0; i < kCount; ++i) {
    std::string payload = "event-" + std::to_string(i) + "-";
    payload.resize(100, 'p');
    msgs.push_back({"entity-" + std::to_string(i % 1000), std::move(payload), 1 + i});
  }
  auto p = svc_->create_producer(t);
  ASSERT_TRUE(p);
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t at = 0; at < msgs.size(); at += 10000) {
    Status st = (*p)->send(std::span(msgs).subspan(at, 10000));
    ASSERT_TRUE(st.ok()) << st.to_string();
  }
  const double produce_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto t1 = std::chrono::steady_clock::now();
  size_t n = 0;
  while (n < static_cast<size_t>(kCount)) {
    auto r = (*c)->receive(1000, 10s);
    ASSERT_TRUE(r && !r->empty()) << "after " << n;
    std::vector<io::MessageId> ids;
    for (const io::Message& m : *r) ids.push_back(m.id);
    ASSERT_TRUE((*c)->acknowledge(ids).ok());
    n += r->size();
  }
  const double consume_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::printf(
      "pulsar throughput: produce %d x 100 B in %.2f s = %.0f msg/s; consume+ack %.2f s = %.0f "
      "msg/s\n",
      kCount, produce_s, kCount / produce_s, consume_s, kCount / consume_s);
  RecordProperty("produce_msgs_per_s", static_cast<int>(kCount / produce_s));
  RecordProperty("consume_msgs_per_s", static_cast<int>(kCount / consume_s));
  EXPECT_EQ(n, static_cast<size_t>(kCount));
}

}  // namespace
}  // namespace tideline::pulsar
