// CQL native protocol v4 client; protocol in docs/formats/cql.md.
#include "io/cql/client.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace tideline::io::cql {

namespace {

constexpr int kMaxAuthRounds = 3;
constexpr size_t kReadChunk = 64 * 1024;

std::string describe_opcode(uint8_t op) {
  return opcode_name(op);
}

}  // namespace

Client::Client(ClientOptions options, std::unique_ptr<net::Connection> conn)
    : options_(std::move(options)), conn_(std::move(conn)), peer_(conn_->peer().to_string()) {}

Client::~Client() {
  if (conn_) conn_->close();
}

Result<std::unique_ptr<Client>> Client::connect(const ClientOptions& options) {
  if (options.max_in_flight < 1 || options.max_in_flight >= kMaxStreams) {
    return error(StatusCode::kInvalidArgument, fmt::format("max_in_flight {} is not in 1..{}",
                                                           options.max_in_flight, kMaxStreams - 1));
  }
  TL_ASSIGN_OR_RETURN(auto endpoints, net::parse_endpoints(options.contact_points, kDefaultPort));
  std::string failures;
  for (const auto& ep : endpoints) {
    auto conn = net::Connection::connect(ep, options.tls, options.connect_timeout);
    if (!conn) {
      if (endpoints.size() == 1) return error(conn.error());  // it names the peer
      failures += (failures.empty() ? "" : "; ") + conn.error().message();
      continue;
    }
    std::unique_ptr<Client> client(new Client(options, std::move(*conn)));
    TL_RETURN_IF_ERROR(client->handshake());
    return client;
  }
  return error(StatusCode::kUnavailable,
               fmt::format("no Cassandra contact point reachable ({})", failures));
}

Status Client::fail(Status s) {
  if (broken_.ok()) broken_ = s;
  return s;
}

void Client::append_frame(std::string& out, int16_t stream, Opcode op,
                          std::string_view body) const {
  encode_header(
      {kRequestVersion, 0, stream, static_cast<uint8_t>(op), static_cast<uint32_t>(body.size())},
      out);
  out.append(body);
}

Status Client::send(std::string_view frames) {
  if (!broken_.ok()) return broken_;
  Status s = conn_->write_all(frames, options_.request_timeout);
  if (!s.ok()) return fail(s);
  return {};
}

Result<Client::Response> Client::read_response(std::chrono::milliseconds timeout) {
  if (!broken_.ok()) return error(broken_);
  auto fill = [&](size_t need) -> Status {
    // Ensures `need` buffered bytes from rpos_.
    if (rend_ - rpos_ >= need) return {};
    if (rpos_ > 0) {
      std::memmove(rbuf_.data(), rbuf_.data() + rpos_, rend_ - rpos_);
      rend_ -= rpos_;
      rpos_ = 0;
    }
    if (rbuf_.size() < std::max(need, kReadChunk)) rbuf_.resize(std::max(need, kReadChunk));
    while (rend_ < need) {
      auto n =
          conn_->read_some(std::span<uint8_t>(rbuf_.data() + rend_, rbuf_.size() - rend_), timeout);
      if (!n) return n.error();
      rend_ += *n;
    }
    return {};
  };
  Status s = fill(kHeaderSize);
  if (!s.ok()) return error(fail(s));
  auto h = decode_response_header({rbuf_.data() + rpos_, kHeaderSize});
  if (!h) return error(fail(h.error().with_context(peer_)));
  rpos_ += kHeaderSize;
  Response r;
  r.header = *h;
  // Small bodies come from the buffer; large ones are read directly into the string.
  const size_t len = h->length;
  if (len <= kReadChunk) {
    s = fill(len);
    if (!s.ok()) return error(fail(s));
    r.body.assign(reinterpret_cast<const char*>(rbuf_.data() + rpos_), len);
    rpos_ += len;
  } else {
    const size_t have = std::min(rend_ - rpos_, len);
    r.body.resize(len);
    std::memcpy(r.body.data(), rbuf_.data() + rpos_, have);
    rpos_ += have;
    s = conn_->read_exact(
        std::span<uint8_t>(reinterpret_cast<uint8_t*>(r.body.data()) + have, len - have), timeout);
    if (!s.ok()) return error(fail(s));
  }
  if (r.header.stream < 0) {
    return error(fail(corruption(
        fmt::format("{}: unexpected server-pushed {} on stream {} (no events were registered)",
                    peer_, describe_opcode(r.header.opcode), r.header.stream))));
  }
  auto proper = strip_response_envelope(r.header, r.body);
  if (!proper) return error(fail(proper.error().with_context(peer_)));
  if (proper->size() != r.body.size()) r.body = std::string(*proper);
  return r;
}

Status Client::start(Opcode op, std::string_view body) {
  if (pending_) {
    return internal_error(fmt::format("{}: a request is already pending on stream 0", peer_));
  }
  std::string frame;
  frame.reserve(kHeaderSize + body.size());
  append_frame(frame, 0, op, body);
  TL_RETURN_IF_ERROR(send(frame));
  pending_ = true;
  return {};
}

Result<Client::Response> Client::finish(std::chrono::milliseconds timeout) {
  if (!pending_) return error(internal_error(fmt::format("{}: no request is pending", peer_)));
  pending_ = false;
  TL_ASSIGN_OR_RETURN(Response r,
                      read_response(timeout.count() > 0 ? timeout : options_.request_timeout));
  if (r.header.stream != 0) {
    return error(fail(corruption(
        fmt::format("{}: response on stream {}, expected stream 0", peer_, r.header.stream))));
  }
  return r;
}

Result<Client::Response> Client::round_trip(Opcode op, std::string_view body,
                                            std::chrono::milliseconds timeout) {
  TL_RETURN_IF_ERROR(start(op, body));
  return finish(timeout);
}

Result<ServerError> Client::server_error(const Response& r) {
  auto e = decode_error(r.body);
  if (!e) return error(fail(e.error().with_context(peer_)));
  return e;
}

Result<ResultBody> Client::to_result(Response&& r) {
  const uint8_t op = r.header.opcode;
  if (op == static_cast<uint8_t>(Opcode::kError)) {
    TL_ASSIGN_OR_RETURN(ServerError e, server_error(r));
    return error(server_error_status(e, peer_));
  }
  if (op != static_cast<uint8_t>(Opcode::kResult)) {
    return error(fail(corruption(
        fmt::format("{}: unexpected {} response, expected RESULT", peer_, describe_opcode(op)))));
  }
  auto res = decode_result(std::move(r.body));
  if (!res) return error(fail(res.error().with_context(peer_)));
  return res;
}

Status Client::handshake() {
  // OPTIONS first: checks the peer speaks the protocol and tells what it supports.
  TL_ASSIGN_OR_RETURN(Response sup, round_trip(Opcode::kOptions, {}, options_.connect_timeout));
  if (sup.header.opcode == static_cast<uint8_t>(Opcode::kError)) {
    TL_ASSIGN_OR_RETURN(ServerError e, server_error(sup));
    return server_error_status(e, peer_).with_context("OPTIONS");
  }
  if (sup.header.opcode != static_cast<uint8_t>(Opcode::kSupported)) {
    return fail(corruption(fmt::format("{}: OPTIONS answered with {}, expected SUPPORTED", peer_,
                                       describe_opcode(sup.header.opcode))));
  }
  BodyReader sr(sup.body, sup.header.opcode);
  auto mm = sr.string_multimap();
  if (!mm) return fail(mm.error().with_context(peer_));
  supported_ = std::move(*mm);

  TL_ASSIGN_OR_RETURN(Response st,
                      round_trip(Opcode::kStartup, encode_startup_body({{"CQL_VERSION", "3.0.0"}}),
                                 options_.connect_timeout));
  const auto op = static_cast<Opcode>(st.header.opcode);
  if (op == Opcode::kReady) return {};
  if (op == Opcode::kError) {
    TL_ASSIGN_OR_RETURN(ServerError e, server_error(st));
    return server_error_status(e, peer_).with_context("STARTUP");
  }
  if (op != Opcode::kAuthenticate) {
    return fail(corruption(
        fmt::format("{}: STARTUP answered with {}", peer_, describe_opcode(st.header.opcode))));
  }
  BodyReader ar(st.body, st.header.opcode);
  auto authenticator = ar.string();
  if (!authenticator) return fail(authenticator.error().with_context(peer_));
  if (options_.username.empty()) {
    return invalid_argument(
        fmt::format("{}: the server requires authentication ({}), but no username is configured "
                    "(tideline.cassandra.username / password)",
                    peer_, *authenticator));
  }
  BodyWriter token;
  token.bytes(sasl_plain_token(options_.username, options_.password));
  const std::string auth_body = token.take();
  for (int round = 0; round < kMaxAuthRounds; ++round) {
    TL_ASSIGN_OR_RETURN(Response a,
                        round_trip(Opcode::kAuthResponse, auth_body, options_.connect_timeout));
    const auto aop = static_cast<Opcode>(a.header.opcode);
    if (aop == Opcode::kAuthSuccess) return {};
    if (aop == Opcode::kError) {
      TL_ASSIGN_OR_RETURN(ServerError e, server_error(a));
      return server_error_status(e, peer_).with_context(
          fmt::format("authenticating as '{}'", options_.username));
    }
    if (aop != Opcode::kAuthChallenge) {
      return fail(corruption(fmt::format("{}: AUTH_RESPONSE answered with {}", peer_,
                                         describe_opcode(a.header.opcode))));
    }
  }
  return fail(unavailable(
      fmt::format("{}: authentication did not finish after {} rounds", peer_, kMaxAuthRounds)));
}

Result<ResultBody> Client::query(std::string_view cql, const QueryParams& params,
                                 std::chrono::milliseconds timeout) {
  TL_ASSIGN_OR_RETURN(Response r,
                      round_trip(Opcode::kQuery, encode_query_body(cql, params), timeout));
  return to_result(std::move(r));
}

Status Client::start_query(std::string_view cql, const QueryParams& params) {
  return start(Opcode::kQuery, encode_query_body(cql, params));
}

Result<ResultBody> Client::finish_query(std::chrono::milliseconds timeout) {
  TL_ASSIGN_OR_RETURN(Response r, finish(timeout));
  return to_result(std::move(r));
}

Result<Prepared> Client::prepare(std::string_view cql) {
  BodyWriter w;
  w.long_string(cql);
  TL_ASSIGN_OR_RETURN(Response r, round_trip(Opcode::kPrepare, w.take(), {}));
  TL_ASSIGN_OR_RETURN(ResultBody res, to_result(std::move(r)));
  if (res.kind != ResultKind::kPrepared) {
    return error(fail(corruption(fmt::format("{}: PREPARE answered with result kind {}", peer_,
                                             static_cast<int>(res.kind)))));
  }
  Prepared p;
  p.query = std::string(cql);
  p.id = std::move(res.prepared_id);
  p.bind = std::move(res.bind_metadata);
  p.result = std::move(res.result_metadata);
  return p;
}

Result<ResultBody> Client::execute(Prepared& stmt, const QueryParams& params) {
  for (int attempt = 0;; ++attempt) {
    TL_ASSIGN_OR_RETURN(Response r,
                        round_trip(Opcode::kExecute, encode_execute_body(stmt.id, params), {}));
    if (attempt == 0 && r.header.opcode == static_cast<uint8_t>(Opcode::kError)) {
      TL_ASSIGN_OR_RETURN(ServerError e, server_error(r));
      if (e.code == error_code::kUnprepared) {
        TL_ASSIGN_OR_RETURN(Prepared again, prepare(stmt.query));
        stmt = std::move(again);
        continue;
      }
      return error(server_error_status(e, peer_));
    }
    return to_result(std::move(r));
  }
}

Status Client::execute_many(Prepared& stmt, int64_t count,
                            const std::function<Status(int64_t, QueryParams&)>& fill) {
  if (!broken_.ok()) return broken_;
  if (pending_) {
    return internal_error(fmt::format("{}: execute_many while a query is pending", peer_));
  }
  const int window = options_.max_in_flight;
  // Streams 1..window; stream 0 stays for round trips.
  std::vector<int16_t> free_streams;
  for (int s = window; s >= 1; --s) free_streams.push_back(static_cast<int16_t>(s));
  std::vector<int64_t> stream_request(static_cast<size_t>(window) + 1, -1);
  std::vector<int64_t> unprepared;
  Status first;
  int64_t next = 0;
  int in_flight = 0;
  std::string out;
  QueryParams params = this->params();
  while (true) {
    out.clear();
    while (next < count && !free_streams.empty() && first.ok()) {
      params = this->params();
      Status f = fill(next, params);
      if (!f.ok()) {
        first = f;
        break;
      }
      const int16_t stream = free_streams.back();
      free_streams.pop_back();
      // Header placeholder, then the body in place, then the length.
      const size_t start = out.size();
      encode_header({kRequestVersion, 0, stream, static_cast<uint8_t>(Opcode::kExecute), 0}, out);
      BodyWriter w;
      w.short_bytes(stmt.id);
      encode_query_params(params, w);
      out.append(w.buffer());
      const uint32_t len = static_cast<uint32_t>(w.buffer().size());
      for (int i = 0; i < 4; ++i)
        out[start + 5 + i] = static_cast<char>((len >> (24 - 8 * i)) & 0xff);
      stream_request[static_cast<size_t>(stream)] = next++;
      ++in_flight;
    }
    if (!out.empty()) TL_RETURN_IF_ERROR(send(out));
    if (in_flight == 0) break;
    // Read at least one response, then whatever has already arrived.
    do {
      TL_ASSIGN_OR_RETURN(Response r, read_response(options_.request_timeout));
      const int16_t stream = r.header.stream;
      if (stream < 1 || stream > window || stream_request[static_cast<size_t>(stream)] < 0) {
        return fail(corruption(fmt::format(
            "{}: response on stream {}, which has no request in flight", peer_, stream)));
      }
      const int64_t request = stream_request[static_cast<size_t>(stream)];
      stream_request[static_cast<size_t>(stream)] = -1;
      free_streams.push_back(stream);
      --in_flight;
      if (r.header.opcode == static_cast<uint8_t>(Opcode::kError)) {
        TL_ASSIGN_OR_RETURN(ServerError e, server_error(r));
        if (e.code == error_code::kUnprepared) {
          unprepared.push_back(request);
        } else if (first.ok()) {
          first = server_error_status(e, peer_).with_context(
              fmt::format("request {} of {}", request, count));
        }
      } else if (r.header.opcode != static_cast<uint8_t>(Opcode::kResult)) {
        return fail(corruption(fmt::format("{}: unexpected {} response to EXECUTE", peer_,
                                           describe_opcode(r.header.opcode))));
      }
    } while (in_flight > 0 && (rend_ > rpos_ || conn_->readable_now()));
    if (!first.ok() && in_flight == 0) break;
  }
  if (!first.ok()) return first;
  if (!unprepared.empty()) {
    std::sort(unprepared.begin(), unprepared.end());
    TL_ASSIGN_OR_RETURN(Prepared again, prepare(stmt.query));
    stmt = std::move(again);
    for (int64_t request : unprepared) {
      QueryParams p = this->params();
      TL_RETURN_IF_ERROR(fill(request, p));
      auto res = execute(stmt, p);
      if (!res) return res.error().with_context(fmt::format("request {} of {}", request, count));
    }
  }
  return {};
}

}  // namespace tideline::io::cql
