// CQL native protocol v4 codec; format in docs/formats/cql.md.
#include "io/cql/frame.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <limits>

#include "common/time.h"

namespace tideline::io::cql {

namespace {

constexpr int kMaxTypeDepth = 16;

struct OpcodeName {
  uint8_t op;
  std::string_view name;
};
constexpr OpcodeName kOpcodeNames[] = {
    {0x00, "ERROR"},   {0x01, "STARTUP"},        {0x02, "READY"},         {0x03, "AUTHENTICATE"},
    {0x05, "OPTIONS"}, {0x06, "SUPPORTED"},      {0x07, "QUERY"},         {0x08, "RESULT"},
    {0x09, "PREPARE"}, {0x0A, "EXECUTE"},        {0x0B, "REGISTER"},      {0x0C, "EVENT"},
    {0x0D, "BATCH"},   {0x0E, "AUTH_CHALLENGE"}, {0x0F, "AUTH_RESPONSE"}, {0x10, "AUTH_SUCCESS"},
};

struct ConsistencyName {
  Consistency c;
  std::string_view name;
};
constexpr ConsistencyName kConsistencyNames[] = {
    {Consistency::kAny, "ANY"},
    {Consistency::kOne, "ONE"},
    {Consistency::kTwo, "TWO"},
    {Consistency::kThree, "THREE"},
    {Consistency::kQuorum, "QUORUM"},
    {Consistency::kAll, "ALL"},
    {Consistency::kLocalQuorum, "LOCAL_QUORUM"},
    {Consistency::kEachQuorum, "EACH_QUORUM"},
    {Consistency::kSerial, "SERIAL"},
    {Consistency::kLocalSerial, "LOCAL_SERIAL"},
    {Consistency::kLocalOne, "LOCAL_ONE"},
};

struct ErrorName {
  int32_t code;
  std::string_view name;
};
constexpr ErrorName kErrorNames[] = {
    {error_code::kServerError, "Server_error"},
    {error_code::kProtocolError, "Protocol_error"},
    {error_code::kBadCredentials, "Bad_credentials"},
    {error_code::kUnavailable, "Unavailable"},
    {error_code::kOverloaded, "Overloaded"},
    {error_code::kIsBootstrapping, "Is_bootstrapping"},
    {error_code::kTruncateError, "Truncate_error"},
    {error_code::kWriteTimeout, "Write_timeout"},
    {error_code::kReadTimeout, "Read_timeout"},
    {error_code::kReadFailure, "Read_failure"},
    {error_code::kFunctionFailure, "Function_failure"},
    {error_code::kWriteFailure, "Write_failure"},
    {error_code::kSyntaxError, "Syntax_error"},
    {error_code::kUnauthorized, "Unauthorized"},
    {error_code::kInvalid, "Invalid"},
    {error_code::kConfigError, "Config_error"},
    {error_code::kAlreadyExists, "Already_exists"},
    {error_code::kUnprepared, "Unprepared"},
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

Result<ColumnType> read_type(BodyReader& r, int depth) {
  const size_t at = r.offset();
  if (depth > kMaxTypeDepth) {
    return error(r.fail(at, fmt::format("type nested deeper than {}", kMaxTypeDepth)));
  }
  TL_ASSIGN_OR_RETURN(uint16_t id, r.short_());
  ColumnType t;
  t.code = static_cast<TypeCode>(id);
  switch (t.code) {
    case TypeCode::kCustom: {
      TL_ASSIGN_OR_RETURN(auto cls, r.string());
      t.custom_class = std::string(cls);
      return t;
    }
    case TypeCode::kAscii:
    case TypeCode::kBigint:
    case TypeCode::kBlob:
    case TypeCode::kBoolean:
    case TypeCode::kCounter:
    case TypeCode::kDecimal:
    case TypeCode::kDouble:
    case TypeCode::kFloat:
    case TypeCode::kInt:
    case TypeCode::kTimestamp:
    case TypeCode::kUuid:
    case TypeCode::kVarchar:
    case TypeCode::kVarint:
    case TypeCode::kTimeuuid:
    case TypeCode::kInet:
    case TypeCode::kDate:
    case TypeCode::kTime:
    case TypeCode::kSmallint:
    case TypeCode::kTinyint:
    case TypeCode::kDuration:
      return t;
    case TypeCode::kList:
    case TypeCode::kSet: {
      TL_ASSIGN_OR_RETURN(ColumnType e, read_type(r, depth + 1));
      t.params.push_back(std::move(e));
      return t;
    }
    case TypeCode::kMap: {
      for (int i = 0; i < 2; ++i) {
        TL_ASSIGN_OR_RETURN(ColumnType e, read_type(r, depth + 1));
        t.params.push_back(std::move(e));
      }
      return t;
    }
    case TypeCode::kUdt: {
      TL_ASSIGN_OR_RETURN(auto ks, r.string());
      TL_ASSIGN_OR_RETURN(auto name, r.string());
      t.custom_class = fmt::format("{}.{}", ks, name);
      TL_ASSIGN_OR_RETURN(uint16_t n, r.short_());
      for (uint16_t i = 0; i < n; ++i) {
        TL_RETURN_IF_ERROR(r.string());
        TL_ASSIGN_OR_RETURN(ColumnType e, read_type(r, depth + 1));
        t.params.push_back(std::move(e));
      }
      return t;
    }
    case TypeCode::kTuple: {
      TL_ASSIGN_OR_RETURN(uint16_t n, r.short_());
      for (uint16_t i = 0; i < n; ++i) {
        TL_ASSIGN_OR_RETURN(ColumnType e, read_type(r, depth + 1));
        t.params.push_back(std::move(e));
      }
      return t;
    }
  }
  return error(r.fail(at, fmt::format("unknown column type id 0x{:04x}", id)));
}

void write_type(const ColumnType& t, BodyWriter& w) {
  w.short_(static_cast<uint16_t>(t.code));
  switch (t.code) {
    case TypeCode::kCustom:
      w.string(t.custom_class);
      break;
    case TypeCode::kList:
    case TypeCode::kSet:
    case TypeCode::kMap:
      for (const auto& p : t.params) write_type(p, w);
      break;
    case TypeCode::kUdt: {
      auto dot = t.custom_class.find('.');
      w.string(dot == std::string::npos ? "" : t.custom_class.substr(0, dot));
      w.string(dot == std::string::npos ? t.custom_class : t.custom_class.substr(dot + 1));
      w.short_(static_cast<uint16_t>(t.params.size()));
      for (size_t i = 0; i < t.params.size(); ++i) {
        w.string(fmt::format("f{}", i));
        write_type(t.params[i], w);
      }
      break;
    }
    case TypeCode::kTuple:
      w.short_(static_cast<uint16_t>(t.params.size()));
      for (const auto& p : t.params) write_type(p, w);
      break;
    default:
      break;
  }
}

// Rows metadata; `prepared` = the bind-marker metadata of a Prepared result (pk indexes).
Result<RowsMetadata> read_metadata(BodyReader& r, std::vector<uint16_t>* pk_indexes) {
  RowsMetadata m;
  TL_ASSIGN_OR_RETURN(m.flags, r.int_());
  const size_t count_at = r.offset();
  TL_ASSIGN_OR_RETURN(m.column_count, r.int_());
  if (m.column_count < 0) {
    return error(r.fail(count_at, fmt::format("negative column count {}", m.column_count)));
  }
  if (pk_indexes) {
    const size_t at = r.offset();
    TL_ASSIGN_OR_RETURN(int32_t pk_count, r.int_());
    if (pk_count < 0 || static_cast<size_t>(pk_count) * 2 > r.remaining()) {
      return error(r.fail(at, fmt::format("bad partition key count {}", pk_count)));
    }
    for (int32_t i = 0; i < pk_count; ++i) {
      TL_ASSIGN_OR_RETURN(uint16_t idx, r.short_());
      pk_indexes->push_back(idx);
    }
  } else if (m.flags & rows_flag::kHasMorePages) {
    const size_t at = r.offset();
    TL_ASSIGN_OR_RETURN(auto ps, r.bytes());
    if (!ps) return error(r.fail(at, "Has_more_pages with a null paging state"));
    m.paging_state = std::string(*ps);
  }
  if (m.flags & rows_flag::kNoMetadata) return m;
  // Each column spec takes at least 4 bytes (name + type id): bounds the reservation.
  if (static_cast<size_t>(m.column_count) > r.remaining() / 4) {
    return error(r.fail(count_at, fmt::format("column count {} exceeds the body", m.column_count)));
  }
  std::string gks, gtbl;
  const bool global = m.flags & rows_flag::kGlobalTablesSpec;
  if (global) {
    TL_ASSIGN_OR_RETURN(auto ks, r.string());
    TL_ASSIGN_OR_RETURN(auto tbl, r.string());
    gks = std::string(ks);
    gtbl = std::string(tbl);
  }
  m.columns.reserve(static_cast<size_t>(m.column_count));
  for (int32_t i = 0; i < m.column_count; ++i) {
    ColumnSpec c;
    if (global) {
      c.keyspace = gks;
      c.table = gtbl;
    } else {
      TL_ASSIGN_OR_RETURN(auto ks, r.string());
      TL_ASSIGN_OR_RETURN(auto tbl, r.string());
      c.keyspace = std::string(ks);
      c.table = std::string(tbl);
    }
    TL_ASSIGN_OR_RETURN(auto name, r.string());
    c.name = std::string(name);
    TL_ASSIGN_OR_RETURN(c.type, read_type(r, 0));
    m.columns.push_back(std::move(c));
  }
  return m;
}

void write_metadata(const RowsMetadata& m, BodyWriter& w) {
  int32_t flags = m.flags & ~rows_flag::kHasMorePages;
  if (m.paging_state) flags |= rows_flag::kHasMorePages;
  w.int_(flags);
  w.int_(m.column_count);
  if (m.paging_state) w.bytes(*m.paging_state);
  if (flags & rows_flag::kNoMetadata) return;
  const bool global = flags & rows_flag::kGlobalTablesSpec;
  if (global) {
    w.string(m.columns.empty() ? "" : m.columns[0].keyspace);
    w.string(m.columns.empty() ? "" : m.columns[0].table);
  }
  for (const auto& c : m.columns) {
    if (!global) {
      w.string(c.keyspace);
      w.string(c.table);
    }
    w.string(c.name);
    write_type(c.type, w);
  }
}

}  // namespace

std::string opcode_name(uint8_t op) {
  for (const auto& o : kOpcodeNames) {
    if (o.op == op) return std::string(o.name);
  }
  return fmt::format("opcode 0x{:02x}", op);
}

bool is_known_opcode(uint8_t op) {
  for (const auto& o : kOpcodeNames) {
    if (o.op == op) return true;
  }
  return false;
}

Result<Consistency> parse_consistency(std::string_view name) {
  std::string all;
  for (const auto& c : kConsistencyNames) {
    if (iequals(c.name, name)) return c.c;
    all += (all.empty() ? "" : ", ") + std::string(c.name);
  }
  return error(StatusCode::kInvalidArgument,
               fmt::format("unknown consistency level '{}' (valid: {})", name, all));
}

std::string error_code_name(int32_t code) {
  for (const auto& e : kErrorNames) {
    if (e.code == code) return std::string(e.name);
  }
  return fmt::format("error 0x{:04x}", static_cast<uint32_t>(code));
}

void put_be(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_be(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

void encode_header(const FrameHeader& h, std::string& out) {
  out.push_back(static_cast<char>(h.version));
  out.push_back(static_cast<char>(h.flags));
  put_be(out, static_cast<uint16_t>(h.stream), 2);
  out.push_back(static_cast<char>(h.opcode));
  put_be(out, h.length, 4);
}

Result<FrameHeader> decode_response_header(std::span<const uint8_t> b) {
  if (b.size() < kHeaderSize) {
    return error(StatusCode::kCorruption,
                 fmt::format("frame header truncated: {} of {} bytes", b.size(), kHeaderSize));
  }
  FrameHeader h;
  h.version = b[0];
  h.flags = b[1];
  h.stream = static_cast<int16_t>((b[2] << 8) | b[3]);
  h.opcode = b[4];
  h.length = (uint32_t{b[5]} << 24) | (uint32_t{b[6]} << 16) | (uint32_t{b[7]} << 8) | b[8];
  if (h.version != kResponseVersion) {
    if ((h.version & 0x80) == 0) {
      return error(StatusCode::kCorruption,
                   fmt::format("frame offset 0: version byte 0x{:02x} is a request, expected "
                               "a v4 response (0x84)",
                               h.version));
    }
    return error(StatusCode::kCorruption,
                 fmt::format("frame offset 0: protocol version {} in the response, expected 4",
                             h.version & 0x7f));
  }
  if (!is_known_opcode(h.opcode)) {
    return error(StatusCode::kCorruption,
                 fmt::format("frame offset 4: unknown opcode 0x{:02x}", h.opcode));
  }
  if (h.length > kMaxBodyLength) {
    return error(StatusCode::kCorruption,
                 fmt::format("frame offset 5: {} body length {} exceeds the limit of {} bytes",
                             opcode_name(h.opcode), h.length, kMaxBodyLength));
  }
  return h;
}

void BodyWriter::short_(uint16_t v) {
  put_be(out_, v, 2);
}
void BodyWriter::int_(int32_t v) {
  put_be(out_, static_cast<uint32_t>(v), 4);
}
void BodyWriter::long_(int64_t v) {
  put_be(out_, static_cast<uint64_t>(v), 8);
}
void BodyWriter::string(std::string_view s) {
  short_(static_cast<uint16_t>(s.size()));
  out_.append(s);
}
void BodyWriter::long_string(std::string_view s) {
  int_(static_cast<int32_t>(s.size()));
  out_.append(s);
}
void BodyWriter::bytes(std::string_view s) {
  int_(static_cast<int32_t>(s.size()));
  out_.append(s);
}
void BodyWriter::short_bytes(std::string_view s) {
  short_(static_cast<uint16_t>(s.size()));
  out_.append(s);
}
void BodyWriter::string_map(const std::map<std::string, std::string>& m) {
  short_(static_cast<uint16_t>(m.size()));
  for (const auto& [k, v] : m) {
    string(k);
    string(v);
  }
}

Status BodyReader::fail(size_t at, std::string_view what) const {
  return corruption(fmt::format("{} body offset {}: {}", opcode_name(opcode_), at, what));
}

Result<std::string_view> BodyReader::take(size_t n, std::string_view what) {
  if (n > remaining()) {
    return error(fail(pos_, fmt::format("{} needs {} bytes, {} left", what, n, remaining())));
  }
  std::string_view out = body_.substr(pos_, n);
  pos_ += n;
  return out;
}

Result<uint8_t> BodyReader::byte() {
  TL_ASSIGN_OR_RETURN(auto b, take(1, "[byte]"));
  return static_cast<uint8_t>(b[0]);
}
Result<uint16_t> BodyReader::short_() {
  TL_ASSIGN_OR_RETURN(auto b, take(2, "[short]"));
  return static_cast<uint16_t>(get_be(b.data(), 2));
}
Result<int32_t> BodyReader::int_() {
  TL_ASSIGN_OR_RETURN(auto b, take(4, "[int]"));
  return static_cast<int32_t>(static_cast<uint32_t>(get_be(b.data(), 4)));
}
Result<int64_t> BodyReader::long_() {
  TL_ASSIGN_OR_RETURN(auto b, take(8, "[long]"));
  return static_cast<int64_t>(get_be(b.data(), 8));
}
Result<std::string_view> BodyReader::string() {
  const size_t at = pos_;
  TL_ASSIGN_OR_RETURN(uint16_t n, short_());
  auto s = take(n, "[string]");
  if (!s) pos_ = at;
  return s;
}
Result<std::string_view> BodyReader::long_string() {
  const size_t at = pos_;
  TL_ASSIGN_OR_RETURN(int32_t n, int_());
  if (n < 0) return error(fail(at, fmt::format("negative [long string] length {}", n)));
  auto s = take(static_cast<size_t>(n), "[long string]");
  if (!s) pos_ = at;
  return s;
}
Result<std::optional<std::string_view>> BodyReader::bytes() {
  const size_t at = pos_;
  TL_ASSIGN_OR_RETURN(int32_t n, int_());
  if (n < 0) return std::optional<std::string_view>();
  auto s = take(static_cast<size_t>(n), "[bytes]");
  if (!s) {
    pos_ = at;
    return error(s.error());
  }
  return std::optional<std::string_view>(*s);
}
Result<std::string_view> BodyReader::short_bytes() {
  TL_ASSIGN_OR_RETURN(uint16_t n, short_());
  return take(n, "[short bytes]");
}
Result<std::vector<std::string>> BodyReader::string_list() {
  TL_ASSIGN_OR_RETURN(uint16_t n, short_());
  std::vector<std::string> out;
  for (uint16_t i = 0; i < n; ++i) {
    TL_ASSIGN_OR_RETURN(auto s, string());
    out.emplace_back(s);
  }
  return out;
}
Result<std::map<std::string, std::vector<std::string>>> BodyReader::string_multimap() {
  TL_ASSIGN_OR_RETURN(uint16_t n, short_());
  std::map<std::string, std::vector<std::string>> out;
  for (uint16_t i = 0; i < n; ++i) {
    TL_ASSIGN_OR_RETURN(auto k, string());
    TL_ASSIGN_OR_RETURN(auto v, string_list());
    out[std::string(k)] = std::move(v);
  }
  return out;
}
Status BodyReader::skip_bytes_map() {
  TL_ASSIGN_OR_RETURN(uint16_t n, short_());
  for (uint16_t i = 0; i < n; ++i) {
    TL_RETURN_STATUS_IF_ERROR(string());
    TL_RETURN_STATUS_IF_ERROR(bytes());
  }
  return {};
}
Status BodyReader::skip(size_t n) {
  return detail::to_status(take(n, "skipped field"));
}

Result<std::string_view> strip_response_envelope(const FrameHeader& h, std::string_view body,
                                                 std::vector<std::string>* warnings) {
  if (h.flags & frame_flag::kCompression) {
    return error(StatusCode::kCorruption,
                 fmt::format("{} frame is compressed, but no compression was negotiated",
                             opcode_name(h.opcode)));
  }
  BodyReader r(body, h.opcode);
  if (h.flags & frame_flag::kTracing) TL_RETURN_IF_ERROR(r.skip(16));
  if (h.flags & frame_flag::kWarning) {
    TL_ASSIGN_OR_RETURN(auto w, r.string_list());
    if (warnings) *warnings = std::move(w);
  }
  if (h.flags & frame_flag::kCustomPayload) TL_RETURN_IF_ERROR(r.skip_bytes_map());
  return body.substr(r.offset());
}

std::string ColumnType::to_string() const {
  switch (code) {
    case TypeCode::kCustom:
      return fmt::format("'{}'", custom_class);
    case TypeCode::kAscii:
      return "ascii";
    case TypeCode::kBigint:
      return "bigint";
    case TypeCode::kBlob:
      return "blob";
    case TypeCode::kBoolean:
      return "boolean";
    case TypeCode::kCounter:
      return "counter";
    case TypeCode::kDecimal:
      return "decimal";
    case TypeCode::kDouble:
      return "double";
    case TypeCode::kFloat:
      return "float";
    case TypeCode::kInt:
      return "int";
    case TypeCode::kTimestamp:
      return "timestamp";
    case TypeCode::kUuid:
      return "uuid";
    case TypeCode::kVarchar:
      return "text";
    case TypeCode::kVarint:
      return "varint";
    case TypeCode::kTimeuuid:
      return "timeuuid";
    case TypeCode::kInet:
      return "inet";
    case TypeCode::kDate:
      return "date";
    case TypeCode::kTime:
      return "time";
    case TypeCode::kSmallint:
      return "smallint";
    case TypeCode::kTinyint:
      return "tinyint";
    case TypeCode::kDuration:
      return "duration";
    case TypeCode::kList:
      return fmt::format("list<{}>", params.empty() ? "?" : params[0].to_string());
    case TypeCode::kSet:
      return fmt::format("set<{}>", params.empty() ? "?" : params[0].to_string());
    case TypeCode::kMap:
      return fmt::format("map<{}, {}>", params.size() > 0 ? params[0].to_string() : "?",
                         params.size() > 1 ? params[1].to_string() : "?");
    case TypeCode::kUdt:
      return custom_class;
    case TypeCode::kTuple: {
      std::string s = "tuple<";
      for (size_t i = 0; i < params.size(); ++i) s += (i ? ", " : "") + params[i].to_string();
      return s + ">";
    }
  }
  return fmt::format("type 0x{:04x}", static_cast<uint16_t>(code));
}

Result<ResultBody> decode_result(std::string body_in) {
  ResultBody out;
  // Rows keep the body; other kinds only read it.
  out.rows.body = std::move(body_in);
  const std::string& body = out.rows.body;
  BodyReader r(body, static_cast<uint8_t>(Opcode::kResult));
  TL_ASSIGN_OR_RETURN(int32_t kind, r.int_());
  out.kind = static_cast<ResultKind>(kind);
  switch (out.kind) {
    case ResultKind::kVoid:
      break;
    case ResultKind::kRows: {
      TL_ASSIGN_OR_RETURN(out.rows.metadata, read_metadata(r, nullptr));
      const size_t count_at = r.offset();
      TL_ASSIGN_OR_RETURN(out.rows.row_count, r.int_());
      const int64_t ncols = out.rows.metadata.column_count;
      const int64_t nrows = out.rows.row_count;
      if (nrows < 0) return error(r.fail(count_at, fmt::format("negative row count {}", nrows)));
      // Every cell takes at least its 4-byte length: bounds the allocation.
      if (ncols > 0 && nrows > static_cast<int64_t>(r.remaining() / 4) / ncols) {
        return error(
            r.fail(count_at, fmt::format("{} rows of {} columns exceed the body", nrows, ncols)));
      }
      out.rows.cells.reserve(static_cast<size_t>(nrows * ncols));
      for (int64_t i = 0; i < nrows * ncols; ++i) {
        const size_t at = r.offset();
        auto cell = r.bytes();
        if (!cell) {
          return error(r.fail(at, fmt::format("row {} column {}: {}", i / ncols, i % ncols,
                                              cell.error().message())));
        }
        Cell c;
        if (*cell) {
          c.offset = static_cast<uint32_t>((*cell)->data() - body.data());
          c.length = static_cast<int32_t>((*cell)->size());
        }
        out.rows.cells.push_back(c);
      }
      if (r.remaining() != 0) {
        return error(r.fail(r.offset(), fmt::format("{} bytes after the last row", r.remaining())));
      }
      return out;
    }
    case ResultKind::kSetKeyspace: {
      TL_ASSIGN_OR_RETURN(auto ks, r.string());
      out.keyspace = std::string(ks);
      break;
    }
    case ResultKind::kPrepared: {
      TL_ASSIGN_OR_RETURN(auto id, r.short_bytes());
      out.prepared_id = std::string(id);
      TL_ASSIGN_OR_RETURN(out.bind_metadata, read_metadata(r, &out.pk_indexes));
      TL_ASSIGN_OR_RETURN(out.result_metadata, read_metadata(r, nullptr));
      break;
    }
    case ResultKind::kSchemaChange: {
      TL_ASSIGN_OR_RETURN(auto change, r.string());
      TL_ASSIGN_OR_RETURN(auto target, r.string());
      out.schema_change.change = std::string(change);
      out.schema_change.target = std::string(target);
      TL_ASSIGN_OR_RETURN(auto ks, r.string());
      out.schema_change.keyspace = std::string(ks);
      if (target != "KEYSPACE") {
        TL_ASSIGN_OR_RETURN(auto name, r.string());
        out.schema_change.name = std::string(name);
        if (target == "FUNCTION" || target == "AGGREGATE") TL_RETURN_IF_ERROR(r.string_list());
      }
      break;
    }
    default:
      return error(r.fail(0, fmt::format("unknown result kind 0x{:04x}", kind)));
  }
  out.rows.body.clear();
  return out;
}

Result<ServerError> decode_error(std::string_view body) {
  BodyReader r(body, static_cast<uint8_t>(Opcode::kError));
  ServerError e;
  TL_ASSIGN_OR_RETURN(e.code, r.int_());
  TL_ASSIGN_OR_RETURN(auto msg, r.string());
  e.message = std::string(msg);
  switch (e.code) {
    case error_code::kUnavailable:
      TL_RETURN_IF_ERROR(r.skip(2 + 4 + 4));
      break;
    case error_code::kWriteTimeout:
      TL_RETURN_IF_ERROR(r.skip(2 + 4 + 4));
      TL_RETURN_IF_ERROR(r.string());
      break;
    case error_code::kReadTimeout:
      TL_RETURN_IF_ERROR(r.skip(2 + 4 + 4 + 1));
      break;
    case error_code::kReadFailure:
      TL_RETURN_IF_ERROR(r.skip(2 + 4 + 4 + 4 + 1));
      break;
    case error_code::kWriteFailure:
      TL_RETURN_IF_ERROR(r.skip(2 + 4 + 4 + 4));
      TL_RETURN_IF_ERROR(r.string());
      break;
    case error_code::kFunctionFailure:
      TL_RETURN_IF_ERROR(r.string());
      TL_RETURN_IF_ERROR(r.string());
      TL_RETURN_IF_ERROR(r.string_list());
      break;
    case error_code::kAlreadyExists: {
      TL_ASSIGN_OR_RETURN(auto ks, r.string());
      TL_ASSIGN_OR_RETURN(auto tbl, r.string());
      e.keyspace = std::string(ks);
      e.table = std::string(tbl);
      break;
    }
    case error_code::kUnprepared: {
      TL_ASSIGN_OR_RETURN(auto id, r.short_bytes());
      e.unprepared_id = std::string(id);
      break;
    }
    default:
      break;
  }
  return e;
}

Status server_error_status(const ServerError& e, std::string_view peer) {
  StatusCode code = StatusCode::kIoError;
  switch (e.code) {
    case error_code::kSyntaxError:
      code = StatusCode::kParseError;
      break;
    case error_code::kInvalid:
    case error_code::kConfigError:
    case error_code::kBadCredentials:
    case error_code::kUnauthorized:
      code = StatusCode::kInvalidArgument;
      break;
    case error_code::kAlreadyExists:
      code = StatusCode::kAlreadyExists;
      break;
    case error_code::kUnavailable:
    case error_code::kOverloaded:
    case error_code::kIsBootstrapping:
    case error_code::kWriteTimeout:
    case error_code::kReadTimeout:
      code = StatusCode::kUnavailable;
      break;
    case error_code::kProtocolError:
      code = StatusCode::kCorruption;
      break;
    default:
      break;
  }
  return Status(code, fmt::format("{}: {}: {}", peer, error_code_name(e.code), e.message));
}

void encode_query_params(const QueryParams& p, BodyWriter& w) {
  w.short_(static_cast<uint16_t>(p.consistency));
  uint8_t flags = 0;
  if (p.has_values) flags |= query_flag::kValues;
  if (p.page_size > 0) flags |= query_flag::kPageSize;
  if (p.paging_state) flags |= query_flag::kPagingState;
  w.byte(flags);
  if (p.has_values) {
    w.short_(p.value_count);
    w.buffer().append(p.values);
  }
  if (p.page_size > 0) w.int_(p.page_size);
  if (p.paging_state) w.bytes(*p.paging_state);
}

std::string encode_query_body(std::string_view cql, const QueryParams& p) {
  BodyWriter w;
  w.long_string(cql);
  encode_query_params(p, w);
  return w.take();
}

std::string encode_execute_body(std::string_view prepared_id, const QueryParams& p) {
  BodyWriter w;
  w.short_bytes(prepared_id);
  encode_query_params(p, w);
  return w.take();
}

std::string encode_startup_body(const std::map<std::string, std::string>& options) {
  BodyWriter w;
  w.string_map(options);
  return w.take();
}

std::string sasl_plain_token(std::string_view username, std::string_view password) {
  std::string t;
  t.push_back('\0');
  t.append(username);
  t.push_back('\0');
  t.append(password);
  return t;
}

std::string encode_rows_result(const Rows& rows) {
  BodyWriter w;
  w.int_(static_cast<int32_t>(ResultKind::kRows));
  write_metadata(rows.metadata, w);
  w.int_(rows.row_count);
  for (int32_t r = 0; r < rows.row_count; ++r) {
    for (int32_t c = 0; c < rows.metadata.column_count; ++c) {
      auto cell = rows.cell(r, c);
      if (cell) {
        w.bytes(*cell);
      } else {
        w.null_value();
      }
    }
  }
  return w.take();
}

std::optional<CqlType> supported_type(const ColumnType& t) {
  switch (t.code) {
    case TypeCode::kInt:
      return CqlType::kInt;
    case TypeCode::kBigint:
    case TypeCode::kCounter:
      return CqlType::kBigint;
    case TypeCode::kAscii:
    case TypeCode::kVarchar:
      return CqlType::kText;
    case TypeCode::kTimestamp:
      return CqlType::kTimestamp;
    case TypeCode::kDouble:
      return CqlType::kDouble;
    case TypeCode::kFloat:
      return CqlType::kFloat;
    case TypeCode::kBoolean:
      return CqlType::kBoolean;
    default:
      return std::nullopt;
  }
}

Status append_cell(Column& col, const ColumnType& t, std::optional<std::string_view> cell) {
  if (!cell) {
    col.append_null();
    return {};
  }
  const std::string_view v = *cell;
  auto fixed = [&](size_t n) -> Status {
    if (v.size() == n) return {};
    return corruption(fmt::format("{} value of {} bytes, expected {}", t.to_string(), v.size(), n));
  };
  switch (t.code) {
    case TypeCode::kAscii:
    case TypeCode::kVarchar:
      col.append_string(v);
      return {};
    default:
      break;
  }
  // An empty value of a fixed-size type is Cassandra's "empty": read as null.
  if (v.empty()) {
    col.append_null();
    return {};
  }
  switch (t.code) {
    case TypeCode::kInt:
      TL_RETURN_STATUS_IF_ERROR(fixed(4));
      col.append_int(static_cast<int32_t>(static_cast<uint32_t>(get_be(v.data(), 4))));
      return {};
    case TypeCode::kBigint:
    case TypeCode::kCounter:
      TL_RETURN_STATUS_IF_ERROR(fixed(8));
      col.append_int(static_cast<int64_t>(get_be(v.data(), 8)));
      return {};
    case TypeCode::kTimestamp: {
      TL_RETURN_STATUS_IF_ERROR(fixed(8));
      const int64_t ms = static_cast<int64_t>(get_be(v.data(), 8));
      constexpr int64_t kLimit = std::numeric_limits<int64_t>::max() / kNanosPerMilli;
      if (ms > kLimit || ms < -kLimit) {
        return corruption(fmt::format("timestamp {} ms is outside the nanosecond range", ms));
      }
      col.append_int(ms * kNanosPerMilli);
      return {};
    }
    case TypeCode::kDouble:
      TL_RETURN_STATUS_IF_ERROR(fixed(8));
      col.append_float(std::bit_cast<double>(get_be(v.data(), 8)));
      return {};
    case TypeCode::kFloat:
      TL_RETURN_STATUS_IF_ERROR(fixed(4));
      col.append_float(std::bit_cast<float>(static_cast<uint32_t>(get_be(v.data(), 4))));
      return {};
    case TypeCode::kBoolean:
      TL_RETURN_STATUS_IF_ERROR(fixed(1));
      col.append_int(v[0] != 0 ? 1 : 0);
      return {};
    default:
      return unimplemented(fmt::format("CQL type {} is not supported", t.to_string()));
  }
}

}  // namespace tideline::io::cql
