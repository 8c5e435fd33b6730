// Columnar (batch) Avro decode and encode: Codec::decode_batch, Resolver::decode_batch and
// Codec::encode_batch must give exactly what the row-at-a-time decode_into / encode_row give
// (rows, nulls, bytes, errors), with a bad payload anywhere in a batch costing only its row.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "common/time.h"
#include "io/avro/avro.h"

namespace tideline::avro {
namespace {

std::shared_ptr<const Codec> make_ok(std::string_view schema) {
  auto r = Codec::make(schema);
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? *r : nullptr;
}

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
    {"name": "oi", "type": ["null", "int"]},
    {"name": "os", "type": ["string", "null"]},
    {"name": "oe", "type": ["null", "Color"]},
    {"name": "sub", "type": {"type": "record", "name": "Sub", "fields": [
        {"name": "a", "type": "int"}, {"name": "c", "type": ["null", "t.x.Color"]}]}},
    {"name": "osub", "type": ["null", "Sub"]}
  ]})";

// A random row of kAllTypes; `nulls` = probability of a null in each nullable field.
void add_random_row(Batch& in, std::mt19937_64& rng, double nulls) {
  auto& c = in.columns;
  std::uniform_real_distribution<double> u(0, 1);
  auto null = [&] { return u(rng) < nulls; };
  const auto k = static_cast<int64_t>(rng());
  c[0].append_null();
  c[1].append_int(static_cast<int64_t>(rng() % 2));
  c[2].append_int(static_cast<int32_t>(rng()));
  c[3].append_int(k >> (rng() % 64));
  c[4].append_float(static_cast<float>(u(rng) * 1000));
  c[5].append_float(u(rng) * 1e10 - 5e9);
  c[6].append_string(std::string(rng() % 40, static_cast<char>('a' + rng() % 26)));
  c[7].append_string(std::string(rng() % 3, '\xff'));
  c[8].append_string(rng() % 2 ? "RED" : "GREEN");
  c[9].append_string("xy");
  c[10].append_int((k % 1'000'000'000'000) * kNanosPerMilli);
  if (null())
    c[11].append_null();
  else
    c[11].append_int(static_cast<int32_t>(rng() % 1000) - 500);
  if (null())
    c[12].append_null();
  else
    c[12].append_string(std::string(rng() % 5, 'q'));
  if (null())
    c[13].append_null();
  else
    c[13].append_string("GREEN");
  c[14].child(0).append_int(static_cast<int32_t>(rng() % 100));
  if (null())
    c[14].child(1).append_null();
  else
    c[14].child(1).append_string("RED");
  c[14].append_record_row(true);
  if (null()) {
    c[15].append_null();
  } else {
    c[15].child(0).append_int(-7);
    if (null())
      c[15].child(1).append_null();
    else
      c[15].child(1).append_string("GREEN");
    c[15].append_record_row(true);
  }
  ++in.num_rows;
}

// Equal values; doubles bit for bit (random bytes may decode to a NaN, equal to itself).
bool same_value(const Value& a, const Value& b) {
  if (std::holds_alternative<double>(a) && std::holds_alternative<double>(b)) {
    const double x = std::get<double>(a), y = std::get<double>(b);
    return std::memcmp(&x, &y, sizeof x) == 0;
  }
  return a == b;
}

// Every value (and validity, records field by field) of the two batches is equal.
void expect_same_column(const Column& a, const Column& b, const std::string& where) {
  ASSERT_EQ(a.size(), b.size()) << where;
  for (int64_t r = 0; r < a.size(); ++r) {
    ASSERT_EQ(a.is_valid(r), b.is_valid(r)) << where << " row " << r;
    if (a.type_id() != TypeId::kRecord) {
      ASSERT_TRUE(same_value(value_at(a, r), value_at(b, r))) << where << " row " << r;
    }
  }
  if (a.type_id() == TypeId::kRecord) {
    for (size_t f = 0; f < a.num_children(); ++f)
      expect_same_column(a.child(f), b.child(f), where + "." + std::to_string(f));
  }
}

void expect_same_batch(const Batch& a, const Batch& b) {
  ASSERT_EQ(a.num_rows, b.num_rows);
  ASSERT_EQ(a.columns.size(), b.columns.size());
  for (size_t c = 0; c < a.columns.size(); ++c)
    expect_same_column(a.columns[c], b.columns[c], "column " + std::to_string(c));
}

// Payloads: good ones from encode_row, with malformed ones mixed in (truncated, a trailing
// byte, a bad union branch, random bytes), at random places.
std::vector<std::string> mixed_payloads(const Codec& codec, const Batch& in, std::mt19937_64& rng,
                                        int& malformed) {
  std::vector<std::string> out;
  malformed = 0;
  for (int64_t r = 0; r < in.num_rows; ++r) {
    std::string p;
    EXPECT_TRUE(codec.encode_row(in, r, p).ok());
    switch (rng() % 10) {
      case 0:
        p.resize(rng() % p.size());
        ++malformed;
        break;
      case 1:
        p.push_back('\0');
        ++malformed;
        break;
      case 2: {
        std::string junk(rng() % 30, '\0');
        for (auto& ch : junk) ch = static_cast<char>(rng());
        p = junk;
        ++malformed;
        break;
      }
      default:
        break;
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::string_view> views(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

TEST(AvroBatchDecode, EqualsRowByRowWithMalformedPayloadsAnywhere) {
  auto codec = make_ok(kAllTypes);
  ASSERT_TRUE(codec);
  std::mt19937_64 rng(7);
  Batch in = Batch::empty(codec->type());
  for (int i = 0; i < 1500; ++i) add_random_row(in, rng, 0.3);  // several 256-row chunks
  int malformed = 0;
  auto payloads = mixed_payloads(*codec, in, rng, malformed);
  ASSERT_GT(malformed, 100);

  // Both start from a batch that already holds rows, some null (validity already materialized).
  Batch row_wise = Batch::empty(codec->type());
  Batch batched = Batch::empty(codec->type());
  for (int64_t r : {1, 2, 3}) {  // rows with nulls and without
    std::string p;
    ASSERT_TRUE(codec->encode_row(in, r, p).ok());
    ASSERT_TRUE(codec->decode_into(p, row_wise).ok());
    ASSERT_TRUE(codec->decode_into(p, batched).ok());
  }
  std::vector<std::pair<size_t, std::string>> expected_errors;
  for (size_t i = 0; i < payloads.size(); ++i) {
    Status s = codec->decode_into(payloads[i], row_wise);
    if (!s.ok()) expected_errors.emplace_back(i, s.message());
  }
  ASSERT_FALSE(expected_errors.empty());
  std::vector<DecodeError> errors;
  auto v = views(payloads);
  ASSERT_TRUE(codec->decode_batch(v, batched, errors).ok());
  ASSERT_TRUE(batched.validate().ok()) << batched.validate().to_string();
  ASSERT_EQ(errors.size(), expected_errors.size());
  for (size_t e = 0; e < errors.size(); ++e) {
    EXPECT_EQ(errors[e].index, expected_errors[e].first);
    EXPECT_EQ(errors[e].why.code(), StatusCode::kCorruption);
    EXPECT_EQ(errors[e].why.message(), expected_errors[e].second);
  }
  expect_same_batch(row_wise, batched);
}

TEST(AvroBatchDecode, BadPayloadInTheMiddleKeepsItsNeighbours) {
  auto codec = make_ok(R"({"type":"record","name":"R","fields":[
      {"name":"id","type":"long"},{"name":"name","type":["null","string"]}]})");
  Batch in = Batch::empty(codec->type());
  for (int64_t k = 0; k < 5; ++k) {
    in.columns[0].append_int(k);
    in.columns[1].append_string("n" + std::to_string(k));
    ++in.num_rows;
  }
  std::vector<std::string> p(5);
  for (int64_t r = 0; r < 5; ++r) ASSERT_TRUE(codec->encode_row(in, r, p[r]).ok());
  p[2] = p[2].substr(0, p[2].size() - 1);  // truncated string
  auto v = views(p);
  Batch out = Batch::empty(codec->type());
  std::vector<DecodeError> errors;
  ASSERT_TRUE(codec->decode_batch(v, out, errors).ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].index, 2u);
  EXPECT_EQ(errors[0].why.message(),
            "offset 2, field 'name': length 2 exceeds the 1 remaining bytes");
  ASSERT_EQ(out.num_rows, 4);
  const int64_t ids[] = {0, 1, 3, 4};
  for (int64_t r = 0; r < 4; ++r) {
    EXPECT_EQ(out.columns[0].int_at(r), ids[r]);
    EXPECT_EQ(out.columns[1].string_at(r), "n" + std::to_string(ids[r]));
  }
}

TEST(AvroBatchDecode, RejectsAForeignBatchSchema) {
  auto codec = make_ok(kAllTypes);
  auto other = make_ok(R"({"type":"record","name":"R","fields":[{"name":"a","type":"long"}]})");
  Batch out = Batch::empty(other->type());
  std::vector<DecodeError> errors;
  std::vector<std::string_view> none;
  EXPECT_EQ(codec->decode_batch(none, out, errors).code(), StatusCode::kInvalidArgument);
}

TEST(AvroBatchDecode, ResolverEqualsRowByRow) {
  auto reader = make_ok(R"({"type":"record","name":"R","fields":[
      {"name":"id","type":"long"},
      {"name":"price","type":["null","double"],"default":null},
      {"name":"channel","type":"string","default":"web"}]})");
  // Writer: fields reordered, an int promoted to double, an extra field, no channel.
  auto writer = make_ok(R"({"type":"record","name":"W","fields":[
      {"name":"price","type":["null","int"]},{"name":"extra","type":"string"},
      {"name":"id","type":"long"}]})");
  auto res = Resolver::make(writer->schema_json(), reader);
  ASSERT_TRUE(res) << res.error().to_string();
  std::mt19937_64 rng(3);
  Batch in = Batch::empty(writer->type());
  for (int k = 0; k < 700; ++k) {
    if (rng() % 4 == 0)
      in.columns[0].append_null();
    else
      in.columns[0].append_int(static_cast<int32_t>(rng() % 100000));
    in.columns[1].append_string(std::string(rng() % 9, 'e'));
    in.columns[2].append_int(static_cast<int64_t>(rng()));
    ++in.num_rows;
  }
  int malformed = 0;
  auto payloads = mixed_payloads(*writer, in, rng, malformed);
  ASSERT_GT(malformed, 50);
  Batch row_wise = Batch::empty(reader->type());
  std::vector<std::pair<size_t, std::string>> expected_errors;
  for (size_t i = 0; i < payloads.size(); ++i) {
    Status s = (*res)->decode_into(payloads[i], row_wise);
    if (!s.ok()) expected_errors.emplace_back(i, s.message());
  }
  Batch batched = Batch::empty(reader->type());
  std::vector<DecodeError> errors;
  auto v = views(payloads);
  ASSERT_TRUE((*res)->decode_batch(v, batched, errors).ok());
  ASSERT_EQ(errors.size(), expected_errors.size());
  for (size_t e = 0; e < errors.size(); ++e) {
    EXPECT_EQ(errors[e].index, expected_errors[e].first);
    EXPECT_EQ(errors[e].why.message(), expected_errors[e].second);
  }
  expect_same_batch(row_wise, batched);
  EXPECT_EQ(batched.columns[2].string_at(0), "web");
}

TEST(AvroBatchEncode, SameBytesAsRowByRow) {
  auto codec = make_ok(kAllTypes);
  ASSERT_TRUE(codec);
  for (double nulls : {0.0, 0.5, 1.0}) {
    std::mt19937_64 rng(11);
    Batch in = Batch::empty(codec->type());
    for (int i = 0; i < 600; ++i) add_random_row(in, rng, nulls);
    EncodedRows enc;
    Status s = codec->encode_batch(in, enc);
    ASSERT_TRUE(s.ok()) << s.to_string();
    ASSERT_EQ(enc.size(), static_cast<size_t>(in.num_rows));
    for (int64_t r = 0; r < in.num_rows; ++r) {
      std::string one;
      ASSERT_TRUE(codec->encode_row(in, r, one).ok());
      ASSERT_EQ(enc.row(static_cast<size_t>(r)), one) << "nulls " << nulls << " row " << r;
    }
    EXPECT_EQ(enc.offsets.back(), enc.bytes.size());
  }
}

TEST(AvroBatchEncode, ErrorsNameTheFirstBadRowAndLeaveNothing) {
  auto codec = make_ok(R"({"type":"record","name":"R","fields":[
      {"name":"a","type":"long"},{"name":"i","type":"int"},
      {"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}]})");
  Batch in = Batch::empty(codec->type());
  for (int64_t k = 0; k < 10; ++k) {
    // Row 6: an int out of range; row 4: a symbol the enum lacks (the first bad row).
    in.columns[0].append_int(k);
    in.columns[1].append_int(k == 6 ? int64_t{1} << 40 : k);
    in.columns[2].append_string(k == 4 ? "B" : "A");
    ++in.num_rows;
  }
  EncodedRows enc;
  Status s = codec->encode_batch(in, enc);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "row 4: field 'e': 'B' is not a symbol of the enum");
  EXPECT_TRUE(enc.bytes.empty());
  EXPECT_EQ(enc.size(), 0u);
  // A null in a non-nullable field.
  Batch nulls = Batch::empty(codec->type());
  nulls.columns[0].append_null();
  nulls.columns[1].append_int(1);
  nulls.columns[2].append_string("A");
  nulls.num_rows = 1;
  s = codec->encode_batch(nulls, enc);
  EXPECT_EQ(s.message(), "row 0: field 'a' is null but its schema is not nullable");
}

TEST(AvroBatchEncode, DecodesBackToTheSameBatch) {
  auto codec = make_ok(kAllTypes);
  std::mt19937_64 rng(5);
  Batch in = Batch::empty(codec->type());
  for (int i = 0; i < 300; ++i) add_random_row(in, rng, 0.4);
  EncodedRows enc;
  ASSERT_TRUE(codec->encode_batch(in, enc).ok());
  std::vector<std::string_view> v;
  for (size_t r = 0; r < enc.size(); ++r) v.push_back(enc.row(r));
  Batch out = Batch::empty(codec->type());
  std::vector<DecodeError> errors;
  ASSERT_TRUE(codec->decode_batch(v, out, errors).ok());
  EXPECT_TRUE(errors.empty());
  expect_same_batch(in, out);
}

}  // namespace
}  // namespace tideline::avro
