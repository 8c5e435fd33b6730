#pragma once
// A CQL native protocol v4 client on one connection (docs/formats/cql.md): connection setup
// (OPTIONS, STARTUP, SASL PLAIN authentication), QUERY, PREPARE/EXECUTE with bound values,
// paging, and pipelined EXECUTEs on distinct stream ids for bulk writes.
// Errors: server ERRORs become a Status carrying the error's name and the server's message
// and the peer; transport and decode failures leave the client "broken" (every later call
// fails with the first such error), because the frame stream can no longer be trusted.
// Thread-safety: a Client is used by one thread at a time.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "io/cql/frame.h"
#include "io/net/net.h"

namespace tideline::io::cql {

inline constexpr uint16_t kDefaultPort = 9042;

struct ClientOptions {
  std::string contact_points = "127.0.0.1:9042";  // comma-separated; the first reachable wins
  std::string username;  // empty = no credentials (AUTHENTICATE is then an error)
  std::string password;  // secret: never logged nor put in messages
  net::TlsOptions tls;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{12000};
  Consistency consistency = Consistency::kLocalOne;
  int max_in_flight = 128;  // pipelining window of execute_many, 1..32767
};

// A prepared statement. Kept by the caller; execute() refreshes `id` when the server forgot
// it (Unprepared) and prepared it again.
struct Prepared {
  std::string query;
  std::string id;
  RowsMetadata bind;    // one column spec per bind marker, in order
  RowsMetadata result;  // columns of the rows it returns (empty for INSERT)
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> connect(const ClientOptions& options);
  ~Client();

  // "host:port" of the connected node.
  const std::string& peer() const { return peer_; }
  // The SUPPORTED map of the node (CQL_VERSION, PROTOCOL_VERSIONS, COMPRESSION, ...).
  const std::map<std::string, std::vector<std::string>>& supported() const { return supported_; }
  Consistency default_consistency() const { return options_.consistency; }
  // False once a transport or decode failure broke the frame stream (see above).
  bool usable() const { return broken_.ok(); }

  // Params with the default consistency and no values.
  QueryParams params() const {
    QueryParams p;
    p.consistency = options_.consistency;
    return p;
  }

  // Sends one QUERY and waits for its RESULT. `timeout` 0 = the request timeout.
  Result<ResultBody> query(std::string_view cql, const QueryParams& params,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  Result<ResultBody> query(std::string_view cql) { return query(cql, params()); }
  // The two halves of query(), so the caller can work while the server answers (a scan
  // decodes one page while the next is fetched). At most one query may be pending; no other
  // request may be sent until finish_query() has returned.
  Status start_query(std::string_view cql, const QueryParams& params);
  Result<ResultBody> finish_query(std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  bool query_pending() const { return pending_; }
  Result<Prepared> prepare(std::string_view cql);
  Result<ResultBody> execute(Prepared& stmt, const QueryParams& params);
  // Runs `count` EXECUTEs of `stmt` with up to max_in_flight of them outstanding. `fill`
  // sets the consistency/values of request i (called in order, i = 0..count-1; a request
  // retried after Unprepared is filled again). Waits for
  // every response; returns the first error (a failing `fill`, or a server error naming the
  // request index). Requests answered Unprepared are retried once after preparing again.
  Status execute_many(Prepared& stmt, int64_t count,
                      const std::function<Status(int64_t, QueryParams&)>& fill);

 private:
  struct Response {
    FrameHeader header;
    std::string body;  // the body proper (envelope stripped)
  };

  Client(ClientOptions options, std::unique_ptr<net::Connection> conn);
  Status handshake();
  void append_frame(std::string& out, int16_t stream, Opcode op, std::string_view body) const;
  Status send(std::string_view frames);
  Result<Response> read_response(std::chrono::milliseconds timeout);
  Status start(Opcode op, std::string_view body);              // sends on stream 0
  Result<Response> finish(std::chrono::milliseconds timeout);  // its response
  // Sends one request on stream 0 and returns its response.
  Result<Response> round_trip(Opcode op, std::string_view body, std::chrono::milliseconds timeout);
  // A RESULT response decoded, or the ERROR it carries as a Status.
  Result<ResultBody> to_result(Response&& r);
  Result<ServerError> server_error(const Response& r);
  Status fail(Status s);  // marks the client broken

  ClientOptions options_;
  std::unique_ptr<net::Connection> conn_;
  std::string peer_;
  std::map<std::string, std::vector<std::string>> supported_;
  Status broken_;
  bool pending_ = false;       // a request on stream 0 awaits its response
  std::vector<uint8_t> rbuf_;  // buffered input: [rpos_, rend_) not yet consumed
  size_t rpos_ = 0, rend_ = 0;
};

}  // namespace tideline::io::cql
