// Issue 12's reproduction against the real standalone broker, with the official Python client
// (scripts/services/venv-python) as the independent peer: compressed payloads both ways
// (every codec, batched and unbatched), an entry with bad compressed data, and a topic whose
// producers registered other schema versions read by the processor with schema resolution.
// Every run works in its own namespace public/tl-interop-<pid>, deleted at the end.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "common/time.h"
#include "io/avro/avro.h"
#include "io/pulsar/admin.h"
#include "io/pulsar/client.h"
#include "io/pulsar/pulsar.h"
#include "pipeline/config.h"
#include "pipeline/pipeline.h"

namespace tideline::pulsar {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

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
  return "tl-interop-" + std::to_string(getpid());
}
std::string topic_name(const std::string& local) {
  return "persistent://public/" + ns_name() + "/" + local;
}
PulsarOptions options(const std::string& compression = "") {
  PulsarOptions o;
  o.broker_service_url = broker_url();
  o.web_service_url = web_url();
  o.compression = compression;
  return o;
}
AdminClient admin() {
  AdminOptions o;
  o.web_service_url = web_url();
  return AdminClient(o);
}

// Runs a Python script with the reference client; returns its stdout lines.
std::vector<std::string> run_python(const std::string& script, const std::string& args) {
  const std::string py = ::testing::TempDir() + "/tl_interop_" + std::to_string(getpid()) + ".py";
  const std::string out = py + ".out";
  { std::ofstream(py) << script; }
  const std::string cmd = std::string(TIDELINE_VENV_PYTHON) + " " + py + " " + args + " > " + out;
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd;
  std::ifstream in(out);
  std::vector<std::string> lines;
  // Only the script's own lines: the client library may log to stdout too.
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("{") || line.starts_with("done") || line.starts_with("errors")) {
      lines.push_back(line);
    }
  }
  std::remove(py.c_str());
  std::remove(out.c_str());
  return lines;
}

// Receives until `count` messages arrived or nothing came for 10 s; acknowledges them.
std::vector<io::Message> receive_all(io::Consumer& c, size_t count) {
  std::vector<io::Message> all;
  while (all.size() < count) {
    auto got = c.receive(count - all.size(), 10s);
    EXPECT_TRUE(got) << got.error().to_string();
    if (!got || got->empty()) break;
    std::vector<io::MessageId> ids;
    for (auto& m : *got) {
      ids.push_back(m.id);
      all.push_back(std::move(m));
    }
    EXPECT_TRUE(c.acknowledge(ids).ok());
  }
  return all;
}

constexpr const char* kPythonProduceCompressed = R"py(
import logging, os, sys
import pulsar
logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
url, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = pulsar.Client(url, operation_timeout_seconds=30, logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, '/dev/stderr'))
errors = []
def done(res, _id):
    if res != pulsar.Result.Ok:
        errors.append(res)
codecs = [("LZ4", pulsar.CompressionType.LZ4), ("ZLIB", pulsar.CompressionType.ZLib),
          ("ZSTD", pulsar.CompressionType.ZSTD), ("SNAPPY", pulsar.CompressionType.SNAPPY)]
for name, codec in codecs:
    for batched in (False, True):
        p = client.create_producer(topic, compression_type=codec, batching_enabled=batched,
                                   batching_max_messages=50, batching_max_publish_delay_ms=50,
                                   block_if_queue_full=True)
        for i in range(count):
            payload = ("%s-%d-%d-" % (name, batched, i)).encode() + b"abc" * (i % 60)
            p.send_async(payload, done, partition_key="k%d" % i,
                         event_timestamp=1700000000000 + i)
        p.flush()
        p.close()
client.close()
print("done" if not errors else "errors=%d" % len(errors))
# The client library sometimes aborts while the interpreter tears its threads down
# ("terminate called without an active exception"), after all work is done: skip that.
sys.stdout.flush()
os._exit(0)
)py";

constexpr const char* kPythonConsume = R"py(
import json, logging, os, sys
import pulsar
logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
url, topic, sub, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = pulsar.Client(url, operation_timeout_seconds=30, logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, '/dev/stderr'))
consumer = client.subscribe(topic, sub, consumer_type=pulsar.ConsumerType.Shared,
                            initial_position=pulsar.InitialPosition.Earliest)
for _ in range(count):
    m = consumer.receive(timeout_millis=30000)
    print(json.dumps({"key": m.partition_key(), "payload": m.data().hex(),
                      "properties": m.properties()}))
    consumer.acknowledge(m)
consumer.close()
client.close()
sys.stdout.flush()
os._exit(0)  # see kPythonProduceCompressed
)py";

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  }
  return out;
}

class PulsarInterop : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    auto svc = open_pulsar_topic_service(options());
    ASSERT_TRUE(svc) << svc.error().to_string();
    Status st = (*svc)->create_namespace("public", ns_name());
    ASSERT_TRUE(st.ok()) << st.to_string();
  }
  static void TearDownTestSuite() {
    AdminClient a = admin();
    const std::string base = "/admin/v2/persistent/public/" + ns_name();
    auto list = a.call("GET", base + "/partitioned", std::nullopt);
    if (list && list->status == 200) {
      for (const auto& name : nlohmann::json::parse(list->body)) {
        auto t = parse_topic_name(name.get<std::string>());
        if (!t) continue;
        (void)a.call("DELETE", "/admin/v2/" + t->rest_path() + "/partitions?force=true",
                     std::nullopt);
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

// (a) The official client publishes with every codec, batched and unbatched; Tideline's
// consumer reads every message with its key, event time and payload.
TEST_F(PulsarInterop, PythonCompressedTidelineConsumes) {
  const std::string t = topic_name("py-compressed");
  ASSERT_TRUE(svc_->create_partitioned_topic(t, 1).ok());
  auto consumer = svc_->subscribe(t, {.subscription = "tl", .type = io::SubscriptionType::kShared});
  ASSERT_TRUE(consumer) << consumer.error().to_string();
  constexpr int kCount = 150;
  auto out =
      run_python(kPythonProduceCompressed, broker_url() + " " + t + " " + std::to_string(kCount));
  ASSERT_EQ(out, std::vector<std::string>{"done"});
  std::map<std::string, int> expected;  // payload -> i
  for (const char* codec : {"LZ4", "ZLIB", "ZSTD", "SNAPPY"}) {
    for (int batched = 0; batched < 2; ++batched) {
      for (int i = 0; i < kCount; ++i) {
        std::string p =
            std::string(codec) + "-" + std::to_string(batched) + "-" + std::to_string(i) + "-";
        for (int k = 0; k < i % 60; ++k) p += "abc";
        expected[p] = i;
      }
    }
  }
  auto got = receive_all(**consumer, expected.size());
  ASSERT_EQ(got.size(), expected.size());
  std::set<std::pair<int64_t, int64_t>> entries;
  for (const io::Message& m : got) {
    ASSERT_TRUE(m.unreadable.empty()) << m.unreadable;
    auto it = expected.find(m.payload);
    ASSERT_NE(it, expected.end()) << "unexpected payload " << m.payload.substr(0, 40);
    EXPECT_EQ(m.key, "k" + std::to_string(it->second));
    EXPECT_EQ(m.event_time_ms, 1700000000000 + it->second);
    expected.erase(it);
    entries.insert({m.id.ledger_id, m.id.entry_id});
  }
  EXPECT_TRUE(expected.empty());
  // Batching happened: fewer entries than messages.
  EXPECT_LT(entries.size(), got.size());
  EXPECT_TRUE((*consumer)->close().ok());
}

int64_t storage_size(const std::string& topic) {
  auto t = parse_topic_name(topic);
  auto r = admin().call("GET", "/admin/v2/" + t->rest_path() + "/partitioned-stats", std::nullopt);
  if (!r || r->status != 200) return -1;
  return nlohmann::json::parse(r->body).value("storageSize", int64_t{-1});
}

// (b) Tideline's producer compresses with every codec; the official client reads them, and
// the broker stores far fewer bytes than without compression.
TEST_F(PulsarInterop, TidelineCompressesPythonConsumes) {
  constexpr int kCount = 200;
  std::map<std::string, int64_t> sizes;
  for (const char* codec : {"NONE", "LZ4", "ZLIB", "ZSTD", "SNAPPY"}) {
    SCOPED_TRACE(codec);
    auto svc = open_pulsar_topic_service(options(codec));
    ASSERT_TRUE(svc) << svc.error().to_string();
    const std::string t = topic_name(std::string("tl-compressed-") + codec);
    ASSERT_TRUE((*svc)->create_partitioned_topic(t, 1).ok());
    auto producer = (*svc)->create_producer(t);
    ASSERT_TRUE(producer) << producer.error().to_string();
    std::vector<io::OutgoingMessage> msgs(kCount);
    std::set<std::string> expected;
    for (int i = 0; i < kCount; ++i) {
      msgs[i].key = "key-" + std::to_string(i);
      msgs[i].payload = std::string(codec) + "-" + std::to_string(i) + "-" + std::string(2000, 'z');
      expected.insert(msgs[i].payload);
    }
    ASSERT_TRUE((*producer)->send(msgs).ok());
    ASSERT_TRUE((*producer)->close().ok());
    auto lines =
        run_python(kPythonConsume, broker_url() + " " + t + " py " + std::to_string(kCount));
    ASSERT_EQ(lines.size(), static_cast<size_t>(kCount));
    for (const std::string& line : lines) {
      auto j = nlohmann::json::parse(line);
      EXPECT_EQ(expected.erase(unhex(j["payload"].get<std::string>())), 1u);
    }
    EXPECT_TRUE(expected.empty());
    sizes[codec] = storage_size(t);
    std::printf("%s: %d messages of ~2 KB stored in %lld bytes\n", codec, kCount,
                static_cast<long long>(sizes[codec]));
  }
  ASSERT_GT(sizes["NONE"], kCount * 2000);
  for (const char* codec : {"LZ4", "ZLIB", "ZSTD", "SNAPPY"}) {
    EXPECT_GT(sizes[codec], 0) << codec;
    EXPECT_LT(sizes[codec] * 4, sizes["NONE"]) << codec << " stored " << sizes[codec] << " bytes";
  }
  // An unknown codec name is refused up front.
  auto bad = open_pulsar_topic_service(options("gzip"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("gzip"), std::string::npos);
}

// An entry whose LZ4 data is corrupt (written here with the raw protocol, as a broken
// producer would) reaches the application as one unreadable message naming topic, partition
// and entry; the messages after it are read normally.
TEST_F(PulsarInterop, CorruptCompressedEntryIsUnreadableNotFatal) {
  const std::string t = topic_name("corrupt");
  ASSERT_TRUE(svc_->create_partitioned_topic(t, 1).ok());
  const std::string partition = t + "-partition-0";
  auto consumer = svc_->subscribe(t, {.subscription = "tl"});
  ASSERT_TRUE(consumer) << consumer.error().to_string();
  {
    ClientOptions co;
    co.service_url = broker_url();
    ConnectionPool pool(co);
    auto conn = pool.lookup(partition);
    ASSERT_TRUE(conn) << conn.error().to_string();
    proto::BaseCommand cmd;
    cmd.set_type(proto::BaseCommand::PRODUCER);
    const uint64_t req = (*conn)->next_request_id();
    cmd.mutable_producer()->set_topic(partition);
    cmd.mutable_producer()->set_producer_id(1);
    cmd.mutable_producer()->set_request_id(req);
    auto ok = (*conn)->request(cmd, req);
    ASSERT_TRUE(ok) << ok.error().to_string();
    const std::string name = ok->command.producer_success().producer_name();
    for (uint64_t seq = 0; seq < 2; ++seq) {
      proto::BaseCommand send;
      send.set_type(proto::BaseCommand::SEND);
      send.mutable_send()->set_producer_id(1);
      send.mutable_send()->set_sequence_id(seq);
      send.mutable_send()->set_num_messages(1);
      proto::MessageMetadata meta;
      meta.set_producer_name(name);
      meta.set_sequence_id(seq);
      meta.set_publish_time(1);
      if (seq == 0) {
        meta.set_compression(proto::LZ4);
        meta.set_uncompressed_size(100);
        (*conn)->queue_payload(send, meta, "\xff\xff\xff not lz4");
      } else {
        (*conn)->queue_payload(send, meta, "fine");
      }
    }
    ASSERT_TRUE((*conn)->flush().ok());
    for (int receipts = 0; receipts < 2;) {
      auto f = (*conn)->read_frame(10s);
      ASSERT_TRUE(f && *f);
      if ((*f)->command.type() == proto::BaseCommand::SEND_RECEIPT) ++receipts;
    }
  }
  auto got = receive_all(**consumer, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NE(got[0].unreadable.find("LZ4"), std::string::npos) << got[0].unreadable;
  EXPECT_NE(got[0].unreadable.find(partition), std::string::npos) << got[0].unreadable;
  EXPECT_NE(got[0].unreadable.find("entry"), std::string::npos) << got[0].unreadable;
  EXPECT_TRUE(got[1].unreadable.empty());
  EXPECT_EQ(got[1].payload, "fine");
  EXPECT_TRUE((*consumer)->close().ok());
}

// (c) The issue's schema story: besides the pipeline's own schema, a producer with its own
// record class (another record name, event_time a plain long of epoch milliseconds, fields in
// another order, LZ4) registers a new schema version on the input topic, and one more with an
// unresolvable schema (so_key a string). The processor decodes each message with its writer's
// schema: event_time is right (not 1970), and the unresolvable ones are dead letters with
// the reason.
constexpr const char* kPythonSchemaProducers = R"py(
import json, logging, os, sys, time, urllib.request
import pulsar
from pulsar.schema import AvroSchema, Record, Long, Integer, String
logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
url, admin, ns, topic, schema_file, n = sys.argv[1:7]
n = int(n)
T0 = 1717200000000  # 2024-06-01T00:00:00Z
client = pulsar.Client(url, operation_timeout_seconds=30, logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, '/dev/stderr'))

# 1. The pipeline's own schema.
own = json.loads(json.load(open(schema_file))["schema"])
p = client.create_producer(topic, schema=AvroSchema(None, schema_definition=own))
for i in range(n):
    p.send({"so_key": 1000 + i, "event_time": T0 + i, "model": "own-%d" % i, "price": i,
            "year": 2024}, partition_key=str(1000 + i))
p.close()

# 2. The original demo producer's kind of record.
class DemoClick(Record):  # the pulsar client reserves the class name "Record"
    price = Integer()
    model = String()
    so_key = Long()
    event_time = Long()
p = client.create_producer(topic, schema=AvroSchema(DemoClick),
                           compression_type=pulsar.CompressionType.LZ4)
for i in range(n):
    p.send(DemoClick(so_key=2000 + i, event_time=T0 + 60000 + i, model="demo-%d" % i, price=7),
           partition_key=str(2000 + i))
p.close()

# 3. An unresolvable one (the broker accepts it only with the check off).
req = urllib.request.Request(admin + "/admin/v2/namespaces/public/" + ns +
                             "/schemaCompatibilityStrategy", data=b'"ALWAYS_COMPATIBLE"',
                             method="PUT", headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
class BadRecord(Record):
    so_key = String()
    event_time = Long()
# The broker applies a namespace policy change asynchronously: retry until it took effect.
for attempt in range(60):
    try:
        p = client.create_producer(topic, schema=AvroSchema(BadRecord))
        break
    except Exception:
        if attempt == 59:
            raise
        time.sleep(0.5)
for i in range(3):
    p.send(BadRecord(so_key="bad-%d" % i, event_time=T0 + 120000 + i), partition_key="bad")
p.close()
client.close()
print("done")
sys.stdout.flush()
os._exit(0)  # see kPythonProduceCompressed
)py";

TEST_F(PulsarInterop, SchemaVersionsResolvedByTheProcessor) {
  const std::string src = TIDELINE_SOURCE_DIR;
  const fs::path dir = fs::path(::testing::TempDir()) / ("tl-interop-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "client.conf")
      << "webServiceUrl=" << web_url() << "\nbrokerServiceUrl=" << broker_url()
      << "\ncompressionType=zstd\n";
  std::ofstream(dir / "main.properties")
      << "ad.keyspace=unused\nad.table.input=in\nad.table.output=out\n"
      << "as.client.conf=client.conf\nas.tenant=public\nas.namespace=" << ns_name() << "\n"
      << "as.topic.input=clicks\nas.topic.output=clicks_out\n"
      << "tideline.backend=clusters\n"
      << "tideline.processor.state.store=file\n"  // no Cassandra needed
      << "tideline.data.dir=" << (dir / "data").string() << "\n"
      << "tideline.processor.query=" << src << "/conf/fenl/eshop_output.fenl\n"
      << "tideline.schema.input=" << src << "/conf/pulsar-schema/input_topic.json\n"
      << "tideline.schema.output=" << src << "/conf/pulsar-schema/output_topic.json\n";
  auto config = pipeline::load_config((dir / "main.properties").string());
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->pulsar.compression_type, "ZSTD");
  const std::string in = topic_name("clicks"), out = topic_name("clicks_out");
  ASSERT_TRUE(svc_->create_partitioned_topic(in, 1).ok());
  ASSERT_TRUE(svc_->create_partitioned_topic(out, 1).ok());
  auto envelope = [&](const std::string& f) {
    std::ifstream s(src + "/conf/pulsar-schema/" + f);
    return std::string(std::istreambuf_iterator<char>(s), {});
  };
  ASSERT_TRUE(svc_->set_schema(in, envelope("input_topic.json")).ok());

  constexpr int kPerProducer = 40;
  auto lines =
      run_python(kPythonSchemaProducers,
                 broker_url() + " " + web_url() + " " + ns_name() + " " + in + " " + src +
                     "/conf/pulsar-schema/input_topic.json " + std::to_string(kPerProducer));
  ASSERT_EQ(lines, std::vector<std::string>{"done"});

  pipeline::StageOptions so;
  so.idle_ms = 3000;
  auto rep = pipeline::run_processor(*config, so);
  ASSERT_TRUE(rep) << rep.error().to_string();
  EXPECT_EQ(rep->dead_letters, 3);

  // The output topic, decoded with the output schema.
  auto out_schema = avro::schema_from_pulsar_envelope(envelope("output_topic.json"));
  auto out_codec = avro::Codec::make(*out_schema);
  ASSERT_TRUE(out_codec);
  auto consumer = svc_->subscribe(out, {.subscription = "check"});
  ASSERT_TRUE(consumer);
  auto got = receive_all(**consumer, 2 * kPerProducer);
  ASSERT_EQ(got.size(), static_cast<size_t>(2 * kPerProducer));
  Batch rows = Batch::empty((*out_codec)->type());
  for (const auto& m : got) ASSERT_TRUE((*out_codec)->decode_into(m.payload, rows).ok());
  const int so_key = (*out_codec)->type()->field_index("so_key");
  const int event_time = (*out_codec)->type()->field_index("event_time");
  const int model = (*out_codec)->type()->field_index("model");
  const int64_t t0 = 1717200000000;
  std::set<int64_t> keys;
  for (int64_t r = 0; r < rows.num_rows; ++r) {
    const int64_t key = rows.columns[so_key].int_at(r);
    const int64_t ns = rows.columns[event_time].int_at(r);
    keys.insert(key);
    if (key >= 2000) {
      EXPECT_EQ(ns, (t0 + 60000 + key - 2000) * kNanosPerMilli) << format_timestamp(ns);
      EXPECT_EQ(rows.columns[model].string_at(r), "demo-" + std::to_string(key - 2000));
    } else {
      EXPECT_EQ(ns, (t0 + key - 1000) * kNanosPerMilli) << format_timestamp(ns);
      EXPECT_EQ(rows.columns[model].string_at(r), "own-" + std::to_string(key - 1000));
    }
  }
  EXPECT_EQ(keys.size(), static_cast<size_t>(2 * kPerProducer));

  // The dead letters, read by the official client, say why.
  const std::string dlq = in + "-" + config->processor_subscription + "-DLQ";
  auto dl = run_python(kPythonConsume, broker_url() + " " + dlq + " py 3");
  ASSERT_EQ(dl.size(), 3u);
  for (const std::string& line : dl) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["properties"].value("tideline.dead_letter.reason", ""), "decode");
    const std::string why = j["properties"].value("tideline.dead_letter.message", "");
    EXPECT_NE(why.find("so_key"), std::string::npos) << why;
    EXPECT_NE(why.find("string cannot be read as long"), std::string::npos) << why;
    EXPECT_NE(j["properties"].value("tideline.dead_letter.source", "").find(in), std::string::npos);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tideline::pulsar
