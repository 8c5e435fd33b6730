#pragma once
// TCP connections with optional TLS (OpenSSL), shared by the clusters backend's wire
// clients (io/cql, io/pulsar). Blocking sockets with poll()-bounded waits: every call that
// waits takes a timeout and fails with kTimeout (never hangs), and every failure names the
// peer ("127.0.0.1:9042: connection refused").
// Thread-safety: a Connection is used by one thread at a time (a client that reads on one
// thread and writes on another must serialize its calls). Secrets (key passwords) are never
// part of error messages.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tideline::io::net {

struct Endpoint {
  std::string host;  // name or address literal (IPv6 without brackets)
  uint16_t port = 0;
  std::string to_string() const;  // "host:port" ("[::1]:port" for IPv6 literals)
};

// "host", "host:port", "[v6addr]:port", "v6addr" (no port). `default_port` fills a missing
// port. Errors name the text and the problem (empty host, port not in 1..65535, ...).
Result<Endpoint> parse_endpoint(std::string_view text, uint16_t default_port);
// A comma-separated list of endpoints ("a:9042, b:9042"); at least one.
Result<std::vector<Endpoint>> parse_endpoints(std::string_view text, uint16_t default_port);

// Timeouts: a call whose `timeout` passed fails with kTimeout and a message naming the peer
// and what was waited for ("127.0.0.1:9042: timed out after 500 ms reading (3 of 9 bytes
// received)"). is_timeout(status) == (status.code() == StatusCode::kTimeout).
bool is_timeout(const Status& status);

struct TlsOptions {
  bool enabled = false;
  std::string ca_file;          // PEM trust store; empty = the system's default paths
  bool verify_peer = true;      // false = accept any certificate (tlsAllowInsecureConnection)
  bool verify_hostname = true;  // check the certificate names the host (or server_name)
  std::string server_name;      // SNI and hostname to verify; empty = the endpoint's host
  std::string cert_file;        // client certificate (mutual TLS), PEM; optional
  std::string key_file;         // its private key, PEM; optional
};

// The configuration keys a user changes to fix a TLS failure, for explain_tls_failure().
struct TlsConfigKeys {
  std::string_view ca_file;          // e.g. "tlsTrustCertsFilePath"
  std::string_view verify_hostname;  // e.g. "tlsEnableHostnameVerification"
  std::string_view host;             // where the host name comes from, e.g. "brokerServiceUrl"
  std::string_view cert_file;  // client certificate and key, e.g. "x.cert.file and x.key.file";
                               // empty: the client cannot present one
};
// Appends to a failure of Connection::connect() (or of the first read after it) the keys that
// fix it: an untrusted server certificate names `ca_file`, a host name mismatch `host` and
// `verify_hostname`, a missing or refused client certificate `cert_file`. Other statuses are
// returned unchanged.
Status explain_tls_failure(Status status, const TlsConfigKeys& keys);

class Connection {
 public:
  virtual ~Connection() = default;
  // Connects (resolving the host, trying each address), then runs the TLS handshake if
  // enabled. kUnavailable for refused/unreachable, kTimeout when `timeout` passes,
  // kInvalidArgument for TLS configuration errors (unreadable CA file), kIoError (or
  // kUnavailable) with OpenSSL's reason for a failed handshake or verification.
  static Result<std::unique_ptr<Connection>> connect(const Endpoint& endpoint,
                                                     const TlsOptions& tls,
                                                     std::chrono::milliseconds timeout);

  virtual Status write_all(std::span<const uint8_t> data, std::chrono::milliseconds timeout) = 0;
  Status write_all(std::string_view data, std::chrono::milliseconds timeout) {
    return write_all(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
        timeout);
  }
  // Reads exactly `out.size()` bytes. kTimeout if they do not all arrive within `timeout`;
  // kUnavailable ("connection closed by peer") on EOF before that.
  virtual Status read_exact(std::span<uint8_t> out, std::chrono::milliseconds timeout) = 0;
  // Reads what is available, at least one byte, at most `out.size()`; same errors.
  virtual Result<size_t> read_some(std::span<uint8_t> out, std::chrono::milliseconds timeout) = 0;
  // Whether a read would not block (data buffered in TLS or on the socket), for clients
  // polling between other work.
  virtual bool readable_now() = 0;
  virtual void close() = 0;
  virtual const Endpoint& peer() const = 0;
  virtual bool is_tls() const = 0;
};

}  // namespace tideline::io::net
