#include "io/net/net.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <numeric>
#include <thread>
#include <vector>

#include "io/net/test_server.h"

namespace tideline::io::net {
namespace {

using std::chrono::milliseconds;
using testing::TestServer;

constexpr milliseconds kLong{5000};

// ---- parse_endpoint ------------------------------------------------------------------

TEST(ParseEndpoint, HostAndPort) {
  auto e = parse_endpoint("db1.example:9043", 9042);
  ASSERT_TRUE(e) << e.error().to_string();
  EXPECT_EQ(e->host, "db1.example");
  EXPECT_EQ(e->port, 9043);
  EXPECT_EQ(e->to_string(), "db1.example:9043");
}

TEST(ParseEndpoint, DefaultPortAndTrimming) {
  auto e = parse_endpoint("  127.0.0.1 ", 9042);
  ASSERT_TRUE(e) << e.error().to_string();
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 9042);
}

TEST(ParseEndpoint, Ipv6) {
  auto a = parse_endpoint("[::1]:6651", 6650);
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 6651);
  EXPECT_EQ(a->to_string(), "[::1]:6651");
  auto b = parse_endpoint("fe80::1:2", 6650);  // several colons, no brackets: all address
  ASSERT_TRUE(b) << b.error().to_string();
  EXPECT_EQ(b->host, "fe80::1:2");
  EXPECT_EQ(b->port, 6650);
  auto c = parse_endpoint("[2001:db8::5]", 1);
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->host, "2001:db8::5");
  EXPECT_EQ(c->port, 1);
  EXPECT_EQ(c->to_string(), "[2001:db8::5]:1");
}

void expect_bad(std::string_view text, uint16_t default_port, std::string_view needle) {
  auto e = parse_endpoint(text, default_port);
  ASSERT_FALSE(e) << text << " parsed as " << e->to_string();
  EXPECT_EQ(e.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e.error().message().find(needle), std::string::npos)
      << "'" << text << "': " << e.error().message();
  EXPECT_NE(e.error().message().find(std::string(text)), std::string::npos)
      << "message should quote the text: " << e.error().message();
}

TEST(ParseEndpoint, Errors) {
  expect_bad("", 9042, "empty endpoint");
  expect_bad("   ", 9042, "empty endpoint");
  expect_bad(":9042", 9042, "empty host");
  expect_bad("host:", 9042, "empty port");
  expect_bad("host:0", 9042, "not in 1..65535");
  expect_bad("host:65536", 9042, "not in 1..65535");
  expect_bad("host:99999999999999999999", 9042, "not in 1..65535");
  expect_bad("host:90x", 9042, "not a number");
  expect_bad("host:-1", 9042, "not a number");
  expect_bad("host", 0, "no port");
  expect_bad("[::1", 9042, "missing ']'");
  expect_bad("[::1]x", 9042, "expected ':port'");
  expect_bad("[]:9042", 9042, "empty host");
  expect_bad("[db.example]:9042", 9042, "not an IPv6 address");
  expect_bad("a:b:c", 9042, "[addr]:port");
  expect_bad("my host:1", 9042, "invalid character");
  expect_bad("http://x", 9042, "not a number");
}

TEST(ParseEndpoints, List) {
  auto l = parse_endpoints("a:1, b ,[::1]:3", 9042);
  ASSERT_TRUE(l) << l.error().to_string();
  ASSERT_EQ(l->size(), 3u);
  EXPECT_EQ((*l)[0].to_string(), "a:1");
  EXPECT_EQ((*l)[1].to_string(), "b:9042");
  EXPECT_EQ((*l)[2].to_string(), "[::1]:3");
}

TEST(ParseEndpoints, Errors) {
  auto empty = parse_endpoints(" ", 9042);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("empty"), std::string::npos);
  auto hole = parse_endpoints("a:1,,b:2", 9042);
  ASSERT_FALSE(hole);
  EXPECT_NE(hole.error().message().find("empty entry at offset 4"), std::string::npos)
      << hole.error().message();
  auto bad = parse_endpoints("a:1,b:0", 9042);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("'b:0'"), std::string::npos) << bad.error().message();
}

// ---- plain TCP -------------------------------------------------------------------------

Endpoint local(uint16_t port) {
  return Endpoint{"127.0.0.1", port};
}

std::unique_ptr<Connection> connect_ok(const Endpoint& e, const TlsOptions& tls = {}) {
  auto c = Connection::connect(e, tls, kLong);
  EXPECT_TRUE(c) << c.error().to_string();
  return c ? std::move(*c) : nullptr;
}

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 131 + i / 251) & 0xff);
  return v;
}

// Writes `data` in 64 KiB chunks and reads each chunk back (interleaved so neither side's
// socket buffers fill up), comparing the echo.
void round_trip(Connection& c, const std::vector<uint8_t>& data) {
  constexpr size_t kChunk = 64 * 1024;
  std::vector<uint8_t> back(data.size());
  for (size_t off = 0; off < data.size(); off += kChunk) {
    size_t n = std::min(kChunk, data.size() - off);
    ASSERT_TRUE(c.write_all(std::span(data).subspan(off, n), kLong).ok());
    Status s = c.read_exact(std::span(back).subspan(off, n), kLong);
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  EXPECT_EQ(back, data);
}

TEST(Tcp, EchoRoundTripOneMiB) {
  TestServer server(TestServer::echo);
  auto c = connect_ok(local(server.port()));
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->is_tls());
  EXPECT_EQ(c->peer().to_string(), "127.0.0.1:" + std::to_string(server.port()));
  round_trip(*c, pattern(1 << 20));
}

TEST(Tcp, ConnectsByName) {
  TestServer server(TestServer::echo);
  auto c = connect_ok(Endpoint{"localhost", server.port()});
  ASSERT_TRUE(c);
  round_trip(*c, pattern(1000));
}

TEST(Tcp, ReadSomeAndReadableNow) {
  TestServer server(TestServer::echo);
  auto c = connect_ok(local(server.port()));
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->readable_now());
  ASSERT_TRUE(c->write_all(std::string_view("hello"), kLong).ok());
  // Wait for the echo to arrive.
  auto until = std::chrono::steady_clock::now() + kLong;
  while (!c->readable_now() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_TRUE(c->readable_now());
  std::vector<uint8_t> buf(100);
  size_t got = 0;
  while (got < 5) {
    auto n = c->read_some(std::span(buf).subspan(got), kLong);
    ASSERT_TRUE(n) << n.error().to_string();
    ASSERT_GE(*n, 1u);
    got += *n;
  }
  EXPECT_EQ(got, 5u);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + 5), "hello");
  EXPECT_FALSE(c->readable_now());
  // Nothing more comes: read_some times out.
  auto n = c->read_some(buf, milliseconds(100));
  ASSERT_FALSE(n);
  EXPECT_TRUE(is_timeout(n.error())) << n.error().to_string();
}

// Accepts and then sends nothing until the client goes away.
void silent(int fd, TestServer& server) {
  char buf[256];
  while (!server.should_stop()) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0 && ::recv(fd, buf, sizeof buf, 0) <= 0) return;
  }
}

TEST(Tcp, ReadExactTimesOut) {
  TestServer server(silent);
  auto c = connect_ok(local(server.port()));
  ASSERT_TRUE(c);
  std::vector<uint8_t> buf(10);
  auto start = std::chrono::steady_clock::now();
  Status s = c->read_exact(buf, milliseconds(300));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(is_timeout(s)) << s.to_string();
  EXPECT_NE(s.message().find("127.0.0.1:" + std::to_string(server.port())), std::string::npos);
  EXPECT_NE(s.message().find("0 of 10 bytes"), std::string::npos) << s.message();
  EXPECT_GE(took, milliseconds(240));
  EXPECT_LE(took, milliseconds(1500));
}

TEST(Tcp, PeerCloseIsUnavailable) {
  TestServer server([](int fd, TestServer&) {
    ::send(fd, "abc", 3, MSG_NOSIGNAL);  // then close
  });
  auto c = connect_ok(local(server.port()));
  ASSERT_TRUE(c);
  std::vector<uint8_t> buf(10);
  Status s = c->read_exact(buf, kLong);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_FALSE(is_timeout(s));
  EXPECT_NE(s.message().find("closed"), std::string::npos) << s.message();
  EXPECT_TRUE(c->readable_now());  // EOF is "readable": a read returns at once
  auto n = c->read_some(buf, kLong);
  ASSERT_FALSE(n);
  EXPECT_NE(n.error().message().find("closed by peer"), std::string::npos);
}

// Writing to a peer that closed must fail with an error, not kill the process by SIGPIPE
// (SIGPIPE is not ignored in this test binary).
TEST(Tcp, WriteAfterPeerCloseFailsWithoutSigpipe) {
  TestServer server([](int, TestServer&) {});
  auto c = connect_ok(local(server.port()));
  ASSERT_TRUE(c);
  std::vector<uint8_t> chunk(4096, 'x');
  Status s;
  for (int i = 0; i < 200 && s.ok(); ++i) {
    s = c->write_all(chunk, kLong);
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.to_string();
  EXPECT_NE(s.message().find("closed by peer"), std::string::npos) << s.message();
  // The first failure consumes the reset (ECONNRESET); later sends get EPIPE, which is
  // where SIGPIPE would be raised.
  for (int i = 0; i < 5; ++i) {
    Status again = c->write_all(chunk, kLong);
    EXPECT_EQ(again.code(), StatusCode::kUnavailable) << again.to_string();
  }
}

uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(Tcp, RefusedNamesThePeer) {
  uint16_t port = unused_port();
  auto c = Connection::connect(local(port), {}, kLong);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(is_timeout(c.error()));
  EXPECT_NE(c.error().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << c.error().message();
  EXPECT_NE(c.error().message().find("refused"), std::string::npos) << c.error().message();
}

TEST(Tcp, UnresolvableHost) {
  auto c = Connection::connect(Endpoint{"no-such-host.invalid", 9042}, {}, kLong);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(c.error().message().find("no-such-host.invalid:9042: cannot resolve"),
            std::string::npos)
      << c.error().message();
}

TEST(Tcp, ClosedConnectionRejectsCalls) {
  TestServer server(TestServer::echo);
  auto c = connect_ok(local(server.port()));
  ASSERT_TRUE(c);
  c->close();
  c->close();  // idempotent
  EXPECT_FALSE(c->readable_now());
  Status w = c->write_all(std::string_view("x"), kLong);
  EXPECT_EQ(w.code(), StatusCode::kUnavailable);
  EXPECT_NE(w.message().find("connection is closed"), std::string::npos);
  uint8_t b;
  EXPECT_FALSE(c->read_exact(std::span(&b, 1), kLong).ok());
}

// A listener whose accept queue is full drops further SYNs, so connect() hangs: the
// timeout must bound it.
TEST(Tcp, ConnectTimesOut) {
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);
  socklen_t len = sizeof addr;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  uint16_t port = ntohs(addr.sin_port);
  // Fill the queue (never accepted).
  std::vector<std::unique_ptr<Connection>> fillers;
  Result<std::unique_ptr<Connection>> c;
  for (int i = 0; i < 8; ++i) {
    auto start = std::chrono::steady_clock::now();
    c = Connection::connect(local(port), {}, milliseconds(300));
    auto took = std::chrono::steady_clock::now() - start;
    if (!c) {
      EXPECT_TRUE(is_timeout(c.error())) << c.error().to_string();
      EXPECT_NE(c.error().message().find("connecting"), std::string::npos);
      EXPECT_GE(took, milliseconds(240));
      EXPECT_LE(took, milliseconds(1500));
      break;
    }
    fillers.push_back(std::move(*c));
  }
  EXPECT_FALSE(c) << "every connect succeeded; the accept queue never filled";
  ::close(lfd);
}

}  // namespace
}  // namespace tideline::io::net
