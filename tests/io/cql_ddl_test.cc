#include <gtest/gtest.h>

#include <cstdio>

#include "io/table_store.h"

namespace tideline::io {
namespace {

TEST(CqlDdl, ParsesOriginalStatementFile) {
  std::string text = fill_statement_template(
      "CREATE TABLE IF NOT EXISTS <KS_NAME>.<TBL_NAME> (\n"
      "  year int, month int, day int,\n"
      "  event_time timestamp,\n"
      "  so_key bigint,\n"
      "  amount double, ratio float, name varchar, note text, flag boolean,\n"
      "  PRIMARY KEY ((so_key))\n"
      ");\n",
      "ks1", "purchases");
  auto st = parse_ddl(text);
  ASSERT_TRUE(st) << st.error().to_string();
  EXPECT_TRUE(st->if_not_exists);
  const TableSchema& t = st->table;
  EXPECT_EQ(t.keyspace, "ks1");
  EXPECT_EQ(t.name, "purchases");
  ASSERT_EQ(t.columns.size(), 10u);
  EXPECT_EQ(t.columns[3].name, "event_time");
  EXPECT_EQ(t.columns[3].type, CqlType::kTimestamp);
  EXPECT_EQ(t.columns[4].type, CqlType::kBigint);
  EXPECT_EQ(t.columns[7].type, CqlType::kText);  // varchar is text
  EXPECT_EQ(t.partition_key, std::vector<std::string>{"so_key"});
  EXPECT_TRUE(t.clustering_key.empty());
  EXPECT_EQ(t.column_index("so_key"), 4);
  EXPECT_EQ(t.column_index("nope"), -1);
  auto bt = t.batch_type();
  EXPECT_EQ(bt->to_string().substr(0, 11), "{year: i32,");
  EXPECT_EQ(bt->fields[3].type->id, TypeId::kTimestamp);
  EXPECT_EQ(bt->fields[6].type->id, TypeId::kF32);
  EXPECT_EQ(bt->fields[9].type->id, TypeId::kBool);
}

TEST(CqlDdl, CompositeAndClusteringKeys) {
  auto t = parse_create_table(
      "create table KS.T (a int, B text, \"MixedCase\" bigint, d double, "
      "primary key ((a, b), \"MixedCase\", d)) WITH CLUSTERING ORDER BY (\"MixedCase\" DESC) "
      "AND comment = 'x;y'");
  ASSERT_TRUE(t) << t.error().to_string();
  EXPECT_EQ(t->keyspace, "ks");
  EXPECT_EQ(t->name, "t");
  EXPECT_EQ(t->columns[1].name, "b");
  EXPECT_EQ(t->columns[2].name, "MixedCase");
  EXPECT_EQ(t->partition_key, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t->clustering_key, (std::vector<std::string>{"MixedCase", "d"}));
  EXPECT_TRUE(t->is_descending(0));
  EXPECT_FALSE(t->is_descending(1));
}

TEST(CqlDdl, ClusteringOrderErrors) {
  auto r = parse_create_table(
      "CREATE TABLE k.t (p int, a int, b int, PRIMARY KEY (p, a, b))\n"
      "  WITH CLUSTERING ORDER BY (b DESC)");
  ASSERT_FALSE(r);
  EXPECT_TRUE(
      r.error().message().starts_with("line 2:29: CLUSTERING ORDER BY must list the "
                                      "clustering columns in order: expected 'a', found "
                                      "'b'"))
      << r.error().message();
  r = parse_create_table(
      "CREATE TABLE k.t (p int, a int, PRIMARY KEY (p, a)) "
      "WITH CLUSTERING ORDER BY (a UP)");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("expected ASC or DESC, found 'UP'"), std::string::npos);
}

TEST(CqlDdl, InlineAndSimplePrimaryKey) {
  auto t = parse_create_table("CREATE TABLE k.t (id bigint PRIMARY KEY, v text)");
  ASSERT_TRUE(t) << t.error().to_string();
  EXPECT_EQ(t->partition_key, std::vector<std::string>{"id"});
  auto u = parse_create_table("CREATE TABLE k.t (p int, c int, v text, PRIMARY KEY (p, c)) -- x");
  ASSERT_TRUE(u) << u.error().to_string();
  EXPECT_EQ(u->partition_key, std::vector<std::string>{"p"});
  EXPECT_EQ(u->clustering_key, std::vector<std::string>{"c"});
}

TEST(CqlDdl, CreateKeyspace) {
  auto st = parse_ddl(
      "CREATE KEYSPACE IF NOT EXISTS demo WITH replication = {'class': 'SimpleStrategy', "
      "'replication_factor': 1};");
  ASSERT_TRUE(st) << st.error().to_string();
  EXPECT_EQ(st->kind, DdlStatement::Kind::kCreateKeyspace);
  EXPECT_EQ(st->keyspace, "demo");
  EXPECT_TRUE(st->if_not_exists);
  EXPECT_FALSE(parse_create_table("CREATE KEYSPACE demo"));
}

std::string error_of(std::string_view cql) {
  auto r = parse_ddl(cql);
  EXPECT_FALSE(r) << cql;
  if (r) return "";
  EXPECT_EQ(r.error().code(), StatusCode::kParseError);
  return r.error().message();
}

TEST(CqlDdl, ErrorsNameLineAndColumn) {
  std::string m =
      error_of("CREATE TABLE ks.t (\n  id bigint,\n  data blob,\n  PRIMARY KEY (id)\n)");
  EXPECT_TRUE(m.starts_with("line 3:8: unknown type 'blob'")) << m;
  EXPECT_NE(m.find("\n    data blob,\n         ^"), std::string::npos) << m;

  m = error_of("CREATE TABLE ks.t (id bigint, v text)");
  EXPECT_TRUE(m.starts_with("line 1:37: missing PRIMARY KEY")) << m;
  m = error_of("CREATE TABLE ks.t (id bigint, PRIMARY KEY (nope))");
  EXPECT_TRUE(m.starts_with("line 1:44: primary key column 'nope' is not declared")) << m;
  m = error_of("CREATE TABLE ks.t (id bigint, id text, PRIMARY KEY (id))");
  EXPECT_TRUE(m.starts_with("line 1:31: duplicate column 'id'")) << m;
  m = error_of("CREATE TABLE ks.t (id bigint PRIMARY KEY, PRIMARY KEY (id))");
  EXPECT_TRUE(m.starts_with("line 1:43: more than one PRIMARY KEY")) << m;
  m = error_of("CREATE TABLE <KS_NAME>.t (id bigint PRIMARY KEY)");
  EXPECT_TRUE(m.starts_with("line 1:14: expected table name, found '<'")) << m;
  EXPECT_NE(m.find("placeholder"), std::string::npos);
  m = error_of("CREATE TABLE ks.t (id bigint PRIMARY KEY);\nDROP TABLE x");
  EXPECT_TRUE(m.starts_with("line 2:1: unexpected 'DROP'")) << m;
  m = error_of("CREATE VIEW x");
  EXPECT_TRUE(m.starts_with("line 1:8: expected TABLE or KEYSPACE")) << m;
  m = error_of("CREATE TABLE ks.t (id bigint PRIMARY KEY, s text) WITH comment = 'open");
  EXPECT_TRUE(m.starts_with("line 1:66: unterminated string")) << m;
  m = error_of("CREATE TABLE ks.t (id bigint PRIMARY KEY, x list<int>)");
  EXPECT_TRUE(m.starts_with("line 1:45: unknown type 'list'")) << m;
  m = error_of("CREATE TABLE ks.t (id bigint, PRIMARY KEY ((id, id)))");
  EXPECT_TRUE(m.starts_with("line 1:49: column 'id' appears twice")) << m;
  m = error_of("");
  EXPECT_TRUE(m.starts_with("line 1:1: expected CREATE")) << m;
  m = error_of("CREATE TABLE ks.t (id bigint PRIMARY KEY, # )");
  EXPECT_TRUE(m.starts_with("line 1:43: unexpected character '#'")) << m;
}

std::string read_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr) << path;
  std::string out;
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

TEST(CqlDdl, ParsesShippedStatementFiles) {
  for (const char* name : {"input_tbl.stmt", "output_tbl.stmt"}) {
    std::string text = read_file(std::string(TIDELINE_SOURCE_DIR) + "/conf/cql/" + name);
    auto t = parse_create_table(fill_statement_template(text, "ks", "tbl"));
    ASSERT_TRUE(t) << name << ": " << t.error().to_string();
    EXPECT_EQ(t->partition_key, std::vector<std::string>{"so_key"});
    EXPECT_EQ(t->columns[static_cast<size_t>(t->column_index("event_time"))].type,
              CqlType::kTimestamp);
  }
}

// The shape `DESCRIBE TABLE` prints: table options after WITH are skipped.
TEST(CqlDdl, SkipsCassandraTableOptions) {
  auto t = parse_create_table(
      "CREATE TABLE IF NOT EXISTS demo.events (\n"
      "    entity text,\n    seq int,\n    at timestamp,\n    PRIMARY KEY (entity, seq)\n"
      ") WITH ID = 0a1b2c3d-e83c-11f1-931a-c53656a59f7c\n"
      "    AND CLUSTERING ORDER BY (seq ASC)\n"
      "    AND caching = {'keys': 'ALL', 'rows_per_partition': 'NONE'}\n"
      "    AND crc_check_chance = 1.0\n    AND default_time_to_live = -1\n"
      "    AND extensions = {}\n    AND speculative_retry = '99p';");
  ASSERT_TRUE(t) << t.error().to_string();
  EXPECT_EQ(t->clustering_key, std::vector<std::string>{"seq"});
}

// Every truncation and single-byte corruption of a valid statement parses or fails with a
// positioned error; none crashes (the suite runs under ASan/UBSan).
TEST(CqlDdl, MutatedInputNeverCrashes) {
  const std::string base =
      "CREATE TABLE IF NOT EXISTS ks.t (\n  p text, \"Q\" int, c bigint,\n"
      "  PRIMARY KEY ((p, \"Q\"), c)\n) WITH CLUSTERING ORDER BY (c DESC) AND x = {'a': 1};";
  const std::string noise = "();,.'\"-/*<>{}aZ9 \n\t\x01\xff";
  int failures = 0;
  for (size_t i = 0; i <= base.size(); ++i) {
    std::vector<std::string> variants = {base.substr(0, i)};
    if (i < base.size()) {
      for (char c : noise) {
        std::string v = base;
        v[i] = c;
        variants.push_back(v);
      }
    }
    for (const auto& v : variants) {
      auto r = parse_ddl(v);
      if (!r) {
        ++failures;
        EXPECT_TRUE(r.error().message().starts_with("line ")) << v << "\n" << r.error().message();
      }
    }
  }
  EXPECT_GT(failures, 100);
}

TEST(CqlDdl, FillTemplate) {
  EXPECT_EQ(fill_statement_template("<KS_NAME>.<TBL_NAME> <KS_NAME>", "a", "b"), "a.b a");
  EXPECT_EQ(fill_statement_template("<KS_NAM", "a", "b"), "<KS_NAM");
}

TEST(CqlDdl, TypeNames) {
  EXPECT_EQ(cql_type_name(CqlType::kBigint), "bigint");
  EXPECT_EQ(type_for_cql(CqlType::kTimestamp), TypeId::kTimestamp);
  EXPECT_EQ(type_for_cql(CqlType::kInt), TypeId::kI32);
}

}  // namespace
}  // namespace tideline::io
