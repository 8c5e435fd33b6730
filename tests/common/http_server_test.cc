// The loopback HTTP server: its request parser, and the server over real sockets (metrics
// and health routes, malformed and oversized requests, slow clients, shutdown).
#include "common/http_server.h"

#include <gtest/gtest.h>

#include <chrono>

#include "common/http_client.h"
#include "common/metrics.h"
#include "common/metrics_exposition_reader.h"
#include "common/metrics_server.h"
#include "common/time.h"

namespace tideline {
namespace {

using testing::http_get;
using testing::raw_request;

HttpParse parse(std::string_view text, HttpRequest* req = nullptr, size_t* used = nullptr) {
  HttpRequest r;
  size_t u = 0;
  return parse_http_request(text, req ? req : &r, used ? used : &u);
}

TEST(HttpParser, WellFormedRequests) {
  HttpRequest req;
  size_t used = 0;
  std::string text = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\nextra";
  ASSERT_EQ(parse(text, &req, &used), HttpParse::kOk);
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/metrics?x=1");
  EXPECT_EQ(req.path(), "/metrics");
  EXPECT_EQ(req.version, "HTTP/1.1");
  EXPECT_EQ(used, text.size() - 5);
  EXPECT_EQ(parse("GET / HTTP/1.0\n\n"), HttpParse::kOk) << "bare LF";
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), HttpParse::kOk);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nX:\r\n\r\n"), HttpParse::kOk) << "empty value";
}

TEST(HttpParser, EveryStrictPrefixOfAValidHeadNeedsMore) {
  const std::string text = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:9\r\nUser-Agent: t\r\n\r\n";
  ASSERT_EQ(parse(text), HttpParse::kOk);
  for (size_t n = 0; n < text.size(); ++n)
    EXPECT_EQ(parse(text.substr(0, n)), HttpParse::kNeedMore) << n;
}

TEST(HttpParser, MalformedRequestsAreBad) {
  for (const char* bad : {
           "GARBAGE\r\n\r\n",
           "GET\r\n\r\n",
           "GET /\r\n\r\n",
           "GET / HTTP/2.0\r\n\r\n",
           "GET  / HTTP/1.1\r\n\r\n",
           "GET http://x/ HTTP/1.1\r\n\r\n",
           "G(T / HTTP/1.1\r\n\r\n",
           "GET /a b HTTP/1.1\r\n\r\n",
           "GET / HTTP/1.1 \r\n\r\n",
           "\r\nGET / HTTP/1.1\r\n\r\n",
           "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
           "GET / HTTP/1.1\r\n folded: x\r\n\r\n",
           "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
           "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
           "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
           "GET / HTTP/1.1\r\ncontent-length: x\r\n\r\n",
           "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
       }) {
    EXPECT_EQ(parse(bad), HttpParse::kBad) << bad;
  }
  EXPECT_EQ(parse(std::string("GET /\0 HTTP/1.1\r\n\r\n", 19)), HttpParse::kBad);
}

TEST(HttpParser, RespondsWithStatusForEachCase) {
  HttpHandler h = [](const HttpRequest&) { return HttpResponse{.status = 200, .body = "hi"}; };
  bool complete = false;
  EXPECT_EQ(respond_http("GET / HTTP/1.1\r\n", 100, h, &complete), "");
  EXPECT_FALSE(complete);
  std::string r = respond_http(std::string(100, 'a'), 100, h, &complete);
  EXPECT_TRUE(complete);
  EXPECT_EQ(r.rfind("HTTP/1.1 431 ", 0), 0u) << r;
  r = respond_http("POST / HTTP/1.1\r\n\r\n", 100, h, &complete);
  EXPECT_EQ(r.rfind("HTTP/1.1 405 ", 0), 0u) << r;
  EXPECT_NE(r.find("Allow: GET, HEAD\r\n"), std::string::npos);
  r = respond_http("HEAD / HTTP/1.1\r\n\r\n", 100, h, &complete);
  EXPECT_EQ(r,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
            "2\r\nConnection: close\r\n\r\n");
  r = respond_http("GET / HTTP/1.1\r\n\r\n", 100, h, &complete);
  EXPECT_TRUE(r.ends_with("\r\n\r\nhi")) << r;
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.counter("t_requests_total", "Requests.", {{"stage", "test"}}).inc(41);
    auto s = serve_metrics(registry_, 0);
    ASSERT_TRUE(s.has_value()) << s.error().to_string();
    server_ = std::move(*s);
    ASSERT_GT(server_->port(), 0);
  }
  MetricsRegistry registry_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(MetricsServerTest, GetMetricsReturnsTheRegistryText) {
  auto r = http_get(server_->port(), "/metrics");
  ASSERT_TRUE(r.connected);
  EXPECT_EQ(r.status(), 200) << r.bytes;
  EXPECT_NE(r.head().find("Content-Type: text/plain; version=0.0.4"), std::string::npos)
      << r.head();
  EXPECT_EQ(r.body(), registry_.expose());
  auto e = testing::read_exposition(r.body());
  ASSERT_TRUE(e.ok) << e.error;
  EXPECT_EQ(e.value("t_requests_total", {{"stage", "test"}}), 41);
  // A later scrape sees later updates.
  registry_.counter("t_requests_total", "Requests.", {{"stage", "test"}}).inc();
  e = testing::read_exposition(http_get(server_->port(), "/metrics?x").body());
  EXPECT_EQ(e.value("t_requests_total", {{"stage", "test"}}), 42);
}

TEST_F(MetricsServerTest, HealthzAndUnknownPaths) {
  auto r = http_get(server_->port(), "/healthz");
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.body(), "ok\n");
  EXPECT_EQ(http_get(server_->port(), "/").status(), 404);
  EXPECT_EQ(http_get(server_->port(), "/metrics/x").status(), 404);
  EXPECT_EQ(raw_request(server_->port(), "DELETE /metrics HTTP/1.1\r\n\r\n").status(), 405);
  auto head = raw_request(server_->port(), "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(head.status(), 200);
  EXPECT_EQ(head.body(), "");
}

TEST_F(MetricsServerTest, MalformedRequestsGet400AndTheServerKeepsServing) {
  for (std::string bad : {std::string("GARBAGE\r\n\r\n"), std::string("\0\1\2\3\n\n", 6),
                          std::string("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
                          std::string("GET /metrics HTTP/9.9\r\n\r\n")}) {
    auto r = raw_request(server_->port(), bad);
    ASSERT_TRUE(r.connected);
    EXPECT_EQ(r.status(), 400) << r.bytes;
  }
  auto big = raw_request(server_->port(), "GET / HTTP/1.1\r\nX: " + std::string(20000, 'a'));
  EXPECT_EQ(big.status(), 431) << big.head();
  // A client that leaves without finishing its request gets nothing and harms nothing.
  int fd = testing::connect_loopback(server_->port());
  ASSERT_GE(fd, 0);
  ::send(fd, "GET /met", 8, MSG_NOSIGNAL);
  ::close(fd);
  auto ok = http_get(server_->port(), "/metrics");
  EXPECT_EQ(ok.status(), 200) << ok.bytes;
  EXPECT_EQ(ok.body(), registry_.expose());
}

TEST(HttpServer, ASilentClientIsDroppedAfterTheTimeoutAndTheNextIsServed) {
  HttpServerOptions opt;
  opt.io_timeout = std::chrono::milliseconds(300);
  auto s = HttpServer::start(
      [](const HttpRequest&) { return HttpResponse{.status = 200, .body = "x"}; }, opt);
  ASSERT_TRUE(s.has_value()) << s.error().to_string();
  int silent = testing::connect_loopback((*s)->port());
  ASSERT_GE(silent, 0);
  const int64_t t0 = monotonic_ns();
  auto r = http_get((*s)->port(), "/");
  EXPECT_EQ(r.status(), 200);
  EXPECT_LT(monotonic_ns() - t0, 3'000'000'000) << "served after the silent client's timeout";
  char b;
  EXPECT_EQ(::recv(silent, &b, 1, 0), 0) << "the silent connection was closed";
  ::close(silent);
}

TEST(HttpServer, StopIsPromptAndReleasesThePort) {
  auto s = HttpServer::start(
      [](const HttpRequest&) { return HttpResponse{.status = 200, .body = "x"}; }, {});
  ASSERT_TRUE(s.has_value()) << s.error().to_string();
  const uint16_t port = (*s)->port();
  int silent = testing::connect_loopback(port);  // a connection in progress
  ASSERT_GE(silent, 0);
  ::send(silent, "GET", 3, MSG_NOSIGNAL);
  const int64_t t0 = monotonic_ns();
  (*s)->stop();
  EXPECT_LT(monotonic_ns() - t0, 1'000'000'000);
  (*s)->stop();  // idempotent
  ::close(silent);
  EXPECT_LT(testing::connect_loopback(port), 0) << "nothing listens after stop";
  // The port can be bound again at once.
  HttpServerOptions again;
  again.port = port;
  auto s2 = HttpServer::start(
      [](const HttpRequest&) { return HttpResponse{.status = 200, .body = "x"}; }, again);
  EXPECT_TRUE(s2.has_value()) << s2.error().to_string();
}

TEST(HttpServer, APortInUseIsAnErrorNamingTheAddress) {
  auto a = HttpServer::start([](const HttpRequest&) { return HttpResponse{}; }, {});
  ASSERT_TRUE(a.has_value());
  HttpServerOptions opt;
  opt.port = (*a)->port();
  auto b = HttpServer::start([](const HttpRequest&) { return HttpResponse{}; }, opt);
  ASSERT_FALSE(b.has_value());
  EXPECT_NE(b.error().message().find("127.0.0.1:" + std::to_string(opt.port)), std::string::npos)
      << b.error().message();
}

}  // namespace
}  // namespace tideline
