#pragma once
// A minimal HTTP client over a real socket for tests: sends raw bytes to 127.0.0.1:port and
// reads until the server closes (bounded by a receive timeout), so tests can send malformed
// requests that a real client library would refuse to produce.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace tideline::testing {

struct RawReply {
  bool connected = false;
  std::string bytes;  // everything received
  int status() const {
    // "HTTP/1.1 200 OK"
    if (bytes.size() < 12 || bytes.rfind("HTTP/1.", 0) != 0) return -1;
    return std::atoi(bytes.substr(9, 3).c_str());
  }
  std::string body() const {
    size_t p = bytes.find("\r\n\r\n");
    return p == std::string::npos ? "" : bytes.substr(p + 4);
  }
  std::string head() const { return bytes.substr(0, bytes.find("\r\n\r\n")); }
};

// Connects to 127.0.0.1:port; -1 when refused.
inline int connect_loopback(uint16_t port, int timeout_ms = 5000) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` and reads the reply until the server closes the connection.
inline RawReply raw_request(uint16_t port, const std::string& request) {
  RawReply r;
  int fd = connect_loopback(port);
  if (fd < 0) return r;
  r.connected = true;
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    r.bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return r;
}

inline RawReply http_get(uint16_t port, const std::string& target) {
  return raw_request(port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
}

}  // namespace tideline::testing
