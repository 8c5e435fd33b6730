#include "io/avro/avro.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/time.h"

namespace tideline::avro {
namespace {

std::shared_ptr<const Codec> make_ok(std::string_view schema) {
  auto r = Codec::make(schema);
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? *r : nullptr;
}

std::string make_err(std::string_view schema) {
  auto r = Codec::make(schema);
  EXPECT_FALSE(r) << "schema unexpectedly accepted: " << schema;
  if (r) return "";
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  return r.error().message();
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s += static_cast<char>(x);
  return s;
}

std::string one_field(std::string_view type_json) {
  return "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"f\",\"type\":" +
         std::string(type_json) + "}]}";
}

// Decodes `payload` with a one-field schema and returns the single value.
Value decode_one(std::string_view type_json, const std::string& payload) {
  auto codec = make_ok(one_field(type_json));
  Batch b = Batch::empty(codec->type());
  Status s = codec->decode_into(payload, b);
  EXPECT_TRUE(s.ok()) << s.to_string();
  if (!s.ok()) return {};
  EXPECT_EQ(b.num_rows, 1);
  return value_at(b.columns[0], 0);
}

std::string decode_err(std::string_view schema, const std::string& payload) {
  auto codec = make_ok(schema);
  Batch b = Batch::empty(codec->type());
  Status s = codec->decode_into(payload, b);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(b.num_rows, 0);
  for (const auto& c : b.columns) EXPECT_EQ(c.size(), 0);
  return s.message();
}

// --- Bytes from the specification / an independent encoder ---------------------------------

TEST(AvroSpecBytes, Longs) {
  EXPECT_EQ(std::get<int64_t>(decode_one("\"long\"", bytes({0x00}))), 0);
  EXPECT_EQ(std::get<int64_t>(decode_one("\"long\"", bytes({0x01}))), -1);
  EXPECT_EQ(std::get<int64_t>(decode_one("\"long\"", bytes({0x02}))), 1);
  EXPECT_EQ(std::get<int64_t>(decode_one("\"long\"", bytes({0x03}))), -2);
  EXPECT_EQ(std::get<int64_t>(decode_one("\"long\"", bytes({0x7f}))), -64);
  EXPECT_EQ(std::get<int64_t>(decode_one("\"long\"", bytes({0x80, 0x01}))), 64);
  EXPECT_EQ(std::get<int64_t>(decode_one("\"long\"", bytes({0x81, 0x01}))), -65);
  EXPECT_EQ(std::get<int64_t>(decode_one("\"int\"", bytes({0xfe, 0xff, 0xff, 0xff, 0x0f}))),
            2147483647);
  EXPECT_EQ(std::get<int64_t>(decode_one("\"int\"", bytes({0xff, 0xff, 0xff, 0xff, 0x0f}))),
            -2147483648LL);
  EXPECT_EQ(std::get<int64_t>(decode_one(
                "\"long\"", bytes({0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}))),
            INT64_MAX);
  EXPECT_EQ(std::get<int64_t>(decode_one(
                "\"long\"", bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}))),
            INT64_MIN);
}

TEST(AvroSpecBytes, OtherPrimitives) {
  EXPECT_EQ(std::get<std::string>(decode_one("\"string\"", bytes({0x06, 0x66, 0x6f, 0x6f}))),
            "foo");
  EXPECT_EQ(std::get<std::string>(decode_one("\"bytes\"", bytes({0x04, 0x00, 0xff}))),
            std::string("\x00\xff", 2));
  EXPECT_EQ(std::get<bool>(decode_one("\"boolean\"", bytes({0x01}))), true);
  EXPECT_EQ(std::get<bool>(decode_one("\"boolean\"", bytes({0x00}))), false);
  EXPECT_DOUBLE_EQ(std::get<double>(decode_one("\"float\"", bytes({0x00, 0x00, 0x80, 0x3f}))), 1.0);
  EXPECT_DOUBLE_EQ(std::get<double>(decode_one(
                       "\"double\"", bytes({0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f}))),
                   1.0);
  EXPECT_TRUE(is_null(decode_one("\"null\"", "")));
}

TEST(AvroSpecBytes, UnionsEnumsFixed) {
  // From the specification: ["null","string"] with "a" is 02 02 61, null is 00.
  EXPECT_EQ(std::get<std::string>(decode_one("[\"null\",\"string\"]", bytes({0x02, 0x02, 0x61}))),
            "a");
  EXPECT_TRUE(is_null(decode_one("[\"null\",\"string\"]", bytes({0x00}))));
  EXPECT_EQ(std::get<std::string>(decode_one("[\"string\",\"null\"]", bytes({0x00, 0x02, 0x61}))),
            "a");
  EXPECT_TRUE(is_null(decode_one("[\"string\",\"null\"]", bytes({0x02}))));
  EXPECT_EQ(std::get<std::string>(
                decode_one(R"({"type":"enum","name":"E","symbols":["A","B","C"]})", bytes({0x04}))),
            "C");
  EXPECT_EQ(std::get<std::string>(decode_one(R"({"type":"fixed","name":"F","size":3})", "xyz")),
            "xyz");
}

TEST(AvroSpecBytes, RecordFromSpecification) {
  // Record {a: long = 27, b: string = "foo"} is 36 06 66 6f 6f.
  auto codec = make_ok(R"({"type":"record","name":"test","fields":[
      {"name":"a","type":"long"},{"name":"b","type":"string"}]})");
  Batch b = Batch::empty(codec->type());
  ASSERT_TRUE(codec->decode_into(bytes({0x36, 0x06, 0x66, 0x6f, 0x6f}), b).ok());
  EXPECT_EQ(b.columns[0].int_at(0), 27);
  EXPECT_EQ(b.columns[1].string_at(0), "foo");
  std::string enc;
  ASSERT_TRUE(codec->encode_row(b, 0, enc).ok());
  EXPECT_EQ(enc, bytes({0x36, 0x06, 0x66, 0x6f, 0x6f}));
}

std::string from_hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

// Bytes written by an independent encoder (Python fastavro 1.13.1, schemaless_writer) for
//   {b: true, i: -123456, l: 9876543210123, f: -2.5, d: 3.141592653589793, s: "héllo",
//    y: 00 ff, e: BLUE, x: "ab", ts: 2008-04-01T12:30:15.250Z, us: 1969-12-31T23:59:59.999999Z,
//    o: null, sub: {a: 7, c: GREEN}}
TEST(AvroSpecBytes, DecodesFastavroOutput) {
  auto codec = make_ok(R"({"type": "record", "name": "Ind", "namespace": "x", "fields": [
    {"name": "b", "type": "boolean"}, {"name": "i", "type": "int"}, {"name": "l", "type": "long"},
    {"name": "f", "type": "float"}, {"name": "d", "type": "double"}, {"name": "s", "type": "string"},
    {"name": "y", "type": "bytes"},
    {"name": "e", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}},
    {"name": "x", "type": {"type": "fixed", "name": "Two", "size": 2}},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "us", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
    {"name": "o", "type": ["null", "string"]},
    {"name": "sub", "type": {"type": "record", "name": "Sub", "fields": [
        {"name": "a", "type": "int"}, {"name": "c", "type": ["null", "Color"]}]}}]})");
  const std::string payload = from_hex(
      "01ff880f968accfdf1be04000020c0182d4454fb2109400c68c3a96c6c6f0400ff046162a4e3ba9fa146"
      "0201000e0202");
  Batch b = Batch::empty(codec->type());
  Status s = codec->decode_into(payload, b);
  ASSERT_TRUE(s.ok()) << s.to_string();
  const auto& c = b.columns;
  EXPECT_EQ(c[0].int_at(0), 1);
  EXPECT_EQ(c[1].int_at(0), -123456);
  EXPECT_EQ(c[2].int_at(0), 9876543210123);
  EXPECT_EQ(c[3].float_at(0), -2.5);
  EXPECT_EQ(c[4].float_at(0), 3.141592653589793);
  EXPECT_EQ(c[5].string_at(0), "h\xC3\xA9llo");
  EXPECT_EQ(c[6].string_at(0), std::string("\x00\xff", 2));
  EXPECT_EQ(c[7].string_at(0), "BLUE");
  EXPECT_EQ(c[8].string_at(0), "ab");
  EXPECT_EQ(format_timestamp(c[9].int_at(0)), "2008-04-01T12:30:15.250000000Z");
  EXPECT_EQ(c[10].int_at(0), -1000);  // -1 us in ns
  EXPECT_FALSE(c[11].is_valid(0));
  EXPECT_EQ(c[12].child(0).int_at(0), 7);
  EXPECT_EQ(c[12].child(1).string_at(0), "GREEN");
  // Our encoder produces the same bytes.
  std::string enc;
  ASSERT_TRUE(codec->encode_row(b, 0, enc).ok());
  EXPECT_EQ(enc, payload);
}

// --- Round trips --------------------------------------------------------------------------------

constexpr std::string_view kAllTypes = R"({
  "type": "record", "name": "All", "namespace": "t.x",
  "fields": [
    {"name": "n", "type": "null"},
    {"name": "b", "type": "boolean"},
    {"name": "i", "type": "int"},
    {"name": "l", "type": "long"},
    {"name": "f", "type": "float"},
    {"name": "d", "type": "double"},
    {"name": "s", "type": "string"},
    {"name": "y", "type": "bytes"},
    {"name": "e", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
    {"name": "x", "type": {"type": "fixed", "name": "Two", "size": 2}},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "ns", "type": {"type": "long", "logicalType": "local-timestamp-nanos"}},
    {"name": "oi", "type": ["null", "int"], "default": null},
    {"name": "os", "type": ["string", "null"]},
    {"name": "oe", "type": ["null", "Color"]},
    {"name": "sub", "type": {"type": "record", "name": "Sub", "fields": [
        {"name": "a", "type": "int"}, {"name": "c", "type": ["null", "t.x.Color"]}]}},
    {"name": "osub", "type": ["null", "Sub"]},
    {"name": "dt", "type": {"type": "int", "logicalType": "date"}}
  ]})";

TEST(AvroRoundTrip, AllTypes) {
  auto codec = make_ok(kAllTypes);
  ASSERT_TRUE(codec);
  EXPECT_EQ(codec->type()->to_string(),
            "{n: null, b: bool, i: i32, l: i64, f: f32, d: f64, s: string, y: string, e: string, "
            "x: string, ts: timestamp_ns, us: timestamp_ns, ns: timestamp_ns, oi: i32, os: string, "
            "oe: string, sub: {a: i32, c: string}, osub: {a: i32, c: string}, dt: i32}");
  Batch in = Batch::empty(codec->type());
  auto& c = in.columns;
  auto add_row = [&](bool flag, int64_t k) {
    c[0].append_null();
    c[1].append_int(flag);
    c[2].append_int(flag ? INT32_MIN : INT32_MAX);
    c[3].append_int(flag ? INT64_MIN : k * 1'000'003);
    c[4].append_float(1.5f);
    c[5].append_float(flag ? -0.1 : 1e300);
    c[6].append_string(flag ? "" : "h\xC3\xA9llo");
    c[7].append_string(std::string("\x00\x01\xff", 3));
    c[8].append_string(flag ? "RED" : "GREEN");
    c[9].append_string("ab");
    c[10].append_int(-1'500 * kNanosPerMilli);
    c[11].append_int(1'234'567 * kNanosPerMicro);
    c[12].append_int(-7);
    if (flag)
      c[13].append_null();
    else
      c[13].append_int(k);
    if (flag)
      c[14].append_null();
    else
      c[14].append_string("x");
    if (flag)
      c[15].append_null();
    else
      c[15].append_string("RED");
    c[16].child(0).append_int(k);
    if (flag)
      c[16].child(1).append_null();
    else
      c[16].child(1).append_string("GREEN");
    c[16].append_record_row(true);
    if (flag) {
      c[17].append_null();
    } else {
      c[17].child(0).append_int(-k);
      c[17].child(1).append_string("RED");
      c[17].append_record_row(true);
    }
    c[18].append_int(18000);
    ++in.num_rows;
  };
  add_row(false, 42);
  add_row(true, 7);
  ASSERT_TRUE(in.validate().ok());

  Batch out = Batch::empty(codec->type());
  for (int64_t r = 0; r < in.num_rows; ++r) {
    std::string payload;
    Status s = codec->encode_row(in, r, payload);
    ASSERT_TRUE(s.ok()) << s.to_string();
    s = codec->decode_into(payload, out);
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  ASSERT_TRUE(out.validate().ok());
  ASSERT_EQ(out.num_rows, 2);
  for (size_t col = 0; col < in.columns.size(); ++col) {
    for (int64_t r = 0; r < 2; ++r) {
      if (in.columns[col].type_id() == TypeId::kRecord) {
        ASSERT_EQ(in.columns[col].is_valid(r), out.columns[col].is_valid(r)) << col;
        if (!in.columns[col].is_valid(r)) continue;
        for (size_t f = 0; f < 2; ++f) {
          EXPECT_EQ(value_at(in.columns[col].child(f), r), value_at(out.columns[col].child(f), r))
              << col << "." << f << " row " << r;
        }
        continue;
      }
      EXPECT_EQ(value_at(in.columns[col], r), value_at(out.columns[col], r)) << col << " row " << r;
    }
  }
}

TEST(AvroRoundTrip, TimestampUnits) {
  auto codec = make_ok(R"({"type":"record","name":"T","fields":[
      {"name":"ms","type":{"type":"long","logicalType":"timestamp-millis"}},
      {"name":"us","type":{"type":"long","logicalType":"local-timestamp-micros"}}]})");
  // 1 ms = 0x02; 1000 us = zigzag(1000) = 2000 = d0 0f.
  Batch b = Batch::empty(codec->type());
  ASSERT_TRUE(codec->decode_into(bytes({0x02, 0xd0, 0x0f}), b).ok());
  EXPECT_EQ(b.columns[0].int_at(0), kNanosPerMilli);
  EXPECT_EQ(b.columns[1].int_at(0), kNanosPerMilli);
  // Encoding floors sub-unit nanoseconds: -1 ns is -1 ms.
  Batch in = Batch::empty(codec->type());
  in.columns[0].append_int(-1);
  in.columns[1].append_int(1'999);
  in.num_rows = 1;
  std::string enc;
  ASSERT_TRUE(codec->encode_row(in, 0, enc).ok());
  EXPECT_EQ(enc, bytes({0x01, 0x02}));
  // A millisecond value whose nanoseconds overflow int64.
  std::string big;
  big += bytes({0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01});
  big += bytes({0x00});
  Batch b2 = Batch::empty(codec->type());
  Status s = codec->decode_into(big, b2);
  EXPECT_EQ(s.message(), "offset 0, field 'ms': timestamp out of range");
  EXPECT_EQ(b2.num_rows, 0);
}

TEST(AvroRoundTrip, RandomizedNullableRecords) {
  auto codec = make_ok(R"({"type":"record","name":"R","fields":[
      {"name":"a","type":["null","long"]},{"name":"b","type":["null","string"]},
      {"name":"c","type":["double","null"]},{"name":"d","type":["null","boolean"]}]})");
  std::mt19937_64 rng(1);
  Batch in = Batch::empty(codec->type());
  for (int r = 0; r < 500; ++r) {
    if (rng() % 3 == 0)
      in.columns[0].append_null();
    else
      in.columns[0].append_int(static_cast<int64_t>(rng()));
    if (rng() % 3 == 0)
      in.columns[1].append_null();
    else
      in.columns[1].append_string(std::string(rng() % 200, 'q'));
    if (rng() % 3 == 0)
      in.columns[2].append_null();
    else
      in.columns[2].append_float(static_cast<double>(rng()) / 7);
    if (rng() % 3 == 0)
      in.columns[3].append_null();
    else
      in.columns[3].append_int(rng() % 2);
    ++in.num_rows;
  }
  Batch out = Batch::empty(codec->type());
  std::string payload;
  for (int64_t r = 0; r < in.num_rows; ++r) {
    payload.clear();
    ASSERT_TRUE(codec->encode_row(in, r, payload).ok());
    ASSERT_TRUE(codec->decode_into(payload, out).ok());
  }
  for (size_t c = 0; c < 4; ++c) {
    for (int64_t r = 0; r < in.num_rows; ++r) {
      ASSERT_EQ(value_at(in.columns[c], r), value_at(out.columns[c], r)) << c << " " << r;
    }
  }
}

// --- Decoding errors
// ------------------------------------------------------------------------------

constexpr std::string_view kTwo = R"({"type":"record","name":"R","fields":[
    {"name":"id","type":"long"},{"name":"price","type":["null","int"]},
    {"name":"name","type":"string"}]})";

TEST(AvroDecodeErrors, EveryTruncationFailsAndLeavesTheBatchUnchanged) {
  auto codec = make_ok(kTwo);
  std::string good = bytes({0x80, 0x01, 0x02, 0x80, 0x02, 0x06, 'a', 'b', 'c'});
  Batch b = Batch::empty(codec->type());
  ASSERT_TRUE(codec->decode_into(good, b).ok());
  for (size_t n = 0; n < good.size(); ++n) {
    Status s = codec->decode_into(good.substr(0, n), b);
    EXPECT_FALSE(s.ok()) << n;
    EXPECT_EQ(b.num_rows, 1);
    for (const auto& c : b.columns) EXPECT_EQ(c.size(), 1);
  }
  ASSERT_TRUE(codec->decode_into(good, b).ok());
  ASSERT_TRUE(b.validate().ok());
  EXPECT_EQ(b.columns[0].int_at(1), 64);
  EXPECT_EQ(b.columns[1].int_at(1), 128);
  EXPECT_EQ(b.columns[2].string_at(1), "abc");
}

TEST(AvroDecodeErrors, Messages) {
  EXPECT_EQ(decode_err(kTwo, bytes({0x80})), "offset 0, field 'id': truncated varint");
  EXPECT_EQ(decode_err(kTwo, bytes({0x02, 0x02, 0x80})),
            "offset 2, field 'price': truncated varint");
  EXPECT_EQ(decode_err(kTwo, bytes({0x02, 0x04})),
            "offset 1, field 'price': union branch 2 out of range (2 branches)");
  EXPECT_EQ(decode_err(kTwo, bytes({0x02, 0x00, 0x01})),
            "offset 2, field 'name': negative length -1");
  EXPECT_EQ(decode_err(kTwo, bytes({0x02, 0x00, 0x0a, 'a'})),
            "offset 2, field 'name': length 5 exceeds the 1 remaining bytes");
  // An absurd length is rejected without allocating.
  EXPECT_EQ(decode_err(kTwo, bytes({0x02, 0x00, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0x01})),
            "offset 2, field 'name': length 9223372036854775807 exceeds the 0 remaining bytes");
  EXPECT_EQ(decode_err(kTwo, bytes({0x02, 0x00, 0x00, 0x00, 0x00})),
            "offset 3: 2 trailing bytes after the record");
  EXPECT_EQ(decode_err(kTwo, bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02})),
            "offset 0, field 'id': varint overflows 64 bits");
  EXPECT_EQ(
      decode_err(kTwo, bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})),
      "offset 0, field 'id': varint overflows 64 bits");
  EXPECT_EQ(decode_err(kTwo, bytes({0x02, 0x02, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00})),
            "offset 2, field 'price': varint overflows 32 bits");
  EXPECT_EQ(decode_err(one_field("\"boolean\""), bytes({0x02})),
            "offset 0, field 'f': invalid boolean byte 0x02");
  EXPECT_EQ(decode_err(one_field("\"double\""), bytes({0x00, 0x00})),
            "offset 0, field 'f': truncated double");
  EXPECT_EQ(decode_err(one_field("\"float\""), bytes({0x00})),
            "offset 0, field 'f': truncated float");
  EXPECT_EQ(decode_err(one_field(R"({"type":"enum","name":"E","symbols":["A"]})"), bytes({0x02})),
            "offset 0, field 'f': enum index 1 out of range (1 symbols)");
  EXPECT_EQ(decode_err(one_field(R"({"type":"fixed","name":"F","size":4})"), "ab"),
            "offset 0, field 'f': truncated fixed(4)");
  EXPECT_EQ(decode_err(R"({"type":"record","name":"R","fields":[{"name":"s","type":{"type":"record",
                         "name":"S","fields":[{"name":"inner","type":"int"}]}}]})",
                       bytes({0x80})),
            "offset 0, field 's.inner': truncated varint");
}

TEST(AvroDecodeErrors, GarbageNeverCrashes) {
  auto codec = make_ok(kAllTypes);
  std::mt19937_64 rng(3);
  Batch b = Batch::empty(codec->type());
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string p(rng() % 64, '\0');
    for (auto& ch : p) ch = static_cast<char>(rng());
    if (codec->decode_into(p, b).ok()) ++ok;
    ASSERT_EQ(b.num_rows, ok);
  }
  EXPECT_TRUE(b.validate().ok());
}

TEST(AvroDecodeErrors, WrongBatch) {
  auto codec = make_ok(kTwo);
  Batch other = Batch::empty(DataType::record({{"x", DataType::of(TypeId::kI64)}}));
  Status s = codec->decode_into(bytes({0x00}), other);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

// --- Encoding errors
// ------------------------------------------------------------------------------

TEST(AvroEncode, NullInNonNullableFieldNamesTheField) {
  auto codec = make_ok(kTwo);
  Batch in = Batch::empty(codec->type());
  in.columns[0].append_int(1);
  in.columns[1].append_null();
  in.columns[2].append_null();
  in.num_rows = 1;
  std::string out = "keep";
  Status s = codec->encode_row(in, 0, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "field 'name' is null but its schema is not nullable");
  EXPECT_EQ(out, "keep");
  EXPECT_FALSE(codec->encode_row(in, 1, out).ok());
  EXPECT_FALSE(codec->encode_row(in, -1, out).ok());
}

TEST(AvroEncode, BadEnumFixedAndInt) {
  auto e = make_ok(one_field(R"({"type":"enum","name":"E","symbols":["A"]})"));
  Batch in = Batch::empty(e->type());
  in.columns[0].append_string("Z");
  in.num_rows = 1;
  std::string out;
  EXPECT_EQ(e->encode_row(in, 0, out).message(), "field 'f': 'Z' is not a symbol of the enum");
  auto f = make_ok(one_field(R"({"type":"fixed","name":"F","size":2})"));
  Batch fin = Batch::empty(f->type());
  fin.columns[0].append_string("abc");
  fin.num_rows = 1;
  EXPECT_EQ(f->encode_row(fin, 0, out).message(), "field 'f': value of 3 bytes for fixed(2)");
  EXPECT_TRUE(out.empty());
}

// --- Schemas
// --------------------------------------------------------------------------------------

TEST(AvroSchema, NamespacesAndReferences) {
  auto codec = make_ok(R"({"type":"record","name":"Outer","namespace":"a.b","fields":[
      {"name":"p","type":{"type":"record","name":"c.Point","fields":[
          {"name":"x","type":"int"},
          {"name":"k","type":{"type":"enum","name":"Kind","symbols":["U","V"]}}]}},
      {"name":"q","type":"c.Point"},
      {"name":"k2","type":"c.Kind"},
      {"name":"h","type":{"type":"fixed","name":"H","namespace":"z","size":1}},
      {"name":"h2","type":"z.H"},
      {"name":"me","type":"string"}]})");
  ASSERT_TRUE(codec);
  EXPECT_EQ(codec->type()->to_string(),
            "{p: {x: i32, k: string}, q: {x: i32, k: string}, k2: string, h: string, h2: string, "
            "me: string}");
  EXPECT_EQ(make_err(R"({"type":"record","name":"R","namespace":"n","fields":[
      {"name":"p","type":{"type":"enum","name":"K","symbols":["A"]}},
      {"name":"q","type":"other.K"}]})"),
            "schema $.fields[1].type: unknown type 'other.K'");
}

TEST(AvroSchema, NormalizedJson) {
  auto codec = make_ok(
      "{ \"type\" : \"record\",\n \"name\": \"R\", \"fields\": [ {\"name\": \"a\", \"type\": "
      "\"int\"} ] }");
  EXPECT_EQ(codec->schema_json(),
            R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"}]})");
}

TEST(AvroSchema, ErrorsNameTheJsonPath) {
  EXPECT_EQ(make_err(R"("int")"), "schema $: the top level must be a record, found int");
  EXPECT_EQ(make_err(one_field(R"("strng")")), "schema $.fields[0].type: unknown type 'strng'");
  EXPECT_EQ(
      make_err(one_field(R"(["null","int","string"])")),
      "schema $.fields[0].type: unions other than [\"null\", T], [T, \"null\"] and [T] have no "
      "column mapping");
  EXPECT_EQ(make_err(one_field(R"(["null","int","null"])")),
            "schema $.fields[0].type[2]: duplicate union branch 'null'");
  EXPECT_EQ(make_err(one_field(R"(["null",["int"]])")),
            "schema $.fields[0].type[1]: a union may not directly contain a union");
  EXPECT_EQ(make_err(one_field(R"({"type":"array","items":"int"})")),
            "schema $.fields[0].type: arrays have no column mapping yet");
  EXPECT_EQ(make_err(one_field(R"({"type":"map","values":"int"})")),
            "schema $.fields[0].type: maps have no column mapping yet");
  EXPECT_EQ(make_err(one_field(R"({"type":"int","logicalType":"timestamp-millis"})")),
            "schema $.fields[0].type.logicalType: 'timestamp-millis' requires type long, not int");
  EXPECT_EQ(
      make_err(
          R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]})"),
      "schema $.fields[1].name: duplicate field name 'a'");
  EXPECT_EQ(make_err(R"({"type":"record","name":"1R","fields":[]})"),
            "schema $.name: invalid name '1R'");
  EXPECT_EQ(make_err(R"({"type":"record","name":"R","fields":[{"name":"n","type":["null","R"]}]})"),
            "schema $.fields[0].type[1]: recursive reference to 'R' is not supported");
  EXPECT_EQ(make_err(R"({"type":"record","name":"R","fields":[
      {"name":"a","type":{"type":"enum","name":"E","symbols":["X"]}},
      {"name":"b","type":{"type":"fixed","name":"E","size":1}}]})"),
            "schema $.fields[1].type.name: redefinition of 'E'");
  EXPECT_EQ(make_err(one_field(R"({"type":"enum","name":"E","symbols":["X","X"]})")),
            "schema $.fields[0].type.symbols[1]: duplicate enum symbol 'X'");
  EXPECT_EQ(make_err(R"({"type":"record","name":"R"})"),
            "schema $: a record needs a 'fields' array");
  EXPECT_EQ(make_err(R"({"type":"record","name":"R","fields":[{"name":"a"}]})"),
            "schema $.fields[0]: a field needs a 'type'");
  EXPECT_EQ(make_err("42"), "schema $: expected a type name, object or union array, found number");
  std::string deep = "\"int\"";
  for (int i = 0; i < 100; ++i) {
    deep = R"({"type":"record","name":"R)" + std::to_string(i) +
           R"(","fields":[{"name":"f","type":)" + deep + "}]}";
  }
  EXPECT_TRUE(make_err(deep).ends_with("nested deeper than 64 levels")) << make_err(deep);
  std::string bad_json = make_err("{\"type\": ");
  EXPECT_TRUE(bad_json.starts_with("schema: invalid JSON: ")) << bad_json;
}

// --- The e-shop schema
// ----------------------------------------------------------------------------

constexpr std::string_view kEshop = R"({"type":"record","name":"EshopEvent","namespace":"tideline",
 "fields":[
  {"name":"year","type":["null","int"]},{"name":"month","type":["null","int"]},
  {"name":"day","type":["null","int"]},{"name":"order_seq","type":["null","int"]},
  {"name":"country","type":["null","int"]},{"name":"session","type":["null","int"]},
  {"name":"category","type":["null","int"]},{"name":"model","type":["null","string"]},
  {"name":"color","type":["null","int"]},{"name":"location","type":["null","int"]},
  {"name":"photography","type":["null","int"]},{"name":"price","type":["null","int"]},
  {"name":"price_ind","type":["null","int"]},{"name":"page","type":["null","int"]},
  {"name":"event_time","type":["null",{"type":"long","logicalType":"timestamp-millis"}]},
  {"name":"so_key","type":["null","long"]}]})";

TEST(AvroEshop, DecodesHandEncodedEvent) {
  auto codec = make_ok(kEshop);
  // 2008,4,1,1,29,1,1,"A13",1,5,1,28,2,1,1207008000000 ms,1001 — each value behind branch 02.
  std::string p;
  for (int v : {2008, 4, 1, 1, 29, 1, 1}) {
    p += '\x02';
    std::string tmp;
    uint64_t z = static_cast<uint64_t>(v) << 1;
    while (z >= 0x80) {
      tmp += static_cast<char>((z & 0x7f) | 0x80);
      z >>= 7;
    }
    tmp += static_cast<char>(z);
    p += tmp;
  }
  p += bytes({0x02, 0x06, 'A', '1', '3'});
  for (int v : {1, 5, 1, 28, 2, 1}) p += bytes({0x02, v * 2});
  // 1207008000000 zigzag = 2414016000000 = varint 80 e0 c3 f4 a0 46
  p += bytes({0x02, 0x80, 0xe0, 0xc3, 0xf4, 0xa0, 0x46});
  p += bytes({0x00});  // so_key null
  Batch b = Batch::empty(codec->type());
  Status s = codec->decode_into(p, b);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(b.columns[0].int_at(0), 2008);
  EXPECT_EQ(b.columns[4].int_at(0), 29);
  EXPECT_EQ(b.columns[7].string_at(0), "A13");
  EXPECT_EQ(b.columns[11].int_at(0), 28);
  EXPECT_EQ(b.columns[14].int_at(0), 1'207'008'000'000 * kNanosPerMilli);
  EXPECT_EQ(format_timestamp(b.columns[14].int_at(0)), "2008-04-01T00:00:00.000000000Z");
  EXPECT_FALSE(b.columns[15].is_valid(0));
  std::string enc;
  ASSERT_TRUE(codec->encode_row(b, 0, enc).ok());
  EXPECT_EQ(enc, p);
}

// --- Pulsar envelope
// ------------------------------------------------------------------------------

TEST(PulsarEnvelope, UnwrapsTheSchemaString) {
  auto r = schema_from_pulsar_envelope(
      R"({"type":"AVRO","schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}","properties":{}})");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, R"({"type":"record","name":"R","fields":[]})");
  EXPECT_TRUE(Codec::make(*r));
  auto obj = schema_from_pulsar_envelope(
      R"({"type":"AVRO","schema":{"type":"record","name":"R","fields":[]}})");
  ASSERT_TRUE(obj);
  EXPECT_EQ(*obj, R"({"type":"record","name":"R","fields":[]})");
}

TEST(PulsarEnvelope, Errors) {
  EXPECT_FALSE(schema_from_pulsar_envelope("not json"));
  EXPECT_FALSE(schema_from_pulsar_envelope("[1]"));
  EXPECT_FALSE(schema_from_pulsar_envelope(R"({"type":"JSON","schema":"{}"})"));
  EXPECT_FALSE(schema_from_pulsar_envelope(R"({"type":"AVRO"})"));
  EXPECT_FALSE(schema_from_pulsar_envelope(R"({"type":"AVRO","schema":3})"));
}

}  // namespace
}  // namespace tideline::avro
