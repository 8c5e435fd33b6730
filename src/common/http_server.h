#pragma once
// A tiny HTTP/1.1 server for operational endpoints (metrics, health): one thread, bound to
// 127.0.0.1 only, one request per connection (every response says `Connection: close`), no
// request bodies, a bounded request head and a bounded time per connection. Connections are
// served one after the other, so a slow client delays the next by at most the connection
// timeout. Never throws; a malformed request gets 400 and the server keeps serving.
//
// Why by hand (docs/metrics.md): two GET routes on loopback do not justify a dependency, and
// the request parser below is ours to fuzz (fuzz/common_http_fuzz.cc).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"

namespace tideline {

struct HttpRequest {
  std::string method;   // e.g. GET
  std::string target;   // origin-form, e.g. /metrics?x=1
  std::string version;  // HTTP/1.0 or HTTP/1.1
  std::string path() const { return target.substr(0, target.find('?')); }
};

enum class HttpParse {
  kNeedMore,  // no complete request head yet (no empty line)
  kOk,        // a complete, well-formed head; `*consumed` bytes long
  kBad,       // malformed: respond 400
};

// Parses a request head (request line, header lines, empty line) at the start of `data`.
// Lines end in CRLF (a bare LF is accepted). The request line must be `METHOD SP TARGET SP
// HTTP/1.x` with a token method and an origin-form target of visible ASCII; header lines
// must be `token ":" value` without control characters. Malformed input is reported as soon
// as a complete line shows it. Headers are validated but not kept. A request announcing a
// body (Content-Length other than 0, or Transfer-Encoding) is kBad: these endpoints take none.
HttpParse parse_http_request(std::string_view data, HttpRequest* out, size_t* consumed);

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// The bytes sent for `r` (status line, Content-Type, Content-Length, Connection: close);
// `head_only` leaves the body out (HEAD requests).
std::string render_http_response(const HttpResponse& r, bool head_only);

// The response to raw request bytes as the server gives it: 400 for malformed input, 431
// when no complete head fits in `max_request_bytes`, 405 for methods other than GET/HEAD,
// else `handler`'s answer. `complete` is false when more bytes are needed (and allowed).
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
std::string respond_http(std::string_view data, size_t max_request_bytes,
                         const HttpHandler& handler, bool* complete);

struct HttpServerOptions {
  uint16_t port = 0;                           // 0 = any free port (see HttpServer::port())
  size_t max_request_bytes = 8192;             // request head limit (431 beyond)
  std::chrono::milliseconds io_timeout{2000};  // per connection, reading and writing
};

class HttpServer {
 public:
  // Binds 127.0.0.1:`options.port` and starts serving on a thread. Errors (port in use, no
  // permission) name the address.
  static Result<std::unique_ptr<HttpServer>> start(HttpHandler handler,
                                                   const HttpServerOptions& options);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const { return port_; }
  // Stops accepting, ends the connection in progress, joins the thread and closes the socket.
  // Idempotent; returns within about one poll interval.
  void stop();

 private:
  HttpServer(HttpHandler handler, const HttpServerOptions& options, int listen_fd, int wake_read,
             int wake_write, uint16_t port);
  void run();
  void serve_connection(int fd);

  HttpHandler handler_;
  HttpServerOptions options_;
  int listen_fd_;
  int wake_read_;  // self-pipe: stop() writes a byte so poll() returns at once
  int wake_write_;
  uint16_t port_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace tideline
