#include "io/net/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>

// Design notes.
// - Sockets are always non-blocking; every wait is a poll() bounded by the caller's
//   deadline, so nothing (connect, TLS handshake, read, write) waits past its timeout.
//   Name resolution (getaddrinfo) is the exception: the resolver's own timeouts apply.
// - SIGPIPE: plain sockets send with MSG_NOSIGNAL; TLS uses a small custom BIO that does
//   the same (see sock_bio_write), so a peer that went away yields "connection closed by
//   peer" and never a signal, without touching the process's signal disposition.
// - A write_all or read_exact that failed (including by timeout) may have moved part of a
//   message: the byte stream is then out of step and callers should close the connection.
// - Thread-safety: a Connection is used by one thread at a time (net.h). Different
//   Connections are independent; OpenSSL 3 needs no global locking setup. Each
//   TlsConnection owns its own SSL_CTX reference (built per connect: clients open few
//   connections and the CA file is re-read on reconnect, which picks up rotated CAs).

namespace tideline::io::net {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kTimedOut = "timed out";

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool is_ipv6_literal(const std::string& host) {
  in6_addr a{};
  return inet_pton(AF_INET6, host.c_str(), &a) == 1;
}

bool is_ip_literal(const std::string& host) {
  in_addr a4{};
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || is_ipv6_literal(host);
}

// strerror with a lower-case first letter, to read well after "host:port: ".
std::string errno_text(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

Status timeout_status(const Endpoint& peer, std::string_view what,
                      std::chrono::milliseconds timeout) {
  return Status(StatusCode::kTimeout, fmt::format("{}: {} after {} ms {}", peer.to_string(),
                                                  kTimedOut, timeout.count(), what));
}

// Milliseconds left until `deadline`, rounded up so a poll never returns early; 0 when past.
int remaining_ms(Clock::time_point deadline) {
  auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(ms);
}

// Waits until `fd` has one of `events` or `deadline` passes. Returns false on timeout.
// POLLERR/POLLHUP count as ready: the following read/write reports the actual error.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int ms = remaining_ms(deadline);
    int rc = ::poll(&p, 1, ms);
    if (rc > 0) return true;
    if (rc == 0) {
      if (ms == 0) return false;
      continue;  // woke a little early: recompute
    }
    if (errno != EINTR) return true;  // let the caller's syscall report it
  }
}

Clock::time_point deadline_after(std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) timeout = std::chrono::milliseconds(0);
  // Clamp absurdly long timeouts so the addition cannot overflow.
  constexpr auto kMax = std::chrono::hours(24 * 365);
  return Clock::now() + (timeout > kMax ? std::chrono::milliseconds(kMax) : timeout);
}

// OpenSSL's queued errors (reason strings only), oldest first; clears the thread's queue.
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    std::string text;
    if (reason != nullptr) {
      text = reason;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      text = buf;
    }
    if (out.find(text) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// A BIO over a non-blocking socket that sends with MSG_NOSIGNAL, so a peer that closed the
// connection makes SSL_write fail with EPIPE instead of raising SIGPIPE in the process.
// (OpenSSL's own socket BIO uses write(), which raises SIGPIPE.) The BIO does not own the
// descriptor; its data points at a SocketState owned by the TlsConnection, which outlives
// the SSL object (and thus the BIO).

struct SocketState {
  int fd = -1;
  bool eof = false;  // recv returned 0; BIO_eof() reports it so OpenSSL sees a clean EOF
};

int sock_bio_write(BIO* bio, const char* data, size_t len, size_t* written) {
  BIO_clear_retry_flags(bio);
  auto* st = static_cast<SocketState*>(BIO_get_data(bio));
  for (;;) {
    ssize_t n = ::send(st->fd, data, len, MSG_NOSIGNAL);
    if (n >= 0) {
      *written = static_cast<size_t>(n);
      return 1;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
    return 0;
  }
}

int sock_bio_read(BIO* bio, char* data, size_t len, size_t* read) {
  BIO_clear_retry_flags(bio);
  auto* st = static_cast<SocketState*>(BIO_get_data(bio));
  for (;;) {
    ssize_t n = ::recv(st->fd, data, len, 0);
    if (n > 0) {
      *read = static_cast<size_t>(n);
      return 1;
    }
    if (n == 0) {
      st->eof = true;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
    return 0;
  }
}

long sock_bio_ctrl(BIO* bio, int cmd, long /*num*/, void* /*ptr*/) {
  auto* st = static_cast<SocketState*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_EOF:
      return st != nullptr && st->eof ? 1 : 0;
    default:
      return 0;
  }
}

int sock_bio_create(BIO* bio) {
  BIO_set_data(bio, nullptr);
  BIO_set_init(bio, 0);
  return 1;
}

int sock_bio_destroy(BIO* /*bio*/) {
  return 1;  // owns nothing
}

// Created once, never freed (reachable from a static, so not a leak).
const BIO_METHOD* sock_bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tideline nosignal socket");
    if (m == nullptr) return m;
    BIO_meth_set_write_ex(m, sock_bio_write);
    BIO_meth_set_read_ex(m, sock_bio_read);
    BIO_meth_set_ctrl(m, sock_bio_ctrl);
    BIO_meth_set_create(m, sock_bio_create);
    BIO_meth_set_destroy(m, sock_bio_destroy);
    return m;
  }();
  return method;
}

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// Never prompts on the terminal for an encrypted key's pass phrase: loading fails instead.
int no_password(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
  return 0;
}

// ---------------------------------------------------------------------------------------
// Plain TCP. Owns the socket descriptor (closed by close() or the destructor).

// What plain and TLS connections share: the peer, and reads built on the subclass's
// read_once (at least one byte, or 0 when the deadline passed first).
class ConnectionBase : public Connection {
 public:
  explicit ConnectionBase(Endpoint peer) : peer_(std::move(peer)) {}

  Status read_exact(std::span<uint8_t> out, std::chrono::milliseconds timeout) override {
    auto deadline = deadline_after(timeout);
    size_t done = 0;
    while (done < out.size()) {
      auto n = read_once(out.subspan(done), deadline);
      if (!n) return n.error();
      if (*n == 0) {
        return timeout_status(
            peer_, fmt::format("reading ({} of {} bytes received)", done, out.size()), timeout);
      }
      done += *n;
    }
    return {};
  }

  Result<size_t> read_some(std::span<uint8_t> out, std::chrono::milliseconds timeout) override {
    if (out.empty()) return size_t{0};
    TL_ASSIGN_OR_RETURN(size_t n, read_once(out, deadline_after(timeout)));
    if (n == 0) return error(timeout_status(peer_, "waiting for data", timeout));
    return n;
  }

  const Endpoint& peer() const override { return peer_; }

 protected:
  virtual Result<size_t> read_once(std::span<uint8_t> out, Clock::time_point deadline) = 0;

  Endpoint peer_;
};

class TcpConnection : public ConnectionBase {
 public:
  TcpConnection(Endpoint peer, int fd) : ConnectionBase(std::move(peer)), fd_(fd) {}
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;
  ~TcpConnection() override { TcpConnection::close(); }

  Status write_all(std::span<const uint8_t> data, std::chrono::milliseconds timeout) override {
    if (fd_ < 0) return closed_status();
    auto deadline = deadline_after(timeout);
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait_fd(fd_, POLLOUT, deadline)) {
          return timeout_status(
              peer_, fmt::format("writing ({} of {} bytes sent)", done, data.size()), timeout);
        }
        continue;
      }
      return send_error(errno);
    }
    return {};
  }

  bool readable_now() override {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int rc;
    do {
      rc = ::poll(&p, 1, 0);
    } while (rc < 0 && errno == EINTR);
    return rc > 0;
  }

  void close() override {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  bool is_tls() const override { return false; }

 private:
  Status closed_status() const {
    return unavailable(fmt::format("{}: connection is closed", peer_.to_string()));
  }

  Status send_error(int err) const {
    if (err == EPIPE || err == ECONNRESET) {
      return unavailable(
          fmt::format("{}: connection closed by peer ({})", peer_.to_string(), errno_text(err)));
    }
    return io_error(fmt::format("{}: send failed: {}", peer_.to_string(), errno_text(err)));
  }

  // Reads at least one byte, or returns 0 when `deadline` passed first.
  Result<size_t> read_once(std::span<uint8_t> out, Clock::time_point deadline) override {
    if (fd_ < 0) return error(closed_status());
    for (;;) {
      ssize_t n = ::recv(fd_, out.data(), out.size(), 0);
      if (n > 0) return static_cast<size_t>(n);
      if (n == 0) {
        return error(unavailable(fmt::format("{}: connection closed by peer", peer_.to_string())));
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!wait_fd(fd_, POLLIN, deadline)) return size_t{0};
        continue;
      }
      int err = errno;
      if (err == ECONNRESET) {
        return error(unavailable(
            fmt::format("{}: connection closed by peer ({})", peer_.to_string(), errno_text(err))));
      }
      return error(
          io_error(fmt::format("{}: recv failed: {}", peer_.to_string(), errno_text(err))));
    }
  }

  int fd_;
};

// ---------------------------------------------------------------------------------------
// TLS over a non-blocking socket. Owns the descriptor, the SSL object (which holds its own
// reference to the SSL_CTX) and the SocketState the BIO points at. The thread's OpenSSL
// error queue is cleared before each SSL call so messages describe only that call.

class TlsConnection : public ConnectionBase {
 public:
  TlsConnection(Endpoint peer, int fd) : ConnectionBase(std::move(peer)) { sock_.fd = fd; }
  TlsConnection(const TlsConnection&) = delete;  // the BIO points at sock_
  TlsConnection& operator=(const TlsConnection&) = delete;
  ~TlsConnection() override { TlsConnection::close(); }

  // Builds the SSL object and runs the handshake before `deadline`.
  Status start(const TlsOptions& opts, Clock::time_point deadline,
               std::chrono::milliseconds timeout) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) return tls_config_error("cannot create TLS context");
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_default_passwd_cb(ctx.get(), no_password);
    // A peer that closes without close_notify reads as a plain EOF ("closed by peer"): the
    // framed protocols on top detect truncated messages themselves.
    SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx.get(),
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    if (!opts.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx.get(), opts.ca_file.c_str(), nullptr) != 1) {
        return tls_config_error(fmt::format("cannot load CA file '{}'", opts.ca_file));
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return tls_config_error("cannot load the system's default CA certificates");
    }
    if (!opts.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(ctx.get(), opts.cert_file.c_str()) != 1) {
        return tls_config_error(fmt::format("cannot load client certificate '{}'", opts.cert_file));
      }
      const std::string& key = opts.key_file.empty() ? opts.cert_file : opts.key_file;
      if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
        return tls_config_error(fmt::format("cannot load client private key '{}'", key));
      }
      if (SSL_CTX_check_private_key(ctx.get()) != 1) {
        return tls_config_error(fmt::format(
            "client private key '{}' does not match certificate '{}'", key, opts.cert_file));
      }
    } else if (!opts.key_file.empty()) {
      return invalid_argument(fmt::format("{}: TLS key_file '{}' given without cert_file",
                                          peer_.to_string(), opts.key_file));
    }
    SSL_CTX_set_verify(ctx.get(), opts.verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                       remember_leaf);

    ssl_.reset(SSL_new(ctx.get()));
    if (!ssl_) return tls_config_error("cannot create TLS session");
    SSL_set_app_data(ssl_.get(), this);
    const BIO_METHOD* method = sock_bio_method();
    BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
    if (bio == nullptr) return tls_config_error("cannot create socket BIO");
    BIO_set_data(bio, &sock_);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl_.get(), bio, bio);  // the SSL owns the BIO now

    const std::string& name = opts.server_name.empty() ? peer_.host : opts.server_name;
    bool ip = is_ip_literal(name);
    expected_host_ = name;
    ca_file_ = opts.ca_file;
    sent_client_cert_ = !opts.cert_file.empty();
    // SNI carries host names only (RFC 6066 forbids address literals).
    if (!ip && !name.empty() && SSL_set_tlsext_host_name(ssl_.get(), name.c_str()) != 1) {
      return tls_config_error(fmt::format("cannot set server name '{}'", name));
    }
    if (opts.verify_peer && opts.verify_hostname) {
      int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), name.c_str())
                  : SSL_set1_host(ssl_.get(), name.c_str());
      if (ok != 1) return tls_config_error(fmt::format("cannot set expected host '{}'", name));
    }
    SSL_set_connect_state(ssl_.get());

    for (;;) {
      ERR_clear_error();
      int rc = SSL_connect(ssl_.get());
      if (rc == 1) return {};
      int err = SSL_get_error(ssl_.get(), rc);
      int saved_errno = errno;
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (!wait_fd(sock_.fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
          ERR_clear_error();
          return timeout_status(peer_, "in the TLS handshake", timeout);
        }
        continue;
      }
      return handshake_error(err, saved_errno);
    }
  }

  Status write_all(std::span<const uint8_t> data, std::chrono::milliseconds timeout) override {
    if (!ssl_) return closed_status();
    auto deadline = deadline_after(timeout);
    size_t done = 0;
    while (done < data.size()) {
      ERR_clear_error();
      size_t n = 0;
      int rc = SSL_write_ex(ssl_.get(), data.data() + done, data.size() - done, &n);
      if (rc == 1) {
        done += n;
        continue;
      }
      int err = SSL_get_error(ssl_.get(), rc);
      int saved_errno = errno;
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (!wait_fd(sock_.fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
          return timeout_status(
              peer_, fmt::format("writing ({} of {} bytes sent)", done, data.size()), timeout);
        }
        continue;
      }
      return io_failure("write", err, saved_errno);
    }
    return {};
  }

  // True when decrypted bytes are buffered, or the socket has bytes (which may turn out to
  // be a non-data record such as a session ticket; a read then waits for real data).
  bool readable_now() override {
    if (!ssl_) return false;
    if (SSL_pending(ssl_.get()) > 0 || SSL_has_pending(ssl_.get()) == 1) return true;
    pollfd p{sock_.fd, POLLIN, 0};
    int rc;
    do {
      rc = ::poll(&p, 1, 0);
    } while (rc < 0 && errno == EINTR);
    return rc > 0;
  }

  void close() override {
    if (ssl_) {
      // Best effort close_notify; never waits (the socket is non-blocking).
      if (!broken_ && !sock_.eof) {
        ERR_clear_error();
        SSL_shutdown(ssl_.get());
      }
      ERR_clear_error();
      ssl_.reset();
    }
    if (sock_.fd >= 0) {
      ::close(sock_.fd);
      sock_.fd = -1;
    }
  }

  bool is_tls() const override { return true; }

 private:
  Status closed_status() const {
    return unavailable(fmt::format("{}: connection is closed", peer_.to_string()));
  }

  Status tls_config_error(std::string what) {
    std::string reason = openssl_errors();
    return invalid_argument(fmt::format("{}: TLS setup: {}{}{}", peer_.to_string(), what,
                                        reason.empty() ? "" : ": ", reason));
  }

  Status handshake_error(int err, int saved_errno) {
    broken_ = true;
    std::string reason = openssl_errors();
    long verify = SSL_get_verify_result(ssl_.get());
    if (verify != X509_V_OK) {
      return io_error(fmt::format("{}: TLS handshake failed: certificate verify failed ({}): {}",
                                  peer_.to_string(), X509_verify_cert_error_string(verify),
                                  verify_failure(verify)));
    }
    if (std::string alert = client_cert_alert(reason); !alert.empty()) {
      return io_error(fmt::format("{}: TLS handshake failed: {}", peer_.to_string(), alert));
    }
    if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && reason.empty())) {
      std::string detail = sock_.eof || saved_errno == 0 ? std::string("connection closed by peer")
                                                         : errno_text(saved_errno);
      return unavailable(fmt::format("{}: TLS handshake failed: {}", peer_.to_string(), detail));
    }
    if (reason.empty()) reason = fmt::format("SSL error {}", err);
    return io_error(fmt::format("{}: TLS handshake failed: {}", peer_.to_string(), reason));
  }

  Status io_failure(std::string_view op, int err, int saved_errno) {
    broken_ = true;
    std::string reason = openssl_errors();
    if (err == SSL_ERROR_ZERO_RETURN || sock_.eof) {
      return unavailable(fmt::format("{}: connection closed by peer", peer_.to_string()));
    }
    if (err == SSL_ERROR_SYSCALL && reason.empty()) {
      if (saved_errno == EPIPE || saved_errno == ECONNRESET) {
        // With TLS 1.3 a server that wants a client certificate closes the connection after
        // the handshake; its alert is often lost in the reset.
        const bool maybe_cert =
            !sent_client_cert_ && !received_data_ && SSL_version(ssl_.get()) == TLS1_3_VERSION;
        return unavailable(fmt::format(
            "{}: connection closed by peer ({}){}", peer_.to_string(), errno_text(saved_errno),
            maybe_cert ? " right after the TLS handshake: the server may require a client "
                         "certificate, and none is configured"
                       : ""));
      }
      return io_error(fmt::format("{}: TLS {} failed: {}", peer_.to_string(), op,
                                  saved_errno ? errno_text(saved_errno) : "unknown error"));
    }
    if (std::string alert = client_cert_alert(reason); !alert.empty()) {
      return io_error(fmt::format("{}: TLS {} failed: {}", peer_.to_string(), op, alert));
    }
    if (reason.empty()) reason = fmt::format("SSL error {}", err);
    return io_error(fmt::format("{}: TLS {} failed: {}", peer_.to_string(), op, reason));
  }

  // Verification callback: keeps the description of the server's own certificate (depth 0)
  // for messages, since a failed handshake leaves no peer certificate to ask for.
  static int remember_leaf(int preverify_ok, X509_STORE_CTX* store) {
    auto* ssl =
        static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* self = ssl != nullptr ? static_cast<TlsConnection*>(SSL_get_app_data(ssl)) : nullptr;
    if (self != nullptr && X509_STORE_CTX_get_error_depth(store) == 0) {
      self->leaf_ = describe_certificate(X509_STORE_CTX_get_current_cert(store));
    }
    return preverify_ok;
  }

  std::string describe_peer_certificate() {
    if (!leaf_.empty()) return leaf_;
    return describe_certificate(SSL_get0_peer_certificate(ssl_.get()));
  }

  // A certificate, described for a message: "issued by '<issuer>', for DNS:a, IP:b" (subject
  // alternative names; the subject when there are none).
  static std::string describe_certificate(X509* cert) {
    if (cert == nullptr) return "no certificate";
    char issuer[256] = {0};
    X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof issuer);
    std::string names;
    auto* sans =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (sans != nullptr) {
      for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
        std::string one;
        if (g->type == GEN_DNS) {
          const auto* d = g->d.dNSName;
          one = "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(d)),
                                     static_cast<size_t>(ASN1_STRING_length(d)));
        } else if (g->type == GEN_IPADD) {
          const auto* a = g->d.iPAddress;
          char text[INET6_ADDRSTRLEN] = {0};
          int len = ASN1_STRING_length(a);
          if (len == 4 || len == 16) {
            ::inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(a), text, sizeof text);
            one = std::string("IP:") + text;
          }
        }
        if (!one.empty()) names += (names.empty() ? "" : ", ") + one;
      }
      GENERAL_NAMES_free(sans);
    }
    if (names.empty()) {
      char subject[256] = {0};
      X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
      names = std::string("subject ") + subject;
    }
    return fmt::format("issued by '{}', for {}", issuer, names);
  }

  // Why verification failed, in words that say what to change.
  std::string verify_failure(long verify) {
    const std::string cert = describe_peer_certificate();
    const std::string trust = ca_file_.empty() ? std::string("the system's CA certificates")
                                               : "CA file '" + ca_file_ + "'";
    switch (verify) {
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return fmt::format(
            "the server's certificate does not match the host name '{}' ({}): connect by a name "
            "the certificate lists, or turn host name verification off",
            expected_host_, cert);
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return fmt::format(
            "the server's certificate ({}) is not signed by a CA in {}: trust the CA that "
            "signed it",
            cert, trust);
      case X509_V_ERR_CERT_HAS_EXPIRED:
        return fmt::format("the server's certificate ({}) has expired", cert);
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return fmt::format("the server's certificate ({}) is not valid yet (check the clock)",
                           cert);
      default:
        return fmt::format("the server's certificate is {}", cert);
    }
  }

  // The server refused our side of mutual TLS (a TLS alert in OpenSSL's reason).
  std::string client_cert_alert(const std::string& reason) const {
    if (reason.find("certificate required") != std::string::npos) {
      return "the server requires a client certificate and none was configured (" + reason + ")";
    }
    if (sent_client_cert_ && (reason.find("bad certificate") != std::string::npos ||
                              reason.find("unknown ca") != std::string::npos ||
                              reason.find("certificate unknown") != std::string::npos)) {
      return "the server rejected the client certificate (" + reason +
             "): use one signed by a CA the server trusts";
    }
    return "";
  }

  // Reads at least one byte, or returns 0 when `deadline` passed first.
  Result<size_t> read_once(std::span<uint8_t> out, Clock::time_point deadline) override {
    if (!ssl_) return error(closed_status());
    for (;;) {
      ERR_clear_error();
      size_t n = 0;
      int rc = SSL_read_ex(ssl_.get(), out.data(), out.size(), &n);
      if (rc == 1) {
        received_data_ = true;
        return n;
      }
      int err = SSL_get_error(ssl_.get(), rc);
      int saved_errno = errno;
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (!wait_fd(sock_.fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
          return size_t{0};
        }
        continue;
      }
      return error(io_failure("read", err, saved_errno));
    }
  }

  SocketState sock_;  // must outlive ssl_ (its BIO points here): declared before it
  SslPtr ssl_;
  std::string leaf_;               // the server's certificate, described (remember_leaf)
  std::string expected_host_;      // the name (or address) the certificate must match
  std::string ca_file_;            // the trust store, for messages
  bool sent_client_cert_ = false;  // a client certificate was configured
  bool received_data_ = false;     // application data arrived since the handshake
  bool broken_ = false;            // a fatal SSL error happened: no close_notify on close()
};

// One non-blocking connect attempt. Returns the connected descriptor, or -1 with `err` set
// (ETIMEDOUT when the deadline passed).
int connect_one(const addrinfo* ai, Clock::time_point deadline, int& err) {
  int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) {
    err = errno;
    return -1;
  }
  // An interrupted connect keeps going in the background (retrying it would fail with
  // EALREADY), so EINTR is handled like EINPROGRESS.
  int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
  if (rc < 0 && errno != EINPROGRESS && errno != EINTR) {
    err = errno;
    ::close(fd);
    return -1;
  }
  if (rc < 0) {
    if (!wait_fd(fd, POLLOUT, deadline)) {
      err = ETIMEDOUT;
      ::close(fd);
      return -1;
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0) so_error = errno;
    if (so_error != 0) {
      err = so_error;
      ::close(fd);
      return -1;
    }
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

std::string address_text(const addrinfo* ai) {
  char buf[INET6_ADDRSTRLEN] = {};
  const void* src =
      ai->ai_family == AF_INET6
          ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr)
          : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr);
  if (inet_ntop(ai->ai_family, src, buf, sizeof buf) == nullptr) return "?";
  return buf;
}

}  // namespace

bool is_timeout(const Status& status) {
  return status.code() == StatusCode::kTimeout;
}

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

Result<Endpoint> parse_endpoint(std::string_view text, uint16_t default_port) {
  std::string_view s = trim(text);
  auto fail = [&](std::string_view problem) {
    return error(StatusCode::kInvalidArgument, fmt::format("endpoint '{}': {}", text, problem));
  };
  if (s.empty()) return fail("empty endpoint");
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return fail("missing ']' after IPv6 address");
    host = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail("expected ':port' after ']'");
      port = rest.substr(1);
      has_port = true;
    }
    if (host.empty()) return fail("empty host");
    if (!is_ipv6_literal(std::string(host))) {
      return fail(fmt::format("'{}' is not an IPv6 address", host));
    }
  } else {
    size_t colon = s.find(':');
    if (colon != std::string_view::npos && s.find(':', colon + 1) != std::string_view::npos) {
      // Several colons: an IPv6 literal without a port.
      if (!is_ipv6_literal(std::string(s))) {
        return fail("not an IPv6 address (write an IPv6 address with a port as [addr]:port)");
      }
      host = s;
    } else if (colon != std::string_view::npos) {
      host = s.substr(0, colon);
      port = s.substr(colon + 1);
      has_port = true;
    } else {
      host = s;
    }
    if (host.empty()) return fail("empty host");
  }
  for (char c : host) {
    auto u = static_cast<unsigned char>(c);
    if (std::isspace(u) || c == '/' || c == '[' || c == ']' || c == ',' || c == '@' ||
        std::iscntrl(u)) {
      return fail(fmt::format("invalid character '{}' in host", c));
    }
  }
  Endpoint out;
  out.host = std::string(host);
  if (has_port) {
    if (port.empty()) return fail("empty port");
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec == std::errc::result_out_of_range)
      return fail(fmt::format("port '{}' is not in 1..65535", port));
    if (ec != std::errc() || end != port.data() + port.size()) {
      return fail(fmt::format("port '{}' is not a number", port));
    }
    if (value < 1 || value > 65535) return fail(fmt::format("port '{}' is not in 1..65535", port));
    out.port = static_cast<uint16_t>(value);
  } else {
    if (default_port == 0) return fail("no port given and no default port");
    out.port = default_port;
  }
  return out;
}

Result<std::vector<Endpoint>> parse_endpoints(std::string_view text, uint16_t default_port) {
  std::vector<Endpoint> out;
  if (trim(text).empty()) {
    return error(StatusCode::kInvalidArgument, "endpoint list is empty");
  }
  size_t start = 0;
  for (;;) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (trim(item).empty()) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("endpoint list '{}': empty entry at offset {}", text, start));
    }
    TL_ASSIGN_OR_RETURN(Endpoint e, parse_endpoint(item, default_port));
    out.push_back(std::move(e));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

Result<std::unique_ptr<Connection>> Connection::connect(const Endpoint& endpoint,
                                                        const TlsOptions& tls,
                                                        std::chrono::milliseconds timeout) {
  auto deadline = deadline_after(timeout);
  std::string peer = endpoint.to_string();
  if (endpoint.host.empty() || endpoint.port == 0) {
    return error(StatusCode::kInvalidArgument, fmt::format("{}: invalid endpoint", peer));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  std::string port = std::to_string(endpoint.port);
  // getaddrinfo cannot be bounded by the timeout; the resolver's own timeouts apply.
  int gai = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &list);
  if (gai != 0) {
    std::string why = gai == EAI_SYSTEM ? errno_text(errno) : gai_strerror(gai);
    return error(unavailable(fmt::format("{}: cannot resolve host: {}", peer, why)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(list, &freeaddrinfo);

  int fd = -1;
  std::string failures;
  bool all_timed_out = true;
  for (const addrinfo* ai = list; ai != nullptr && fd < 0; ai = ai->ai_next) {
    int err = 0;
    fd = connect_one(ai, deadline, err);
    if (fd >= 0) break;
    if (err != ETIMEDOUT) all_timed_out = false;
    if (!failures.empty()) failures += ", ";
    std::string addr = address_text(ai);
    failures += err == ETIMEDOUT ? std::string("no answer") : errno_text(err);
    if (addr != endpoint.host) failures += fmt::format(" ({})", addr);
    if (remaining_ms(deadline) == 0) break;
  }
  if (fd < 0) {
    if (all_timed_out) return error(timeout_status(endpoint, "connecting", timeout));
    return error(unavailable(fmt::format("{}: {}", peer, failures)));
  }
  if (!tls.enabled) return std::make_unique<TcpConnection>(endpoint, fd);
  auto conn = std::make_unique<TlsConnection>(endpoint, fd);
  TL_RETURN_IF_ERROR(conn->start(tls, deadline, timeout));
  return std::unique_ptr<Connection>(std::move(conn));
}

Status explain_tls_failure(Status status, const TlsConfigKeys& keys) {
  if (status.ok()) return status;
  const std::string& m = status.message();
  std::string hint;
  if (m.find("does not match the host name") != std::string::npos) {
    hint = fmt::format("connect by a host name the certificate lists ({}), or set {}=false",
                       keys.host, keys.verify_hostname);
  } else if (m.find("is not signed by a CA in") != std::string::npos) {
    hint = fmt::format("set {} to the CA that signed the server's certificate", keys.ca_file);
  } else if (m.find("requires a client certificate") != std::string::npos ||
             m.find("may require a client certificate") != std::string::npos) {
    hint = keys.cert_file.empty()
               ? std::string(
                     "this client cannot present a client certificate: the server must "
                     "not require one")
               : fmt::format("set {}", keys.cert_file);
  } else if (m.find("rejected the client certificate") != std::string::npos) {
    hint = fmt::format("check {}", keys.cert_file);
  }
  if (hint.empty()) return status;
  return Status(status.code(), fmt::format("{} [to fix: {}]", m, hint));
}

}  // namespace tideline::io::net
