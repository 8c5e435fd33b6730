// tideline.processor.subscription / tideline.consumer.subscription: defaults, overrides and
// rejected values.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pipeline/config.h"

namespace tideline::pipeline {
namespace {

namespace fs = std::filesystem;

const char* kBase =
    "ad.keyspace=ks\nad.table.input=tin\nad.table.output=tout\n"
    "as.tenant=public\nas.namespace=ns\nas.topic.input=in\nas.topic.output=out\n";

Result<PipelineConfig> load_with(const std::string& extra) {
  auto dir = fs::temp_directory_path() / ("tl-subcfg-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto path = (dir / "main.properties").string();
  std::ofstream(path) << kBase << extra;
  auto c = load_config(path);
  fs::remove_all(dir);
  return c;
}

TEST(SubscriptionConfig, DefaultsAreTheOriginalNames) {
  auto c = load_with("");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->processor_subscription, "tideline-processor");
  EXPECT_EQ(c->consumer_subscription, "tideline-consumer");
  EXPECT_TRUE(c->warnings.empty());
}

TEST(SubscriptionConfig, KeysOverrideWithoutWarnings) {
  auto c = load_with(
      "tideline.processor.subscription=sf-proc\n"
      "tideline.consumer.subscription=sf-cons\n");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->processor_subscription, "sf-proc");
  EXPECT_EQ(c->consumer_subscription, "sf-cons");
  EXPECT_TRUE(c->warnings.empty()) << c->warnings.front();
  EXPECT_NE(c->describe().find("processor subscription = sf-proc"), std::string::npos);
}

TEST(SubscriptionConfig, EmptyOrSlashedNamesAreRejectedNamingTheKey) {
  for (const char* bad :
       {"tideline.processor.subscription=\n", "tideline.consumer.subscription=a/b\n",
        "tideline.consumer.subscription=a b\n"}) {
    auto c = load_with(bad);
    ASSERT_FALSE(c) << bad;
    EXPECT_EQ(c.error().code(), StatusCode::kInvalidArgument);
    std::string key = std::string(bad).substr(0, std::string(bad).find('='));
    EXPECT_NE(c.error().message().find(key), std::string::npos) << c.error().message();
  }
}

}  // namespace
}  // namespace tideline::pipeline
