// io::TableStore over the CQL native protocol; requests in docs/formats/cql.md.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "common/time.h"
#include "io/cql/client.h"
#include "io/cql/connect.h"
#include "io/cql/cql.h"
#include "io/cql/token.h"

namespace tideline::io::cql {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kSchemaWait{30000};
constexpr milliseconds kCountTimeout{600000};
constexpr int32_t kPageSize = 5000;

std::string quote(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string table_ref(std::string_view ks, std::string_view tbl) {
  return quote(ks) + "." + quote(tbl);
}

// Appends one [value]: null, or the CQL encoding of `cell` as type `t`.
void encode_cell(BodyWriter& w, CqlType t, const io::CqlCell& cell) {
  if (cell.is_null) {
    w.null_value();
    return;
  }
  std::string& out = w.buffer();
  switch (t) {
    case CqlType::kInt:
      w.int_(4);
      put_be(out, static_cast<uint32_t>(static_cast<int32_t>(cell.i)), 4);
      return;
    case CqlType::kBigint:
    case CqlType::kTimestamp:
      w.int_(8);
      put_be(out, static_cast<uint64_t>(cell.i), 8);
      return;
    case CqlType::kBoolean:
      w.int_(1);
      out.push_back(cell.i != 0 ? 1 : 0);
      return;
    case CqlType::kDouble:
      w.int_(8);
      put_be(out, std::bit_cast<uint64_t>(cell.d), 8);
      return;
    case CqlType::kFloat:
      w.int_(4);
      put_be(out, std::bit_cast<uint32_t>(static_cast<float>(cell.d)), 4);
      return;
    case CqlType::kText:
      w.bytes(cell.text);
      return;
  }
}

// CQL type names as system_schema.columns spells them.
std::optional<CqlType> type_from_schema_name(std::string_view n) {
  if (n == "int") return CqlType::kInt;
  if (n == "bigint") return CqlType::kBigint;
  if (n == "text" || n == "varchar" || n == "ascii") return CqlType::kText;
  if (n == "timestamp") return CqlType::kTimestamp;
  if (n == "double") return CqlType::kDouble;
  if (n == "float") return CqlType::kFloat;
  if (n == "boolean") return CqlType::kBoolean;
  return std::nullopt;
}

}  // namespace

// [value] of a text bind marker.
void bind_text(QueryParams& p, std::string_view s) {
  BodyWriter w;
  w.bytes(s);
  p.values += w.take();
  ++p.value_count;
  p.has_values = true;
}

namespace {

// The connected node's data center, from system.local.
Result<std::string> data_center(Client& client) {
  TL_ASSIGN_OR_RETURN(ResultBody res,
                      client.query("SELECT data_center FROM system.local WHERE key='local'"));
  if (res.rows.row_count != 1) return std::string();
  return std::string(res.rows.cell(0, 0).value_or(""));
}

// An [inet] column's address bytes as text ("" for another length).
std::string inet_text(std::string_view raw) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (raw.size() == 4) {
    ::inet_ntop(AF_INET, raw.data(), text, sizeof text);
  } else if (raw.size() == 16) {
    ::inet_ntop(AF_INET6, raw.data(), text, sizeof text);
  }
  return text;
}

}  // namespace

Result<std::vector<net::Endpoint>> discover_peers(Client& client, uint16_t default_port) {
  std::vector<net::Endpoint> out;
  auto v2 = client.query("SELECT native_address, native_port FROM system.peers_v2");
  if (v2) {
    for (int32_t r = 0; r < v2->rows.row_count; ++r) {
      auto addr = v2->rows.cell(r, 0);
      auto port = v2->rows.cell(r, 1);
      if (!addr || !port || port->size() != 4) continue;
      const auto* b = reinterpret_cast<const uint8_t*>(port->data());
      const uint32_t p =
          (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
      std::string host = inet_text(*addr);
      if (host.empty() || p == 0 || p > 65535) continue;
      out.push_back(net::Endpoint{host, static_cast<uint16_t>(p)});
    }
    return out;
  }
  if (!client.usable()) return error(v2.error());
  // Servers before 4.0: no peers_v2; rpc_address on the port we used.
  TL_ASSIGN_OR_RETURN(ResultBody v1, client.query("SELECT rpc_address FROM system.peers"));
  for (int32_t r = 0; r < v1.rows.row_count; ++r) {
    auto addr = v1.rows.cell(r, 0);
    if (!addr) continue;
    std::string host = inet_text(*addr);
    if (!host.empty()) out.push_back(net::Endpoint{host, default_port});
  }
  return out;
}

// A client connected to the first usable contact point (reachable, in the local dc if set).
Result<std::unique_ptr<Client>> connect_client(const CqlOptions& options) {
  ClientOptions co;
  co.username = options.username;
  co.password = options.password;
  co.tls = options.tls;
  co.connect_timeout = options.connect_timeout;
  co.request_timeout = options.request_timeout;
  TL_ASSIGN_OR_RETURN(co.consistency, parse_consistency(options.consistency));
  TL_ASSIGN_OR_RETURN(auto endpoints, net::parse_endpoints(options.contact_points, kDefaultPort));
  std::string failures;
  for (const auto& ep : endpoints) {
    co.contact_points = ep.to_string();
    auto client = Client::connect(co);
    if (!client) {
      // Configuration and credential errors are the same on every node.
      if (client.error().code() == StatusCode::kInvalidArgument) return error(client.error());
      failures += (failures.empty() ? "" : "; ") + client.error().message();
      continue;
    }
    if (!options.local_dc.empty()) {
      TL_ASSIGN_OR_RETURN(std::string dc, data_center(**client));
      if (dc != options.local_dc) {
        failures +=
            fmt::format("{}{}: node is in data center '{}', not the local dc '{}'",
                        failures.empty() ? "" : "; ", (*client)->peer(), dc, options.local_dc);
        continue;
      }
    }
    return std::move(*client);
  }
  return error(StatusCode::kUnavailable, fmt::format("no usable Cassandra node ({})", failures));
}

namespace {

// Writes retry a batch that failed because its node went away (connection broken, or the
// node answered Unavailable/timed out) on another node, this many times in all.
constexpr int kWriteAttempts = 6;

class CqlTableStore final : public io::TableStore {
 public:
  CqlTableStore(CqlOptions options, std::unique_ptr<Client> client)
      : options_(std::move(options)), client_(std::move(client)) {
    auto contacts = net::parse_endpoints(options_.contact_points, kDefaultPort);
    if (contacts) {
      for (const auto& ep : *contacts) nodes_.push_back(ep.to_string());
    }
    learn_peers();
    load_ring();
  }

  Status execute_ddl(std::string_view cql) override {
    auto parsed = io::parse_ddl(cql);
    if (!parsed) return parsed.error();
    TL_RETURN_IF_ERROR(ensure_connected());
    const io::DdlStatement& st = *parsed;
    if (st.kind == io::DdlStatement::Kind::kCreateTable && st.table.keyspace.empty()) {
      return invalid_argument(
          fmt::format("CREATE TABLE {}: the table name must be qualified with a keyspace "
                      "(keyspace.table)",
                      st.table.name));
    }
    auto res = client_->query(cql, client_->params(), kSchemaWait);
    if (!res) return res.error();
    if (st.kind == io::DdlStatement::Kind::kCreateTable) {
      schemas_.erase(fmt::format("{}.{}", st.table.keyspace, st.table.name));
    }
    TL_RETURN_IF_ERROR(wait_for_schema_agreement());
    if (st.kind == io::DdlStatement::Kind::kCreateTable) {
      return wait_until_visible(st.table.keyspace, st.table.name);
    }
    return {};
  }

  Result<TableSchema> describe(std::string_view keyspace, std::string_view table) override {
    TL_RETURN_IF_ERROR(ensure_connected());
    TL_ASSIGN_OR_RETURN(const TableSchema* s, schema(keyspace, table));
    return *s;
  }

  // Upserts are idempotent, so a batch whose node failed is sent again, whole, through
  // another node (docs/formats/cql.md, "Nodes and failover").
  Status upsert(std::string_view keyspace, std::string_view table, const Batch& rows) override {
    Status st;
    for (int attempt = 1; attempt <= kWriteAttempts; ++attempt) {
      st = upsert_once(keyspace, table, rows);
      if (st.ok() || !node_failure(st)) return st;
      const std::string failed = client_ ? client_->peer() : std::string("no node");
      if (attempt == kWriteAttempts) break;
      spdlog::warn(
          "cassandra: {} failed ({}); writing the batch again through another node "
          "(attempt {} of {})",
          failed, st.message(), attempt + 1, kWriteAttempts);
      fail_over(failed);
      std::this_thread::sleep_for(milliseconds(200 * attempt));
    }
    return st;
  }

  Status upsert_once(std::string_view keyspace, std::string_view table, const Batch& rows) {
    TL_RETURN_IF_ERROR(ensure_connected());
    TL_ASSIGN_OR_RETURN(const TableSchema* s, schema(keyspace, table));
    TL_ASSIGN_OR_RETURN(io::UpsertColumns cols, io::map_upsert_columns(*s, rows, keyspace, table));
    const auto& fields = rows.schema->fields;
    const std::vector<int>& table_col = cols.table_col;
    const std::vector<bool>& is_key = cols.is_key;
    if (rows.num_rows == 0) return {};
    std::string names, markers;
    for (size_t i = 0; i < fields.size(); ++i) {
      names += (i ? ", " : "") + quote(fields[i].name);
      markers += i ? ", ?" : "?";
    }
    const std::string cql =
        fmt::format("INSERT INTO {} ({}) VALUES ({})", table_ref(keyspace, table), names, markers);
    auto it = statements_.find(cql);
    if (it == statements_.end()) {
      TL_ASSIGN_OR_RETURN(Prepared p, client_->prepare(cql));
      it = statements_.emplace(cql, std::move(p)).first;
    }
    const uint16_t nvalues = static_cast<uint16_t>(fields.size());
    io::CqlCell cell;
    auto encode_row = [&](int64_t r, BodyWriter& w) -> Status {
      for (size_t i = 0; i < fields.size(); ++i) {
        const auto& tc = s->columns[static_cast<size_t>(table_col[i])];
        const Column& col = rows.columns[i];
        if (is_key[static_cast<size_t>(table_col[i])] && !col.is_valid(r)) {
          return invalid_argument(
              fmt::format("row {}: primary key column '{}' is null", r, tc.name));
        }
        TL_RETURN_IF_ERROR(io::to_cql_cell(tc.type, col, r, tc.name, cell));
        encode_cell(w, tc.type, cell);
      }
      return {};
    };
    // Every row is converted once before anything is sent, so a row Cassandra could not
    // take (null key, value out of range) writes nothing, as with the embedded store.
    // Server-side failures can still leave earlier rows written (no transactions).
    BodyWriter scratch;
    for (int64_t r = 0; r < rows.num_rows; ++r) {
      scratch.buffer().clear();
      Status e = encode_row(r, scratch);
      if (!e.ok()) return e.with_context(fmt::format("upsert into {}.{}", keyspace, table));
    }
    // Token-aware routing: each row goes to the node that owns its partition key's token,
    // over that node's own connection; rows of the connected node, and of nodes that cannot
    // be reached, go through client_ (which forwards them).
    std::map<std::string, std::vector<int64_t>> groups;  // node ("" = client_) -> rows
    route_rows(*s, rows, table_col, groups);
    if (groups.size() > 1 || !groups.begin()->first.empty()) {
      std::string counts;
      for (const auto& [node, group] : groups) {
        counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ",
                              node.empty() ? client_->peer() : node, group.size());
      }
      spdlog::debug("cassandra: upsert of {} rows into {}.{} routed: {}", rows.num_rows, keyspace,
                    table, counts);
    }
    for (const auto& [node, group] : groups) {
      Client* c = client_.get();
      Prepared* stmt = &it->second;
      if (!node.empty()) {
        NodeConn& nc = routed_[node];
        auto prepared = nc.statements.find(cql);
        if (prepared == nc.statements.end()) {
          auto p = nc.client->prepare(cql);
          if (!p) {
            if (!nc.client->usable()) mark_down(node);
            return p.error().with_context(fmt::format("upsert into {}.{}", keyspace, table));
          }
          prepared = nc.statements.emplace(cql, std::move(*p)).first;
        }
        c = nc.client.get();
        stmt = &prepared->second;
      }
      Status st = c->execute_many(
          *stmt, static_cast<int64_t>(group.size()), [&](int64_t j, QueryParams& p) -> Status {
            BodyWriter w;
            TL_RETURN_IF_ERROR(encode_row(group[static_cast<size_t>(j)], w));
            p.values = w.take();
            p.value_count = nvalues;
            p.has_values = true;
            return {};
          });
      if (!st.ok()) {
        if (!node.empty() && !c->usable()) mark_down(node);
        return st.with_context(fmt::format("upsert into {}.{}", keyspace, table));
      }
    }
    return {};
  }

  Status scan(std::string_view keyspace, std::string_view table, int64_t limit, int64_t batch_rows,
              const std::function<Status(Batch&&)>& on_batch) override {
    TL_RETURN_IF_ERROR(ensure_connected());
    TL_ASSIGN_OR_RETURN(const TableSchema* s, schema(keyspace, table));
    if (batch_rows <= 0) batch_rows = 4096;
    if (limit == 0) return {};
    std::string cols;
    for (const auto& c : s->columns) cols += (cols.empty() ? "" : ", ") + quote(c.name);
    std::string cql = fmt::format("SELECT {} FROM {}", cols, table_ref(keyspace, table));
    if (limit > 0 && limit <= std::numeric_limits<int32_t>::max()) {
      cql += fmt::format(" LIMIT {}", limit);
    }
    const TypePtr type = s->batch_type();
    const size_t ncols = s->columns.size();
    Batch batch = Batch::empty(type);
    auto flush = [&]() -> Status {
      Batch out = std::move(batch);
      batch = Batch::empty(type);
      return on_batch(std::move(out));
    };
    QueryParams p = client_->params();
    p.page_size = kPageSize;
    int64_t total = 0;
    // The next page is requested before this one is converted, so the server reads while we
    // decode. Every return below first collects a pending response, keeping the connection
    // in step.
    TL_RETURN_IF_ERROR(client_->start_query(cql, p));
    Status st = [&]() -> Status {
      while (client_->query_pending()) {
        auto res = client_->finish_query();
        if (!res) return res.error().with_context(fmt::format("scan of {}.{}", keyspace, table));
        if (res->kind != ResultKind::kRows) {
          return corruption(fmt::format("scan of {}.{}: SELECT returned result kind {}", keyspace,
                                        table, static_cast<int>(res->kind)));
        }
        const Rows& page = res->rows;
        if (page.metadata.paging_state && (limit < 0 || total + page.row_count < limit)) {
          p.paging_state = *page.metadata.paging_state;
          TL_RETURN_IF_ERROR(client_->start_query(cql, p));
        }
        if (page.metadata.columns.size() != ncols) {
          return corruption(fmt::format("scan of {}.{}: {} columns in the result, expected {}",
                                        keyspace, table, page.metadata.columns.size(), ncols));
        }
        for (size_t c = 0; c < ncols; ++c) {
          auto t = supported_type(page.metadata.columns[c].type);
          if (!t || *t != s->columns[c].type) {
            return corruption(fmt::format(
                "scan of {}.{}: column '{}' has type {} in the result, expected {} (schema "
                "changed?)",
                keyspace, table, s->columns[c].name, page.metadata.columns[c].type.to_string(),
                cql_type_name(s->columns[c].type)));
          }
        }
        for (int32_t r = 0; r < page.row_count; ++r) {
          if (limit >= 0 && total >= limit) break;
          for (size_t c = 0; c < ncols; ++c) {
            Status a = append_cell(batch.columns[c], page.metadata.columns[c].type,
                                   page.cell(r, static_cast<int32_t>(c)));
            if (!a.ok()) {
              return a.with_context(fmt::format("scan of {}.{}: {}: column '{}'", keyspace, table,
                                                client_->peer(), s->columns[c].name));
            }
          }
          ++total;
          if (++batch.num_rows >= batch_rows) TL_RETURN_IF_ERROR(flush());
        }
      }
      return {};
    }();
    if (!st.ok()) {
      if (client_->query_pending()) (void)client_->finish_query();
      return st;
    }
    if (batch.num_rows > 0) TL_RETURN_IF_ERROR(flush());
    return {};
  }

  Result<int64_t> count(std::string_view keyspace, std::string_view table) override {
    TL_RETURN_IF_ERROR(ensure_connected());
    TL_RETURN_IF_ERROR(schema(keyspace, table));
    // A full scan on the server; it pages internally, so only our wait needs to be long.
    TL_ASSIGN_OR_RETURN(ResultBody res, client_->query(fmt::format("SELECT COUNT(*) FROM {}",
                                                                   table_ref(keyspace, table)),
                                                       client_->params(), kCountTimeout));
    if (res.kind != ResultKind::kRows || res.rows.row_count != 1 ||
        res.rows.metadata.column_count != 1) {
      return error(StatusCode::kCorruption,
                   fmt::format("count of {}.{}: unexpected result shape", keyspace, table));
    }
    Column c(DataType::of(TypeId::kI64));
    TL_RETURN_IF_ERROR(append_cell(c, res.rows.metadata.columns[0].type, res.rows.cell(0, 0)));
    if (!c.is_valid(0)) return int64_t{0};
    return c.int_at(0);
  }

 private:
  // A client whose connection failed (transport error, timeout, undecodable frame) is
  // replaced by a new connection at the start of the next call; the call that saw the failure
  // has already returned it. Prepared statements are prepared again on the new connection.
  // Connects to the known nodes (contact points, then the peers learned from them) in turn,
  // starting after the node that failed last.
  Status ensure_connected() {
    if (client_ && client_->usable()) return {};
    client_.reset();
    statements_.clear();
    CqlOptions o = options_;
    if (!nodes_.empty()) {
      o.contact_points.clear();
      for (size_t i = 0; i < nodes_.size(); ++i) {
        o.contact_points += (i ? ", " : "") + nodes_[(start_ + i) % nodes_.size()];
      }
    }
    TL_ASSIGN_OR_RETURN(client_, connect_client(o));
    learn_peers();
    load_ring();
    return {};
  }

  // The ring of the connected node's view: its own tokens (system.local) and its peers'
  // (system.peers_v2), the nodes of `local_dc` only when set. Best effort: without it (an
  // older server, one node) every row goes through client_.
  void load_ring() {
    ring_ = TokenRing();
    ring_nodes_.clear();
    if (!client_) return;
    auto add = [&](const std::string& node, std::optional<std::string_view> tokens) {
      if (!tokens || tokens->size() < 4) return;
      // set<text>: [int n] then n x [int length][bytes].
      const auto* b = reinterpret_cast<const uint8_t*>(tokens->data());
      auto be32 = [&](size_t at) {
        return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
               b[at + 3];
      };
      const uint32_t n = be32(0);
      size_t at = 4;
      const int index = static_cast<int>(ring_nodes_.size());
      ring_nodes_.push_back(node);
      for (uint32_t k = 0; k < n && at + 4 <= tokens->size(); ++k) {
        const uint32_t len = be32(at);
        at += 4;
        if (at + len > tokens->size()) return;
        int64_t t = 0;
        const char* first = tokens->data() + at;
        if (std::from_chars(first, first + len, t).ec == std::errc()) ring_.add(t, index);
        at += len;
      }
    };
    auto local = client_->query("SELECT tokens, data_center FROM system.local WHERE key='local'");
    if (!local || local->rows.row_count != 1) return;
    const bool local_ok = options_.local_dc.empty() || local->rows.cell(0, 1).value_or("") ==
                                                           std::string_view(options_.local_dc);
    if (local_ok) add(client_->peer(), local->rows.cell(0, 0));
    auto peers = client_->query(
        "SELECT native_address, native_port, tokens, data_center FROM system.peers_v2");
    if (!peers) {
      ring_ = TokenRing();
      ring_nodes_.clear();
      return;
    }
    for (int32_t r = 0; r < peers->rows.row_count; ++r) {
      auto addr = peers->rows.cell(r, 0);
      auto port = peers->rows.cell(r, 1);
      if (!addr || !port || port->size() != 4) continue;
      if (!options_.local_dc.empty() &&
          peers->rows.cell(r, 3).value_or("") != std::string_view(options_.local_dc)) {
        continue;
      }
      const auto* pb = reinterpret_cast<const uint8_t*>(port->data());
      const uint32_t pn =
          (uint32_t{pb[0]} << 24) | (uint32_t{pb[1]} << 16) | (uint32_t{pb[2]} << 8) | pb[3];
      const std::string host = inet_text(*addr);
      if (host.empty() || pn == 0 || pn > 65535) continue;
      add(net::Endpoint{host, static_cast<uint16_t>(pn)}.to_string(), peers->rows.cell(r, 2));
    }
    ring_.finish();
  }

  // Groups the rows by the node their partition key's token belongs to ("" = client_: the
  // connected node, a node that cannot be reached, or no ring).
  void route_rows(const TableSchema& s, const Batch& rows, const std::vector<int>& table_col,
                  std::map<std::string, std::vector<int64_t>>& groups) {
    std::vector<size_t> key_fields;  // the batch fields of the partition key, in key order
    for (const auto& k : s.partition_key) {
      const int tc = s.column_index(k);
      auto f = std::find(table_col.begin(), table_col.end(), tc);
      if (tc < 0 || f == table_col.end()) break;
      key_fields.push_back(static_cast<size_t>(f - table_col.begin()));
    }
    std::set<std::string> distinct(ring_nodes_.begin(), ring_nodes_.end());
    if (ring_.empty() || distinct.size() < 2 || key_fields.size() != s.partition_key.size()) {
      auto& all = groups[""];
      for (int64_t r = 0; r < rows.num_rows; ++r) all.push_back(r);
      return;
    }
    io::CqlCell cell;
    std::vector<std::string> parts(key_fields.size());
    std::vector<std::string_view> views(key_fields.size());
    for (int64_t r = 0; r < rows.num_rows; ++r) {
      bool ok = true;
      for (size_t k = 0; k < key_fields.size() && ok; ++k) {
        const size_t f = key_fields[k];
        const auto& tc = s.columns[static_cast<size_t>(table_col[f])];
        BodyWriter w;
        ok = io::to_cql_cell(tc.type, rows.columns[f], r, tc.name, cell).ok() && !cell.is_null;
        if (ok) {
          encode_cell(w, tc.type, cell);
          parts[k] = w.take().substr(4);  // the value without its [int] length
          views[k] = parts[k];
        }
      }
      const int owner = ok ? ring_.owner(murmur3_token(routing_key(views))) : -1;
      const std::string node = owner < 0 ? std::string() : ring_nodes_[static_cast<size_t>(owner)];
      groups[reachable(node) ? node : std::string()].push_back(r);
    }
  }

  // Whether `node` has (or now gets) a usable routed connection; false for client_'s own
  // node and for nodes marked down in the last 5 s.
  bool reachable(const std::string& node) {
    if (node.empty() || (client_ && node == client_->peer())) return false;
    NodeConn& nc = routed_[node];
    if (nc.client && nc.client->usable()) return true;
    if (std::chrono::steady_clock::now() < nc.down_until) return false;
    nc.client.reset();
    nc.statements.clear();
    CqlOptions o = options_;
    o.contact_points = node;
    o.local_dc.clear();  // chosen from the ring already
    auto c = connect_client(o);
    if (!c) {
      mark_down(node);
      return false;
    }
    nc.client = std::move(*c);
    return true;
  }

  void mark_down(const std::string& node) {
    NodeConn& nc = routed_[node];
    nc.client.reset();
    nc.statements.clear();
    nc.down_until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  }

  // Adds the connected node's peers to the known nodes (best effort: a failure here shows in
  // the next request).
  void learn_peers() {
    if (!client_) return;
    auto peers = discover_peers(*client_, kDefaultPort);
    if (!peers) return;
    for (const auto& ep : *peers) {
      const std::string e = ep.to_string();
      if (std::find(nodes_.begin(), nodes_.end(), e) == nodes_.end()) nodes_.push_back(e);
    }
  }

  // The failure of a request that another node may not have: the connection broke, the node
  // is going away or overloaded.
  bool node_failure(const Status& st) const {
    if (client_ && !client_->usable()) return true;
    return st.code() == StatusCode::kUnavailable || st.code() == StatusCode::kTimeout;
  }

  // Drops the connection; the next one starts at the node after `failed`.
  void fail_over(const std::string& failed) {
    client_.reset();
    statements_.clear();
    auto it = std::find(nodes_.begin(), nodes_.end(), failed);
    if (it != nodes_.end()) start_ = static_cast<size_t>(it - nodes_.begin()) + 1;
  }

  Result<bool> keyspace_exists(std::string_view ks) {
    QueryParams p = client_->params();
    bind_text(p, ks);
    TL_ASSIGN_OR_RETURN(
        ResultBody res,
        client_->query("SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
                       p));
    return res.rows.row_count > 0;
  }

  Result<bool> table_exists(std::string_view ks, std::string_view tbl) {
    QueryParams p = client_->params();
    bind_text(p, ks);
    bind_text(p, tbl);
    TL_ASSIGN_OR_RETURN(ResultBody res,
                        client_->query("SELECT table_name FROM system_schema.tables WHERE "
                                       "keyspace_name = ? AND table_name = ?",
                                       p));
    return res.rows.row_count > 0;
  }

  // Waits until every node reports the same schema version (system.local + system.peers).
  Status wait_for_schema_agreement() {
    const auto deadline = std::chrono::steady_clock::now() + kSchemaWait;
    while (true) {
      TL_ASSIGN_OR_RETURN(
          ResultBody local,
          client_->query("SELECT schema_version FROM system.local WHERE key='local'"));
      TL_ASSIGN_OR_RETURN(ResultBody peers,
                          client_->query("SELECT schema_version FROM system.peers"));
      bool agree = local.rows.row_count == 1;
      if (agree) {
        auto mine = local.rows.cell(0, 0);
        for (int32_t r = 0; r < peers.rows.row_count; ++r) {
          auto theirs = peers.rows.cell(r, 0);
          if (theirs && mine != theirs) agree = false;
        }
      }
      if (agree) return {};
      if (std::chrono::steady_clock::now() > deadline) {
        return unavailable(fmt::format("{}: schema versions did not agree within {} ms",
                                       client_->peer(), kSchemaWait.count()));
      }
      std::this_thread::sleep_for(milliseconds(200));
    }
  }

  Status wait_until_visible(std::string_view ks, std::string_view tbl) {
    const auto deadline = std::chrono::steady_clock::now() + kSchemaWait;
    while (true) {
      TL_ASSIGN_OR_RETURN(bool exists, table_exists(ks, tbl));
      if (exists) return {};
      if (std::chrono::steady_clock::now() > deadline) {
        return unavailable(fmt::format("{}: table {}.{} not visible {} ms after CREATE TABLE",
                                       client_->peer(), ks, tbl, kSchemaWait.count()));
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  // Reads the table's columns from system_schema; nullopt when the table does not exist.
  // Column order: partition key, clustering key (by position), then the other columns in
  // name order — the order of Cassandra's own `SELECT *` (declaration order is not stored).
  Result<std::optional<TableSchema>> load_schema(std::string_view ks, std::string_view tbl) {
    QueryParams p = client_->params();
    bind_text(p, ks);
    bind_text(p, tbl);
    TL_ASSIGN_OR_RETURN(
        ResultBody res,
        client_->query("SELECT column_name, kind, position, clustering_order, type "
                       "FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?",
                       p));
    const Rows& rows = res.rows;
    if (rows.row_count == 0) return std::nullopt;
    if (rows.metadata.column_count != 5) {
      return error(StatusCode::kCorruption, "system_schema.columns: unexpected result shape");
    }
    struct Col {
      std::string name, kind, order, type;
      int32_t position = 0;
    };
    std::vector<Col> cols;
    for (int32_t r = 0; r < rows.row_count; ++r) {
      Col c;
      c.name = std::string(rows.cell(r, 0).value_or(""));
      c.kind = std::string(rows.cell(r, 1).value_or(""));
      auto pos = rows.cell(r, 2);
      if (pos && pos->size() == 4) c.position = static_cast<int32_t>(get_be(pos->data(), 4));
      c.order = std::string(rows.cell(r, 3).value_or(""));
      c.type = std::string(rows.cell(r, 4).value_or(""));
      cols.push_back(std::move(c));
    }
    auto rank = [](const Col& c) {
      return c.kind == "partition_key" ? 0 : c.kind == "clustering" ? 1 : 2;
    };
    std::sort(cols.begin(), cols.end(), [&](const Col& a, const Col& b) {
      if (rank(a) != rank(b)) return rank(a) < rank(b);
      if (rank(a) < 2) return a.position < b.position;
      return a.name < b.name;
    });
    TableSchema s;
    s.keyspace = std::string(ks);
    s.name = std::string(tbl);
    for (const auto& c : cols) {
      auto t = type_from_schema_name(c.type);
      if (!t) {
        return error(StatusCode::kUnimplemented,
                     fmt::format("table {}.{}: column '{}' has CQL type '{}', which Tideline does "
                                 "not support (supported: int, bigint, text/varchar/ascii, "
                                 "timestamp, double, float, boolean)",
                                 ks, tbl, c.name, c.type));
      }
      s.columns.push_back({c.name, *t});
      if (c.kind == "partition_key") s.partition_key.push_back(c.name);
      if (c.kind == "clustering") {
        s.clustering_key.push_back(c.name);
        s.clustering_descending.push_back(c.order == "desc");
      }
    }
    return s;
  }

  Result<const TableSchema*> schema(std::string_view ks, std::string_view tbl) {
    std::string key = fmt::format("{}.{}", ks, tbl);
    auto it = schemas_.find(key);
    if (it != schemas_.end()) return &it->second;
    TL_ASSIGN_OR_RETURN(auto s, load_schema(ks, tbl));
    if (!s) {
      TL_ASSIGN_OR_RETURN(bool ks_exists, keyspace_exists(ks));
      if (!ks_exists) {
        return error(StatusCode::kNotFound,
                     fmt::format("{}: keyspace '{}' does not exist", client_->peer(), ks));
      }
      return error(StatusCode::kNotFound,
                   fmt::format("{}: table {} does not exist", client_->peer(), key));
    }
    return &schemas_.emplace(key, std::move(*s)).first->second;
  }

  CqlOptions options_;
  std::unique_ptr<Client> client_;  // null after a failed reconnection
  std::map<std::string, TableSchema, std::less<>> schemas_;
  std::map<std::string, Prepared, std::less<>> statements_;
  std::vector<std::string> nodes_;  // "host:port" of the contact points and learned peers
  size_t start_ = 0;                // index in nodes_ the next connection tries first
  // Token-aware routing: the ring (token -> index in ring_nodes_) and a connection per node.
  struct NodeConn {
    std::unique_ptr<Client> client;
    std::map<std::string, Prepared, std::less<>> statements;
    std::chrono::steady_clock::time_point down_until{};
  };
  TokenRing ring_;
  std::vector<std::string> ring_nodes_;
  std::map<std::string, NodeConn> routed_;
};

}  // namespace

Result<std::unique_ptr<io::TableStore>> open_cql_table_store(const CqlOptions& options) {
  TL_ASSIGN_OR_RETURN(auto client, connect_client(options));
  return std::unique_ptr<io::TableStore>(new CqlTableStore(options, std::move(client)));
}

}  // namespace tideline::io::cql
