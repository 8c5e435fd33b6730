#include "io/pulsar/admin.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

namespace tideline::pulsar {
namespace {

TEST(PulsarTopicNames, Forms) {
  auto full = parse_topic_name("persistent://tl/ns1/events");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->tenant, "tl");
  EXPECT_EQ(full->ns, "ns1");
  EXPECT_EQ(full->local, "events");
  EXPECT_EQ(full->rest_path(), "persistent/tl/ns1/events");
  EXPECT_EQ(full->partition(2), "persistent://tl/ns1/events-partition-2");
  auto short_name = parse_topic_name("events");
  ASSERT_TRUE(short_name);
  EXPECT_EQ(short_name->full(), "persistent://public/default/events");
  auto three = parse_topic_name("a/b/c");
  ASSERT_TRUE(three);
  EXPECT_EQ(three->full(), "persistent://a/b/c");
  EXPECT_FALSE(parse_topic_name("persistent://a/b"));
  EXPECT_FALSE(parse_topic_name("a/b"));
  EXPECT_FALSE(parse_topic_name("kafka://a/b/c"));
  auto escaped = parse_topic_name("persistent://t/n/a b");
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->rest_path(), "persistent/t/n/a%20b");
}

TEST(PulsarAdmin, UnreachableServerNamesTheUrl) {
  AdminOptions o;
  o.web_service_url = "http://127.0.0.1:1";
  o.timeout = std::chrono::milliseconds(2000);
  AdminClient admin(o);
  Status st = admin.create_namespace("t", "n");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("PUT http://127.0.0.1:1/admin/v2/namespaces/t/n"), std::string::npos)
      << st.message();
}

// Answers each of `responses` to one HTTP request on a loopback port and records the
// requests (headers and body as received).
class FakeHttpServer {
 public:
  explicit FakeHttpServer(std::vector<std::string> responses) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(fd_, 4);
    thread_ = std::thread([this, responses = std::move(responses)] {
      for (const std::string& response : responses) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::string req;
        char buf[4096];
        // Headers, then Content-Length bytes of body.
        while (req.find("\r\n\r\n") == std::string::npos) {
          const ssize_t n = ::read(c, buf, sizeof buf);
          if (n <= 0) break;
          req.append(buf, static_cast<size_t>(n));
        }
        size_t body_len = 0;
        if (auto at = req.find("Content-Length: "); at != std::string::npos) {
          body_len = std::stoul(req.substr(at + 16));
        }
        while (req.size() - (req.find("\r\n\r\n") + 4) < body_len) {
          const ssize_t n = ::read(c, buf, sizeof buf);
          if (n <= 0) break;
          req.append(buf, static_cast<size_t>(n));
        }
        requests_.push_back(req);
        (void)!::write(c, response.data(), response.size());
        ::close(c);
      }
    });
  }
  ~FakeHttpServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    if (thread_.joinable()) thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Waits until every response was served (so call after the client's calls).
  const std::vector<std::string>& requests() {
    if (thread_.joinable()) thread_.join();
    return requests_;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<std::string> requests_;
};

std::string http(int status, std::string_view reason_phrase, std::string_view body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase) +
         "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

TEST(PulsarAdmin, BearerTokenStatusesAndReasons) {
  FakeHttpServer server({http(409, "Conflict", R"({"reason":"Namespace already exists"})"),
                         http(409, "Conflict", R"({"reason":"Partitioned topic already exists"})"),
                         http(200, "OK", R"({"partitions":3})"),
                         http(500, "Server Error", R"({"reason":"Policies not found"})")});
  AdminOptions o;
  o.web_service_url = server.url();
  o.token = "sekret-token-value";
  AdminClient admin(o);
  EXPECT_TRUE(admin.create_namespace("t", "n").ok());
  auto topic = parse_topic_name("persistent://t/n/x").value();
  Status other = admin.create_partitioned_topic(topic, 4);
  EXPECT_EQ(other.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(other.message(), "topic persistent://t/n/x exists with 3 partitions, not 4");
  Status failed = admin.set_schema(topic, R"({"type":"AVRO","schema":"{}"})");
  EXPECT_EQ(failed.message(), "POST /admin/v2/schemas/t/n/x/schema: HTTP 500: Policies not found");
  EXPECT_EQ(failed.message().find("sekret"), std::string::npos);
  const auto& reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_TRUE(reqs[0].starts_with("PUT /admin/v2/namespaces/t/n HTTP/1.1"));
  EXPECT_TRUE(reqs[1].starts_with("PUT /admin/v2/persistent/t/n/x/partitions HTTP/1.1"));
  EXPECT_TRUE(reqs[1].ends_with("\r\n\r\n4")) << reqs[1];
  EXPECT_TRUE(reqs[2].starts_with("GET /admin/v2/persistent/t/n/x/partitions HTTP/1.1"));
  EXPECT_NE(reqs[3].find(R"({"properties":{},"schema":"{}","type":"AVRO"})"), std::string::npos)
      << reqs[3];
  for (const std::string& r : reqs) {
    EXPECT_NE(r.find("Authorization: Bearer sekret-token-value\r\n"), std::string::npos) << r;
  }
}

TEST(PulsarAdmin, NoTokenNoAuthorizationHeader) {
  FakeHttpServer server({http(204, "No Content", "")});
  AdminOptions o;
  o.web_service_url = server.url();
  AdminClient admin(o);
  EXPECT_TRUE(admin.create_namespace("t", "n").ok());
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].find("Authorization"), std::string::npos);
}

}  // namespace
}  // namespace tideline::pulsar
