// Pulsar broker connections; the conversation is described in docs/formats/pulsar.md.
#include "io/pulsar/client.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace tideline::pulsar {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kClientVersion = "tideline";
constexpr int kMaxRedirects = 8;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::chrono::milliseconds remaining(Clock::time_point deadline) {
  return std::max(0ms,
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
}

// The request id a response frame answers, if it is a response.
std::optional<uint64_t> response_request_id(const proto::BaseCommand& c) {
  switch (c.type()) {
    case proto::BaseCommand::SUCCESS:
      return c.success().request_id();
    case proto::BaseCommand::ERROR:
      return c.error().request_id();
    case proto::BaseCommand::PRODUCER_SUCCESS:
      return c.producer_success().request_id();
    case proto::BaseCommand::LOOKUP_RESPONSE:
      return c.lookuptopicresponse().request_id();
    case proto::BaseCommand::ACK_RESPONSE:
      if (c.ackresponse().has_request_id()) return c.ackresponse().request_id();
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

}  // namespace

Result<BrokerUrl> parse_broker_url(std::string_view url) {
  BrokerUrl out;
  std::string_view rest;
  uint16_t default_port = 6650;
  if (url.starts_with("pulsar://")) {
    rest = url.substr(9);
  } else if (url.starts_with("pulsar+ssl://")) {
    rest = url.substr(13);
    out.tls = true;
    default_port = 6651;
  } else {
    return error(invalid_argument(fmt::format(
        "broker URL '{}': expected pulsar://host:port or pulsar+ssl://host:port", url)));
  }
  if (auto comma = rest.find(','); comma != std::string_view::npos) rest = rest.substr(0, comma);
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  TL_ASSIGN_OR_RETURN(out.endpoint, io::net::parse_endpoint(rest, default_port));
  return out;
}

Result<std::string> token_from_auth_params(std::string_view params) {
  params = trim(params);
  if (params.starts_with("token:")) {
    std::string_view t = trim(params.substr(6));
    if (t.empty()) return error(invalid_argument("authParams: 'token:' without a token"));
    return std::string(t);
  }
  if (params.starts_with("file:")) {
    std::string_view path = params.substr(5);
    if (path.starts_with("//")) path.remove_prefix(2);
    std::ifstream in{std::string(path), std::ios::binary};
    if (!in) {
      return error(invalid_argument(fmt::format("authParams: cannot read token file {}", path)));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string content = ss.str();
    std::string_view t = trim(content);
    if (t.empty()) {
      return error(invalid_argument(fmt::format("authParams: token file {} is empty", path)));
    }
    return std::string(t);
  }
  if (params.starts_with("{")) {
    return error(
        invalid_argument("authParams: JSON parameters are not supported for the token "
                         "plugin (use token:<jwt> or file:///path)"));
  }
  if (params.empty()) return error(invalid_argument("authParams: empty token"));
  return std::string(params);
}

namespace {

std::optional<std::string> base64url_decode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-' || c == '+')
      v = 62;
    else if (c == '_' || c == '/')
      v = 63;
    else if (c == '=')
      break;
    else
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::string utc_time(int64_t epoch_seconds) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::optional<TokenClaims> token_claims(std::string_view jwt) {
  const size_t a = jwt.find('.');
  if (a == std::string_view::npos) return std::nullopt;
  const size_t b = jwt.find('.', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  auto payload = base64url_decode(jwt.substr(a + 1, b - a - 1));
  if (!payload) return std::nullopt;
  auto j = nlohmann::json::parse(*payload, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  TokenClaims c;
  if (auto it = j.find("sub"); it != j.end() && it->is_string()) c.subject = it->get<std::string>();
  if (auto it = j.find("exp"); it != j.end() && it->is_number()) c.expires = it->get<int64_t>();
  return c;
}

std::string auth_failure_hint(std::string_view token, bool authorization) {
  const auto claims = token.empty() ? std::nullopt : token_claims(token);
  if (authorization) {
    const std::string role =
        claims && !claims->subject.empty() ? claims->subject : std::string("<the token's role>");
    return fmt::format(
        "role '{}' (the subject of the token in authParams) is not authorized for this: grant "
        "it the permission (pulsar-admin namespaces grant-permission --role {} --actions "
        "produce,consume <tenant>/<namespace>) or use a token of a role that has it",
        role, role);
  }
  if (token.empty()) {
    return "authentication failed: the broker requires a token and none is configured (set "
           "authPlugin and authParams in client.conf)";
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  if (claims && claims->expires && *claims->expires <= now) {
    return fmt::format(
        "authentication failed: the token in authParams expired at {} (its exp claim): get a "
        "new token for role '{}'",
        utc_time(*claims->expires), claims->subject);
  }
  return "authentication failed: the broker did not accept the token in authParams (client.conf): "
         "check that it is a token of this cluster (signed with its key), complete and not expired";
}

Status configure_auth(std::string_view plugin, std::string_view params, ClientOptions& options) {
  plugin = trim(plugin);
  if (plugin.empty()) {
    options.auth_method.clear();
    options.auth_data.clear();
    return {};
  }
  if (plugin == "token" || plugin == "org.apache.pulsar.client.impl.auth.AuthenticationToken" ||
      plugin.ends_with("AuthenticationToken")) {
    TL_ASSIGN_OR_RETURN(options.auth_data, token_from_auth_params(params));
    options.auth_method = "token";
    return {};
  }
  return unimplemented(fmt::format("authPlugin '{}' is not supported (only token auth)", plugin));
}

proto::BaseCommand make_connect(const ClientOptions& options) {
  proto::BaseCommand cmd;
  cmd.set_type(proto::BaseCommand::CONNECT);
  auto* c = cmd.mutable_connect();
  c->set_client_version(std::string(kClientVersion));
  c->set_protocol_version(kProtocolVersion);
  if (!options.auth_method.empty()) {
    c->set_auth_method_name(options.auth_method);
    c->set_auth_data(options.auth_data);
  }
  return cmd;
}

BrokerConnection::BrokerConnection(std::unique_ptr<io::net::Connection> transport,
                                   ClientOptions options, std::string url)
    : transport_(std::move(transport)), options_(std::move(options)), url_(std::move(url)) {}

Result<std::unique_ptr<BrokerConnection>> BrokerConnection::open(std::string_view url,
                                                                 const ClientOptions& options) {
  TL_ASSIGN_OR_RETURN(BrokerUrl parsed, parse_broker_url(url));
  io::net::TlsOptions tls = options.tls;
  tls.enabled = parsed.tls;
  static constexpr io::net::TlsConfigKeys kKeys{
      .ca_file = "tlsTrustCertsFilePath in client.conf",
      .verify_hostname = "tlsEnableHostnameVerification",
      .host = "brokerServiceUrl, and the broker's advertised address",
      .cert_file = ""};  // client certificates (tlsCertificateFilePath) are not supported yet
  auto transport = io::net::Connection::connect(parsed.endpoint, tls, options.operation_timeout);
  if (!transport) return error(io::net::explain_tls_failure(transport.error(), kKeys));
  auto conn = handshake(std::move(*transport), options, std::string(url));
  if (!conn) return error(io::net::explain_tls_failure(conn.error(), kKeys));
  return conn;
}

Result<std::unique_ptr<BrokerConnection>> BrokerConnection::handshake(
    std::unique_ptr<io::net::Connection> transport, const ClientOptions& options, std::string url) {
  std::unique_ptr<BrokerConnection> conn(
      new BrokerConnection(std::move(transport), options, std::move(url)));
  TL_RETURN_IF_ERROR(conn->send(make_connect(options)));
  const auto deadline = Clock::now() + options.operation_timeout;
  while (true) {
    TL_ASSIGN_OR_RETURN(auto frame, conn->read_transport(remaining(deadline)));
    if (!frame) {
      return error(unavailable(fmt::format("{}: no CONNECTED within {} ms", conn->url_,
                                           options.operation_timeout.count())));
    }
    const auto& c = frame->command;
    if (c.type() == proto::BaseCommand::CONNECTED) {
      if (c.connected().has_max_message_size() && c.connected().max_message_size() > 0) {
        conn->max_frame_size_ =
            static_cast<uint32_t>(c.connected().max_message_size()) + kFrameHeadroom;
      }
      return conn;
    }
    if (c.type() == proto::BaseCommand::ERROR) {
      const bool authn = c.error().error() == proto::AuthenticationError;
      return error(authn ? StatusCode::kInvalidArgument : StatusCode::kUnavailable,
                   fmt::format("{}: CONNECT: {}: {}{}", conn->url_,
                               server_error_name(c.error().error()), c.error().message(),
                               authn ? " [" + auth_failure_hint(options.auth_data, false) + "]"
                                     : std::string()));
    }
    TL_ASSIGN_OR_RETURN(bool handled, conn->handle_internal(*frame));
    if (!handled) {
      return error(corruption(
          fmt::format("{}: expected CONNECTED, got {}", conn->url_, command_name(c.type()))));
    }
  }
}

void BrokerConnection::queue(const proto::BaseCommand& command) {
  std::lock_guard lock(mu_);
  append_command_frame(out_, command);
}

void BrokerConnection::queue_payload(const proto::BaseCommand& command,
                                     const proto::MessageMetadata& metadata,
                                     std::string_view payload) {
  std::lock_guard lock(mu_);
  append_payload_frame(out_, command, metadata, payload);
}

Status BrokerConnection::flush() {
  std::lock_guard lock(mu_);
  if (out_.empty()) return {};
  if (!transport_) return unavailable(fmt::format("{}: connection is closed", url_));
  Status st = transport_->write_all(out_, options_.operation_timeout);
  out_.clear();
  if (!st.ok()) broken_ = true;
  return st;
}

Status BrokerConnection::send(const proto::BaseCommand& command) {
  std::lock_guard lock(mu_);
  queue(command);
  return flush();
}

Result<std::optional<Frame>> BrokerConnection::read_transport(std::chrono::milliseconds timeout) {
  if (!transport_) return error(unavailable(fmt::format("{}: connection is closed", url_)));
  const auto deadline = Clock::now() + timeout;
  while (true) {
    auto step = decode_next(std::string_view(in_).substr(in_pos_), max_frame_size_);
    if (!step) return error(step.error().with_context(url_));
    if (step->consumed > 0) {
      in_pos_ += step->consumed;
      if (in_pos_ == in_.size()) {
        in_.clear();
        in_pos_ = 0;
      }
      return std::optional<Frame>(std::move(step->frame));
    }
    if (in_pos_ > 0) {
      in_.erase(0, in_pos_);
      in_pos_ = 0;
    }
    const size_t old = in_.size();
    in_.resize(old + 64 * 1024);
    auto n = transport_->read_some(
        std::span<uint8_t>(reinterpret_cast<uint8_t*>(in_.data() + old), 64 * 1024),
        remaining(deadline));
    if (!n) {
      in_.resize(old);
      if (io::net::is_timeout(n.error())) return std::optional<Frame>();
      broken_ = true;
      return error(n.error());
    }
    in_.resize(old + *n);
  }
}

Result<bool> BrokerConnection::handle_internal(const Frame& frame) {
  switch (frame.command.type()) {
    case proto::BaseCommand::PING: {
      proto::BaseCommand pong;
      pong.set_type(proto::BaseCommand::PONG);
      pong.mutable_pong();
      TL_RETURN_IF_ERROR(send(pong));
      return true;
    }
    case proto::BaseCommand::PONG:
    case proto::BaseCommand::ACTIVE_CONSUMER_CHANGE:
      return true;
    case proto::BaseCommand::AUTH_CHALLENGE: {
      proto::BaseCommand resp;
      resp.set_type(proto::BaseCommand::AUTH_RESPONSE);
      auto* r = resp.mutable_authresponse();
      r->set_client_version(std::string(kClientVersion));
      r->set_protocol_version(kProtocolVersion);
      r->mutable_response()->set_auth_method_name(options_.auth_method);
      r->mutable_response()->set_auth_data(options_.auth_data);
      TL_RETURN_IF_ERROR(send(resp));
      return true;
    }
    default:
      return false;
  }
}

Result<std::optional<Frame>> BrokerConnection::read_frame(std::chrono::milliseconds timeout) {
  std::lock_guard lock(mu_);
  if (!pending_.empty()) {
    Frame f = std::move(pending_.front());
    pending_.pop_front();
    return std::optional<Frame>(std::move(f));
  }
  const auto deadline = Clock::now() + timeout;
  while (true) {
    TL_ASSIGN_OR_RETURN(auto frame, read_transport(remaining(deadline)));
    if (!frame) return frame;
    TL_ASSIGN_OR_RETURN(bool handled, handle_internal(*frame));
    if (!handled) return frame;
  }
}

Result<Frame> BrokerConnection::request(const proto::BaseCommand& command, uint64_t request_id) {
  std::lock_guard lock(mu_);
  TL_RETURN_IF_ERROR(send(command));
  const std::string what = command_name(command.type());
  const auto deadline = Clock::now() + options_.operation_timeout;
  while (true) {
    TL_ASSIGN_OR_RETURN(auto frame, read_transport(remaining(deadline)));
    if (!frame) {
      return error(unavailable(fmt::format("{}: {}: no answer within {} ms (timed out)", url_, what,
                                           options_.operation_timeout.count())));
    }
    TL_ASSIGN_OR_RETURN(bool handled, handle_internal(*frame));
    if (handled) continue;
    if (response_request_id(frame->command) == request_id) {
      if (frame->command.type() == proto::BaseCommand::ERROR) {
        const auto& e = frame->command.error();
        const StatusCode code =
            e.error() == proto::TopicNotFound ? StatusCode::kNotFound
            : e.error() == proto::ServiceNotReady || e.error() == proto::TooManyRequests
                ? StatusCode::kUnavailable
                : StatusCode::kInvalidArgument;
        std::string hint;
        if (e.error() == proto::AuthorizationError || e.error() == proto::AuthenticationError) {
          hint = " [" +
                 auth_failure_hint(options_.auth_data, e.error() == proto::AuthorizationError) +
                 "]";
        }
        return error(code, fmt::format("{}: {}: {}: {}{}", url_, what, server_error_name(e.error()),
                                       e.message(), hint));
      }
      return std::move(*frame);
    }
    pending_.push_back(std::move(*frame));
  }
}

bool BrokerConnection::has_input() {
  std::lock_guard lock(mu_);
  if (!pending_.empty() || in_pos_ < in_.size()) return true;
  return transport_ && transport_->readable_now();
}

void BrokerConnection::service_idle() {
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock() || !transport_) return;
  while (in_pos_ < in_.size() || transport_->readable_now()) {
    auto frame = read_transport(std::chrono::milliseconds(0));
    // Errors (a closed connection) surface on the owner's next call.
    if (!frame || !*frame) return;
    auto handled = handle_internal(**frame);
    if (!handled) return;
    if (!*handled) pending_.push_back(std::move(**frame));
  }
}

void BrokerConnection::close() {
  std::lock_guard lock(mu_);
  if (transport_) transport_->close();
  transport_.reset();
}

Result<BrokerConnection*> ConnectionPool::get(std::string_view url) {
  if (auto it = connections_.find(url); it != connections_.end()) {
    if (!it->second->broken()) return it->second.get();
    // The connection failed (e.g. the broker restarted): open a new one in its place. The old
    // object is kept (closed) until the pool closes, because producers and consumers may still
    // hold pointers to it; their next call on it fails and they come back here.
    std::lock_guard lock(mu_);
    it->second->close();
    retired_.push_back(std::move(it->second));
    connections_.erase(it);
  }
  TL_ASSIGN_OR_RETURN(auto conn, BrokerConnection::open(url, options_));
  BrokerConnection* raw = conn.get();
  std::lock_guard lock(mu_);
  connections_.emplace(std::string(url), std::move(conn));
  if (!keeper_.joinable()) keeper_ = std::thread([this] { keep_alive(); });
  return raw;
}

void ConnectionPool::keep_alive() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    stop_cv_.wait_for(lock, std::chrono::milliseconds(500));
    if (stop_) break;
    for (auto& [url, conn] : connections_) conn->service_idle();
  }
}

Result<BrokerConnection*> ConnectionPool::lookup(std::string_view topic) {
  TL_ASSIGN_OR_RETURN(BrokerConnection * conn, get(options_.service_url));
  bool authoritative = false;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    proto::BaseCommand cmd;
    cmd.set_type(proto::BaseCommand::LOOKUP);
    const uint64_t id = conn->next_request_id();
    auto* l = cmd.mutable_lookuptopic();
    l->set_topic(std::string(topic));
    l->set_request_id(id);
    l->set_authoritative(authoritative);
    TL_ASSIGN_OR_RETURN(Frame frame, conn->request(cmd, id));
    if (frame.command.type() != proto::BaseCommand::LOOKUP_RESPONSE) {
      return error(corruption(fmt::format("{}: LOOKUP {}: answered with {}", conn->url(), topic,
                                          command_name(frame.command.type()))));
    }
    const auto& r = frame.command.lookuptopicresponse();
    if (r.response() == proto::CommandLookupTopicResponse::Failed) {
      if (r.error() == proto::AuthorizationError || r.error() == proto::AuthenticationError) {
        return error(invalid_argument(fmt::format(
            "{}: LOOKUP {}: {}: {} [{}]", conn->url(), topic, server_error_name(r.error()),
            r.message(),
            auth_failure_hint(options_.auth_data, r.error() == proto::AuthorizationError))));
      }
      return error(unavailable(fmt::format("{}: LOOKUP {}: {}: {}", conn->url(), topic,
                                           server_error_name(r.error()), r.message())));
    }
    const bool tls = options_.tls.enabled || options_.service_url.starts_with("pulsar+ssl://");
    const std::string url =
        tls && r.has_brokerserviceurltls() ? r.brokerserviceurltls() : r.brokerserviceurl();
    if (r.response() == proto::CommandLookupTopicResponse::Connect) {
      if (r.proxy_through_service_url() || url.empty()) return get(options_.service_url);
      return get(url);
    }
    // Redirect: ask the named broker.
    if (url.empty()) {
      return error(corruption(
          fmt::format("{}: LOOKUP {}: redirect without a broker URL", conn->url(), topic)));
    }
    authoritative = r.authoritative();
    TL_ASSIGN_OR_RETURN(conn, get(url));
  }
  return error(unavailable(fmt::format("LOOKUP {}: more than {} redirects", topic, kMaxRedirects)));
}

void ConnectionPool::drop(std::string_view url) {
  std::lock_guard lock(mu_);
  auto it = connections_.find(url);
  if (it == connections_.end()) return;
  it->second->close();
  connections_.erase(it);
}

void ConnectionPool::close() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (keeper_.joinable()) keeper_.join();
  for (auto& [url, conn] : connections_) conn->close();
  connections_.clear();
  retired_.clear();
}

}  // namespace tideline::pulsar
