// load_store_table: table names, schema mapping and concatenation of scan batches, on the
// embedded store.
#include "cli/store_table_source.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "pipeline/pipeline.h"

namespace tideline::cli {
namespace {

namespace fs = std::filesystem;

class StoreTableSource : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tl-store-src-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_.source = (dir_ / "test.properties").string();
    config_.keyspace = "ks";
    config_.table_input = "clicks";
    config_.table_output = "features";
    config_.data_dir = (dir_ / "data").string();
    auto store = pipeline::open_table_store(config_);
    ASSERT_TRUE(store) << store.error().to_string();
    ASSERT_TRUE((*store)->execute_ddl("CREATE KEYSPACE IF NOT EXISTS ks").ok());
    ASSERT_TRUE((*store)
                    ->execute_ddl("CREATE TABLE ks.clicks (id bigint, ts timestamp, model text, "
                                  "price double, PRIMARY KEY ((id)))")
                    .ok());
    Batch rows = Batch::empty((*store)->describe("ks", "clicks")->batch_type());
    for (int64_t i = 0; i < kRows; ++i) {
      rows.columns[0].append_int(i);
      rows.columns[1].append_int(i * 1'000'000'000);
      if (i % 7 == 0) {
        rows.columns[2].append_null();
      } else {
        rows.columns[2].append_string("m" + std::to_string(i));
      }
      rows.columns[3].append_float(static_cast<double>(i) / 4);
    }
    rows.num_rows = kRows;
    Status s = (*store)->upsert("ks", "clicks", rows);
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  static constexpr int64_t kRows = 1000;
  fs::path dir_;
  pipeline::PipelineConfig config_;
};

void expect_rows(const Batch& b, int64_t n) {
  ASSERT_EQ(b.num_rows, n);
  ASSERT_TRUE(b.validate().ok()) << b.validate().to_string();
  ASSERT_EQ(b.schema->fields.size(), 4u);
  EXPECT_EQ(b.schema->fields[1].type->id, TypeId::kTimestamp);
  EXPECT_EQ(b.schema->fields[3].type->id, TypeId::kF64);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(b.columns[0].int_at(i), i);  // primary-key order
    EXPECT_EQ(b.columns[1].int_at(i), i * 1'000'000'000);
    if (i % 7 == 0) {
      EXPECT_FALSE(b.columns[2].is_valid(i)) << i;
    } else {
      EXPECT_EQ(b.columns[2].string_at(i), "m" + std::to_string(i));
    }
    EXPECT_EQ(b.columns[3].float_at(i), static_cast<double>(i) / 4);
  }
}

TEST_F(StoreTableSource, ReadsByNameAliasAndKeyspaceInOneBatchOrMany) {
  for (const char* name : {"clicks", "input", "ks.clicks"}) {
    auto b = load_store_table(config_, name);
    ASSERT_TRUE(b) << name << ": " << b.error().to_string();
    expect_rows(*b, kRows);
  }
  // Several scan batches (a paging store) are concatenated in order.
  for (int64_t batch_rows : {1, 7, 999, 1000}) {
    auto b = load_store_table(config_, "clicks", batch_rows);
    ASSERT_TRUE(b) << b.error().to_string();
    expect_rows(*b, kRows);
  }
}

TEST_F(StoreTableSource, MissingTableOrEmptyNameIsAnErrorNamingIt) {
  auto missing = load_store_table(config_, "output");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("ks.features"), std::string::npos)
      << missing.error().message();
  auto other = load_store_table(config_, "other.clicks");
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message().find("other.clicks"), std::string::npos);
  auto empty = load_store_table(config_, "ks.");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tideline::cli
