// Integration tests of the CQL table store against the real Cassandra of the CTest fixture
// cassandra_server (or `scripts/services/cassandra.sh start`). Everything happens in a
// keyspace of this run, tl_it_<pid>, dropped at the end.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/time.h"
#include "io/cql/client.h"
#include "io/cql/cql.h"

namespace tideline::io::cql {
namespace {

std::string host() {
  const char* h = std::getenv("TIDELINE_CASSANDRA_HOST");
  return h && *h ? h : "127.0.0.1";
}
std::string port() {
  const char* p = std::getenv("TIDELINE_CASSANDRA_PORT");
  return p && *p ? p : "9042";
}
std::string contact_points() {
  return host() + ":" + port();
}

const std::string& keyspace() {
  static const std::string ks = fmt::format("tl_it_{}", getpid());
  return ks;
}

CqlOptions options() {
  CqlOptions o;
  o.contact_points = contact_points();
  o.request_timeout = std::chrono::milliseconds(30000);
  return o;
}

std::unique_ptr<TableStore> open_store() {
  auto s = open_cql_table_store(options());
  EXPECT_TRUE(s.has_value()) << s.error().to_string();
  return s ? std::move(*s) : nullptr;
}

std::unique_ptr<Client> open_client() {
  ClientOptions o;
  o.contact_points = contact_points();
  o.request_timeout = std::chrono::milliseconds(30000);
  auto c = Client::connect(o);
  EXPECT_TRUE(c.has_value()) << c.error().to_string();
  return c ? std::move(*c) : nullptr;
}

// Runs a shell command and returns its stdout (and whether it exited 0).
std::pair<bool, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {false, ""};
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  return {rc == 0, out};
}

// A TCP proxy on 127.0.0.1 to the test Cassandra whose connections can be cut, to test what
// the store does when its connection dies (as when a node restarts).
class CuttableProxy {
 public:
  CuttableProxy() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listen_fd_, 8);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~CuttableProxy() {
    stop_ = true;
    cut();
    accept_thread_.join();
    for (auto& t : pipes_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(listen_fd_);
  }
  uint16_t listen_port() const { return port_; }
  int accepted() const { return accepted_; }
  // Shuts down every open connection (both sides see EOF/reset).
  void cut() {
    std::lock_guard lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(std::stoi(port())));
      if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(client);
        ::close(server);
        continue;
      }
      ++accepted_;
      {
        std::lock_guard lock(mu_);
        fds_.push_back(client);
        fds_.push_back(server);
      }
      pipes_.emplace_back([this, client, server] { pump(client, server); });
    }
  }
  void pump(int a, int b) {
    char buf[65536];
    pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    while (!stop_) {
      if (::poll(p, 2, 50) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::recv(p[i].fd, buf, sizeof buf, 0);
        if (n <= 0) goto done;
        for (ssize_t off = 0; off < n;) {
          ssize_t w = ::send(p[1 - i].fd, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
          if (w <= 0) goto done;
          off += w;
        }
      }
    }
  done:
    ::shutdown(a, SHUT_RDWR);
    ::shutdown(b, SHUT_RDWR);
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::vector<int> fds_;  // every proxied socket, closed by the destructor
  std::thread accept_thread_;
  std::vector<std::thread> pipes_;
};

class CqlStoreTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto store = open_store();
    ASSERT_TRUE(store);
    Status s = store->execute_ddl(fmt::format(
        "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {{'class': 'SimpleStrategy', "
        "'replication_factor': 1}}",
        keyspace()));
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  static void TearDownTestSuite() {
    auto client = open_client();
    if (!client) return;
    auto r = client->query(fmt::format("DROP KEYSPACE IF EXISTS {}", keyspace()), client->params(),
                           std::chrono::milliseconds(60000));
    EXPECT_TRUE(r.has_value()) << r.error().to_string();
  }
  void SetUp() override {
    store_ = open_store();
    ASSERT_TRUE(store_);
  }
  std::unique_ptr<TableStore> store_;
};

Field f(std::string name, TypeId t) {
  return Field{std::move(name), DataType::of(t)};
}

// One row as exact text: the interop line format of tests/io/cql/interop.py.
std::string hex(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += fmt::format("{:02x}", c);
  return out;
}
std::string bits(double d) {
  return std::to_string(std::bit_cast<int64_t>(d));
}

// Lines "k\ti\tb\tt\tts\td\tf\tbo" of the interop table, sorted by k.
std::vector<std::string> scan_lines(TableStore& store, std::string_view table, int64_t limit = -1,
                                    int64_t batch_rows = 1000) {
  std::map<int64_t, std::string> rows;
  Status s = store.scan(keyspace(), table, limit, batch_rows, [&](Batch&& b) -> Status {
    EXPECT_LE(b.num_rows, batch_rows);
    auto col = [&](std::string_view n) -> const Column& {
      return b.columns[static_cast<size_t>(b.schema->field_index(n))];
    };
    for (int64_t r = 0; r < b.num_rows; ++r) {
      auto cell = [&](std::string_view n, auto fn) -> std::string {
        const Column& c = col(n);
        return c.is_valid(r) ? fn(c) : std::string("N");
      };
      std::string line = fmt::format(
          "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}", col("k").int_at(r),
          cell("i", [&](const Column& c) { return std::to_string(c.int_at(r)); }),
          cell("b", [&](const Column& c) { return std::to_string(c.int_at(r)); }),
          cell("t", [&](const Column& c) { return hex(c.string_at(r)); }),
          cell("ts", [&](const Column& c) { return std::to_string(c.int_at(r) / kNanosPerMilli); }),
          cell("d", [&](const Column& c) { return bits(c.float_at(r)); }),
          cell("f", [&](const Column& c) { return bits(c.float_at(r)); }),
          cell("bo", [&](const Column& c) { return std::string(c.int_at(r) ? "1" : "0"); }));
      rows[col("k").int_at(r)] = line;
    }
    return {};
  });
  EXPECT_TRUE(s.ok()) << s.to_string();
  std::vector<std::string> out;
  for (auto& [_, l] : rows) out.push_back(l);
  return out;
}

constexpr int64_t kBaseMs = 1600000000000 - 5000000;

// The rows Tideline writes: k = 0..n-1, with nulls in every nullable column for some rows,
// negative numbers, pre-epoch timestamps and non-ASCII text.
Batch tideline_rows(int64_t n, int64_t k0 = 0) {
  Batch b = Batch::empty(
      DataType::record({f("k", TypeId::kI32), f("i", TypeId::kI32), f("b", TypeId::kI64),
                        f("t", TypeId::kString), f("ts", TypeId::kTimestamp), f("d", TypeId::kF64),
                        f("f", TypeId::kF32), f("bo", TypeId::kBool)}));
  for (int64_t k = k0; k < k0 + n; ++k) {
    b.columns[0].append_int(k);
    if (k % 11 == 1)
      b.columns[1].append_null();
    else
      b.columns[1].append_int(k % 2 ? -k * 3 : 2147483647 - k * 3);
    if (k % 13 == 2)
      b.columns[2].append_null();
    else
      b.columns[2].append_int(k * -9000000000LL);
    if (k % 17 == 3)
      b.columns[3].append_null();
    else
      b.columns[3].append_string(
          fmt::format("tl-{}-ü€{}", k, std::string(static_cast<size_t>(k % 40), 'x')));
    if (k % 19 == 4)
      b.columns[4].append_null();
    else
      b.columns[4].append_int((k * 123457 - 500000000) * kNanosPerMilli);
    if (k % 23 == 5)
      b.columns[5].append_null();
    else
      b.columns[5].append_float(k * 1.000001 - 77.5);
    if (k % 29 == 6)
      b.columns[6].append_null();
    else
      b.columns[6].append_float(static_cast<float>(k * 0.37f));
    if (k % 31 == 7)
      b.columns[7].append_null();
    else
      b.columns[7].append_int(k % 3 == 0);
    ++b.num_rows;
  }
  return b;
}

std::vector<std::string> expected_lines(const Batch& b) {
  std::vector<std::string> out;
  for (int64_t r = 0; r < b.num_rows; ++r) {
    auto& c = b.columns;
    auto v = [&](size_t i, auto fn) -> std::string {
      return c[i].is_valid(r) ? fn(c[i]) : std::string("N");
    };
    out.push_back(fmt::format(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}", c[0].int_at(r),
        v(1, [&](const Column& x) { return std::to_string(x.int_at(r)); }),
        v(2, [&](const Column& x) { return std::to_string(x.int_at(r)); }),
        v(3, [&](const Column& x) { return hex(x.string_at(r)); }),
        v(4,
          [&](const Column& x) { return std::to_string(floor_div(x.int_at(r), kNanosPerMilli)); }),
        v(5, [&](const Column& x) { return bits(x.float_at(r)); }),
        v(6, [&](const Column& x) { return bits(static_cast<float>(x.float_at(r))); }),
        v(7, [&](const Column& x) { return std::string(x.int_at(r) ? "1" : "0"); })));
  }
  return out;
}

// Must match python_row() in interop.py.
std::string python_line(int64_t k) {
  std::string t = k % 5 == 0 ? "N" : hex(fmt::format("py-{}-é", k));
  std::string d = k % 7 == 0 ? "N" : bits(static_cast<double>(k) / 4.0 + 0.125);
  return fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}", k, k * 7 - 3, k * 1000003, t,
                     kBaseMs + k * 1001, d, bits(static_cast<double>(k) * 0.5),
                     k % 2 == 0 ? "1" : "0");
}

std::string create_interop_table(std::string_view name) {
  return fmt::format(
      "CREATE TABLE {}.{} (k int PRIMARY KEY, i int, b bigint, t text, ts timestamp, d double, "
      "f float, bo boolean)",
      keyspace(), name);
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::string interop(const std::string& args) {
  std::string cmd = fmt::format("{} {}/tests/io/cql/interop.py {} 2>&1", TIDELINE_VENV_PYTHON,
                                TIDELINE_SOURCE_DIR, args);
  auto [ok, out] = run(cmd);
  EXPECT_TRUE(ok) << cmd << "\n" << out.substr(0, 4000);
  return out;
}

TEST_F(CqlStoreTest, DdlAndDescribeRoundTrip) {
  const std::string ddl = fmt::format(
      "CREATE TABLE {}.events (\n  p1 text, p2 int, c1 timestamp, c2 bigint,\n"
      "  v_d double, v_f float, v_b boolean, v_t varchar,\n"
      "  PRIMARY KEY ((p1, p2), c1, c2)\n) WITH CLUSTERING ORDER BY (c1 DESC, c2 ASC)",
      keyspace());
  ASSERT_TRUE(store_->execute_ddl(ddl).ok());
  auto want = parse_create_table(ddl);
  ASSERT_TRUE(want.has_value()) << want.error().to_string();
  auto got = store_->describe(keyspace(), "events");
  ASSERT_TRUE(got.has_value()) << got.error().to_string();
  EXPECT_EQ(got->keyspace, keyspace());
  EXPECT_EQ(got->name, "events");
  EXPECT_EQ(got->partition_key, want->partition_key);
  EXPECT_EQ(got->clustering_key, want->clustering_key);
  ASSERT_EQ(got->clustering_key.size(), 2u);
  EXPECT_TRUE(got->is_descending(0));
  EXPECT_FALSE(got->is_descending(1));
  // Cassandra does not keep declaration order: compare columns by name.
  std::map<std::string, CqlType> got_cols, want_cols;
  for (const auto& c : got->columns) got_cols[c.name] = c.type;
  for (const auto& c : want->columns) want_cols[c.name] = c.type;
  EXPECT_EQ(got_cols, want_cols);
  // Key columns come first, in key order.
  EXPECT_EQ(got->columns[0].name, "p1");
  EXPECT_EQ(got->columns[3].name, "c2");

  // IF NOT EXISTS is a no-op; without it, AlreadyExists.
  EXPECT_TRUE(store_
                  ->execute_ddl(fmt::format(
                      "CREATE TABLE IF NOT EXISTS {}.events (x int PRIMARY KEY)", keyspace()))
                  .ok());
  Status again = store_->execute_ddl(ddl);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again.to_string();
  EXPECT_NE(again.message().find("Already_exists"), std::string::npos) << again.message();

  // A statement outside the subset fails locally with line:column, as with embedded.
  Status bad = store_->execute_ddl("CREATE TABLE x.y (a int PRIMARY KEY, b map<int,int>)");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("1:"), std::string::npos) << bad.message();
}

// The statements the pipeline ships (conf/cql, examples) run on Cassandra and describe back
// as parse_create_table reads them.
TEST_F(CqlStoreTest, ShippedStatementsRoundTrip) {
  int n = 0;
  for (const char* file : {"conf/cql/input_tbl.stmt", "conf/cql/output_tbl.stmt",
                           "examples/eshop/cql/session_features_tbl.stmt"}) {
    std::string path = fmt::format("{}/{}", TIDELINE_SOURCE_DIR, file);
    auto [ok, text] = run("cat " + path);
    ASSERT_TRUE(ok) << path;
    const std::string table = fmt::format("shipped_{}", n++);
    const std::string stmt = fill_statement_template(text, keyspace(), table);
    Status s = store_->execute_ddl(stmt);
    ASSERT_TRUE(s.ok()) << file << ": " << s.to_string();
    ASSERT_TRUE(store_->execute_ddl(stmt).ok()) << "IF NOT EXISTS twice";
    auto want = parse_create_table(stmt);
    ASSERT_TRUE(want.has_value()) << want.error().to_string();
    auto got = store_->describe(keyspace(), table);
    ASSERT_TRUE(got.has_value()) << got.error().to_string();
    EXPECT_EQ(got->partition_key, want->partition_key) << file;
    EXPECT_EQ(got->clustering_key, want->clustering_key) << file;
    for (size_t i = 0; i < want->clustering_key.size(); ++i) {
      EXPECT_EQ(got->is_descending(i), want->is_descending(i)) << file;
    }
    std::map<std::string, CqlType> g, w;
    for (const auto& c : got->columns) g[c.name] = c.type;
    for (const auto& c : want->columns) w[c.name] = c.type;
    EXPECT_EQ(g, w) << file;
  }
}

// Column kinds and values only other clients create: ascii and static columns, and
// Cassandra's "empty" values of fixed-size types (read as null).
TEST_F(CqlStoreTest, AsciiStaticAndEmptyValues) {
  auto client = open_client();
  ASSERT_TRUE(client);
  auto q = [&](const std::string& cql) {
    auto r = client->query(cql, client->params(), std::chrono::milliseconds(60000));
    EXPECT_TRUE(r.has_value()) << cql << ": " << r.error().to_string();
  };
  q(
      fmt::format("CREATE TABLE {}.odd (p int, c int, a ascii, s bigint STATIC, v int, "
                  "PRIMARY KEY (p, c))",
                  keyspace()));
  q(fmt::format("INSERT INTO {}.odd (p, c, a, s, v) VALUES (1, 1, 'plain', 7, blobAsInt(0x))",
                keyspace()));
  q(fmt::format("INSERT INTO {}.odd (p, c, a, v) VALUES (1, 2, 'two', 2)", keyspace()));
  auto d = store_->describe(keyspace(), "odd");
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  EXPECT_EQ(d->columns[d->column_index("a")].type, CqlType::kText);
  EXPECT_EQ(d->columns[d->column_index("s")].type, CqlType::kBigint);
  // Tideline writes the ascii column too.
  Batch b = Batch::empty(
      DataType::record({f("p", TypeId::kI32), f("c", TypeId::kI32), f("a", TypeId::kString)}));
  b.columns[0].append_int(1);
  b.columns[1].append_int(3);
  b.columns[2].append_string("three");
  b.num_rows = 1;
  ASSERT_TRUE(store_->upsert(keyspace(), "odd", b).ok());
  std::map<int64_t, std::string> rows;
  Status s = store_->scan(keyspace(), "odd", -1, 10, [&](Batch&& batch) -> Status {
    auto col = [&](std::string_view n) -> const Column& {
      return batch.columns[static_cast<size_t>(batch.schema->field_index(n))];
    };
    for (int64_t r = 0; r < batch.num_rows; ++r) {
      rows[col("c").int_at(r)] =
          fmt::format("{} s={} v={}", col("a").string_at(r), col("s").int_at(r),
                      col("v").is_valid(r) ? std::to_string(col("v").int_at(r)) : "null");
    }
    return {};
  });
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(rows, (std::map<int64_t, std::string>{
                      {1, "plain s=7 v=null"}, {2, "two s=7 v=2"}, {3, "three s=7 v=null"}}));
}

TEST_F(CqlStoreTest, UpsertAndScanEveryTypeWithNulls) {
  ASSERT_TRUE(store_->execute_ddl(create_interop_table("all_types")).ok());
  Batch rows = tideline_rows(10000);
  Status s = store_->upsert(keyspace(), "all_types", rows);
  ASSERT_TRUE(s.ok()) << s.to_string();
  auto got = scan_lines(*store_, "all_types", -1, 777);
  auto want = expected_lines(rows);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(got, want);
  auto n = store_->count(keyspace(), "all_types");
  ASSERT_TRUE(n.has_value()) << n.error().to_string();
  EXPECT_EQ(*n, 10000);

  // Limit and batch size.
  int batches = 0;
  int64_t seen = 0;
  s = store_->scan(keyspace(), "all_types", 123, 50, [&](Batch&& b) -> Status {
    ++batches;
    seen += b.num_rows;
    EXPECT_TRUE(type_equals(*b.schema, *store_->describe(keyspace(), "all_types")->batch_type()));
    return {};
  });
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(seen, 123);
  EXPECT_EQ(batches, 3);

  // A limit spanning pages (5000 rows per page).
  seen = 0;
  s = store_->scan(keyspace(), "all_types", 7001, 4096, [&](Batch&& b) -> Status {
    seen += b.num_rows;
    return {};
  });
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(seen, 7001);

  // A callback error stops the scan and is returned.
  s = store_->scan(keyspace(), "all_types", -1, 100,
                   [&](Batch&&) -> Status { return invalid_argument("stop here"); });
  EXPECT_EQ(s.message(), "stop here");
  // The next page was already requested: its response was collected, the store still works.
  auto again = store_->count(keyspace(), "all_types");
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  EXPECT_EQ(*again, 10000);
}

TEST_F(CqlStoreTest, UpsertOverwritesByKey) {
  ASSERT_TRUE(store_->execute_ddl(create_interop_table("overwrite")).ok());
  ASSERT_TRUE(store_->upsert(keyspace(), "overwrite", tideline_rows(10)).ok());
  // Same keys 5..9 again with other values, given only for some columns.
  Batch b = Batch::empty(
      DataType::record({f("k", TypeId::kI64), f("t", TypeId::kString), f("i", TypeId::kString)}));
  for (int k = 5; k < 10; ++k) {
    b.columns[0].append_int(k);
    b.columns[1].append_string(fmt::format("new-{}", k));
    if (k == 9)
      b.columns[2].append_null();
    else
      b.columns[2].append_string(std::to_string(-k));
    ++b.num_rows;
  }
  Status s = store_->upsert(keyspace(), "overwrite", b);
  ASSERT_TRUE(s.ok()) << s.to_string();
  auto got = scan_lines(*store_, "overwrite");
  auto want = expected_lines(tideline_rows(10));
  ASSERT_EQ(got.size(), 10u);
  for (int k = 0; k < 10; ++k) {
    if (k < 5) {
      EXPECT_EQ(got[k], want[k]);
      continue;
    }
    std::vector<std::string> g, w;
    std::istringstream gi(got[k]), wi(want[k]);
    for (std::string x; std::getline(gi, x, '\t');) g.push_back(x);
    for (std::string x; std::getline(wi, x, '\t');) w.push_back(x);
    EXPECT_EQ(g[1], k == 9 ? "N" : std::to_string(-k)) << got[k];
    EXPECT_EQ(g[3], hex(fmt::format("new-{}", k)));
    EXPECT_EQ(g[2], w[2]);  // not provided: unchanged
    EXPECT_EQ(g[5], w[5]);
  }
  EXPECT_EQ(*store_->count(keyspace(), "overwrite"), 10);

  // Null key, unknown column, out-of-range int: errors naming the place.
  Batch nk = Batch::empty(DataType::record({f("k", TypeId::kI32)}));
  nk.columns[0].append_null();
  nk.num_rows = 1;
  s = store_->upsert(keyspace(), "overwrite", nk);
  EXPECT_NE(s.message().find("primary key column 'k' is null"), std::string::npos) << s.message();
  Batch big = Batch::empty(DataType::record({f("k", TypeId::kI64)}));
  big.columns[0].append_int(int64_t{1} << 40);
  big.num_rows = 1;
  s = store_->upsert(keyspace(), "overwrite", big);
  EXPECT_NE(s.message().find("out of int range"), std::string::npos) << s.message();
  // A bad row anywhere in the batch writes nothing (rows are converted before sending).
  Batch mixed = Batch::empty(DataType::record({f("k", TypeId::kI64), f("t", TypeId::kString)}));
  for (int64_t k : {int64_t{1000}, int64_t{1001}, int64_t{1} << 40}) {
    mixed.columns[0].append_int(k);
    mixed.columns[1].append_string("mixed");
    ++mixed.num_rows;
  }
  s = store_->upsert(keyspace(), "overwrite", mixed);
  EXPECT_NE(s.message().find("row 2: column 'k'"), std::string::npos) << s.message();
  EXPECT_EQ(*store_->count(keyspace(), "overwrite"), 10);
  Batch unk = Batch::empty(DataType::record({f("k", TypeId::kI32), f("zz", TypeId::kI32)}));
  s = store_->upsert(keyspace(), "overwrite", unk);
  EXPECT_NE(s.message().find("no column 'zz'"), std::string::npos) << s.message();
}

TEST_F(CqlStoreTest, ServerErrorsAreClear) {
  auto client = open_client();
  ASSERT_TRUE(client);
  auto r = client->query("SELEC * FROM nowhere");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kParseError);
  EXPECT_NE(r.error().message().find("Syntax_error"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("SELEC"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find(contact_points()), std::string::npos);
  std::printf("[syntax error] %s\n", r.error().to_string().c_str());
  // The connection stays usable after a server error.
  auto ok = client->query("SELECT release_version FROM system.local");
  ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
  EXPECT_EQ(ok->rows.row_count, 1);

  // Unknown keyspace: the server's message for DDL, NotFound for describe/scan.
  Status ddl = store_->execute_ddl("CREATE TABLE tl_no_such_ks.t (a int PRIMARY KEY)");
  EXPECT_EQ(ddl.code(), StatusCode::kInvalidArgument) << ddl.to_string();
  EXPECT_NE(ddl.message().find("tl_no_such_ks"), std::string::npos) << ddl.message();
  auto d = store_->describe("tl_no_such_ks", "t");
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code(), StatusCode::kNotFound);
  EXPECT_NE(d.error().message().find("keyspace 'tl_no_such_ks' does not exist"), std::string::npos)
      << d.error().message();
  std::printf("[unknown keyspace] ddl: %s\n  describe: %s\n", ddl.to_string().c_str(),
              d.error().to_string().c_str());
  auto d2 = store_->describe(keyspace(), "no_such_table");
  ASSERT_FALSE(d2.has_value());
  EXPECT_NE(d2.error().message().find("does not exist"), std::string::npos);

  // A column type outside the subset is named.
  auto m = client->query(
      fmt::format("CREATE TABLE {}.with_map (k int PRIMARY KEY, m map<text, int>)", keyspace()),
      client->params(), std::chrono::milliseconds(60000));
  ASSERT_TRUE(m.has_value()) << m.error().to_string();
  auto dm = store_->describe(keyspace(), "with_map");
  ASSERT_FALSE(dm.has_value());
  EXPECT_NE(dm.error().message().find("column 'm' has CQL type 'map<text, int>'"),
            std::string::npos)
      << dm.error().message();

  // Nothing listens on port 1: unavailable, naming the endpoint.
  CqlOptions o = options();
  o.contact_points = "127.0.0.1:1";
  o.connect_timeout = std::chrono::milliseconds(2000);
  auto none = open_cql_table_store(o);
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(none.error().message().find("127.0.0.1:1"), std::string::npos);
  // Second contact point used when the first is down.
  o.contact_points = "127.0.0.1:1, " + contact_points();
  EXPECT_TRUE(open_cql_table_store(o).has_value());
  o.local_dc = "datacenter1";  // the test server's data center
  EXPECT_TRUE(open_cql_table_store(o).has_value());
  o.local_dc = "no_such_dc";
  auto dc = open_cql_table_store(o);
  ASSERT_FALSE(dc.has_value());
  EXPECT_NE(dc.error().message().find("no_such_dc"), std::string::npos);
}

TEST_F(CqlStoreTest, TlsToPlainPortFailsCleanly) {
  CqlOptions o = options();
  o.tls.enabled = true;
  o.tls.verify_peer = false;
  o.connect_timeout = std::chrono::milliseconds(3000);
  auto t0 = std::chrono::steady_clock::now();
  auto s = open_cql_table_store(o);
  ASSERT_FALSE(s.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  EXPECT_NE(s.error().message().find(contact_points()), std::string::npos) << s.error().message();
  std::printf("[tls to plain port] %s\n", s.error().to_string().c_str());
}

TEST_F(CqlStoreTest, InteropWithPythonDriver) {
  // Tideline writes, Python reads.
  ASSERT_TRUE(store_->execute_ddl(create_interop_table("interop_tl")).ok());
  Batch rows = tideline_rows(2000);
  ASSERT_TRUE(store_->upsert(keyspace(), "interop_tl", rows).ok());
  auto py =
      split_lines(interop(fmt::format("read {} {} {} interop_tl", host(), port(), keyspace())));
  EXPECT_EQ(py, expected_lines(rows));

  // Python writes, Tideline reads.
  ASSERT_TRUE(store_->execute_ddl(create_interop_table("interop_py")).ok());
  interop(fmt::format("write {} {} {} interop_py 1500", host(), port(), keyspace()));
  auto got = scan_lines(*store_, "interop_py");
  std::vector<std::string> want;
  for (int64_t k = 0; k < 1500; ++k) want.push_back(python_line(k));
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(got, want);
}

TEST_F(CqlStoreTest, ReconnectsAfterTheConnectionDies) {
  ASSERT_TRUE(store_->execute_ddl(create_interop_table("reconnect")).ok());
  CuttableProxy proxy;
  CqlOptions o = options();
  o.contact_points = fmt::format("127.0.0.1:{}", proxy.listen_port());
  auto store = open_cql_table_store(o);
  ASSERT_TRUE(store.has_value()) << store.error().to_string();
  ASSERT_TRUE((*store)->upsert(keyspace(), "reconnect", tideline_rows(100)).ok());
  EXPECT_EQ(proxy.accepted(), 1);
  proxy.cut();
  // The call that meets the dead connection fails, naming the peer...
  auto n = (*store)->count(keyspace(), "reconnect");
  ASSERT_FALSE(n.has_value());
  EXPECT_NE(n.error().message().find(o.contact_points), std::string::npos) << n.error().to_string();
  std::printf("[dead connection] %s\n", n.error().to_string().c_str());
  // ...and the next one connects again, prepares again and works.
  Status s = (*store)->upsert(keyspace(), "reconnect", tideline_rows(50, 100));
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(proxy.accepted(), 2);
  n = (*store)->count(keyspace(), "reconnect");
  ASSERT_TRUE(n.has_value()) << n.error().to_string();
  EXPECT_EQ(*n, 150);
  EXPECT_EQ(scan_lines(**store, "reconnect"), expected_lines(tideline_rows(150)));
}

TEST_F(CqlStoreTest, Throughput100k) {
  ASSERT_TRUE(store_->execute_ddl(create_interop_table("bulk")).ok());
  constexpr int64_t kRows = 100000;
  Batch rows = tideline_rows(kRows);
  auto t0 = std::chrono::steady_clock::now();
  Status s = store_->upsert(keyspace(), "bulk", rows);
  ASSERT_TRUE(s.ok()) << s.to_string();
  double up = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t0 = std::chrono::steady_clock::now();
  int64_t seen = 0;
  s = store_->scan(keyspace(), "bulk", -1, 4096, [&](Batch&& b) -> Status {
    seen += b.num_rows;
    return {};
  });
  ASSERT_TRUE(s.ok()) << s.to_string();
  double sc = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(seen, kRows);
  std::printf("[cql throughput] upsert %lld rows: %.2f s, %.0f rows/s; scan: %.2f s, %.0f rows/s\n",
              static_cast<long long>(kRows), up, kRows / up, sc, kRows / sc);
}

}  // namespace
}  // namespace tideline::io::cql
