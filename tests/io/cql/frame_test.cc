#include "io/cql/frame.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <bit>

#include "common/time.h"

namespace tideline::io::cql {
namespace {

std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string response_header(uint8_t opcode, uint32_t length, int16_t stream = 3,
                            uint8_t version = kResponseVersion, uint8_t flags = 0) {
  std::string out;
  encode_header({version, flags, stream, opcode, length}, out);
  return out;
}

ColumnType type(TypeCode c) {
  ColumnType t;
  t.code = c;
  return t;
}

// A Rows result with one column per supported type and two rows (the second all null).
Rows sample_rows() {
  Rows rows;
  rows.metadata.flags = rows_flag::kGlobalTablesSpec;
  const TypeCode codes[] = {TypeCode::kInt,       TypeCode::kBigint, TypeCode::kVarchar,
                            TypeCode::kTimestamp, TypeCode::kDouble, TypeCode::kFloat,
                            TypeCode::kBoolean};
  for (TypeCode c : codes) {
    rows.metadata.columns.push_back(
        {"ks", "tbl", fmt::format("c{}", static_cast<int>(c)), type(c)});
  }
  rows.metadata.column_count = static_cast<int32_t>(rows.metadata.columns.size());
  std::vector<std::string> values;
  std::string v;
  put_be(v, static_cast<uint32_t>(-7), 4);
  values.push_back(v);
  v.clear();
  put_be(v, static_cast<uint64_t>(int64_t{1} << 40), 8);
  values.push_back(v);
  values.push_back("héllo");
  v.clear();
  put_be(v, static_cast<uint64_t>(int64_t{-1500}), 8);  // before the epoch
  values.push_back(v);
  v.clear();
  put_be(v, std::bit_cast<uint64_t>(2.5), 8);
  values.push_back(v);
  v.clear();
  put_be(v, std::bit_cast<uint32_t>(-0.25f), 4);
  values.push_back(v);
  values.push_back(std::string(1, '\x01'));
  for (const auto& val : values) {
    rows.cells.push_back(
        {static_cast<uint32_t>(rows.body.size()), static_cast<int32_t>(val.size())});
    rows.body += val;
  }
  for (size_t i = 0; i < values.size(); ++i) rows.cells.push_back({0, -1});
  rows.row_count = 2;
  return rows;
}

TEST(CqlFrame, HeaderRoundTrip) {
  std::string h = response_header(0x08, 1234, -5);
  ASSERT_EQ(h.size(), kHeaderSize);
  auto d = decode_response_header(as_bytes(h));
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  EXPECT_EQ(d->stream, -5);
  EXPECT_EQ(d->opcode, 0x08);
  EXPECT_EQ(d->length, 1234u);
  // Request header bytes exactly as the spec lays them out.
  std::string req;
  encode_header({kRequestVersion, 0, 0x0102, static_cast<uint8_t>(Opcode::kQuery), 0x0A0B0C0D},
                req);
  EXPECT_EQ(req, std::string("\x04\x00\x01\x02\x07\x0A\x0B\x0C\x0D", 9));
}

TEST(CqlFrame, HeaderErrors) {
  auto truncated = decode_response_header(as_bytes(response_header(0x08, 1).substr(0, 5)));
  ASSERT_FALSE(truncated.has_value());
  EXPECT_NE(truncated.error().message().find("truncated"), std::string::npos);

  auto v3 = decode_response_header(as_bytes(response_header(0x08, 1, 0, 0x83)));
  ASSERT_FALSE(v3.has_value());
  EXPECT_NE(v3.error().message().find("protocol version 3"), std::string::npos)
      << v3.error().message();

  auto req = decode_response_header(as_bytes(response_header(0x08, 1, 0, 0x04)));
  ASSERT_FALSE(req.has_value());
  EXPECT_NE(req.error().message().find("request"), std::string::npos);

  auto op = decode_response_header(as_bytes(response_header(0x42, 1)));
  ASSERT_FALSE(op.has_value());
  EXPECT_NE(op.error().message().find("unknown opcode 0x42"), std::string::npos);

  auto big = decode_response_header(as_bytes(response_header(0x08, kMaxBodyLength + 1)));
  ASSERT_FALSE(big.has_value());
  EXPECT_NE(big.error().message().find("exceeds the limit"), std::string::npos);
  EXPECT_TRUE(decode_response_header(as_bytes(response_header(0x08, kMaxBodyLength))));
}

TEST(CqlFrame, RowsRoundTripAndConversion) {
  Rows rows = sample_rows();
  std::string body = encode_rows_result(rows);
  auto d = decode_result(body);
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  ASSERT_EQ(d->kind, ResultKind::kRows);
  const Rows& got = d->rows;
  ASSERT_EQ(got.row_count, 2);
  ASSERT_EQ(got.metadata.column_count, 7);
  EXPECT_EQ(got.metadata.columns[2].name, "c13");
  EXPECT_EQ(got.metadata.columns[2].keyspace, "ks");
  EXPECT_FALSE(got.metadata.paging_state.has_value());
  EXPECT_EQ(encode_rows_result(got), body);  // re-encodes to the same bytes

  std::vector<Column> cols;
  for (const auto& spec : got.metadata.columns) {
    auto t = supported_type(spec.type);
    ASSERT_TRUE(t.has_value()) << spec.type.to_string();
    cols.emplace_back(DataType::of(type_for_cql(*t)));
  }
  for (int32_t r = 0; r < got.row_count; ++r) {
    for (int32_t c = 0; c < 7; ++c) {
      Status s = append_cell(cols[c], got.metadata.columns[c].type, got.cell(r, c));
      ASSERT_TRUE(s.ok()) << s.to_string();
    }
  }
  EXPECT_EQ(cols[0].int_at(0), -7);
  EXPECT_EQ(cols[1].int_at(0), int64_t{1} << 40);
  EXPECT_EQ(cols[2].string_at(0), "héllo");
  EXPECT_EQ(cols[3].int_at(0), -1500 * kNanosPerMilli);
  EXPECT_EQ(cols[4].float_at(0), 2.5);
  EXPECT_EQ(cols[5].float_at(0), -0.25);
  EXPECT_EQ(cols[6].int_at(0), 1);
  for (const auto& c : cols) EXPECT_FALSE(c.is_valid(1));
}

TEST(CqlFrame, RowsPagingStateAndPerColumnSpecs) {
  Rows rows = sample_rows();
  rows.metadata.flags = 0;  // per-column table specs
  rows.metadata.paging_state = std::string("\x00\x01state", 7);
  auto d = decode_result(encode_rows_result(rows));
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  ASSERT_TRUE(d->rows.metadata.paging_state.has_value());
  EXPECT_EQ(*d->rows.metadata.paging_state, std::string("\x00\x01state", 7));
  EXPECT_TRUE(d->rows.metadata.flags & rows_flag::kHasMorePages);
  EXPECT_EQ(d->rows.metadata.columns[6].table, "tbl");
}

TEST(CqlFrame, TruncatedRowsNameTheOffset) {
  std::string body = encode_rows_result(sample_rows());
  for (size_t n = 0; n < body.size(); ++n) {
    auto d = decode_result(body.substr(0, n));
    ASSERT_FALSE(d.has_value()) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(d.error().code(), StatusCode::kCorruption);
    EXPECT_NE(d.error().message().find("RESULT body offset"), std::string::npos)
        << d.error().message();
  }
  auto extra = decode_result(body + "x");
  ASSERT_FALSE(extra.has_value());
  EXPECT_NE(extra.error().message().find("after the last row"), std::string::npos);
}

TEST(CqlFrame, BadLengthsAndCounts) {
  // Kind Rows, flags 0, a huge column count.
  BodyWriter w;
  w.int_(2);
  w.int_(0);
  w.int_(1 << 30);
  auto d = decode_result(w.take());
  ASSERT_FALSE(d.has_value());
  EXPECT_NE(d.error().message().find("RESULT body offset 8: column count"), std::string::npos)
      << d.error().message();

  // A cell claiming more bytes than remain.
  BodyWriter c;
  c.int_(2);
  c.int_(rows_flag::kGlobalTablesSpec);
  c.int_(1);
  c.string("ks");
  c.string("t");
  c.string("a");
  c.short_(static_cast<uint16_t>(TypeCode::kInt));
  c.int_(1);
  c.int_(100);
  c.int_(7);
  auto cell = decode_result(c.take());
  ASSERT_FALSE(cell.has_value());
  EXPECT_NE(cell.error().message().find("row 0 column 0"), std::string::npos)
      << cell.error().message();

  // Unknown result kind and type id.
  BodyWriter k;
  k.int_(9);
  auto kind = decode_result(k.take());
  ASSERT_FALSE(kind.has_value());
  EXPECT_NE(kind.error().message().find("unknown result kind"), std::string::npos);

  BodyWriter t;
  t.int_(2);
  t.int_(rows_flag::kGlobalTablesSpec);
  t.int_(1);
  t.string("ks");
  t.string("t");
  t.string("a");
  t.short_(0x0099);
  t.int_(0);
  auto ty = decode_result(t.take());
  ASSERT_FALSE(ty.has_value());
  EXPECT_NE(ty.error().message().find("unknown column type id 0x0099"), std::string::npos);

  // A wrong-size fixed value.
  Column col(DataType::of(TypeId::kI32));
  Status s = append_cell(col, type(TypeCode::kInt), std::string_view("abc"));
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("int value of 3 bytes, expected 4"), std::string::npos);
}

TEST(CqlFrame, NestedTypesParse) {
  BodyWriter w;
  w.int_(2);
  w.int_(rows_flag::kGlobalTablesSpec);
  w.int_(1);
  w.string("ks");
  w.string("t");
  w.string("m");
  w.short_(static_cast<uint16_t>(TypeCode::kMap));
  w.short_(static_cast<uint16_t>(TypeCode::kVarchar));
  w.short_(static_cast<uint16_t>(TypeCode::kList));
  w.short_(static_cast<uint16_t>(TypeCode::kInt));
  w.int_(0);
  auto d = decode_result(w.take());
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  EXPECT_EQ(d->rows.metadata.columns[0].type.to_string(), "map<text, list<int>>");
  EXPECT_FALSE(supported_type(d->rows.metadata.columns[0].type).has_value());

  // Too deep nesting is refused, not recursed without bound.
  BodyWriter deep;
  deep.int_(2);
  deep.int_(rows_flag::kGlobalTablesSpec);
  deep.int_(1);
  deep.string("ks");
  deep.string("t");
  deep.string("m");
  for (int i = 0; i < 40; ++i) deep.short_(static_cast<uint16_t>(TypeCode::kList));
  deep.short_(static_cast<uint16_t>(TypeCode::kInt));
  deep.int_(0);
  auto dd = decode_result(deep.take());
  ASSERT_FALSE(dd.has_value());
  EXPECT_NE(dd.error().message().find("nested deeper"), std::string::npos);
}

TEST(CqlFrame, OtherResultKinds) {
  BodyWriter v;
  v.int_(1);
  auto vd = decode_result(v.take());
  ASSERT_TRUE(vd.has_value());
  EXPECT_EQ(vd->kind, ResultKind::kVoid);

  BodyWriter sc;
  sc.int_(5);
  sc.string("CREATED");
  sc.string("TABLE");
  sc.string("ks");
  sc.string("events");
  auto sd = decode_result(sc.take());
  ASSERT_TRUE(sd.has_value()) << sd.error().to_string();
  EXPECT_EQ(sd->schema_change.target, "TABLE");
  EXPECT_EQ(sd->schema_change.name, "events");

  BodyWriter p;
  p.int_(4);
  p.short_bytes("ID1");
  p.int_(rows_flag::kGlobalTablesSpec);  // bind metadata
  p.int_(1);
  p.int_(1);
  p.short_(0);
  p.string("ks");
  p.string("t");
  p.string("k");
  p.short_(static_cast<uint16_t>(TypeCode::kBigint));
  p.int_(rows_flag::kNoMetadata);  // result metadata
  p.int_(0);
  auto pd = decode_result(p.take());
  ASSERT_TRUE(pd.has_value()) << pd.error().to_string();
  EXPECT_EQ(pd->prepared_id, "ID1");
  ASSERT_EQ(pd->bind_metadata.columns.size(), 1u);
  EXPECT_EQ(pd->bind_metadata.columns[0].type.code, TypeCode::kBigint);
  EXPECT_EQ(pd->pk_indexes, std::vector<uint16_t>{0});
}

TEST(CqlFrame, ErrorDecoding) {
  BodyWriter w;
  w.int_(error_code::kSyntaxError);
  w.string("line 1:0 no viable alternative at input 'SELEC'");
  auto e = decode_error(w.take());
  ASSERT_TRUE(e.has_value());
  Status s = server_error_status(*e, "127.0.0.1:9042");
  EXPECT_EQ(s.code(), StatusCode::kParseError);
  EXPECT_EQ(s.message(),
            "127.0.0.1:9042: Syntax_error: line 1:0 no viable alternative at input 'SELEC'");

  BodyWriter a;
  a.int_(error_code::kAlreadyExists);
  a.string("Cannot add existing table");
  a.string("ks");
  a.string("t");
  auto ae = decode_error(a.take());
  ASSERT_TRUE(ae.has_value());
  EXPECT_EQ(ae->table, "t");
  EXPECT_EQ(server_error_status(*ae, "p").code(), StatusCode::kAlreadyExists);

  BodyWriter wt;
  wt.int_(error_code::kWriteTimeout);
  wt.string("timed out");
  wt.short_(1);
  wt.int_(0);
  wt.int_(1);
  wt.string("SIMPLE");
  auto we = decode_error(wt.take());
  ASSERT_TRUE(we.has_value()) << we.error().to_string();
  EXPECT_EQ(server_error_status(*we, "p").code(), StatusCode::kUnavailable);

  // A truncated extra field is reported, with the opcode.
  BodyWriter u;
  u.int_(error_code::kUnprepared);
  u.string("unknown id");
  u.short_(5);
  auto ue = decode_error(u.take());
  ASSERT_FALSE(ue.has_value());
  EXPECT_NE(ue.error().message().find("ERROR body offset"), std::string::npos);
  EXPECT_EQ(error_code_name(0x7777), "error 0x7777");
}

TEST(CqlFrame, EnvelopeFlags) {
  BodyWriter w;
  for (int i = 0; i < 16; ++i) w.byte(static_cast<uint8_t>(i));  // tracing id
  w.short_(1);
  w.string("Aggregation query used without partition key");
  w.int_(1);  // the body proper: Void
  std::string body = w.take();
  FrameHeader h{kResponseVersion, frame_flag::kTracing | frame_flag::kWarning, 1,
                static_cast<uint8_t>(Opcode::kResult), static_cast<uint32_t>(body.size())};
  std::vector<std::string> warnings;
  auto proper = strip_response_envelope(h, body, &warnings);
  ASSERT_TRUE(proper.has_value()) << proper.error().to_string();
  EXPECT_EQ(proper->size(), 4u);
  ASSERT_EQ(warnings.size(), 1u);
  h.flags = frame_flag::kCompression;
  EXPECT_FALSE(strip_response_envelope(h, body).has_value());
}

TEST(CqlFrame, RequestBodies) {
  QueryParams p;
  p.consistency = Consistency::kLocalOne;
  p.page_size = 100;
  p.paging_state = "ps";
  std::string b = encode_query_body("SELECT 1", p);
  BodyReader r(b, static_cast<uint8_t>(Opcode::kQuery));
  EXPECT_EQ(*r.long_string(), "SELECT 1");
  EXPECT_EQ(*r.short_(), 0x000A);
  EXPECT_EQ(*r.byte(), query_flag::kPageSize | query_flag::kPagingState);
  EXPECT_EQ(*r.int_(), 100);
  EXPECT_EQ(**r.bytes(), "ps");
  EXPECT_EQ(r.remaining(), 0u);

  EXPECT_EQ(sasl_plain_token("user", "pw"), std::string("\0user\0pw", 8));
  std::string s = encode_startup_body({{"CQL_VERSION", "3.0.0"}});
  EXPECT_EQ(s, std::string("\x00\x01\x00\x0b"
                           "CQL_VERSION\x00\x05"
                           "3.0.0",
                           4 + 11 + 2 + 5));

  EXPECT_EQ(*parse_consistency("local_quorum"), Consistency::kLocalQuorum);
  EXPECT_FALSE(parse_consistency("most").has_value());
}

}  // namespace
}  // namespace tideline::io::cql
