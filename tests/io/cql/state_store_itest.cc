// The Cassandra job state store against the real server: the io::StateStore contract
// (chunked large values included), and old generations' chunks are deleted.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "io/cql/client.h"
#include "io/cql/cql.h"
#include "io/state_store_contract.h"

namespace tideline::io::cql {
namespace {

CqlOptions state_options() {
  CqlOptions o;
  const char* h = std::getenv("TIDELINE_CASSANDRA_HOST");
  const char* p = std::getenv("TIDELINE_CASSANDRA_PORT");
  o.contact_points = fmt::format("{}:{}", h && *h ? h : "127.0.0.1", p && *p ? p : "9042");
  o.request_timeout = std::chrono::milliseconds(30000);
  return o;
}

TEST(CqlStateStore, KeepsTheContractAndDropsOldChunks) {
  const std::string ks = fmt::format("tl_state_{}", getpid());
  auto tables = open_cql_table_store(state_options());
  ASSERT_TRUE(tables) << tables.error().message();
  ASSERT_TRUE(
      (*tables)
          ->execute_ddl(fmt::format("CREATE KEYSPACE IF NOT EXISTS {} WITH replication = "
                                    "{{'class': 'SimpleStrategy', 'replication_factor': 1}}",
                                    ks))
          .ok());
  const std::string table = ks + ".job_state";
  auto store = open_cql_state_store(state_options(), table);
  ASSERT_TRUE(store) << store.error().message();
  testing::check_state_store_contract(**store, "job|sub");

  // After the contract's overwrites only the live generation's chunks remain: 3 MB in 256 KB
  // chunks = 13 rows, plus the header rows.
  ClientOptions co;
  co.contact_points = state_options().contact_points;
  auto client = Client::connect(co);
  ASSERT_TRUE(client) << client.error().message();
  auto rows =
      (*client)->query(fmt::format("SELECT name, part FROM {} WHERE scope = 'job|sub'", table));
  ASSERT_TRUE(rows) << rows.error().message();
  int chunk_rows = 0, headers = 0;
  for (int32_t r = 0; r < rows->rows.row_count; ++r) {
    std::string name(rows->rows.cell(r, 0).value_or(""));
    if (name.find('\x01') != std::string::npos)
      ++chunk_rows;
    else
      ++headers;
  }
  EXPECT_EQ(chunk_rows, 0) << "the snapshot was erased with its chunks";
  EXPECT_EQ(headers, 1) << "only 'checkpoint' is left";
  (void)(*tables)->execute_ddl(fmt::format("DROP KEYSPACE {}", ks));
}

}  // namespace
}  // namespace tideline::io::cql
