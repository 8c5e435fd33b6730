// io::StateStore in a Cassandra table (docs/formats/checkpoint.md, "Cassandra"). A value is
// a header row plus, when large, chunk rows under a generation-specific name: a new value's
// chunks are written first, then its header (one row, so the switch is atomic), then the
// previous generation's chunks are deleted. A reader never sees a half-written value.
#include <fmt/format.h>

#include <cstring>
#include <random>

#include "io/cql/connect.h"

namespace tideline::io::cql {

namespace {

constexpr size_t kChunkBytes = 256 * 1024;  // Cassandra warns about cells beyond ~1 MB
constexpr std::string_view kHeaderMagic = "TLKV";
constexpr int32_t kHeaderPart = -1;

void bind_int(QueryParams& p, int32_t v) {
  BodyWriter w;
  w.int_(4);
  w.int_(v);
  p.values += w.take();
  ++p.value_count;
  p.has_values = true;
}

// FNV-1a, 64 bits: detects a value assembled from the wrong chunks (not an adversary).
uint64_t checksum(std::string_view v) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : v) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

int32_t int_cell(std::string_view c) {
  if (c.size() != 4) return INT32_MIN;
  uint32_t v = 0;
  for (char ch : c) v = (v << 8) | static_cast<uint8_t>(ch);
  return static_cast<int32_t>(v);
}

// Header: magic, u64 generation, u32 chunks, u64 size, u64 hash, then the value itself when
// chunks == 0. Little-endian.
struct Header {
  uint64_t generation = 0;
  uint32_t chunks = 0;
  uint64_t size = 0;
  uint64_t hash = 0;
  std::string_view inline_value;
};

std::string encode_header(const Header& h) {
  std::string out(kHeaderMagic);
  out.append(reinterpret_cast<const char*>(&h.generation), 8);
  out.append(reinterpret_cast<const char*>(&h.chunks), 4);
  out.append(reinterpret_cast<const char*>(&h.size), 8);
  out.append(reinterpret_cast<const char*>(&h.hash), 8);
  out.append(h.inline_value);
  return out;
}

Result<Header> decode_header(std::string_view in, std::string_view where) {
  constexpr size_t kFixed = 4 + 8 + 4 + 8 + 8;
  if (in.size() < kFixed || in.substr(0, 4) != kHeaderMagic)
    return error(StatusCode::kCorruption, fmt::format("{}: not a Tideline state header", where));
  Header h;
  std::memcpy(&h.generation, in.data() + 4, 8);
  std::memcpy(&h.chunks, in.data() + 12, 4);
  std::memcpy(&h.size, in.data() + 16, 8);
  std::memcpy(&h.hash, in.data() + 24, 8);
  h.inline_value = in.substr(kFixed);
  if (h.chunks == 0 && h.inline_value.size() != h.size)
    return error(StatusCode::kCorruption, fmt::format("{}: header says {} bytes, holds {}", where,
                                                      h.size, h.inline_value.size()));
  return h;
}

// The clustering name of a generation's chunks: sorts right after the header's name, never
// matches a caller's name (callers' names are printable).
std::string chunk_name(std::string_view name, uint64_t generation) {
  return fmt::format("{}\x01{:016x}", name, generation);
}

class CqlStateStore final : public io::StateStore {
 public:
  CqlStateStore(CqlOptions options, std::string table)
      : options_(std::move(options)), table_(std::move(table)) {
    std::random_device rd;
    generation_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }

  Status init() {
    TL_RETURN_IF_ERROR(connect());
    auto res = client_->query(
        fmt::format("CREATE TABLE IF NOT EXISTS {} (scope text, name text, part int, value blob, "
                    "PRIMARY KEY ((scope), name, part))",
                    table_));
    if (!res) return res.error().with_context("creating the job state table " + table_);
    return {};
  }

  Result<std::optional<std::string>> get(std::string_view scope, std::string_view name) override {
    TL_RETURN_IF_ERROR(ensure_connected());
    QueryParams p = client_->params();
    bind_text(p, scope);
    bind_text(p, name);
    bind_int(p, kHeaderPart);
    auto res = run(
        fmt::format("SELECT value FROM {} WHERE scope = ? AND name = ? AND part = ?", table_), p);
    if (!res) return error(res.error());
    if (res->rows.row_count == 0) return std::optional<std::string>();
    TL_ASSIGN_OR_RETURN(std::string v, resolve(scope, name, res->rows.cell(0, 0).value_or("")));
    return std::optional<std::string>(std::move(v));
  }

  Result<std::vector<std::pair<std::string, std::string>>> scan(std::string_view scope,
                                                                std::string_view prefix) override {
    TL_RETURN_IF_ERROR(ensure_connected());
    TL_ASSIGN_OR_RETURN(auto headers, list(scope, prefix));
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& [name, header] : headers) {
      TL_ASSIGN_OR_RETURN(std::string v, resolve(scope, name, header));
      out.emplace_back(name, std::move(v));
    }
    return out;
  }

  Status put(std::string_view scope, std::string_view name, std::string_view value) override {
    TL_RETURN_IF_ERROR(ensure_connected());
    // The previous generation, to delete after the switch.
    std::optional<Header> old;
    {
      QueryParams p = client_->params();
      bind_text(p, scope);
      bind_text(p, name);
      bind_int(p, kHeaderPart);
      auto res = run(
          fmt::format("SELECT value FROM {} WHERE scope = ? AND name = ? AND part = ?", table_), p);
      if (!res) return res.error();
      if (res->rows.row_count > 0) {
        auto h = decode_header(res->rows.cell(0, 0).value_or(""), name);
        if (h && h->chunks > 0) old = *h;
      }
    }
    Header h;
    h.generation = ++generation_;
    h.size = value.size();
    h.hash = checksum(value);
    if (value.size() > kChunkBytes) {
      h.chunks = static_cast<uint32_t>((value.size() + kChunkBytes - 1) / kChunkBytes);
      const std::string cname = chunk_name(name, h.generation);
      for (uint32_t i = 0; i < h.chunks; ++i) {
        TL_RETURN_IF_ERROR(write_row(scope, cname, static_cast<int32_t>(i),
                                     value.substr(size_t{i} * kChunkBytes, kChunkBytes)));
      }
    } else {
      h.inline_value = value;
    }
    TL_RETURN_IF_ERROR(write_row(scope, name, kHeaderPart, encode_header(h)));
    if (old) TL_RETURN_IF_ERROR(delete_name(scope, chunk_name(name, old->generation)));
    return {};
  }

  Status erase(std::string_view scope, std::string_view prefix, std::string_view through) override {
    TL_RETURN_IF_ERROR(ensure_connected());
    TL_ASSIGN_OR_RETURN_S(auto headers, list(scope, prefix));
    for (const auto& [name, header] : headers) {
      if (!through.empty() && name > through) continue;
      auto h = decode_header(header, name);
      if (h && h->chunks > 0)
        TL_RETURN_IF_ERROR(delete_name(scope, chunk_name(name, h->generation)));
      TL_RETURN_IF_ERROR(delete_name(scope, name));
    }
    return {};
  }

 private:
  Status connect() {
    client_.reset();
    TL_ASSIGN_OR_RETURN_S(client_, connect_client(options_));
    return {};
  }
  // A broken connection (node restarted) is replaced before the next call.
  Status ensure_connected() {
    if (client_ && client_->usable()) return {};
    return connect();
  }

  Result<ResultBody> run(const std::string& cql, const QueryParams& p) {
    auto res = client_->query(cql, p);
    if (!res) return error(res.error().with_context("job state table " + table_));
    return res;
  }

  Status write_row(std::string_view scope, std::string_view name, int32_t part,
                   std::string_view value) {
    QueryParams p = client_->params();
    bind_text(p, scope);
    bind_text(p, name);
    bind_int(p, part);
    bind_text(p, value);
    auto res = run(
        fmt::format("INSERT INTO {} (scope, name, part, value) VALUES (?, ?, ?, ?)", table_), p);
    return res ? Status() : res.error();
  }

  Status delete_name(std::string_view scope, std::string_view name) {
    QueryParams p = client_->params();
    bind_text(p, scope);
    bind_text(p, name);
    auto res = run(fmt::format("DELETE FROM {} WHERE scope = ? AND name = ?", table_), p);
    return res ? Status() : res.error();
  }

  // (name, header) of every value of `scope` whose name starts with `prefix`, in name order.
  Result<std::vector<std::pair<std::string, std::string>>> list(std::string_view scope,
                                                                std::string_view prefix) {
    QueryParams p = client_->params();
    bind_text(p, scope);
    bind_text(p, prefix);
    bind_text(p, std::string(prefix) + "\x7f");
    TL_ASSIGN_OR_RETURN(
        auto res, run(fmt::format("SELECT name, part, value FROM {} WHERE scope = ? AND name >= ? "
                                  "AND name < ?",
                                  table_),
                      p));
    std::vector<std::pair<std::string, std::string>> out;
    for (int32_t r = 0; r < res.rows.row_count; ++r) {
      if (int_cell(res.rows.cell(r, 1).value_or("")) != kHeaderPart) continue;
      std::string name(res.rows.cell(r, 0).value_or(""));
      if (name.find('\x01') != std::string::npos) continue;
      out.emplace_back(std::move(name), std::string(res.rows.cell(r, 2).value_or("")));
    }
    return out;
  }

  // The value a header stands for (inline or reassembled from its chunks, checked).
  Result<std::string> resolve(std::string_view scope, std::string_view name,
                              std::string_view header) {
    const std::string where = fmt::format("{} {}/{}", table_, scope, name);
    TL_ASSIGN_OR_RETURN(Header h, decode_header(header, where));
    std::string value;
    if (h.chunks == 0) {
      value.assign(h.inline_value);
    } else {
      QueryParams p = client_->params();
      bind_text(p, scope);
      bind_text(p, chunk_name(name, h.generation));
      TL_ASSIGN_OR_RETURN(
          auto res,
          run(fmt::format("SELECT part, value FROM {} WHERE scope = ? AND name = ?", table_), p));
      if (res.rows.row_count != static_cast<int32_t>(h.chunks))
        return error(StatusCode::kCorruption,
                     fmt::format("{}: {} of {} chunks", where, res.rows.row_count, h.chunks));
      for (int32_t r = 0; r < res.rows.row_count; ++r) {
        if (int_cell(res.rows.cell(r, 0).value_or("")) != r)
          return error(StatusCode::kCorruption, fmt::format("{}: chunk {} missing", where, r));
        value.append(res.rows.cell(r, 1).value_or(""));
      }
    }
    if (value.size() != h.size || checksum(value) != h.hash)
      return error(
          StatusCode::kCorruption,
          fmt::format("{}: the value does not match its header (size or checksum)", where));
    return value;
  }

  CqlOptions options_;
  std::string table_;
  std::unique_ptr<Client> client_;
  uint64_t generation_;
};

}  // namespace

Result<std::unique_ptr<io::StateStore>> open_cql_state_store(const CqlOptions& options,
                                                             const std::string& table) {
  auto store = std::make_unique<CqlStateStore>(options, table);
  TL_RETURN_IF_ERROR(store->init());
  return std::unique_ptr<io::StateStore>(std::move(store));
}

}  // namespace tideline::io::cql
