// Tideline columnar files (.tlc): round trips, projection, and corrupt input.
#include "io/columnar_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

namespace tideline::io {
namespace {

std::string write_to_string(const Batch& b, const ColumnarMeta& meta,
                            std::vector<const Column*> dicts = {}) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  EXPECT_NE(f, nullptr);
  Status st = write_columnar(f, b, meta, "mem", dicts);
  std::fclose(f);
  EXPECT_TRUE(st.ok()) << st.message();
  std::string out(buf, len);
  std::free(buf);
  return out;
}

Result<ColumnarTable> read_string(const std::string& s, int threads = 1,
                                  const std::vector<std::string>* only = nullptr) {
  return read_columnar(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()), "t.tlc",
      threads, only);
}

Batch sample_batch() {
  Batch b = Batch::empty(DataType::record({{"time", DataType::of(TypeId::kTimestamp)},
                                           {"user", DataType::of(TypeId::kString)},
                                           {"amount", DataType::of(TypeId::kF64)},
                                           {"n", DataType::of(TypeId::kI32)},
                                           {"flag", DataType::of(TypeId::kBool)},
                                           {"big", DataType::of(TypeId::kU64)},
                                           {"d", DataType::of(TypeId::kDuration)}}));
  for (int i = 0; i < 130; ++i) {
    b.columns[0].append_int(1'000'000'000LL * i);
    if (i % 7 == 3)
      b.columns[1].append_null();
    else
      b.columns[1].append_string(i % 5 ? "u" + std::to_string(i) : "");
    if (i % 11 == 0)
      b.columns[2].append_null();
    else
      b.columns[2].append_float(i * 0.5);
    b.columns[3].append_int(-i);
    if (i % 3 == 0)
      b.columns[4].append_null();
    else
      b.columns[4].append_int(i % 2);
    b.columns[5].append_int(static_cast<int64_t>(~uint64_t{0} - static_cast<uint64_t>(i)));
    b.columns[6].append_int(i * 10);
  }
  b.num_rows = 130;
  return b;
}

void expect_same(const Batch& a, const Batch& b) {
  ASSERT_EQ(a.num_rows, b.num_rows);
  ASSERT_TRUE(type_equals(*a.schema, *b.schema))
      << a.schema->to_string() << " vs " << b.schema->to_string();
  for (size_t c = 0; c < a.columns.size(); ++c) {
    for (int64_t r = 0; r < a.num_rows; ++r) {
      ASSERT_EQ(a.columns[c].is_valid(r), b.columns[c].is_valid(r)) << "col " << c << " row " << r;
      if (!a.columns[c].is_valid(r)) continue;
      EXPECT_EQ(value_to_string(value_at(a.columns[c], r)),
                value_to_string(value_at(b.columns[c], r)))
          << "col " << c << " row " << r;
    }
  }
}

TEST(ColumnarFile, RoundTripEveryTypeWithNulls) {
  Batch b = sample_batch();
  ColumnarMeta meta{"time", "user", "", true};
  std::string bytes = write_to_string(b, meta);
  for (int threads : {1, 2}) {
    auto r = read_string(bytes, threads);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    expect_same(b, r->batch);
    EXPECT_EQ(r->meta.time_column, "time");
    EXPECT_EQ(r->meta.key_column, "user");
    EXPECT_TRUE(r->meta.sorted_by_time);
    EXPECT_EQ(r->file_schema->fields.size(), 7u);
  }
}

TEST(ColumnarFile, EmptyBatchAndFileRoundTrip) {
  Batch b = Batch::empty(DataType::record(
      {{"t", DataType::of(TypeId::kTimestamp)}, {"s", DataType::of(TypeId::kString)}}));
  std::string path = (std::filesystem::temp_directory_path() / "tl_columnar_empty.tlc").string();
  ASSERT_TRUE(write_columnar_file(path, b, {"t", "s", "", false}).ok());
  auto r = read_columnar_file(path, 2);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->batch.num_rows, 0);
  EXPECT_FALSE(r->meta.sorted_by_time);
  std::filesystem::remove(path);
}

TEST(ColumnarFile, ProjectionAndHeaderOnly) {
  Batch b = sample_batch();
  std::string bytes = write_to_string(b, {"time", "user", "", true});
  std::vector<std::string> only{"amount", "time"};
  auto r = read_string(bytes, 1, &only);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ASSERT_EQ(r->batch.columns.size(), 2u);
  EXPECT_EQ(r->batch.schema->fields[0].name, "time");  // file order
  EXPECT_EQ(r->batch.schema->fields[1].name, "amount");
  EXPECT_EQ(r->batch.columns[1].float_at(2), 1.0);
  std::vector<std::string> none;
  auto h = read_string(bytes, 1, &none);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->batch.columns.size(), 0u);
  EXPECT_EQ(h->file_schema->fields.size(), 7u);
  std::vector<std::string> bad{"nope"};
  auto e = read_string(bytes, 1, &bad);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message().find("no column 'nope'"), std::string::npos);
}

TEST(ColumnarFile, DictionaryColumnReadsAsStrings) {
  Column dict(DataType::of(TypeId::kString));
  for (const char* s : {"alpha", "", "gamma,\"q\""}) dict.append_string(s);
  Batch b = Batch::empty(DataType::record(
      {{"_time", DataType::of(TypeId::kTimestamp)}, {"_key", DataType::of(TypeId::kU32)}}));
  for (int i = 0; i < 200; ++i) {
    b.columns[0].append_int(i);
    if (i % 9 == 4)
      b.columns[1].append_null();
    else
      b.columns[1].append_int(i % 3);
  }
  b.num_rows = 200;
  std::string bytes = write_to_string(b, {"_time", "_key", "", true}, {nullptr, &dict});
  auto r = read_string(bytes, 2);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  const Column& k = r->batch.columns[1];
  ASSERT_EQ(k.type_id(), TypeId::kString);
  for (int64_t i = 0; i < 200; ++i) {
    ASSERT_EQ(k.is_valid(i), i % 9 != 4) << i;
    if (k.is_valid(i)) {
      EXPECT_EQ(k.string_at(i), dict.string_at(i % 3)) << i;
    }
  }
  // Kept encoded on request: u32 codes (nulls kept) and the distinct values.
  const std::string key = "_key";
  auto kept = read_columnar(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
      "t.tlc", 1, nullptr, &key);
  ASSERT_TRUE(kept.has_value()) << kept.error().message();
  ASSERT_TRUE(kept->dictionary_values.has_value());
  EXPECT_EQ(kept->dictionary_values->size(), 3);
  EXPECT_EQ(kept->dictionary_values->string_at(2), "gamma,\"q\"");
  const Column& codes = kept->batch.columns[1];
  ASSERT_EQ(codes.type_id(), TypeId::kU32);
  for (int64_t i = 0; i < 200; ++i) {
    ASSERT_EQ(codes.is_valid(i), i % 9 != 4) << i;
    if (codes.is_valid(i)) {
      EXPECT_EQ(codes.int_at(i), i % 3) << i;
    }
  }
  // An index outside the dictionary is refused when writing.
  b.columns[1].ints()[0] = 7;
  std::FILE* f = std::tmpfile();
  EXPECT_FALSE(write_columnar(f, b, {}, "mem", std::vector<const Column*>{nullptr, &dict}).ok());
  std::fclose(f);
}

TEST(ColumnarFile, EveryTruncationIsACleanError) {
  Batch b = sample_batch();
  std::string bytes = write_to_string(b, {"time", "user", "", true});
  for (size_t len = 0; len < bytes.size(); len += (len < 600 ? 1 : 97)) {
    auto r = read_string(bytes.substr(0, len));
    ASSERT_FALSE(r.has_value()) << "prefix of " << len << " bytes was accepted";
    EXPECT_EQ(r.error().code(), StatusCode::kCorruption);
    EXPECT_NE(r.error().message().find("t.tlc: byte "), std::string::npos) << r.error().message();
  }
}

TEST(ColumnarFile, CorruptFieldsNameTheirOffset) {
  Batch b = Batch::empty(DataType::record({{"t", DataType::of(TypeId::kTimestamp)},
                                           {"s", DataType::of(TypeId::kString)},
                                           {"f", DataType::of(TypeId::kBool)}}));
  for (int i = 0; i < 3; ++i) {
    b.columns[0].append_int(i);
    b.columns[1].append_string("abc");
    b.columns[2].append_int(1);
  }
  b.num_rows = 3;
  const std::string good = write_to_string(b, {"t", "s", "", false});
  auto expect_error = [](const std::string& bytes, const std::string& what) {
    auto r = read_string(bytes);
    ASSERT_FALSE(r.has_value()) << what;
    EXPECT_EQ(r.error().code(), StatusCode::kCorruption);
    EXPECT_NE(r.error().message().find(what), std::string::npos) << r.error().message();
  };
  std::string bad = good;
  bad[0] = 'X';
  expect_error(bad, "byte 0: not a Tideline columnar file");
  bad = good;
  bad[8] = 9;
  expect_error(bad, "byte 8: unsupported format version 9");
  bad = good;
  bad[12] = 4;
  expect_error(bad, "byte 12: unknown file flags");
  // Locate the buffers through a well-formed read of the layout: the string offsets are the
  // second column's first buffer; find them by their content (0, 3, 6, 9 as u32).
  const uint32_t offs[4] = {0, 3, 6, 9};
  size_t at = good.find(std::string(reinterpret_cast<const char*>(offs), sizeof offs));
  ASSERT_NE(at, std::string::npos);
  bad = good;
  uint32_t v = 1;
  std::memcpy(bad.data() + at + 8, &v, 4);  // offsets 0,3,1,9
  expect_error(bad, "byte " + std::to_string(at + 8) + ": column 's': string offset 1 is below");
  bad = good;
  v = 5;
  std::memcpy(bad.data() + at, &v, 4);
  expect_error(bad,
               "byte " + std::to_string(at) + ": column 's': string offsets do not start at 0");
  // The bool column's values are three i64 ones after the chars; make one 2.
  const int64_t ones[3] = {1, 1, 1};
  size_t bat = good.find(std::string(reinterpret_cast<const char*>(ones), sizeof ones));
  ASSERT_NE(bat, std::string::npos);
  bad = good;
  int64_t two = 2;
  std::memcpy(bad.data() + bat + 8, &two, 8);
  expect_error(bad, "byte " + std::to_string(bat + 8) + ": column 'f': bool value 2");
  // Unknown type code: the code follows the name "s" (u16 length 1, 's').
  size_t name_at = good.rfind(std::string("\x01\x00s", 3));  // the column, not the key name
  ASSERT_NE(name_at, std::string::npos);
  bad = good;
  bad[name_at + 3] = 42;
  expect_error(bad, "byte " + std::to_string(name_at + 3) + ": column 's': unknown type code 42");
}

TEST(ColumnarFile, RejectsRecords) {
  Batch b = Batch::empty(
      DataType::record({{"r", DataType::record({{"x", DataType::of(TypeId::kI64)}})}}));
  std::FILE* f = std::tmpfile();
  Status st = write_columnar(f, b, {}, "mem");
  std::fclose(f);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cannot hold"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace tideline::io
