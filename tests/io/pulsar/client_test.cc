// BrokerConnection against a scripted transport (no server): handshake, PING/PONG, request
// matching, errors; token authentication parameters.
#include "io/pulsar/client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace tideline::pulsar {
namespace {

using namespace std::chrono_literals;

// Serves scripted bytes to reads and records writes.
class ScriptedConnection final : public io::net::Connection {
 public:
  explicit ScriptedConnection(std::string input, std::string* written)
      : input_(std::move(input)), written_(written) {}
  Status write_all(std::span<const uint8_t> data, std::chrono::milliseconds) override {
    written_->append(reinterpret_cast<const char*>(data.data()), data.size());
    return {};
  }
  Status read_exact(std::span<uint8_t> out, std::chrono::milliseconds t) override {
    if (input_.size() - pos_ < out.size())
      return Status(StatusCode::kTimeout, "127.0.0.1:6650: timed out");
    std::copy_n(input_.data() + pos_, out.size(), out.data());
    pos_ += out.size();
    return {};
  }
  Result<size_t> read_some(std::span<uint8_t> out, std::chrono::milliseconds) override {
    if (pos_ == input_.size())
      return error(Status(StatusCode::kTimeout, "127.0.0.1:6650: timed out reading"));
    // Hand out a few bytes at a time to exercise frame reassembly.
    const size_t n = std::min<size_t>({out.size(), input_.size() - pos_, 7});
    std::copy_n(input_.data() + pos_, n, out.data());
    pos_ += n;
    return n;
  }
  bool readable_now() override { return pos_ < input_.size(); }
  void close() override {}
  const io::net::Endpoint& peer() const override { return peer_; }
  bool is_tls() const override { return false; }

 private:
  std::string input_;
  size_t pos_ = 0;
  std::string* written_;
  io::net::Endpoint peer_{"127.0.0.1", 6650};
};

proto::BaseCommand command(proto::BaseCommand::Type type) {
  proto::BaseCommand c;
  c.set_type(type);
  return c;
}

std::string connected_frame() {
  auto c = command(proto::BaseCommand::CONNECTED);
  c.mutable_connected()->set_server_version("Pulsar Server4.0.7");
  c.mutable_connected()->set_protocol_version(19);
  c.mutable_connected()->set_max_message_size(1024);
  std::string out;
  append_command_frame(out, c);
  return out;
}

std::vector<proto::BaseCommand> decode_all(std::string_view bytes) {
  std::vector<proto::BaseCommand> out;
  while (!bytes.empty()) {
    auto step = decode_next(bytes, 1 << 20);
    EXPECT_TRUE(step && step->consumed > 0);
    if (!step || step->consumed == 0) break;
    out.push_back(step->frame.command);
    bytes.remove_prefix(step->consumed);
  }
  return out;
}

TEST(PulsarClient, HandshakeSendsConnectWithTokenAndAnswersPing) {
  std::string input;
  auto ping = command(proto::BaseCommand::PING);
  ping.mutable_ping();
  append_command_frame(input, ping);
  input += connected_frame();
  std::string written;
  ClientOptions options;
  ASSERT_TRUE(configure_auth("org.apache.pulsar.client.impl.auth.AuthenticationToken",
                             "token:abc.def.ghi", options)
                  .ok());
  auto conn = BrokerConnection::handshake(std::make_unique<ScriptedConnection>(input, &written),
                                          options, "pulsar://127.0.0.1:6650");
  ASSERT_TRUE(conn) << conn.error().to_string();
  auto sent = decode_all(written);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].type(), proto::BaseCommand::CONNECT);
  EXPECT_EQ(sent[0].connect().auth_method_name(), "token");
  EXPECT_EQ(sent[0].connect().auth_data(), "abc.def.ghi");
  EXPECT_EQ(sent[0].connect().protocol_version(), kProtocolVersion);
  EXPECT_EQ(sent[1].type(), proto::BaseCommand::PONG);
}

TEST(PulsarClient, ConnectWithoutAuthHasNoAuthFields) {
  ClientOptions options;
  auto c = make_connect(options);
  EXPECT_FALSE(c.connect().has_auth_method_name());
  EXPECT_FALSE(c.connect().has_auth_data());
  EXPECT_EQ(c.connect().client_version(), "tideline");
}

TEST(PulsarClient, HandshakeErrorNamesServerError) {
  std::string input;
  auto e = command(proto::BaseCommand::ERROR);
  e.mutable_error()->set_request_id(0);
  e.mutable_error()->set_error(proto::AuthenticationError);
  e.mutable_error()->set_message("Unable to authenticate");
  append_command_frame(input, e);
  std::string written;
  auto conn = BrokerConnection::handshake(std::make_unique<ScriptedConnection>(input, &written),
                                          ClientOptions{}, "pulsar://127.0.0.1:6650");
  ASSERT_FALSE(conn);
  // The server's words, then what to fix (no token configured here).
  EXPECT_EQ(conn.error().message(),
            "pulsar://127.0.0.1:6650: CONNECT: AuthenticationError: Unable to authenticate "
            "[authentication failed: the broker requires a token and none is configured (set "
            "authPlugin and authParams in client.conf)]");
}

TEST(PulsarClient, TokenClaimsAndAuthHintsNeverShowTheToken) {
  // {"alg":"HS256"} . {"sub":"reader","exp":1700000000} . signature
  const std::string jwt =
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyZWFkZXIiLCJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLXNlY3JldA";
  auto claims = token_claims(jwt);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->subject, "reader");
  ASSERT_TRUE(claims->expires);
  EXPECT_EQ(*claims->expires, 1700000000);
  EXPECT_FALSE(token_claims("not-a-jwt"));
  EXPECT_FALSE(token_claims("a.!!!.b"));

  const std::string expired = auth_failure_hint(jwt, false);
  EXPECT_NE(expired.find("expired at 2023-11-14T22:13:20Z"), std::string::npos) << expired;
  EXPECT_NE(expired.find("'reader'"), std::string::npos) << expired;
  const std::string denied = auth_failure_hint(jwt, true);
  EXPECT_NE(denied.find("role 'reader'"), std::string::npos) << denied;
  EXPECT_NE(denied.find("grant-permission --role reader"), std::string::npos) << denied;
  const std::string opaque = auth_failure_hint("opaque-token-value", false);
  EXPECT_NE(opaque.find("did not accept the token in authParams"), std::string::npos) << opaque;
  for (const auto& m : {expired, denied, opaque}) {
    EXPECT_EQ(m.find(jwt), std::string::npos);
    EXPECT_EQ(m.find("c2lnbmF0dXJl"), std::string::npos);
    EXPECT_EQ(m.find("opaque-token-value"), std::string::npos);
  }
}

TEST(PulsarClient, RequestMatchesIdAndKeepsOtherFrames) {
  std::string input = connected_frame();
  auto receipt = command(proto::BaseCommand::SEND_RECEIPT);
  receipt.mutable_send_receipt()->set_producer_id(1);
  receipt.mutable_send_receipt()->set_sequence_id(0);
  append_command_frame(input, receipt);
  auto other = command(proto::BaseCommand::SUCCESS);
  other.mutable_success()->set_request_id(99);
  append_command_frame(input, other);
  auto err = command(proto::BaseCommand::ERROR);
  err.mutable_error()->set_request_id(1);
  err.mutable_error()->set_error(proto::TopicNotFound);
  err.mutable_error()->set_message("Topic does not exist");
  append_command_frame(input, err);
  std::string written;
  auto conn = BrokerConnection::handshake(std::make_unique<ScriptedConnection>(input, &written),
                                          ClientOptions{}, "pulsar://b:6650");
  ASSERT_TRUE(conn) << conn.error().to_string();
  const uint64_t id = (*conn)->next_request_id();
  ASSERT_EQ(id, 1u);
  auto sub = command(proto::BaseCommand::SUBSCRIBE);
  auto* s = sub.mutable_subscribe();
  s->set_topic("persistent://public/default/x");
  s->set_subscription("s");
  s->set_subtype(proto::CommandSubscribe::Key_Shared);
  s->set_consumer_id(1);
  s->set_request_id(id);
  auto r = (*conn)->request(sub, id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.error().message(), "pulsar://b:6650: SUBSCRIBE: TopicNotFound: Topic does not exist");
  // The frames read while waiting come next, in order.
  auto f1 = (*conn)->read_frame(10ms);
  ASSERT_TRUE(f1 && *f1);
  EXPECT_EQ((*f1)->command.type(), proto::BaseCommand::SEND_RECEIPT);
  auto f2 = (*conn)->read_frame(10ms);
  ASSERT_TRUE(f2 && *f2);
  EXPECT_EQ((*f2)->command.success().request_id(), 99u);
  auto f3 = (*conn)->read_frame(10ms);
  ASSERT_TRUE(f3);
  EXPECT_FALSE(*f3);  // timeout
  auto sent = decode_all(written);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].subscribe().subtype(), proto::CommandSubscribe::Key_Shared);
}

TEST(PulsarClient, FrameAboveBrokerLimitIsRefused) {
  std::string input = connected_frame();  // max_message_size 1024
  std::string big;
  auto send = command(proto::BaseCommand::MESSAGE);
  send.mutable_message()->set_consumer_id(1);
  send.mutable_message()->mutable_message_id()->set_ledgerid(1);
  send.mutable_message()->mutable_message_id()->set_entryid(1);
  proto::MessageMetadata meta;
  meta.set_producer_name("p");
  meta.set_sequence_id(0);
  meta.set_publish_time(1);
  append_payload_frame(big, send, meta, std::string(kFrameHeadroom + 2048, 'x'));
  input += big;
  std::string written;
  auto conn = BrokerConnection::handshake(std::make_unique<ScriptedConnection>(input, &written),
                                          ClientOptions{}, "pulsar://b:6650");
  ASSERT_TRUE(conn);
  auto f = (*conn)->read_frame(10ms);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message().find("exceeds the limit"), std::string::npos);
}

TEST(PulsarAuthParams, Formats) {
  EXPECT_EQ(token_from_auth_params("token:abc").value(), "abc");
  EXPECT_EQ(token_from_auth_params("  token: abc \n").value(), "abc");
  EXPECT_EQ(token_from_auth_params("bare.jwt.value").value(), "bare.jwt.value");
  const std::string path = ::testing::TempDir() + "/tl_pulsar_token_" + std::to_string(getpid());
  { std::ofstream(path) << "  file.jwt.token\n"; }
  EXPECT_EQ(token_from_auth_params("file://" + path).value(), "file.jwt.token");
  EXPECT_EQ(token_from_auth_params("file:" + path).value(), "file.jwt.token");
  std::remove(path.c_str());
  auto missing = token_from_auth_params("file:///nonexistent/tl-token");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("/nonexistent/tl-token"), std::string::npos);
  auto empty = token_from_auth_params("token:");
  ASSERT_FALSE(empty);
}

TEST(PulsarAuthParams, PluginsAndSecrecy) {
  ClientOptions o;
  ASSERT_TRUE(configure_auth("", "token:secret", o).ok());
  EXPECT_TRUE(o.auth_method.empty());
  ASSERT_TRUE(configure_auth("token", "token:secret-value", o).ok());
  EXPECT_EQ(o.auth_method, "token");
  EXPECT_EQ(o.auth_data, "secret-value");
  Status tls =
      configure_auth("org.apache.pulsar.client.impl.auth.AuthenticationTls", "tlsCertFile:/x", o);
  EXPECT_EQ(tls.code(), StatusCode::kUnimplemented);
  auto json = token_from_auth_params(R"({"token":"secret-json"})");
  ASSERT_FALSE(json);
  EXPECT_EQ(json.error().message().find("secret-json"), std::string::npos);
}

TEST(PulsarBrokerUrls, Parse) {
  auto a = parse_broker_url("pulsar://127.0.0.1:6650");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->endpoint.port, 6650);
  EXPECT_FALSE(a->tls);
  auto b = parse_broker_url("pulsar+ssl://broker.example:6651,other:6651/");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(b->endpoint.host, "broker.example");
  auto c = parse_broker_url("pulsar+ssl://h");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->endpoint.port, 6651);
  EXPECT_FALSE(parse_broker_url("http://h:8080"));
}

}  // namespace
}  // namespace tideline::pulsar
