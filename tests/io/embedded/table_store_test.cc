#include <gtest/gtest.h>
#include <sqlite3.h>

#include "common/time.h"
#include "io/embedded/embedded.h"
#include "io/embedded/temp_dir.h"

namespace tideline::embedded {
namespace {

using testing::TempDir;

Batch make_batch(std::vector<Field> fields, const std::vector<std::vector<Value>>& rows) {
  Batch b = Batch::empty(DataType::record(std::move(fields)));
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) append_value(b.columns[c], row[c]);
    ++b.num_rows;
  }
  return b;
}

Field f(std::string name, TypeId t) {
  return Field{std::move(name), DataType::of(t)};
}

std::vector<std::vector<Value>> scan_all(io::TableStore& s, std::string_view ks, std::string_view t,
                                         int64_t limit = -1, int64_t batch_rows = 1000,
                                         int* batches = nullptr) {
  std::vector<std::vector<Value>> out;
  Status st = s.scan(ks, t, limit, batch_rows, [&](Batch&& b) -> Status {
    EXPECT_TRUE(b.validate().ok());
    if (batches) ++*batches;
    for (int64_t r = 0; r < b.num_rows; ++r) {
      std::vector<Value> row;
      for (const auto& c : b.columns) row.push_back(value_at(c, r));
      out.push_back(std::move(row));
    }
    return {};
  });
  EXPECT_TRUE(st.ok()) << st.to_string();
  return out;
}

constexpr std::string_view kPurchases =
    "CREATE TABLE IF NOT EXISTS shop.purchases (\n"
    "  so_key bigint, event_time timestamp, amount double, name text, qty int, ok boolean,\n"
    "  PRIMARY KEY ((so_key))\n);";

TEST(EmbeddedTableStore, CreateDescribeAcrossReopen) {
  TempDir dir;
  {
    auto store = open_table_store(dir.path());
    ASSERT_TRUE(store) << store.error().to_string();
    ASSERT_TRUE((*store)
                    ->execute_ddl("CREATE KEYSPACE IF NOT EXISTS shop WITH replication = "
                                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
                    .ok());
    Status again = (*store)->execute_ddl("CREATE KEYSPACE shop WITH replication = {}");
    EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
    ASSERT_TRUE((*store)->execute_ddl(kPurchases).ok());
    EXPECT_TRUE((*store)->execute_ddl(kPurchases).ok());  // IF NOT EXISTS: no-op
    Status dup = (*store)->execute_ddl("CREATE TABLE shop.purchases (k int PRIMARY KEY)");
    EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists) << dup.to_string();
    Status bad = (*store)->execute_ddl("CREATE TABLE shop.x (\n k blob PRIMARY KEY)");
    EXPECT_EQ(bad.code(), StatusCode::kParseError);
    EXPECT_TRUE(bad.message().starts_with("line 2:4: unknown type 'blob'")) << bad.message();
    Status unqualified = (*store)->execute_ddl("CREATE TABLE x (k int PRIMARY KEY)");
    EXPECT_EQ(unqualified.code(), StatusCode::kInvalidArgument);
  }
  // A second, independent store (as another process would) sees the table.
  auto store = open_table_store(dir.path());
  ASSERT_TRUE(store);
  auto d = (*store)->describe("shop", "purchases");
  ASSERT_TRUE(d) << d.error().to_string();
  ASSERT_EQ(d->columns.size(), 6u);
  EXPECT_EQ(d->columns[1].name, "event_time");
  EXPECT_EQ(d->columns[1].type, io::CqlType::kTimestamp);
  EXPECT_EQ(d->columns[5].type, io::CqlType::kBoolean);
  EXPECT_EQ(d->partition_key, std::vector<std::string>{"so_key"});
  auto missing = (*store)->describe("shop", "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
}

TEST(EmbeddedTableStore, UpsertReplacesByKeyAndKeepsOmittedColumns) {
  TempDir dir;
  auto store = *open_table_store(dir.path());
  ASSERT_TRUE(store->execute_ddl(kPurchases).ok());
  const TimestampNs t1 = *parse_timestamp("2021-01-02T03:04:05.123456789Z");
  Batch first = make_batch(
      {f("so_key", TypeId::kI64), f("event_time", TypeId::kTimestamp), f("amount", TypeId::kF64),
       f("name", TypeId::kString), f("qty", TypeId::kI32), f("ok", TypeId::kBool)},
      {{int64_t{2}, t1, 1.5, std::string("b"), int64_t{7}, true},
       {int64_t{1}, t1, 2.5, std::string("a"), int64_t{8}, false},
       {int64_t{2}, t1, 3.5, std::string("b2"), int64_t{9}, true}});  // same key: replaces
  Status st = store->upsert("shop", "purchases", first);
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(*store->count("shop", "purchases"), 2);

  // Partial write: only amount for key 1 (others unchanged), and a new key 3 (others null).
  Batch partial = make_batch({f("amount", TypeId::kF64), f("so_key", TypeId::kI64)},
                             {{9.25, int64_t{1}}, {4.0, int64_t{3}}});
  ASSERT_TRUE(store->upsert("shop", "purchases", partial).ok());

  auto rows = scan_all(*store, "shop", "purchases");
  ASSERT_EQ(rows.size(), 3u);
  const int64_t t1_ms_ns = t1 / kNanosPerMilli * kNanosPerMilli;  // CQL keeps milliseconds
  EXPECT_EQ(rows[0],
            (std::vector<Value>{int64_t{1}, t1_ms_ns, 9.25, std::string("a"), int64_t{8}, false}));
  EXPECT_EQ(rows[1],
            (std::vector<Value>{int64_t{2}, t1_ms_ns, 3.5, std::string("b2"), int64_t{9}, true}));
  EXPECT_EQ(rows[2], (std::vector<Value>{int64_t{3}, std::monostate{}, 4.0, std::monostate{},
                                         std::monostate{}, std::monostate{}}));
}

TEST(EmbeddedTableStore, UpsertErrors) {
  TempDir dir;
  auto store = *open_table_store(dir.path());
  ASSERT_TRUE(store->execute_ddl(kPurchases).ok());
  Status st = store->upsert("shop", "purchases",
                            make_batch({f("so_key", TypeId::kI64), f("color", TypeId::kString)},
                                       {{int64_t{1}, std::string("red")}}));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("no column 'color'"), std::string::npos) << st.message();
  st = store->upsert("shop", "purchases", make_batch({f("amount", TypeId::kF64)}, {{1.0}}));
  EXPECT_NE(st.message().find("primary key column 'so_key' missing"), std::string::npos);
  st = store->upsert("shop", "purchases",
                     make_batch({f("so_key", TypeId::kI64)}, {{int64_t{1}}, {std::monostate{}}}));
  EXPECT_NE(st.message().find("row 1: primary key column 'so_key' is null"), std::string::npos)
      << st.message();
  st = store->upsert("shop", "purchases",
                     make_batch({f("so_key", TypeId::kI64), f("qty", TypeId::kI64)},
                                {{int64_t{1}, int64_t{1} << 40}}));
  EXPECT_NE(st.message().find("out of int range"), std::string::npos) << st.message();
  // Failed batches are rolled back entirely.
  EXPECT_EQ(*store->count("shop", "purchases"), 0);
  st = store->upsert("shop", "nope", make_batch({f("so_key", TypeId::kI64)}, {{int64_t{1}}}));
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
}

TEST(EmbeddedTableStore, ConvertsStringsAndIntegers) {
  TempDir dir;
  auto store = *open_table_store(dir.path());
  ASSERT_TRUE(store->execute_ddl(kPurchases).ok());
  ASSERT_TRUE(
      store
          ->upsert("shop", "purchases",
                   make_batch({f("so_key", TypeId::kString), f("event_time", TypeId::kString),
                               f("amount", TypeId::kI64), f("ok", TypeId::kString)},
                              {{std::string("5"), std::string("1970-01-01T00:00:01Z"), int64_t{3},
                                std::string("true")}}))
          .ok());
  auto rows = scan_all(*store, "shop", "purchases");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], Value(int64_t{5}));
  EXPECT_EQ(rows[0][1], Value(int64_t{kNanosPerSecond}));
  EXPECT_EQ(rows[0][2], Value(3.0));
  EXPECT_EQ(rows[0][5], Value(true));
}

TEST(EmbeddedTableStore, ScansInPartitionThenClusteringOrder) {
  TempDir dir;
  auto store = *open_table_store(dir.path());
  ASSERT_TRUE(store
                  ->execute_ddl("CREATE TABLE ks.ev (p text, c1 bigint, c2 int, v double, "
                                "PRIMARY KEY ((p), c1, c2))")
                  .ok());
  std::vector<std::vector<Value>> rows;
  for (int64_t c1 : {5, -3, 10}) {
    for (std::string p : {"b", "a", "c"}) {
      for (int64_t c2 : {2, 1}) rows.push_back({p, c1, c2, double(c1 * 10 + c2)});
    }
  }
  ASSERT_TRUE(store
                  ->upsert("ks", "ev",
                           make_batch({f("p", TypeId::kString), f("c1", TypeId::kI64),
                                       f("c2", TypeId::kI32), f("v", TypeId::kF64)},
                                      rows))
                  .ok());
  int batches = 0;
  auto out = scan_all(*store, "ks", "ev", -1, 4, &batches);
  ASSERT_EQ(out.size(), 18u);
  EXPECT_EQ(batches, 5);
  for (size_t i = 1; i < out.size(); ++i) {
    auto key = [](const std::vector<Value>& r) {
      return std::make_tuple(std::get<std::string>(r[0]), std::get<int64_t>(r[1]),
                             std::get<int64_t>(r[2]));
    };
    EXPECT_LT(key(out[i - 1]), key(out[i])) << i;
  }
  EXPECT_EQ(out[0], (std::vector<Value>{std::string("a"), int64_t{-3}, int64_t{1}, -29.0}));
  auto limited = scan_all(*store, "ks", "ev", 3);
  ASSERT_EQ(limited.size(), 3u);
  EXPECT_EQ(limited[2][1], Value(int64_t{5}));
}

TEST(EmbeddedTableStore, HonoursClusteringOrderDesc) {
  TempDir dir;
  {
    auto store = *open_table_store(dir.path());
    ASSERT_TRUE(store
                    ->execute_ddl("CREATE TABLE ks.ev (p int, c1 int, c2 text, v int, "
                                  "PRIMARY KEY (p, c1, c2)) WITH CLUSTERING ORDER BY "
                                  "(c1 DESC, c2 ASC) AND comment = 'x'")
                    .ok());
    std::vector<std::vector<Value>> rows;
    for (int64_t p : {2, 1}) {
      for (int64_t c1 : {1, 3, 2}) {
        for (std::string c2 : {"b", "a"}) rows.push_back({p, c1, c2, p * 100 + c1});
      }
    }
    ASSERT_TRUE(store
                    ->upsert("ks", "ev",
                             make_batch({f("p", TypeId::kI32), f("c1", TypeId::kI32),
                                         f("c2", TypeId::kString), f("v", TypeId::kI32)},
                                        rows))
                    .ok());
    // Replacing a row through ON CONFLICT works with a DESC key column too.
    ASSERT_TRUE(store
                    ->upsert("ks", "ev",
                             make_batch({f("p", TypeId::kI32), f("c1", TypeId::kI32),
                                         f("c2", TypeId::kString), f("v", TypeId::kI32)},
                                        {{int64_t{1}, int64_t{3}, std::string("a"), int64_t{-1}}}))
                    .ok());
  }
  auto store = *open_table_store(dir.path());
  auto d = store->describe("ks", "ev");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->clustering_descending, (std::vector<bool>{true, false}));
  auto out = scan_all(*store, "ks", "ev");
  ASSERT_EQ(out.size(), 12u);
  EXPECT_EQ(out[0], (std::vector<Value>{int64_t{1}, int64_t{3}, std::string("a"), int64_t{-1}}));
  EXPECT_EQ(out[1], (std::vector<Value>{int64_t{1}, int64_t{3}, std::string("b"), int64_t{103}}));
  EXPECT_EQ(out[2][1], Value(int64_t{2}));
  EXPECT_EQ(out[5][1], Value(int64_t{1}));
  EXPECT_EQ(out[6][0], Value(int64_t{2}));
}

TEST(EmbeddedTableStore, PersistsAcrossReopen) {
  TempDir dir;
  {
    auto store = *open_table_store(dir.path());
    ASSERT_TRUE(store->execute_ddl(kPurchases).ok());
    std::vector<std::vector<Value>> rows;
    for (int64_t i = 0; i < 1000; ++i) rows.push_back({i, std::string("n") + std::to_string(i)});
    ASSERT_TRUE(
        store
            ->upsert("shop", "purchases",
                     make_batch({f("so_key", TypeId::kI64), f("name", TypeId::kString)}, rows))
            .ok());
  }
  auto store = *open_table_store(dir.path());
  EXPECT_EQ(*store->count("shop", "purchases"), 1000);
  auto out = scan_all(*store, "shop", "purchases");
  EXPECT_EQ(out[999][3], Value(std::string("n999")));
}

TEST(EmbeddedTableStore, RejectsOtherFormatVersion) {
  TempDir dir;
  { ASSERT_TRUE(open_table_store(dir.path())); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() + "/tables.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '99' WHERE key = 'format_version'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = open_table_store(dir.path());
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message().find("version '99'"), std::string::npos)
      << store.error().message();
}

}  // namespace
}  // namespace tideline::embedded
