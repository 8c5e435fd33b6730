// TLS tests against an in-process OpenSSL server. The certificates (a CA, a server
// certificate for localhost/127.0.0.1 signed by it, a client certificate, and an unrelated
// second CA) are generated with OpenSSL's APIs into a temporary directory.

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "io/net/net.h"
#include "io/net/test_server.h"

namespace tideline::io::net {
namespace {

using std::chrono::milliseconds;
using testing::TestServer;

constexpr milliseconds kLong{5000};

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr) << "extension " << OBJ_nid2sn(nid) << "=" << value;
  ASSERT_EQ(X509_add_ext(cert, ext, -1), 1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, signed by issuer (self-signed when issuer is null).
X509Ptr make_cert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, bool ca,
                  const char* san) {
  static long serial = 1;
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400);
  X509_set_pubkey(x.get(), key);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : x.get();
  X509_set_issuer_name(x.get(), X509_get_subject_name(signer));
  if (ca) {
    add_ext(x.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(x.get(), signer, NID_subject_key_identifier, "hash");
  } else {
    add_ext(x.get(), signer, NID_basic_constraints, "CA:FALSE");
    add_ext(x.get(), signer, NID_key_usage, "critical,digitalSignature");
    add_ext(x.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
    add_ext(x.get(), signer, NID_authority_key_identifier, "keyid");
    if (san != nullptr) add_ext(x.get(), signer, NID_subject_alt_name, san);
  }
  EXPECT_GT(X509_sign(x.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()), 0);
  return x;
}

void write_pem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  if (cert != nullptr) PEM_write_X509(f, cert);
  if (key != nullptr) PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

// Files for the whole test suite, created once.
struct Pki {
  std::string dir;
  std::string ca_cert, server_cert, server_key, client_cert, client_key, other_ca_cert;
  std::string self_signed_cert, self_signed_key;  // a localhost certificate signed by itself

  Pki() {
    std::random_device rd;
    dir = (std::filesystem::temp_directory_path() /
           ("tideline-net-" + std::to_string(getpid()) + "-" + std::to_string(rd())))
              .string();
    std::filesystem::create_directories(dir);
    PkeyPtr ca_key(EVP_EC_gen("P-256"));
    PkeyPtr server_key_p(EVP_EC_gen("P-256"));
    PkeyPtr client_key_p(EVP_EC_gen("P-256"));
    PkeyPtr other_key(EVP_EC_gen("P-256"));
    X509Ptr ca = make_cert(ca_key.get(), "tideline test CA", nullptr, nullptr, true, nullptr);
    X509Ptr server = make_cert(server_key_p.get(), "localhost", ca.get(), ca_key.get(), false,
                               "DNS:localhost,IP:127.0.0.1");
    X509Ptr client =
        make_cert(client_key_p.get(), "tideline-client", ca.get(), ca_key.get(), false, nullptr);
    X509Ptr other = make_cert(other_key.get(), "unrelated CA", nullptr, nullptr, true, nullptr);
    PkeyPtr self_key(EVP_EC_gen("P-256"));
    X509Ptr self = make_cert(self_key.get(), "localhost", nullptr, nullptr, false,
                             "DNS:localhost,IP:127.0.0.1");
    self_signed_cert = dir + "/self.pem";
    self_signed_key = dir + "/self.key";
    write_pem(self_signed_cert, self.get(), nullptr);
    write_pem(self_signed_key, nullptr, self_key.get());
    ca_cert = dir + "/ca.pem";
    server_cert = dir + "/server.pem";
    server_key = dir + "/server.key";
    client_cert = dir + "/client.pem";
    client_key = dir + "/client.key";
    other_ca_cert = dir + "/other-ca.pem";
    write_pem(ca_cert, ca.get(), nullptr);
    write_pem(server_cert, server.get(), nullptr);
    write_pem(server_key, nullptr, server_key_p.get());
    write_pem(client_cert, client.get(), nullptr);
    write_pem(client_key, nullptr, client_key_p.get());
    write_pem(other_ca_cert, other.get(), nullptr);
  }
  ~Pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

const Pki& pki() {
  static Pki p;
  return p;
}

enum class After { kEcho, kShutdown, kDrop };

// An in-process TLS server: handshake on each accepted socket, then echo / close_notify /
// drop. Records the SNI name and the client certificate's CN it saw.
class TlsServer {
 public:
  explicit TlsServer(After after = After::kEcho, bool require_client_cert = false,
                     bool self_signed = false)
      : after_(after) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    const std::string& cert = self_signed ? pki().self_signed_cert : pki().server_cert;
    const std::string& key = self_signed ? pki().self_signed_key : pki().server_key;
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM), 1);
    if (require_client_cert) {
      EXPECT_EQ(SSL_CTX_load_verify_locations(ctx_, pki().ca_cert.c_str(), nullptr), 1);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    server_ = std::make_unique<TestServer>([this](int fd, TestServer& s) { serve(fd, s); });
  }
  ~TlsServer() {
    server_.reset();  // joins the thread before the context goes
    SSL_CTX_free(ctx_);
  }
  uint16_t port() const { return server_->port(); }
  std::string sni() {
    std::lock_guard lock(mu_);
    return sni_;
  }
  std::string client_cn() {
    std::lock_guard lock(mu_);
    return client_cn_;
  }
  int handshakes() const { return handshakes_; }

 private:
  void serve(int fd, TestServer& server) {
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      ++handshakes_;
      {
        std::lock_guard lock(mu_);
        const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        sni_ = name != nullptr ? name : "";
        if (X509* peer = SSL_get1_peer_certificate(ssl)) {
          char cn[256] = {};
          X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
          client_cn_ = cn;
          X509_free(peer);
        }
      }
      if (after_ == After::kEcho) {
        echo(ssl, fd, server);
      } else if (after_ == After::kShutdown) {
        SSL_shutdown(ssl);
      }
    }
    SSL_free(ssl);
    ERR_clear_error();
  }

  static void echo(SSL* ssl, int fd, TestServer& server) {
    std::vector<char> buf(16384);
    for (;;) {
      if (SSL_pending(ssl) == 0) {
        pollfd p{fd, POLLIN, 0};
        int rc = ::poll(&p, 1, 50);
        if (server.should_stop()) return;
        if (rc <= 0) continue;
      }
      size_t n = 0;
      if (SSL_read_ex(ssl, buf.data(), buf.size(), &n) != 1) return;
      size_t off = 0;
      while (off < n) {
        size_t w = 0;
        if (SSL_write_ex(ssl, buf.data() + off, n - off, &w) != 1) return;
        off += w;
      }
    }
  }

  After after_;
  SSL_CTX* ctx_ = nullptr;
  std::mutex mu_;
  std::string sni_;
  std::string client_cn_;
  std::atomic<int> handshakes_{0};
  std::unique_ptr<TestServer> server_;
};

TlsOptions trusting_ca() {
  TlsOptions t;
  t.enabled = true;
  t.ca_file = pki().ca_cert;
  return t;
}

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 131 + i / 251) & 0xff);
  return v;
}

void round_trip(Connection& c, const std::vector<uint8_t>& data) {
  constexpr size_t kChunk = 64 * 1024;
  std::vector<uint8_t> back(data.size());
  for (size_t off = 0; off < data.size(); off += kChunk) {
    size_t n = std::min(kChunk, data.size() - off);
    Status w = c.write_all(std::span(data).subspan(off, n), kLong);
    ASSERT_TRUE(w.ok()) << w.to_string();
    Status s = c.read_exact(std::span(back).subspan(off, n), kLong);
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  EXPECT_EQ(back, data);
}

std::string peer_of(const TlsServer& s) {
  return "127.0.0.1:" + std::to_string(s.port());
}

TEST(Tls, EchoWithTrustedCaByIp) {
  TlsServer server;
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, trusting_ca(), kLong);
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_TRUE((*c)->is_tls());
  round_trip(**c, pattern(1 << 20));
  EXPECT_EQ(server.sni(), "");  // no SNI for address literals
}

TEST(Tls, EchoWithTrustedCaByNameSendsSni) {
  TlsServer server;
  auto c = Connection::connect(Endpoint{"localhost", server.port()}, trusting_ca(), kLong);
  ASSERT_TRUE(c) << c.error().to_string();
  round_trip(**c, pattern(1000));
  EXPECT_EQ(server.sni(), "localhost");
}

TEST(Tls, ServerNameOverridesSniAndHostCheck) {
  TlsServer server;
  TlsOptions t = trusting_ca();
  t.server_name = "localhost";
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, t, kLong);
  ASSERT_TRUE(c) << c.error().to_string();
  round_trip(**c, pattern(10));
  EXPECT_EQ(server.sni(), "localhost");
}

TEST(Tls, UntrustedCaFailsVerification) {
  TlsServer server;
  TlsOptions t = trusting_ca();
  t.ca_file = pki().other_ca_cert;
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, t, kLong);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), StatusCode::kIoError);
  const std::string& m = c.error().message();
  EXPECT_NE(m.find(peer_of(server) + ": TLS handshake failed: certificate verify failed ("),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("local issuer certificate"), std::string::npos) << m;
}

TEST(Tls, SelfSignedServerFailsVerification) {
  TlsServer server(After::kEcho, false, /*self_signed=*/true);
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, trusting_ca(), kLong);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), StatusCode::kIoError);
  // OpenSSL's reason, then what it means and what to change.
  EXPECT_EQ(c.error().message().rfind(peer_of(server) +
                                          ": TLS handshake failed: certificate verify failed "
                                          "(self-signed certificate): the server's certificate "
                                          "(issued by '/CN=localhost'",
                                      0),
            0u)
      << c.error().message();
  EXPECT_NE(c.error().message().find("is not signed by a CA in CA file"), std::string::npos)
      << c.error().message();
  // Trusting the certificate itself makes it acceptable.
  TlsOptions t = trusting_ca();
  t.ca_file = pki().self_signed_cert;
  auto ok = Connection::connect(Endpoint{"localhost", server.port()}, t, kLong);
  ASSERT_TRUE(ok) << ok.error().to_string();
  round_trip(**ok, pattern(100));
}

TEST(Tls, DefaultTrustStoreDoesNotKnowTestCa) {
  TlsServer server;
  TlsOptions t;
  t.enabled = true;
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, t, kLong);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("certificate verify failed"), std::string::npos)
      << c.error().message();
}

TEST(Tls, VerifyPeerFalseAcceptsAnyCertificate) {
  TlsServer server;
  TlsOptions t;
  t.enabled = true;
  t.ca_file = pki().other_ca_cert;
  t.verify_peer = false;
  t.server_name = "wrong.example";
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, t, kLong);
  ASSERT_TRUE(c) << c.error().to_string();
  round_trip(**c, pattern(5000));
}

TEST(Tls, HostnameMismatchFails) {
  TlsServer server;
  TlsOptions t = trusting_ca();
  t.server_name = "wrong.example";
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, t, kLong);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), StatusCode::kIoError);
  EXPECT_NE(c.error().message().find("certificate verify failed (hostname mismatch)"),
            std::string::npos)
      << c.error().message();
  // Without the host check the same certificate is accepted.
  t.verify_hostname = false;
  auto ok = Connection::connect(Endpoint{"127.0.0.1", server.port()}, t, kLong);
  ASSERT_TRUE(ok) << ok.error().to_string();
  round_trip(**ok, pattern(10));
}

TEST(Tls, IpAddressMismatchFails) {
  TlsServer server;
  TlsOptions t = trusting_ca();
  t.server_name = "127.0.0.2";  // the certificate names 127.0.0.1
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, t, kLong);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("IP address mismatch"), std::string::npos)
      << c.error().message();
}

TEST(Tls, UnreadableCaFileIsInvalidArgument) {
  TlsServer server;
  TlsOptions t = trusting_ca();
  t.ca_file = pki().dir + "/missing.pem";
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, t, kLong);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.error().message().find("cannot load CA file '" + t.ca_file + "'"), std::string::npos)
      << c.error().message();
}

TEST(Tls, MutualTls) {
  TlsServer server(After::kEcho, /*require_client_cert=*/true);
  TlsOptions t = trusting_ca();
  t.cert_file = pki().client_cert;
  t.key_file = pki().client_key;
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, t, kLong);
  ASSERT_TRUE(c) << c.error().to_string();
  round_trip(**c, pattern(1000));
  EXPECT_EQ(server.client_cn(), "tideline-client");
}

TEST(Tls, MutualTlsWithoutClientCertIsRejected) {
  TlsServer server(After::kEcho, /*require_client_cert=*/true);
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, trusting_ca(), kLong);
  // With TLS 1.3 the client finishes its handshake before the server checks the client
  // certificate, so the rejection can surface on the first read instead.
  Status s;
  if (!c) {
    s = c.error();
  } else {
    uint8_t b[4];
    s = (*c)->write_all(std::string_view("ping"), kLong);
    if (s.ok()) s = (*c)->read_exact(b, kLong);
  }
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(is_timeout(s)) << s.to_string();
  EXPECT_NE(s.message().find(peer_of(server)), std::string::npos) << s.message();
  EXPECT_EQ(server.handshakes(), 0);
}

TEST(Tls, BadClientKeyIsInvalidArgument) {
  TlsServer server;
  TlsOptions t = trusting_ca();
  t.cert_file = pki().client_cert;
  t.key_file = pki().server_key;  // does not match
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, t, kLong);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.error().message().find("cannot load client private key '" + t.key_file +
                                     "': key values mismatch"),
            std::string::npos)
      << c.error().message();
}

TEST(Tls, ReadableNowSeesBufferedPlaintext) {
  TlsServer server;
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, trusting_ca(), kLong);
  ASSERT_TRUE(c) << c.error().to_string();
  Connection& conn = **c;
  ASSERT_TRUE(conn.write_all(std::string_view("hello world"), kLong).ok());
  uint8_t two[2];
  ASSERT_TRUE(conn.read_exact(two, kLong).ok());
  EXPECT_EQ(std::string(two, two + 2), "he");
  // The rest of the record is decrypted and buffered inside OpenSSL (SSL_pending).
  EXPECT_TRUE(conn.readable_now());
  uint8_t rest[64];
  size_t got = 0;
  while (got < 9) {
    auto n = conn.read_some(std::span(rest).subspan(got), kLong);
    ASSERT_TRUE(n) << n.error().to_string();
    got += *n;
  }
  EXPECT_EQ(std::string(rest, rest + got), "llo world");
  auto n = conn.read_some(rest, milliseconds(100));
  ASSERT_FALSE(n);
  EXPECT_TRUE(is_timeout(n.error())) << n.error().to_string();
}

TEST(Tls, PeerCloseNotifyIsUnavailable) {
  TlsServer server(After::kShutdown);
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, trusting_ca(), kLong);
  ASSERT_TRUE(c) << c.error().to_string();
  uint8_t b[4];
  Status s = (*c)->read_exact(b, kLong);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.to_string();
  EXPECT_NE(s.message().find("closed by peer"), std::string::npos) << s.message();
}

TEST(Tls, PeerDropWithoutCloseNotifyIsUnavailable) {
  TlsServer server(After::kDrop);
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, trusting_ca(), kLong);
  ASSERT_TRUE(c) << c.error().to_string();
  uint8_t b[4];
  Status s = (*c)->read_exact(b, kLong);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.to_string();
  EXPECT_NE(s.message().find("closed by peer"), std::string::npos) << s.message();
}

// SIGPIPE is not ignored in this binary: a TLS write to a closed peer must fail, not kill it.
TEST(Tls, WriteAfterPeerCloseFailsWithoutSigpipe) {
  TlsServer server(After::kDrop);
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, trusting_ca(), kLong);
  ASSERT_TRUE(c) << c.error().to_string();
  std::vector<uint8_t> chunk(4096, 'x');
  Status s;
  for (int i = 0; i < 200 && s.ok(); ++i) {
    s = (*c)->write_all(chunk, kLong);
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.to_string();
  EXPECT_NE(s.message().find("closed by peer"), std::string::npos) << s.message();
  // The first failure consumes the reset (ECONNRESET); later sends get EPIPE, which is
  // where SIGPIPE would be raised.
  for (int i = 0; i < 5; ++i) EXPECT_FALSE((*c)->write_all(chunk, kLong).ok());
}

// A server that accepts TCP but never answers the ClientHello: the handshake times out.
TEST(Tls, HandshakeTimesOut) {
  TestServer server([](int fd, TestServer& s) {
    char buf[4096];
    while (!s.should_stop()) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0 && ::recv(fd, buf, sizeof buf, 0) <= 0) return;
    }
  });
  auto start = std::chrono::steady_clock::now();
  auto c =
      Connection::connect(Endpoint{"127.0.0.1", server.port()}, trusting_ca(), milliseconds(300));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(c);
  EXPECT_TRUE(is_timeout(c.error())) << c.error().to_string();
  EXPECT_NE(c.error().message().find("TLS handshake"), std::string::npos);
  EXPECT_GE(took, milliseconds(240));
  EXPECT_LE(took, milliseconds(1500));
}

// A plain-TCP server that closes at once: the handshake fails as unavailable.
TEST(Tls, HandshakeAgainstClosingServer) {
  TestServer server([](int, TestServer&) {});
  auto c = Connection::connect(Endpoint{"127.0.0.1", server.port()}, trusting_ca(), kLong);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), StatusCode::kUnavailable) << c.error().to_string();
  EXPECT_NE(c.error().message().find("127.0.0.1:" + std::to_string(server.port()) +
                                     ": TLS handshake failed"),
            std::string::npos)
      << c.error().message();
}

}  // namespace
}  // namespace tideline::io::net
