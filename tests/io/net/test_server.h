#pragma once
// In-process servers on 127.0.0.1 (port 0) for the net tests: a listener thread accepts
// connections one at a time and hands each accepted (blocking) socket to a handler.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <thread>

namespace tideline::io::net::testing {

class TestServer {
 public:
  // `handler` runs on the server thread for each accepted socket; TestServer closes the
  // socket after it returns. `should_stop()` turns true when the server is being destroyed.
  explicit TestServer(std::function<void(int fd, TestServer&)> handler)
      : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0) {
      throw std::runtime_error("bind/listen");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~TestServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  bool should_stop() const { return stop_; }
  int accepted() const { return accepted_; }

  // Echoes everything until EOF (blocking socket, send with MSG_NOSIGNAL).
  static void echo(int fd, TestServer& server) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[16384];
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      int rc = ::poll(&p, 1, 50);
      if (server.should_stop()) return;
      if (rc <= 0) continue;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      ssize_t off = 0;
      while (off < n) {
        ssize_t w = ::send(fd, buf + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) return;
        off += w;
      }
    }
  }

 private:
  void run() {
    // Writes on this thread to a closed peer must not kill the test process; blocking the
    // signal here (not process-wide) keeps the client-side SIGPIPE tests meaningful.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      handler_(fd, *this);
      ::close(fd);
    }
  }

  std::function<void(int, TestServer&)> handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace tideline::io::net::testing
