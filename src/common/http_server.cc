#include "common/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/time.h"

namespace tideline {

namespace {

bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y)) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_request_line(std::string_view line, HttpRequest* req) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return false;
  if (target.empty() || target[0] != '/') return false;
  for (unsigned char c : target)
    if (c < 0x21 || c > 0x7e) return false;
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return false;
  req->method = std::string(method);
  req->target = std::string(target);
  req->version = std::string(version);
  return true;
}

// Validates one header line; false when malformed or announcing a body.
bool check_header_line(std::string_view line) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view name = line.substr(0, colon);
  if (!is_token(name)) return false;  // also rejects obs-fold (leading whitespace)
  std::string_view value = line.substr(colon + 1);
  for (unsigned char c : value)
    if (c != '\t' && (c < 0x20 || c == 0x7f)) return false;
  value = trim_ows(value);
  if (iequals(name, "Transfer-Encoding")) return false;
  if (iequals(name, "Content-Length")) {
    if (value.empty()) return false;
    for (char c : value)
      if (c != '0') return false;  // a body is not accepted; only "0" (or "00...") passes
  }
  return true;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

HttpResponse plain(int status, std::string body) {
  return HttpResponse{
      .status = status, .content_type = "text/plain; charset=utf-8", .body = std::move(body)};
}

}  // namespace

HttpParse parse_http_request(std::string_view data, HttpRequest* out, size_t* consumed) {
  HttpRequest req;
  size_t pos = 0;
  bool first = true;
  for (;;) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) return HttpParse::kNeedMore;
    std::string_view line = data.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    if (first) {
      if (!parse_request_line(line, &req)) return HttpParse::kBad;
      first = false;
      continue;
    }
    if (line.empty()) break;
    if (!check_header_line(line)) return HttpParse::kBad;
  }
  if (out) *out = std::move(req);
  if (consumed) *consumed = pos;
  return HttpParse::kOk;
}

std::string render_http_response(const HttpResponse& r, bool head_only) {
  std::string s = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
                              r.status, reason_phrase(r.status), r.content_type, r.body.size());
  if (r.status == 405) s += "Allow: GET, HEAD\r\n";
  s += "Connection: close\r\n\r\n";
  if (!head_only) s += r.body;
  return s;
}

std::string respond_http(std::string_view data, size_t max_request_bytes,
                         const HttpHandler& handler, bool* complete) {
  *complete = true;
  HttpRequest req;
  size_t used = 0;
  switch (parse_http_request(data, &req, &used)) {
    case HttpParse::kNeedMore:
      if (data.size() < max_request_bytes) {
        *complete = false;
        return "";
      }
      return render_http_response(plain(431, "request head too large\n"), false);
    case HttpParse::kBad:
      return render_http_response(plain(400, "bad request\n"), false);
    case HttpParse::kOk:
      break;
  }
  if (used > max_request_bytes)
    return render_http_response(plain(431, "request head too large\n"), false);
  const bool head = req.method == "HEAD";
  if (req.method != "GET" && !head)
    return render_http_response(plain(405, "only GET and HEAD\n"), false);
  HttpResponse resp;
  try {
    resp = handler(req);
  } catch (...) {  // the handler's allocation failures must not end the server thread
    resp = plain(500, "internal error\n");
  }
  return render_http_response(resp, head);
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(HttpHandler handler,
                                                      const HttpServerOptions& options) {
  const std::string where = fmt::format("127.0.0.1:{}", options.port);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return error(StatusCode::kIoError, fmt::format("socket: {}", std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(options.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    int e = errno;
    ::close(fd);
    return error(StatusCode::kUnavailable,
                 fmt::format("cannot listen on {}: {}", where, std::strerror(e)));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
    int e = errno;
    ::close(fd);
    return error(StatusCode::kIoError, fmt::format("pipe: {}", std::strerror(e)));
  }
  std::unique_ptr<HttpServer> s(
      new HttpServer(std::move(handler), options, fd, pipefd[0], pipefd[1], ntohs(addr.sin_port)));
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

HttpServer::HttpServer(HttpHandler handler, const HttpServerOptions& options, int listen_fd,
                       int wake_read, int wake_write, uint16_t port)
    : handler_(std::move(handler)),
      options_(options),
      listen_fd_(listen_fd),
      wake_read_(wake_read),
      wake_write_(wake_write),
      port_(port) {}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::stop() {
  if (!stopping_.exchange(true)) {
    char b = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_write_, &b, 1);
  }
  if (thread_.joinable()) thread_.join();
  for (int* fd : {&listen_fd_, &wake_read_, &wake_write_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

void HttpServer::run() {
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;  // EAGAIN, a connection reset before accept, fd exhaustion: go on
    serve_connection(fd);
    ::close(fd);
  }
}

void HttpServer::serve_connection(int fd) {
  const int64_t deadline =
      monotonic_ns() + static_cast<int64_t>(options_.io_timeout.count()) * 1'000'000;
  auto remaining_ms = [&] {
    int64_t left = (deadline - monotonic_ns()) / 1'000'000;
    return static_cast<int>(left < 0 ? 0 : left);
  };
  // Waits for `events` on fd; false on timeout, stop or error.
  auto wait = [&](short events, int timeout_ms) {
    for (;;) {
      pollfd fds[2] = {{fd, events, 0}, {wake_read_, POLLIN, 0}};
      int n = ::poll(fds, 2, timeout_ms);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || fds[1].revents) return false;
      return (fds[0].revents & (events | POLLHUP | POLLERR)) != 0;
    }
  };
  std::string buf;
  std::string response;
  char chunk[4096];
  for (;;) {
    if (!wait(POLLIN, remaining_ms())) return;
    // Never hold more than the limit: a head that does not fit is answered with 431.
    size_t room = options_.max_request_bytes - buf.size();
    ssize_t n = ::recv(fd, chunk, std::min(room, sizeof chunk), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return;  // closed by the client before a complete request, or an error
    buf.append(chunk, static_cast<size_t>(n));
    bool complete = false;
    response = respond_http(buf, options_.max_request_bytes, handler_, &complete);
    if (complete) break;
  }
  size_t sent = 0;
  while (sent < response.size()) {
    ssize_t n = ::send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait(POLLOUT, remaining_ms())) return;
      continue;
    }
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
  // Lingering close: unread request bytes would make close() send a reset, which can discard
  // the response before the client reads it. Drain briefly until the client closes.
  ::shutdown(fd, SHUT_WR);
  const int linger_ms = std::min(remaining_ms(), 200);
  const int64_t linger_end = monotonic_ns() + static_cast<int64_t>(linger_ms) * 1'000'000;
  while (monotonic_ns() < linger_end) {
    int left = static_cast<int>((linger_end - monotonic_ns()) / 1'000'000);
    if (!wait(POLLIN, left)) return;
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return;
  }
}

}  // namespace tideline
