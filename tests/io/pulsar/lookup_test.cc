// LOOKUP redirects across two fake brokers on loopback sockets (no Pulsar server).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "io/pulsar/client.h"

namespace tideline::pulsar {
namespace {

// Accepts one connection and answers each command with `respond` (which may return no
// frame) until the client closes.
class FakeBroker {
 public:
  using Responder = std::function<std::optional<proto::BaseCommand>(const proto::BaseCommand&)>;

  explicit FakeBroker(Responder respond) : respond_(std::move(respond)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(fd_, 4);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeBroker() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    if (thread_.joinable()) thread_.join();
  }
  std::string url() const { return "pulsar://127.0.0.1:" + std::to_string(port_); }
  // Commands received, valid once the client closed its connection.
  std::vector<proto::BaseCommand> received() {
    if (thread_.joinable()) thread_.join();
    return received_;
  }

 private:
  void serve() {
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::string in;
    char buf[4096];
    while (true) {
      const ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      while (true) {
        auto step = decode_next(in, 1 << 20);
        if (!step || step->consumed == 0) break;
        in.erase(0, step->consumed);
        received_.push_back(step->frame.command);
        if (auto reply = respond_(step->frame.command)) {
          std::string out;
          append_command_frame(out, *reply);
          (void)!::write(c, out.data(), out.size());
        }
      }
    }
    ::close(c);
  }

  Responder respond_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<proto::BaseCommand> received_;
};

std::optional<proto::BaseCommand> connected_or(const proto::BaseCommand& c) {
  if (c.type() != proto::BaseCommand::CONNECT) return std::nullopt;
  proto::BaseCommand r;
  r.set_type(proto::BaseCommand::CONNECTED);
  r.mutable_connected()->set_server_version("fake");
  r.mutable_connected()->set_protocol_version(19);
  return r;
}

proto::BaseCommand lookup_response(const proto::BaseCommand& c,
                                   proto::CommandLookupTopicResponse::LookupType type,
                                   const std::string& url) {
  proto::BaseCommand r;
  r.set_type(proto::BaseCommand::LOOKUP_RESPONSE);
  auto* l = r.mutable_lookuptopicresponse();
  l->set_request_id(c.lookuptopic().request_id());
  l->set_response(type);
  if (!url.empty()) l->set_brokerserviceurl(url);
  l->set_authoritative(true);
  if (type == proto::CommandLookupTopicResponse::Failed) {
    l->set_error(proto::ServiceNotReady);
    l->set_message("Namespace bundle is being unloaded");
  }
  return r;
}

TEST(PulsarLookup, FollowsRedirectToTheOwningBroker) {
  std::string owner_url;
  FakeBroker owner([&](const proto::BaseCommand& c) -> std::optional<proto::BaseCommand> {
    if (c.type() == proto::BaseCommand::LOOKUP) {
      return lookup_response(c, proto::CommandLookupTopicResponse::Connect, owner_url);
    }
    return connected_or(c);
  });
  owner_url = owner.url();
  FakeBroker service([&](const proto::BaseCommand& c) -> std::optional<proto::BaseCommand> {
    if (c.type() == proto::BaseCommand::LOOKUP) {
      return lookup_response(c, proto::CommandLookupTopicResponse::Redirect, owner_url);
    }
    return connected_or(c);
  });
  ClientOptions options;
  options.service_url = service.url();
  options.operation_timeout = std::chrono::milliseconds(5000);
  {
    ConnectionPool pool(options);
    auto conn = pool.lookup("persistent://t/n/x-partition-0");
    ASSERT_TRUE(conn) << conn.error().to_string();
    EXPECT_EQ((*conn)->url(), owner.url());
    EXPECT_EQ(pool.connections().size(), 2u);
  }  // closes both connections
  auto at_owner = owner.received();
  ASSERT_EQ(at_owner.size(), 2u);
  EXPECT_EQ(at_owner[1].type(), proto::BaseCommand::LOOKUP);
  EXPECT_TRUE(at_owner[1].lookuptopic().authoritative());
  EXPECT_EQ(at_owner[1].lookuptopic().topic(), "persistent://t/n/x-partition-0");
  auto at_service = service.received();
  ASSERT_EQ(at_service.size(), 2u);
  EXPECT_FALSE(at_service[1].lookuptopic().authoritative());
}

TEST(PulsarLookup, FailedLookupNamesTheServerError) {
  FakeBroker service([&](const proto::BaseCommand& c) -> std::optional<proto::BaseCommand> {
    if (c.type() == proto::BaseCommand::LOOKUP) {
      return lookup_response(c, proto::CommandLookupTopicResponse::Failed, "");
    }
    return connected_or(c);
  });
  ClientOptions options;
  options.service_url = service.url();
  options.operation_timeout = std::chrono::milliseconds(5000);
  ConnectionPool pool(options);
  auto conn = pool.lookup("persistent://t/n/x");
  ASSERT_FALSE(conn);
  EXPECT_EQ(conn.error().message(),
            service.url() +
                ": LOOKUP persistent://t/n/x: ServiceNotReady: Namespace bundle is being unloaded");
  pool.close();
}

}  // namespace
}  // namespace tideline::pulsar
