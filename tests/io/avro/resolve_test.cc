// Avro schema resolution (avro::Resolver): writer data read as the reader's type by the
// specification's rules (docs/formats/avro.md "Schema resolution").
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "common/time.h"
#include "io/avro/avro.h"

namespace tideline::avro {
namespace {

// Hand-written Avro datums: the writer side is independent of the code under test.
std::string zz(int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  std::string out;
  while (z >= 0x80) {
    out.push_back(static_cast<char>((z & 0x7F) | 0x80));
    z >>= 7;
  }
  out.push_back(static_cast<char>(z));
  return out;
}
std::string str(std::string_view s) {
  return zz(static_cast<int64_t>(s.size())) + std::string(s);
}
std::string flt(float f) {
  std::string out(4, '\0');
  std::memcpy(out.data(), &f, 4);
  return out;
}

std::shared_ptr<const Codec> codec(std::string_view schema) {
  auto r = Codec::make(schema);
  EXPECT_TRUE(r) << r.error().to_string();
  return *r;
}

std::shared_ptr<const Resolver> resolver(std::string_view writer,
                                         std::shared_ptr<const Codec> reader) {
  auto r = Resolver::make(writer, std::move(reader));
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? *r : nullptr;
}

std::string resolve_error(std::string_view writer, std::shared_ptr<const Codec> reader) {
  auto r = Resolver::make(writer, std::move(reader));
  EXPECT_FALSE(r) << "writer schema unexpectedly resolved: " << writer;
  return r ? "" : r.error().message();
}

// The e-shop demo's shape: the pipeline's schema, and the original demo producer's record.
constexpr const char* kReader = R"({"type":"record","name":"EShopEvent","namespace":"tideline",
  "fields":[{"name":"so_key","type":"string"},
            {"name":"event_time","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"price","type":["null","double"],"default":null},
            {"name":"qty","type":"long"},
            {"name":"channel","type":"string","default":"web"}]})";

TEST(Resolve, RenamedRecordPlainLongMillisFieldsInAnotherOrder) {
  auto r = resolver(R"({"type":"record","name":"Record","fields":[
      {"name":"extra","type":{"type":"array","items":"string"}},
      {"name":"qty","type":"int"},
      {"name":"event_time","type":"long"},
      {"name":"price","type":"float"},
      {"name":"so_key","type":"string"},
      {"name":"note","type":{"type":"map","values":"long"}}]})",
                    codec(kReader));
  ASSERT_TRUE(r);
  const int64_t ms = 1700000000123;
  // extra: one block of 2 strings then end; note: a block with a byte size, then end.
  std::string map_block = str("k") + zz(5);
  std::string payload = zz(2) + str("a") + str("bb") + zz(0) + zz(7) + zz(ms) + flt(2.5f) +
                        str("key-1") + zz(-1) + zz(static_cast<int64_t>(map_block.size())) +
                        map_block + zz(0);
  Batch b = Batch::empty(r->reader().type());
  Status st = r->decode_into(payload, b);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(b.num_rows, 1);
  EXPECT_EQ(b.columns[0].string_at(0), "key-1");
  EXPECT_EQ(b.columns[1].int_at(0), ms * kNanosPerMilli);  // milliseconds, not 1970
  EXPECT_DOUBLE_EQ(b.columns[2].float_at(0), 2.5);
  EXPECT_EQ(b.columns[3].int_at(0), 7);
  EXPECT_EQ(b.columns[4].string_at(0), "web");  // the reader's default
}

TEST(Resolve, ReaderFieldWithoutDefaultIsAnErrorNamingIt) {
  const std::string msg = resolve_error(
      R"({"type":"record","name":"R","fields":[{"name":"so_key","type":"string"},
          {"name":"event_time","type":"long"}]})",
      codec(kReader));
  EXPECT_NE(msg.find("'qty'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no default"), std::string::npos) << msg;
}

TEST(Resolve, IncompatibleTypesFailNamingTheField) {
  const std::string msg = resolve_error(
      R"({"type":"record","name":"R","fields":[{"name":"so_key","type":"string"},
          {"name":"event_time","type":"string"},{"name":"qty","type":"long"}]})",
      codec(kReader));
  EXPECT_NE(msg.find("event_time"), std::string::npos) << msg;
  EXPECT_NE(msg.find("string cannot be read as long"), std::string::npos) << msg;
  // Narrowing is not a promotion.
  auto reader = codec(R"({"type":"record","name":"R","fields":[{"name":"x","type":"int"}]})");
  EXPECT_NE(
      resolve_error(R"({"type":"record","name":"R","fields":[{"name":"x","type":"long"}]})", reader)
          .find("long cannot be read as int"),
      std::string::npos);
}

TEST(Resolve, Promotions) {
  auto reader = codec(R"({"type":"record","name":"R","fields":[
      {"name":"a","type":"long"},{"name":"b","type":"float"},{"name":"c","type":"double"},
      {"name":"d","type":"double"},{"name":"e","type":"double"},{"name":"f","type":"bytes"},
      {"name":"g","type":"string"}]})");
  auto r = resolver(R"({"type":"record","name":"W","fields":[
      {"name":"a","type":"int"},{"name":"b","type":"int"},{"name":"c","type":"long"},
      {"name":"d","type":"float"},{"name":"e","type":"int"},{"name":"f","type":"string"},
      {"name":"g","type":"bytes"}]})",
                    reader);
  ASSERT_TRUE(r);
  Batch b = Batch::empty(reader->type());
  const std::string payload =
      zz(-3) + zz(4) + zz(int64_t{1} << 40) + flt(0.5f) + zz(9) + str("s") + str("by");
  ASSERT_TRUE(r->decode_into(payload, b).ok());
  EXPECT_EQ(b.columns[0].int_at(0), -3);
  EXPECT_DOUBLE_EQ(b.columns[1].float_at(0), 4.0);
  EXPECT_DOUBLE_EQ(b.columns[2].float_at(0), static_cast<double>(int64_t{1} << 40));
  EXPECT_DOUBLE_EQ(b.columns[3].float_at(0), 0.5);
  EXPECT_DOUBLE_EQ(b.columns[4].float_at(0), 9.0);
  EXPECT_EQ(b.columns[5].string_at(0), "s");
  EXPECT_EQ(b.columns[6].string_at(0), "by");
}

TEST(Resolve, UnionsByBranch) {
  auto reader = codec(R"({"type":"record","name":"R","fields":[
      {"name":"a","type":["null","long"]},{"name":"b","type":"long"}]})");
  // Writer: a is [null, int, string], b is [long, null].
  auto r = resolver(R"({"type":"record","name":"W","fields":[
      {"name":"a","type":["null","int","string"]},{"name":"b","type":["long","null"]}]})",
                    reader);
  ASSERT_TRUE(r);
  Batch b = Batch::empty(reader->type());
  ASSERT_TRUE(r->decode_into(zz(1) + zz(42) + zz(0) + zz(5), b).ok());
  ASSERT_TRUE(r->decode_into(zz(0) + zz(0) + zz(6), b).ok());
  EXPECT_EQ(b.columns[0].int_at(0), 42);
  EXPECT_FALSE(b.columns[0].is_valid(1));
  EXPECT_EQ(b.columns[1].int_at(1), 6);
  // The string branch cannot be read as long: only datums selecting it fail.
  Status st = r->decode_into(zz(2) + str("x") + zz(0) + zz(5), b);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("writer union branch 2 (string)"), std::string::npos) << st.message();
  // A null into the non-nullable reader b.
  st = r->decode_into(zz(0) + zz(1), b);
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.message();
  EXPECT_EQ(b.num_rows, 2);  // all-or-nothing
}

TEST(Resolve, EnumsBySymbolAndDefaults) {
  auto reader = codec(R"({"type":"record","name":"R","fields":[
      {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","OTHER"],
                          "default":"OTHER"}},
      {"name":"f","type":{"type":"enum","name":"F","symbols":["X","Y"]}}]})");
  auto r = resolver(R"({"type":"record","name":"W","fields":[
      {"name":"e","type":{"type":"enum","name":"E","symbols":["C","B","A"]}},
      {"name":"f","type":{"type":"enum","name":"F","symbols":["Y","Z","X"]}}]})",
                    reader);
  ASSERT_TRUE(r);
  Batch b = Batch::empty(reader->type());
  ASSERT_TRUE(r->decode_into(zz(2) + zz(0), b).ok());
  ASSERT_TRUE(r->decode_into(zz(0) + zz(2), b).ok());
  EXPECT_EQ(b.columns[0].string_at(0), "A");
  EXPECT_EQ(b.columns[1].string_at(0), "Y");
  EXPECT_EQ(b.columns[0].string_at(1), "OTHER");  // C is not a reader symbol: default
  EXPECT_EQ(b.columns[1].string_at(1), "X");
  Status st = r->decode_into(zz(1) + zz(1), b);  // Z: no reader symbol, no default
  EXPECT_NE(st.message().find("'Z'"), std::string::npos) << st.message();
}

TEST(Resolve, TimestampUnits) {
  auto reader = codec(R"({"type":"record","name":"R","fields":[
      {"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}},
      {"name":"raw","type":"long"},
      {"name":"d","type":{"type":"long","logicalType":"timestamp-micros"},"default":5}]})");
  auto r = resolver(R"({"type":"record","name":"W","fields":[
      {"name":"t","type":{"type":"long","logicalType":"timestamp-micros"}},
      {"name":"raw","type":{"type":"long","logicalType":"timestamp-millis"}}]})",
                    reader);
  ASSERT_TRUE(r);
  Batch b = Batch::empty(reader->type());
  ASSERT_TRUE(r->decode_into(zz(1700000000123456) + zz(77), b).ok());
  EXPECT_EQ(b.columns[0].int_at(0), 1700000000123456 * kNanosPerMicro);  // instant kept
  EXPECT_EQ(b.columns[1].int_at(0), 77);                                 // raw number
  EXPECT_EQ(b.columns[2].int_at(0), 5 * kNanosPerMicro);                 // default, reader unit
}

TEST(Resolve, NestedRecordsAndRecordDefaults) {
  auto reader = codec(R"({"type":"record","name":"R","fields":[
      {"name":"in","type":{"type":"record","name":"I","fields":[
          {"name":"x","type":"long"},{"name":"y","type":"string","default":"dy"}]}},
      {"name":"opt","type":["null",{"type":"record","name":"J","fields":[
          {"name":"z","type":"int"}]}],"default":null},
      {"name":"rec","type":{"type":"record","name":"K","fields":[{"name":"k","type":"long"}]},
       "default":{"k":9}}]})");
  auto r = resolver(R"({"type":"record","name":"W","fields":[
      {"name":"in","type":{"type":"record","name":"Other","fields":[{"name":"x","type":"int"}]}}]})",
                    reader);
  ASSERT_TRUE(r);
  Batch b = Batch::empty(reader->type());
  ASSERT_TRUE(r->decode_into(zz(3), b).ok());
  EXPECT_EQ(b.columns[0].child(0).int_at(0), 3);
  EXPECT_EQ(b.columns[0].child(1).string_at(0), "dy");
  EXPECT_FALSE(b.columns[1].is_valid(0));
  EXPECT_EQ(b.columns[2].child(0).int_at(0), 9);
}

TEST(Resolve, IdenticalSchemaAndBadBytes) {
  auto reader = codec(kReader);
  auto r = resolver(kReader, reader);
  ASSERT_TRUE(r);
  Batch b = Batch::empty(reader->type());
  const std::string ok = str("k") + zz(5) + zz(0) + zz(1) + str("app");
  ASSERT_TRUE(r->decode_into(ok, b).ok());
  EXPECT_EQ(b.columns[4].string_at(0), "app");
  // A resolving decode fails on truncation and trailing bytes.
  auto w = resolver(R"({"type":"record","name":"W","fields":[{"name":"so_key","type":"string"},
      {"name":"event_time","type":"long"},{"name":"qty","type":"long"}]})",
                    reader);
  EXPECT_EQ(w->decode_into(str("k") + zz(5), b).code(), StatusCode::kCorruption);
  Status st = w->decode_into(str("k") + zz(5) + zz(1) + "x", b);
  EXPECT_NE(st.message().find("trailing"), std::string::npos) << st.message();
  EXPECT_EQ(b.num_rows, 1);
  // Not a record, not JSON.
  EXPECT_FALSE(Resolver::make("\"long\"", reader));
  EXPECT_FALSE(Resolver::make("{", reader));
}

}  // namespace
}  // namespace tideline::avro
