#pragma once
// CQL native protocol v4 codec: frame headers, body notation, the request bodies the client
// sends and the response bodies it reads (docs/formats/cql.md). Pure functions over bytes;
// no I/O. Decoders take untrusted bytes and fail with kCorruption naming the opcode and the
// byte offset in the body; they never read out of bounds.
// Thread-safety: everything here is stateless or a plain value type.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/batch.h"
#include "common/status.h"
#include "io/table_store.h"

namespace tideline::io::cql {

// Wire constants: defined by the protocol and serialized; they must never change.
inline constexpr uint8_t kRequestVersion = 0x04;
inline constexpr uint8_t kResponseVersion = 0x84;
inline constexpr size_t kHeaderSize = 9;
inline constexpr uint32_t kMaxBodyLength = 256u << 20;  // 256 MiB, the server's own limit
inline constexpr int kMaxStreams = 32768;               // request stream ids are 0..32767

namespace frame_flag {
inline constexpr uint8_t kCompression = 0x01;
inline constexpr uint8_t kTracing = 0x02;
inline constexpr uint8_t kCustomPayload = 0x04;
inline constexpr uint8_t kWarning = 0x08;
}  // namespace frame_flag

enum class Opcode : uint8_t {
  kError = 0x00,
  kStartup = 0x01,
  kReady = 0x02,
  kAuthenticate = 0x03,
  kOptions = 0x05,
  kSupported = 0x06,
  kQuery = 0x07,
  kResult = 0x08,
  kPrepare = 0x09,
  kExecute = 0x0A,
  kRegister = 0x0B,
  kEvent = 0x0C,
  kBatch = 0x0D,
  kAuthChallenge = 0x0E,
  kAuthResponse = 0x0F,
  kAuthSuccess = 0x10,
};
// "RESULT", or "opcode 0x42" for an unknown one.
std::string opcode_name(uint8_t op);
bool is_known_opcode(uint8_t op);

enum class Consistency : uint16_t {
  kAny = 0x0000,
  kOne = 0x0001,
  kTwo = 0x0002,
  kThree = 0x0003,
  kQuorum = 0x0004,
  kAll = 0x0005,
  kLocalQuorum = 0x0006,
  kEachQuorum = 0x0007,
  kSerial = 0x0008,
  kLocalSerial = 0x0009,
  kLocalOne = 0x000A,
};
// "LOCAL_ONE" (case-insensitive) -> kLocalOne; kInvalidArgument listing the valid names.
Result<Consistency> parse_consistency(std::string_view name);

enum class ResultKind : int32_t {
  kVoid = 0x0001,
  kRows = 0x0002,
  kSetKeyspace = 0x0003,
  kPrepared = 0x0004,
  kSchemaChange = 0x0005,
};

namespace rows_flag {
inline constexpr int32_t kGlobalTablesSpec = 0x0001;
inline constexpr int32_t kHasMorePages = 0x0002;
inline constexpr int32_t kNoMetadata = 0x0004;
}  // namespace rows_flag

namespace query_flag {
inline constexpr uint8_t kValues = 0x01;
inline constexpr uint8_t kSkipMetadata = 0x02;
inline constexpr uint8_t kPageSize = 0x04;
inline constexpr uint8_t kPagingState = 0x08;
inline constexpr uint8_t kSerialConsistency = 0x10;
inline constexpr uint8_t kDefaultTimestamp = 0x20;
inline constexpr uint8_t kNamedValues = 0x40;
}  // namespace query_flag

// Type option ids of column specs.
enum class TypeCode : uint16_t {
  kCustom = 0x0000,
  kAscii = 0x0001,
  kBigint = 0x0002,
  kBlob = 0x0003,
  kBoolean = 0x0004,
  kCounter = 0x0005,
  kDecimal = 0x0006,
  kDouble = 0x0007,
  kFloat = 0x0008,
  kInt = 0x0009,
  kTimestamp = 0x000B,
  kUuid = 0x000C,
  kVarchar = 0x000D,
  kVarint = 0x000E,
  kTimeuuid = 0x000F,
  kInet = 0x0010,
  kDate = 0x0011,
  kTime = 0x0012,
  kSmallint = 0x0013,
  kTinyint = 0x0014,
  kDuration = 0x0015,
  kList = 0x0020,
  kMap = 0x0021,
  kSet = 0x0022,
  kUdt = 0x0030,
  kTuple = 0x0031,
};

// Server error codes (ERROR body).
namespace error_code {
inline constexpr int32_t kServerError = 0x0000;
inline constexpr int32_t kProtocolError = 0x000A;
inline constexpr int32_t kBadCredentials = 0x0100;
inline constexpr int32_t kUnavailable = 0x1000;
inline constexpr int32_t kOverloaded = 0x1001;
inline constexpr int32_t kIsBootstrapping = 0x1002;
inline constexpr int32_t kTruncateError = 0x1003;
inline constexpr int32_t kWriteTimeout = 0x1100;
inline constexpr int32_t kReadTimeout = 0x1200;
inline constexpr int32_t kReadFailure = 0x1300;
inline constexpr int32_t kFunctionFailure = 0x1400;
inline constexpr int32_t kWriteFailure = 0x1500;
inline constexpr int32_t kSyntaxError = 0x2000;
inline constexpr int32_t kUnauthorized = 0x2100;
inline constexpr int32_t kInvalid = 0x2200;
inline constexpr int32_t kConfigError = 0x2300;
inline constexpr int32_t kAlreadyExists = 0x2400;
inline constexpr int32_t kUnprepared = 0x2500;
}  // namespace error_code
// "Syntax_error", or "error 0x1234" for an unknown code.
std::string error_code_name(int32_t code);

struct FrameHeader {
  uint8_t version = kRequestVersion;
  uint8_t flags = 0;
  int16_t stream = 0;
  uint8_t opcode = 0;
  uint32_t length = 0;
};

// Appends the 9-byte header of a request frame.
void encode_header(const FrameHeader& h, std::string& out);
// Decodes a response header: version must be 0x84, the opcode known, length <= 256 MiB.
Result<FrameHeader> decode_response_header(std::span<const uint8_t> bytes);

// Builds request bodies in the protocol's notation.
class BodyWriter {
 public:
  void byte(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void short_(uint16_t v);
  void int_(int32_t v);
  void long_(int64_t v);
  void string(std::string_view s);       // [string]; caller keeps s < 64 KiB
  void long_string(std::string_view s);  // [long string]
  void bytes(std::string_view s);        // [bytes] / [value]
  void null_value() { int_(-1); }
  void short_bytes(std::string_view s);
  void string_map(const std::map<std::string, std::string>& m);
  std::string& buffer() { return out_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads a body; every failure names the opcode and the offset where the bad field starts.
class BodyReader {
 public:
  BodyReader(std::string_view body, uint8_t opcode) : body_(body), opcode_(opcode) {}
  Result<uint8_t> byte();
  Result<uint16_t> short_();
  Result<int32_t> int_();
  Result<int64_t> long_();
  Result<std::string_view> string();
  Result<std::string_view> long_string();
  // [bytes]: nullopt for a negative length.
  Result<std::optional<std::string_view>> bytes();
  Result<std::string_view> short_bytes();
  Result<std::vector<std::string>> string_list();
  Result<std::map<std::string, std::vector<std::string>>> string_multimap();
  Status skip_bytes_map();
  Status skip(size_t n);
  size_t offset() const { return pos_; }
  size_t remaining() const { return body_.size() - pos_; }
  std::string_view body() const { return body_; }
  uint8_t opcode() const { return opcode_; }
  // kCorruption "<OPCODE> body offset <at>: <what>".
  Status fail(size_t at, std::string_view what) const;

 private:
  Result<std::string_view> take(size_t n, std::string_view what);
  std::string_view body_;
  size_t pos_ = 0;
  uint8_t opcode_;
};

// Strips what the response flags put before the body proper (tracing id, warnings, custom
// payload) and returns the body proper. A compressed frame is an error.
Result<std::string_view> strip_response_envelope(const FrameHeader& h, std::string_view body,
                                                 std::vector<std::string>* warnings = nullptr);

struct ColumnType {
  TypeCode code = TypeCode::kCustom;
  std::string custom_class;        // kCustom
  std::vector<ColumnType> params;  // list/set: 1, map: 2, tuple/udt: n
  std::string to_string() const;   // "int", "list<text>", ...
};
struct ColumnSpec {
  std::string keyspace, table, name;
  ColumnType type;
};
struct RowsMetadata {
  int32_t flags = 0;
  int32_t column_count = 0;
  std::optional<std::string> paging_state;  // set iff kHasMorePages
  std::vector<ColumnSpec> columns;          // empty with kNoMetadata
};

// One cell of a Rows result: a slice of the owning body, or null (length < 0).
struct Cell {
  uint32_t offset = 0;
  int32_t length = -1;
};
struct Rows {
  RowsMetadata metadata;
  int32_t row_count = 0;
  std::string body;         // owns the bytes cells point into
  std::vector<Cell> cells;  // row-major, row_count * column_count
  std::optional<std::string_view> cell(int32_t row, int32_t col) const {
    const Cell& c = cells[static_cast<size_t>(row) * static_cast<size_t>(metadata.column_count) +
                          static_cast<size_t>(col)];
    if (c.length < 0) return std::nullopt;
    return std::string_view(body).substr(c.offset, static_cast<size_t>(c.length));
  }
};

struct SchemaChange {
  std::string change, target, keyspace, name;
};

struct ResultBody {
  ResultKind kind = ResultKind::kVoid;
  Rows rows;                   // kRows
  std::string keyspace;        // kSetKeyspace
  std::string prepared_id;     // kPrepared
  RowsMetadata bind_metadata;  // kPrepared: the bind markers
  std::vector<uint16_t> pk_indexes;
  RowsMetadata result_metadata;  // kPrepared
  SchemaChange schema_change;    // kSchemaChange
};

// Decodes a RESULT body (after strip_response_envelope). Takes the body by value because
// Rows keep it.
Result<ResultBody> decode_result(std::string body);

struct ServerError {
  int32_t code = 0;
  std::string message;
  std::string keyspace, table;  // Already_exists
  std::string unprepared_id;    // Unprepared
};
Result<ServerError> decode_error(std::string_view body);
// The Status a server error maps to (docs/formats/cql.md), e.g.
// "127.0.0.1:9042: Syntax_error: line 1:0 no viable alternative ...".
Status server_error_status(const ServerError& e, std::string_view peer);

// Query parameters of QUERY and EXECUTE.
struct QueryParams {
  Consistency consistency = Consistency::kLocalOne;
  // Pre-encoded [value]s (see BodyWriter::bytes / null_value), and how many.
  std::string values;
  uint16_t value_count = 0;
  bool has_values = false;
  int32_t page_size = -1;  // <= 0: no paging
  std::optional<std::string> paging_state;
};
void encode_query_params(const QueryParams& p, BodyWriter& w);
std::string encode_query_body(std::string_view cql, const QueryParams& p);
std::string encode_execute_body(std::string_view prepared_id, const QueryParams& p);
std::string encode_startup_body(const std::map<std::string, std::string>& options);
// SASL PLAIN initial response: 0x00 username 0x00 password.
std::string sasl_plain_token(std::string_view username, std::string_view password);

// Encodes a Rows result body (used by tests and the fuzz target's round trip).
std::string encode_rows_result(const Rows& rows);

// The CQL type of a column type option, if it is in Tideline's subset (ascii and varchar
// map to kText, counter to kBigint); nullopt otherwise.
std::optional<CqlType> supported_type(const ColumnType& t);
// Appends a cell (nullopt = null) of wire type `t` (which must be supported) to `col`,
// whose type is type_for_cql(supported_type(t)). Errors say what is wrong with the bytes.
Status append_cell(Column& col, const ColumnType& t, std::optional<std::string_view> cell);

// Big-endian helpers for value encodings.
void put_be(std::string& out, uint64_t v, int bytes);
uint64_t get_be(const char* p, int bytes);

}  // namespace tideline::io::cql
