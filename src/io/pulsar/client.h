#pragma once
// Pulsar binary-protocol connections (docs/formats/pulsar.md): CONNECT with optional token,
// PING/PONG, request/response matching by request id, LOOKUP with redirects, and a pool of
// connections per broker. Producers and consumers (pulsar.cc) drive these.
// Thread-safety: a BrokerConnection and a ConnectionPool are driven by one thread (each
// producer and consumer owns its pool); besides it, the pool's keeper thread services
// connections that thread leaves idle (answers PING, keeps other frames), so the broker's
// liveness checks pass while the owner is not reading. A connection's mutex serializes the
// two. Frames that arrive while waiting for a response (MESSAGE, SEND_RECEIPT, ...) are kept
// in arrival order for read_frame().

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"
#include "io/net/net.h"
#include "io/pulsar/frame.h"

namespace tideline::pulsar {

struct ClientOptions {
  std::string service_url = "pulsar://127.0.0.1:6650";
  io::net::TlsOptions tls;  // `enabled` is taken from each URL's scheme
  std::string auth_method;  // "token" or empty
  std::string auth_data;    // the token (secret)
  std::chrono::milliseconds operation_timeout{30000};
  // Producers compress every payload with this codec (compression.h); consumers decompress
  // whatever the entry says regardless.
  proto::CompressionType compression = proto::NONE;
};

struct BrokerUrl {
  io::net::Endpoint endpoint;
  bool tls = false;
};
// `pulsar://host:port` (6650) or `pulsar+ssl://host:port` (6651); of a comma-separated host
// list the first host is used.
Result<BrokerUrl> parse_broker_url(std::string_view url);

// The token of Pulsar's token plugin from `authParams`: `token:<jwt>`, `file://<path>` (the
// file's content without surrounding whitespace) or the bare token. Errors never contain
// the token.
Result<std::string> token_from_auth_params(std::string_view params);
// What a token says about itself, read without checking its signature (for messages only;
// nothing secret): the role (`sub` claim) and the expiry (`exp`, seconds since the epoch).
// nullopt when `jwt` is not a JWT with a JSON payload.
struct TokenClaims {
  std::string subject;
  std::optional<int64_t> expires;
};
std::optional<TokenClaims> token_claims(std::string_view jwt);

// The part of a message about a refused token: `authorization` false = the broker did not
// authenticate it (names the expiry when it is past, else the usual causes); true = its role
// lacks a permission (names the role and how to grant it). Always names authParams.
std::string auth_failure_hint(std::string_view token, bool authorization);

// Maps authPlugin/authParams to (auth_method, auth_data): empty plugin = no auth; the token
// plugin (its Java class name, "token" or "AuthenticationToken") = ("token", token); others
// kUnimplemented.
Status configure_auth(std::string_view plugin, std::string_view params, ClientOptions& options);

// The CONNECT command a client with `options` sends (exposed for tests).
proto::BaseCommand make_connect(const ClientOptions& options);

class BrokerConnection {
 public:
  // Connects and runs the CONNECT/CONNECTED handshake.
  static Result<std::unique_ptr<BrokerConnection>> open(std::string_view url,
                                                        const ClientOptions& options);
  // Over an established transport (tests); runs the handshake.
  static Result<std::unique_ptr<BrokerConnection>> handshake(
      std::unique_ptr<io::net::Connection> transport, const ClientOptions& options,
      std::string url);

  const std::string& url() const { return url_; }
  uint64_t next_request_id() { return next_request_id_++; }  // atomic

  // Buffers frames; flush() writes them. send() = queue + flush.
  void queue(const proto::BaseCommand& command);
  void queue_payload(const proto::BaseCommand& command, const proto::MessageMetadata& metadata,
                     std::string_view payload);
  size_t queued_bytes() {
    std::lock_guard lock(mu_);
    return out_.size();
  }
  Status flush();
  Status send(const proto::BaseCommand& command);

  // The next frame for the caller, waiting at most `timeout`; nullopt on timeout. PING is
  // answered, PONG and ACTIVE_CONSUMER_CHANGE dropped, AUTH_CHALLENGE answered with the token.
  Result<std::optional<Frame>> read_frame(std::chrono::milliseconds timeout);
  // Sends `command` (which carries `request_id`) and waits for the frame answering it:
  // SUCCESS, PRODUCER_SUCCESS, LOOKUP_RESPONSE, ACK_RESPONSE; ERROR becomes a Status
  // "<url>: <COMMAND>: <ServerError>: <message>". Other frames are kept for read_frame().
  Result<Frame> request(const proto::BaseCommand& command, uint64_t request_id);
  // Whether a frame is buffered or bytes are readable without waiting.
  bool has_input();
  // Keeper thread: when no other call holds the connection, reads what has arrived, answers
  // PING and keeps the rest for read_frame(). Never waits.
  void service_idle();
  void close();
  // The transport failed (a read or write error, the peer closed it): the connection is of no
  // further use and ConnectionPool::get() replaces it.
  bool broken() const { return broken_; }

 private:
  BrokerConnection(std::unique_ptr<io::net::Connection> transport, ClientOptions options,
                   std::string url);
  // Reads and decodes one frame from the transport (not from pending_); nullopt on timeout.
  Result<std::optional<Frame>> read_transport(std::chrono::milliseconds timeout);
  // Answers protocol-level frames; true = consumed.
  Result<bool> handle_internal(const Frame& frame);

  std::recursive_mutex mu_;
  std::unique_ptr<io::net::Connection> transport_;
  ClientOptions options_;
  std::string url_;
  std::string in_;
  size_t in_pos_ = 0;
  std::string out_;
  std::deque<Frame> pending_;
  std::atomic<uint64_t> next_request_id_ = 1;
  std::atomic<bool> broken_ = false;
  uint32_t max_frame_size_ = kDefaultMaxMessageSize + kFrameHeadroom;
};

// The connections of one producer or consumer, one per broker URL, opened on demand.
class ConnectionPool {
 public:
  explicit ConnectionPool(ClientOptions options) : options_(std::move(options)) {}
  ~ConnectionPool() { close(); }
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  Result<BrokerConnection*> get(std::string_view url);
  // LOOKUP of `topic` (a partition or a non-partitioned topic), following redirects;
  // returns the connection to the owning broker.
  Result<BrokerConnection*> lookup(std::string_view topic);
  const ClientOptions& options() const { return options_; }
  // Only the owning thread may call this (the keeper never changes the map).
  std::map<std::string, std::unique_ptr<BrokerConnection>, std::less<>>& connections() {
    return connections_;
  }
  // Closes and forgets the connection to `url` (after it failed); pointers to it dangle.
  void drop(std::string_view url);
  void close();

 private:
  void keep_alive();

  ClientOptions options_;
  std::mutex mu_;  // guards connections_ (insertions) against the keeper's iteration
  std::map<std::string, std::unique_ptr<BrokerConnection>, std::less<>> connections_;
  std::vector<std::unique_ptr<BrokerConnection>> retired_;  // replaced after they broke
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread keeper_;
};

}  // namespace tideline::pulsar
