// pipeline::MessageDecoder::decode_batch: a batch of messages with mixed writer schema
// versions, unreadable entries and malformed payloads decodes to exactly what decode_into
// gives message by message (rows in order, the same reasons for the others), and a failure to
// fetch a schema version changes nothing.
#include "pipeline/message_decoder.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace tideline::pipeline {
namespace {

constexpr const char* kReader = R"({"type":"record","name":"R","fields":[
  {"name":"id","type":"long"},{"name":"name","type":"string"},
  {"name":"price","type":["null","double"],"default":null}]})";
// Writer version 2: fields reordered, price an int (promoted), an extra field.
constexpr const char* kWriter2 = R"({"type":"record","name":"W","fields":[
  {"name":"price","type":["null","int"]},{"name":"extra","type":"string"},
  {"name":"name","type":"string"},{"name":"id","type":"long"}]})";
// Writer version 4: cannot be read as the reader (name is a long).
constexpr const char* kWriter4 = R"({"type":"record","name":"W","fields":[
  {"name":"id","type":"long"},{"name":"name","type":"long"}]})";

std::string envelope(const std::string& schema) {
  std::string escaped;
  for (char c : schema) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (c == '\n') continue;
    escaped += c;
  }
  return R"({"type":"AVRO","schema":")" + escaped + R"(","properties":{}})";
}

// A topic service that only knows schema versions: "\x01" = the reader schema, "\x02" =
// kWriter2, "\x04" = kWriter4, "\x03" = no such version, "\x05" = the registry fails.
class Versions final : public io::TopicService {
 public:
  int fetches = 0;
  Result<std::optional<std::string>> get_schema_version(std::string_view,
                                                        std::string_view v) override {
    ++fetches;
    if (v == "\x01") return envelope(kReader);
    if (v == "\x02") return envelope(kWriter2);
    if (v == "\x04") return envelope(kWriter4);
    if (v == "\x05") return error(StatusCode::kUnavailable, "registry down");
    return std::nullopt;
  }
  Status create_namespace(std::string_view, std::string_view) override { return {}; }
  Status create_partitioned_topic(std::string_view, int) override { return {}; }
  Result<int> partitions(std::string_view) override { return 1; }
  Status set_schema(std::string_view, std::string_view) override { return {}; }
  Result<std::optional<std::string>> get_schema(std::string_view) override { return std::nullopt; }
  Result<std::unique_ptr<io::Producer>> create_producer(std::string_view,
                                                        const io::ProducerOptions&) override {
    return error(StatusCode::kUnimplemented, "no producers");
  }
  Status enable_deduplication(std::string_view) override { return {}; }
  Result<std::unique_ptr<io::Consumer>> subscribe(std::string_view,
                                                  const io::SubscribeOptions&) override {
    return error(StatusCode::kUnimplemented, "no consumers");
  }
  Result<int64_t> message_count(std::string_view) override { return 0; }
};

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

io::Message msg(std::string version, std::string payload) {
  io::Message m;
  m.schema_version = std::move(version);
  m.payload = std::move(payload);
  return m;
}

// A reader-schema datum (price null or a double given as its 8 bytes).
std::string reader_datum(int64_t id, std::string_view name) {
  return zz(id) + str(name) + zz(0);
}
std::string writer2_datum(int64_t id, std::string_view name, int32_t price) {
  return zz(1) + zz(price) + str("x") + str(name) + zz(id);
}

std::vector<io::Message> mixed() {
  std::vector<io::Message> m;
  m.push_back(msg("", reader_datum(1, "a")));
  m.push_back(msg("", reader_datum(2, "b").substr(0, 2)));  // truncated, in the middle
  m.push_back(msg("", reader_datum(3, "c")));
  m.push_back(msg("\x02", writer2_datum(4, "d", 40)));
  m.push_back(msg("\x02", writer2_datum(5, "e", 50) + "!"));  // trailing byte
  m.push_back(msg("\x02", writer2_datum(6, "f", 60)));
  m.push_back(msg("\x03", reader_datum(7, "g")));  // unknown version
  m.push_back(msg("\x01", reader_datum(8, "h")));
  io::Message bad = msg("", "raw entry bytes");
  bad.unreadable = "topic t partition 0 entry 9: bad compressed data";
  m.push_back(std::move(bad));
  m.push_back(msg("\x04", reader_datum(10, "i")));  // unresolvable version
  m.push_back(msg("", reader_datum(11, "j")));
  m.push_back(msg("\x02", writer2_datum(12, "k", 120)));
  return m;
}

TEST(MessageDecoderBatch, EqualsMessageByMessage) {
  auto reader = avro::Codec::make(kReader);
  ASSERT_TRUE(reader) << reader.error().to_string();
  const auto msgs = mixed();
  std::vector<const io::Message*> ptrs;
  for (const auto& m : msgs) ptrs.push_back(&m);

  Versions t1;
  MessageDecoder one_by_one(t1, "t", *reader);
  Batch expected = Batch::empty((*reader)->type());
  std::vector<std::pair<size_t, std::string>> expected_bad;
  for (size_t i = 0; i < msgs.size(); ++i) {
    auto s = one_by_one.decode_into(msgs[i], expected);
    ASSERT_TRUE(s) << s.error().to_string();
    if (!s->ok()) expected_bad.emplace_back(i, s->to_string());
  }
  ASSERT_EQ(expected.num_rows, 7);
  ASSERT_EQ(expected_bad.size(), 5u);

  Versions t2;
  MessageDecoder batched(t2, "t", *reader);
  Batch got = Batch::empty((*reader)->type());
  std::vector<avro::DecodeError> bad;
  ASSERT_TRUE(batched.decode_batch(ptrs, got, bad).ok());
  EXPECT_EQ(t2.fetches, 4);  // each version once
  ASSERT_EQ(bad.size(), expected_bad.size());
  for (size_t e = 0; e < bad.size(); ++e) {
    EXPECT_EQ(bad[e].index, expected_bad[e].first);
    EXPECT_EQ(bad[e].why.to_string(), expected_bad[e].second);
  }
  ASSERT_TRUE(got.validate().ok());
  ASSERT_EQ(got.num_rows, expected.num_rows);
  for (size_t c = 0; c < got.columns.size(); ++c)
    for (int64_t r = 0; r < got.num_rows; ++r)
      EXPECT_EQ(value_at(got.columns[c], r), value_at(expected.columns[c], r)) << c << " " << r;
  const std::vector<int64_t> ids = {1, 3, 4, 6, 8, 11, 12};
  for (size_t r = 0; r < ids.size(); ++r) EXPECT_EQ(got.columns[0].int_at(r), ids[r]);
  EXPECT_EQ(got.columns[2].float_at(2), 40.0);  // promoted from the writer's int
  // The reasons say what went wrong with which message.
  const std::vector<size_t> bad_at = {1, 4, 6, 8, 9};
  for (size_t e = 0; e < bad_at.size(); ++e) EXPECT_EQ(bad[e].index, bad_at[e]);
  EXPECT_NE(bad[1].why.message().find("writer schema version 02"), std::string::npos);
  EXPECT_NE(bad[1].why.message().find("trailing bytes"), std::string::npos);
  EXPECT_NE(bad[2].why.message().find("does not exist"), std::string::npos);
  EXPECT_EQ(bad[3].why.message(), "topic t partition 0 entry 9: bad compressed data");
  EXPECT_NE(bad[4].why.message().find("writer schema version 04"), std::string::npos);
}

TEST(MessageDecoderBatch, AFailedSchemaFetchChangesNothing) {
  auto reader = avro::Codec::make(kReader);
  ASSERT_TRUE(reader);
  std::vector<io::Message> msgs;
  msgs.push_back(msg("", reader_datum(1, "a")));
  msgs.push_back(msg("\x05", reader_datum(2, "b")));
  std::vector<const io::Message*> ptrs = {&msgs[0], &msgs[1]};
  Versions t;
  MessageDecoder d(t, "t", *reader);
  Batch got = Batch::empty((*reader)->type());
  std::vector<avro::DecodeError> bad;
  Status s = d.decode_batch(ptrs, got, bad);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("registry down"), std::string::npos);
  EXPECT_EQ(got.num_rows, 0);
  for (const auto& c : got.columns) EXPECT_EQ(c.size(), 0);
  EXPECT_TRUE(bad.empty());
}

}  // namespace
}  // namespace tideline::pipeline
