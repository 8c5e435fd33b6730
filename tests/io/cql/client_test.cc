// The CQL client against scripted in-process servers (no Cassandra): authentication,
// pipelining with out-of-order responses, Unprepared retry, timeouts, version mismatch.
#include "io/cql/client.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <set>

#include "io/net/test_server.h"

namespace tideline::io::cql {
namespace {

using net::testing::TestServer;

struct Request {
  FrameHeader header;
  std::string body;
};

bool recv_exact(int fd, char* p, size_t n, TestServer& server) {
  while (n > 0) {
    pollfd pf{fd, POLLIN, 0};
    int rc = ::poll(&pf, 1, 50);
    if (server.should_stop()) return false;
    if (rc <= 0) continue;
    ssize_t got = ::recv(fd, p, n, 0);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool read_request(int fd, TestServer& server, Request& out) {
  char h[kHeaderSize];
  if (!recv_exact(fd, h, kHeaderSize, server)) return false;
  out.header.version = static_cast<uint8_t>(h[0]);
  out.header.flags = static_cast<uint8_t>(h[1]);
  out.header.stream = static_cast<int16_t>(get_be(h + 2, 2));
  out.header.opcode = static_cast<uint8_t>(h[4]);
  out.header.length = static_cast<uint32_t>(get_be(h + 5, 4));
  out.body.resize(out.header.length);
  return out.body.empty() || recv_exact(fd, out.body.data(), out.body.size(), server);
}

std::string frame(int16_t stream, Opcode op, std::string_view body,
                  uint8_t version = kResponseVersion) {
  std::string out;
  encode_header({version, 0, stream, static_cast<uint8_t>(op), static_cast<uint32_t>(body.size())},
                out);
  out.append(body);
  return out;
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string error_body(int32_t code, std::string_view message) {
  BodyWriter w;
  w.int_(code);
  w.string(message);
  return w.take();
}

std::string void_result() {
  BodyWriter w;
  w.int_(static_cast<int32_t>(ResultKind::kVoid));
  return w.take();
}

std::string prepared_result(std::string_view id) {
  BodyWriter w;
  w.int_(static_cast<int32_t>(ResultKind::kPrepared));
  w.short_bytes(id);
  w.int_(rows_flag::kGlobalTablesSpec);
  w.int_(1);
  w.int_(1);
  w.short_(0);
  w.string("ks");
  w.string("t");
  w.string("k");
  w.short_(static_cast<uint16_t>(TypeCode::kInt));
  w.int_(rows_flag::kNoMetadata);
  w.int_(0);
  return w.take();
}

std::string supported_body() {
  BodyWriter w;
  w.short_(1);
  w.string("CQL_VERSION");
  w.short_(1);
  w.string("3.4.7");
  return w.take();
}

// Answers OPTIONS and STARTUP (READY, or AUTHENTICATE with `auth`), and hands every other
// request to `on_request`, which returns the frames to send (possibly none yet).
using OnRequest = std::function<std::string(const Request&)>;
std::function<void(int, TestServer&)> cql_server(OnRequest on_request, bool auth = false) {
  return [on_request, auth](int fd, TestServer& server) {
    Request r;
    while (read_request(fd, server, r)) {
      std::string out;
      switch (static_cast<Opcode>(r.header.opcode)) {
        case Opcode::kOptions:
          out = frame(r.header.stream, Opcode::kSupported, supported_body());
          break;
        case Opcode::kStartup:
          if (auth) {
            BodyWriter w;
            w.string("org.apache.cassandra.auth.PasswordAuthenticator");
            out = frame(r.header.stream, Opcode::kAuthenticate, w.take());
          } else {
            out = frame(r.header.stream, Opcode::kReady, "");
          }
          break;
        default:
          out = on_request(r);
      }
      send_all(fd, out);
    }
  };
}

ClientOptions options_for(const TestServer& s) {
  ClientOptions o;
  o.contact_points = fmt::format("127.0.0.1:{}", s.port());
  o.connect_timeout = std::chrono::milliseconds(3000);
  o.request_timeout = std::chrono::milliseconds(3000);
  return o;
}

TEST(CqlClient, SaslPlainAuthentication) {
  std::atomic<int> rounds{0};
  TestServer server(cql_server(
      [&](const Request& r) -> std::string {
        if (r.header.opcode != static_cast<uint8_t>(Opcode::kAuthResponse)) {
          return frame(r.header.stream, Opcode::kError,
                       error_body(error_code::kProtocolError, "unexpected"));
        }
        ++rounds;
        BodyReader br(r.body, r.header.opcode);
        auto token = br.bytes();
        if (token && *token && **token == std::string("\0alice\0s3cret", 13)) {
          BodyWriter w;
          w.null_value();
          return frame(r.header.stream, Opcode::kAuthSuccess, w.take());
        }
        return frame(r.header.stream, Opcode::kError,
                     error_body(error_code::kBadCredentials,
                                "Provided username alice and/or password are incorrect"));
      },
      /*auth=*/true));
  ClientOptions o = options_for(server);
  o.username = "alice";
  o.password = "s3cret";
  auto ok = Client::connect(o);
  ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
  EXPECT_EQ((*ok)->supported().at("CQL_VERSION"), std::vector<std::string>{"3.4.7"});
  EXPECT_EQ(rounds.load(), 1);
  ok->reset();  // the test server serves one connection at a time

  o.password = "wrong-pw-value";
  auto bad = Client::connect(o);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("Bad_credentials"), std::string::npos)
      << bad.error().message();
  EXPECT_EQ(bad.error().message().find("wrong-pw-value"), std::string::npos);
  EXPECT_EQ(rounds.load(), 2);

  o.username.clear();
  o.password.clear();
  auto none = Client::connect(o);
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().message().find("PasswordAuthenticator"), std::string::npos);
}

TEST(CqlClient, PipelinedExecutesWithOutOfOrderResponses) {
  std::mutex mu;
  std::set<int16_t> streams_seen;
  size_t max_batch = 0;
  std::vector<std::string> held;  // responses held back, sent in reverse order
  TestServer server(cql_server([&](const Request& r) -> std::string {
    if (r.header.opcode == static_cast<uint8_t>(Opcode::kPrepare)) {
      return frame(r.header.stream, Opcode::kResult, prepared_result("id-1"));
    }
    BodyReader br(r.body, r.header.opcode);
    (void)br.short_bytes();
    (void)br.short_();
    (void)br.byte();
    (void)br.short_();
    auto v = br.bytes();
    int32_t value = static_cast<int32_t>(get_be((*v)->data(), 4));
    std::lock_guard lock(mu);
    streams_seen.insert(r.header.stream);
    held.push_back(value == 500 ? frame(r.header.stream, Opcode::kError,
                                        error_body(error_code::kInvalid, "value 500 refused"))
                                : frame(r.header.stream, Opcode::kResult, void_result()));
    // Answer in groups of 8, last first.
    if (held.size() < 8 && value != 999 && value != 1999) return "";
    max_batch = std::max(max_batch, held.size());
    std::string out;
    for (auto it = held.rbegin(); it != held.rend(); ++it) out += *it;
    held.clear();
    return out;
  }));
  ClientOptions o = options_for(server);
  o.max_in_flight = 16;
  auto client = Client::connect(o);
  ASSERT_TRUE(client.has_value()) << client.error().to_string();
  auto stmt = (*client)->prepare("INSERT INTO ks.t (k) VALUES (?)");
  ASSERT_TRUE(stmt.has_value()) << stmt.error().to_string();
  EXPECT_EQ(stmt->id, "id-1");
  ASSERT_EQ(stmt->bind.columns.size(), 1u);

  auto fill_from = [](int64_t base) {
    return [base](int64_t i, QueryParams& p) -> Status {
      BodyWriter w;
      w.int_(4);
      put_be(w.buffer(), static_cast<uint32_t>(base + i), 4);
      p.values = w.take();
      p.value_count = 1;
      p.has_values = true;
      return {};
    };
  };
  Status s = (*client)->execute_many(*stmt, 1000, fill_from(1000));  // values 1000..1999
  ASSERT_TRUE(s.ok()) << s.to_string();
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(streams_seen.size(), 16u);  // the whole window was used
    EXPECT_EQ(max_batch, 8u);
    EXPECT_EQ(streams_seen.count(0), 0u);
  }
  // One failing request: its index and the server's message; the connection stays usable.
  s = (*client)->execute_many(*stmt, 1000, fill_from(0));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("request 500 of 1000"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("Invalid: value 500 refused"), std::string::npos) << s.message();
  s = (*client)->execute_many(*stmt, 8, fill_from(1000));
  EXPECT_TRUE(s.ok()) << s.to_string();
}

TEST(CqlClient, UnpreparedIsPreparedAgain) {
  std::atomic<int> prepares{0}, executes{0};
  TestServer server(cql_server([&](const Request& r) -> std::string {
    if (r.header.opcode == static_cast<uint8_t>(Opcode::kPrepare)) {
      ++prepares;
      return frame(r.header.stream, Opcode::kResult,
                   prepared_result(prepares == 1 ? "old" : "new"));
    }
    ++executes;
    BodyReader br(r.body, r.header.opcode);
    auto id = br.short_bytes();
    if (*id == "old") {
      BodyWriter w;
      w.int_(error_code::kUnprepared);
      w.string("Prepared query with ID old not found");
      w.short_bytes("old");
      return frame(r.header.stream, Opcode::kError, w.take());
    }
    return frame(r.header.stream, Opcode::kResult, void_result());
  }));
  auto client = Client::connect(options_for(server));
  ASSERT_TRUE(client.has_value()) << client.error().to_string();
  auto stmt = (*client)->prepare("INSERT INTO ks.t (k) VALUES (?)");
  ASSERT_TRUE(stmt.has_value());
  auto r = (*client)->execute(*stmt, (*client)->params());
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(stmt->id, "new");
  EXPECT_EQ(prepares.load(), 2);
  EXPECT_EQ(executes.load(), 2);
}

TEST(CqlClient, TimeoutBreaksTheConnection) {
  TestServer server(cql_server([&](const Request&) -> std::string { return ""; }));
  ClientOptions o = options_for(server);
  o.request_timeout = std::chrono::milliseconds(300);
  auto client = Client::connect(o);
  ASSERT_TRUE(client.has_value()) << client.error().to_string();
  auto t0 = std::chrono::steady_clock::now();
  auto r = (*client)->query("SELECT 1");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(net::is_timeout(r.error())) << r.error().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  auto again = (*client)->query("SELECT 1");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().message(), r.error().message());
}

TEST(CqlClient, OlderProtocolVersionIsReported) {
  TestServer server([](int fd, TestServer& s) {
    Request r;
    if (!read_request(fd, s, r)) return;
    send_all(fd, frame(r.header.stream, Opcode::kError,
                       error_body(error_code::kProtocolError,
                                  "Invalid or unsupported protocol version (4)"),
                       0x83));
  });
  auto client = Client::connect(options_for(server));
  ASSERT_FALSE(client.has_value());
  EXPECT_NE(client.error().message().find("protocol version 3"), std::string::npos)
      << client.error().message();
}

TEST(CqlClient, UnreachableContactPoints) {
  ClientOptions o;
  o.contact_points = "127.0.0.1:1,127.0.0.1:2";
  o.connect_timeout = std::chrono::milliseconds(1000);
  auto c = Client::connect(o);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(c.error().message().find("127.0.0.1:1"), std::string::npos);
  EXPECT_NE(c.error().message().find("127.0.0.1:2"), std::string::npos);
  o.contact_points = "";
  EXPECT_FALSE(Client::connect(o).has_value());
}

}  // namespace
}  // namespace tideline::io::cql
