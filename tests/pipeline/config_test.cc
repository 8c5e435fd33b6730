#include "pipeline/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace tideline::pipeline {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tl-config-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    auto p = (dir_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  fs::path dir_;
};

const char* kMinimal =
    "ad.keyspace=ks\n"
    "ad.table.input=tin\n"
    "ad.table.output=tout\n"
    "as.tenant=public\n"
    "as.namespace=ns\n"
    "as.topic.input=in\n"
    "as.topic.output=out\n";

TEST_F(ConfigTest, MinimalEmbeddedConfigGetsDefaultsResolvedAgainstItsDirectory) {
  auto c = load_config(write("main.properties", kMinimal));
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->backend, Backend::kEmbedded);
  EXPECT_EQ(c->keyspace, "ks");
  EXPECT_EQ(c->table_input, "tin");
  EXPECT_EQ(c->topic_url(c->topic_input), "persistent://public/ns/in");
  EXPECT_EQ(c->data_dir, (dir_ / "data").string());
  EXPECT_EQ(c->input_stmt, (dir_ / "cql/input_tbl.stmt").string());
  EXPECT_TRUE(c->topic_schema);
  EXPECT_EQ(c->topic_partitions, 3);
  EXPECT_TRUE(c->warnings.empty());
}

TEST_F(ConfigTest, MissingKeyNamesKeyAndFile) {
  std::string text = kMinimal;
  text.erase(text.find("as.topic.output"));
  auto path = write("main.properties", text);
  auto c = load_config(path);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.error().message().find("'as.topic.output'"), std::string::npos)
      << c.error().message();
  EXPECT_NE(c.error().message().find(path), std::string::npos);
  EXPECT_EQ(c.error().message().find('\n'), std::string::npos);
}

TEST_F(ConfigTest, MissingFileIsAnError) {
  auto c = load_config((dir_ / "nope.properties").string());
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("nope.properties"), std::string::npos);
}

TEST_F(ConfigTest, UnknownKeyIsAWarningWithLine) {
  auto c = load_config(write("main.properties", std::string(kMinimal) + "as.topic.colour=blue\n"));
  ASSERT_TRUE(c);
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_NE(c->warnings[0].find("as.topic.colour"), std::string::npos);
  EXPECT_NE(c->warnings[0].find(":8:"), std::string::npos) << c->warnings[0];
}

TEST_F(ConfigTest, ClustersNeedClientConfAndItsUrls) {
  auto c =
      load_config(write("main.properties", std::string(kMinimal) + "tideline.backend=clusters\n"));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("as.client.conf"), std::string::npos);

  write("client.conf", "brokerServiceUrl=pulsar://127.0.0.1:6650\n");
  c = load_config(
      write("m2.properties",
            std::string(kMinimal) + "tideline.backend=clusters\nas.client.conf=client.conf\n"));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("webServiceUrl"), std::string::npos) << c.error().message();
}

TEST_F(ConfigTest, SecretsAreReadButNeverDescribed) {
  write("client.conf",
        "brokerServiceUrl=pulsar://127.0.0.1:6650\nwebServiceUrl=http://127.0.0.1:8080\n"
        "authPlugin=org.apache.pulsar.client.impl.auth.AuthenticationToken\n"
        "authParams=token:SUPERSECRETTOKEN\n");
  auto c =
      load_config(write("main.properties", std::string(kMinimal) + "tideline.backend=clusters\n"
                                                                   "as.client.conf=client.conf\n"
                                                                   "ad.client.secret=HUSH-HUSH\n"));
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->pulsar.auth_params, "token:SUPERSECRETTOKEN");
  EXPECT_EQ(c->ad_client_secret, "HUSH-HUSH");
  std::string d = c->describe();
  EXPECT_EQ(d.find("SUPERSECRETTOKEN"), std::string::npos) << d;
  EXPECT_EQ(d.find("HUSH-HUSH"), std::string::npos) << d;
  EXPECT_NE(d.find("authParams = ****"), std::string::npos) << d;
}

TEST_F(ConfigTest, CompressionTypeOfClientConf) {
  const std::string urls =
      "brokerServiceUrl=pulsar://127.0.0.1:6650\nwebServiceUrl=http://127.0.0.1:8080\n";
  const std::string main =
      std::string(kMinimal) + "tideline.backend=clusters\nas.client.conf=client.conf\n";
  write("client.conf", urls);
  auto c = load_config(write("a.properties", main));
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->pulsar.compression_type, "NONE");
  write("client.conf", urls + "compressionType=lz4\n");
  c = load_config(write("b.properties", main));
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->pulsar.compression_type, "LZ4");
  EXPECT_TRUE(c->warnings.empty());
  EXPECT_NE(c->describe().find("compressionType = LZ4"), std::string::npos);
  write("client.conf", urls + "compressionType=brotli\n");
  c = load_config(write("c.properties", main));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("compressionType"), std::string::npos);
  EXPECT_NE(c.error().message().find("brotli"), std::string::npos);
}

TEST_F(ConfigTest, OperationTimeoutOfClientConf) {
  const std::string urls =
      "brokerServiceUrl=pulsar://127.0.0.1:6650\nwebServiceUrl=http://127.0.0.1:8080\n";
  const std::string main =
      std::string(kMinimal) + "tideline.backend=clusters\nas.client.conf=client.conf\n";
  write("client.conf", urls);
  auto c = load_config(write("a.properties", main));
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->pulsar.operation_timeout_ms, 30000);
  write("client.conf", urls + "operationTimeoutMs=120000\n");
  c = load_config(write("b.properties", main));
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->pulsar.operation_timeout_ms, 120000);
  EXPECT_TRUE(c->warnings.empty());
  for (const char* bad : {"0", "2m", "-5", ""}) {
    write("client.conf", urls + "operationTimeoutMs=" + bad + "\n");
    c = load_config(write("c.properties", main));
    ASSERT_FALSE(c) << bad;
    EXPECT_NE(c.error().message().find("key 'operationTimeoutMs' in"), std::string::npos)
        << c.error().message();
  }
}

TEST(PartitionList, ParseSortAndRejectBadItems) {
  auto r = parse_partition_list("3, 0-1");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, (std::vector<int32_t>{0, 1, 3}));
  EXPECT_EQ(format_partition_list(*r), "0,1,3");
  for (const char* bad : {"", "x", "-1", "2-1", "0,0", "1-2,2", "3x", "1-", "0,", "1-2-3"}) {
    EXPECT_FALSE(parse_partition_list(bad)) << "'" << bad << "'";
  }
  EXPECT_NE(parse_partition_list("1-2,2").error().message().find("partition 2 is listed twice"),
            std::string::npos);
}

TEST_F(ConfigTest, ProcessorPartitionsNeedExclusive) {
  auto c = load_config(
      write("a.properties", std::string(kMinimal) + "tideline.processor.partitions=0,2\n"));
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->processor_partitions, (std::vector<int32_t>{0, 2}));
  EXPECT_NE(c->describe().find("0,2"), std::string::npos);
  c = load_config(write("b.properties", std::string(kMinimal) +
                                            "tideline.processor.subscription.type=Key_Shared\n"
                                            "tideline.processor.partitions=0\n"));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("needs tideline.processor.subscription.type=Exclusive"),
            std::string::npos)
      << c.error().message();
  c = load_config(
      write("c.properties", std::string(kMinimal) + "tideline.processor.partitions=2-1\n"));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("key 'tideline.processor.partitions' in"), std::string::npos)
      << c.error().message();
}

TEST_F(ConfigTest, BadBackendAndPartitionsAreErrors) {
  auto c = load_config(write("a.properties", std::string(kMinimal) + "tideline.backend=cloud\n"));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("tideline.backend"), std::string::npos);
  c = load_config(write("b.properties", std::string(kMinimal) + "tideline.topic.partitions=3x\n"));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("tideline.topic.partitions"), std::string::npos);
}

TEST_F(ConfigTest, MetricsPortAndReportInterval) {
  auto c = load_config(write("d.properties", kMinimal));
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->metrics_port, 0) << "off by default";
  EXPECT_EQ(c->log_report_interval_ms, 10000);
  EXPECT_TRUE(c->warnings.empty());
  c = load_config(write("e.properties", std::string(kMinimal) +
                                            "tideline.metrics.port=9464\n"
                                            "tideline.log.report.interval.ms=0\n"));
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->metrics_port, 9464);
  EXPECT_EQ(c->log_report_interval_ms, 0);
  EXPECT_TRUE(c->warnings.empty()) << c->warnings[0];
  EXPECT_NE(c->describe().find("http://127.0.0.1:9464/metrics"), std::string::npos);
  for (const char* bad : {"65536", "-1", "80x", ""}) {
    c = load_config(
        write("f.properties", std::string(kMinimal) + "tideline.metrics.port=" + bad + "\n"));
    ASSERT_FALSE(c) << bad;
    EXPECT_NE(c.error().message().find("'tideline.metrics.port'"), std::string::npos)
        << c.error().message();
  }
  c = load_config(
      write("g.properties", std::string(kMinimal) + "tideline.log.report.interval.ms=-5\n"));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("'tideline.log.report.interval.ms'"), std::string::npos);
}

TEST_F(ConfigTest, CassandraTlsAndConsistencyKeys) {
  auto c = load_config(write("m.properties", kMinimal));
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->cassandra_tls);
  EXPECT_TRUE(c->cassandra_tls_verify_hostname);
  EXPECT_EQ(c->cassandra_consistency, "LOCAL_QUORUM");
  c = load_config(write("t.properties", std::string(kMinimal) +
                                            "tideline.cassandra.tls=true\n"
                                            "tideline.cassandra.tls.ca.file=certs/ca.pem\n"
                                            "tideline.cassandra.tls.verify.hostname=false\n"
                                            "tideline.cassandra.consistency=local_one\n"));
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_TRUE(c->cassandra_tls);
  EXPECT_EQ(c->cassandra_tls_ca_file, (dir_ / "certs/ca.pem").string());
  EXPECT_FALSE(c->cassandra_tls_verify_hostname);
  EXPECT_EQ(c->cassandra_consistency, "LOCAL_ONE");
  EXPECT_TRUE(c->warnings.empty());
  c = load_config(
      write("b.properties", std::string(kMinimal) + "tideline.cassandra.consistency=MOST\n"));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("tideline.cassandra.consistency"), std::string::npos);
  EXPECT_NE(c.error().message().find("MOST"), std::string::npos);
}

TEST_F(ConfigTest, SubscriptionTypes) {
  auto c = load_config(write("m.properties", kMinimal));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->processor_subscription_type, io::SubscriptionType::kExclusive);
  EXPECT_EQ(c->consumer_subscription_type, io::SubscriptionType::kExclusive);
  c = load_config(write("t.properties", std::string(kMinimal) +
                                            "tideline.processor.subscription.type=Key_Shared\n"
                                            "tideline.consumer.subscription.type=shared\n"));
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->processor_subscription_type, io::SubscriptionType::kKeyShared);
  EXPECT_EQ(c->consumer_subscription_type, io::SubscriptionType::kShared);
  EXPECT_TRUE(c->warnings.empty());
  c = load_config(write(
      "b.properties", std::string(kMinimal) + "tideline.processor.subscription.type=Broadcast\n"));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("tideline.processor.subscription.type"), std::string::npos);
  EXPECT_NE(c.error().message().find("Broadcast"), std::string::npos);
}

TEST_F(ConfigTest, LooseBooleansAsTheOriginal) {
  for (auto [text, want] : {std::pair{"True", true},
                            {"yes", true},
                            {"T", true},
                            {"1", true},
                            {"false", false},
                            {"no", false},
                            {"2", false},
                            {"", false}}) {
    auto c = load_config(
        write("m.properties", std::string(kMinimal) + "as.topic.schema=" + text + "\n"));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->topic_schema, want) << text;
  }
}

}  // namespace
}  // namespace tideline::pipeline
