#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/time.h"
#include "io/csv/csv.h"

namespace tideline::csv {
namespace {

TypePtr schema_of(std::vector<std::pair<std::string, TypeId>> cols) {
  std::vector<Field> fields;
  for (auto& [n, t] : cols) fields.push_back({n, DataType::of(t)});
  return DataType::record(std::move(fields));
}

struct Loaded {
  std::vector<Batch> batches;
  std::vector<RowError> errors;
  LoadStats stats;
};

Loaded load(const std::string& text, const TypePtr& schema, LoadOptions options = {}) {
  Loaded out;
  auto reader = CsvReader::from_string(text, "in.csv");
  auto r = load_typed(
      *reader, schema, options,
      [&](Batch&& b) {
        EXPECT_TRUE(b.validate().ok());
        out.batches.push_back(std::move(b));
        return Status();
      },
      [&](const RowError& e) { out.errors.push_back(e); });
  EXPECT_TRUE(r) << r.error().to_string();
  if (r) out.stats = *r;
  return out;
}

TEST(LoadTyped, AllTypesWithNullsAndHeader) {
  auto schema = schema_of({{"b", TypeId::kBool},
                           {"i", TypeId::kI32},
                           {"l", TypeId::kI64},
                           {"u", TypeId::kU64},
                           {"f", TypeId::kF64},
                           {"s", TypeId::kString},
                           {"t", TypeId::kTimestamp}});
  auto l = load(
      "B,I,L,U,F,S,T\n"
      "true,1,-9000000000,18446744073709551615,1.5,hello,2021-01-02T03:04:05Z\n"
      ",,,,,,\n"
      "0,-2147483648,+7,0,-2e3,\"a,b\",1000\n",
      schema);
  EXPECT_TRUE(l.stats.header_seen);
  EXPECT_EQ(l.stats.rows_read, 3);
  EXPECT_EQ(l.stats.rows_loaded, 3);
  EXPECT_EQ(l.stats.rows_rejected, 0);
  ASSERT_EQ(l.batches.size(), 1u);
  const Batch& b = l.batches[0];
  ASSERT_EQ(b.num_rows, 3);
  EXPECT_EQ(b.columns[0].int_at(0), 1);
  EXPECT_EQ(b.columns[0].int_at(2), 0);
  EXPECT_EQ(b.columns[1].int_at(2), -2147483648LL);
  EXPECT_EQ(b.columns[2].int_at(0), -9000000000LL);
  EXPECT_EQ(b.columns[2].int_at(2), 7);
  EXPECT_EQ(static_cast<uint64_t>(b.columns[3].int_at(0)), 18446744073709551615ULL);
  EXPECT_DOUBLE_EQ(b.columns[4].float_at(0), 1.5);
  EXPECT_DOUBLE_EQ(b.columns[4].float_at(2), -2000.0);
  EXPECT_EQ(b.columns[5].string_at(0), "hello");
  EXPECT_EQ(b.columns[5].string_at(2), "a,b");
  EXPECT_EQ(b.columns[6].int_at(0), *parse_timestamp("2021-01-02T03:04:05Z"));
  // Integers in a timestamp column are epoch milliseconds by default.
  EXPECT_EQ(b.columns[6].int_at(2), 1000 * kNanosPerMilli);
  for (int c = 0; c < 7; ++c) {
    if (c == 5) continue;
    EXPECT_FALSE(b.columns[c].is_valid(1)) << c;
    EXPECT_TRUE(b.columns[c].is_valid(0)) << c;
  }
  // Empty string cells are "" by default.
  EXPECT_TRUE(b.columns[5].is_valid(1));
  EXPECT_EQ(b.columns[5].string_at(1), "");
}

TEST(LoadTyped, EmptyStringIsNullOption) {
  LoadOptions o;
  o.empty_string_is_null = true;
  auto l = load("x\n\"\"\n", schema_of({{"s", TypeId::kString}}), o);
  ASSERT_EQ(l.batches.size(), 1u);
  EXPECT_EQ(l.batches[0].num_rows, 2);
  EXPECT_TRUE(l.batches[0].columns[0].is_valid(0));
  EXPECT_EQ(l.batches[0].columns[0].string_at(0), "x");
  EXPECT_FALSE(l.batches[0].columns[0].is_valid(1));
}

TEST(LoadTyped, BadRowsAreReportedAndEveryGoodRowLoaded) {
  auto schema =
      schema_of({{"id", TypeId::kI32}, {"name", TypeId::kString}, {"price", TypeId::kI64}});
  auto l = load(
      "1,a,10\n"
      "2,b\n"
      "3,c,abc\n"
      "4,d,40\n"
      "5,\"e\"x,50\n"
      "99999999999,f,60\n"
      "7,g,70\n",
      schema);
  EXPECT_FALSE(l.stats.header_seen);
  EXPECT_EQ(l.stats.rows_read, 7);
  EXPECT_EQ(l.stats.rows_loaded, 3);
  EXPECT_EQ(l.stats.rows_rejected, 4);
  ASSERT_EQ(l.errors.size(), 4u);
  EXPECT_EQ(l.errors[0].to_string(), "in.csv:2: expected 3 columns, found 2");
  EXPECT_EQ(l.errors[1].to_string(), "in.csv:3: column 'price': 'abc' is not an integer");
  EXPECT_EQ(l.errors[2].file, "in.csv");
  EXPECT_EQ(l.errors[2].line, 5);
  EXPECT_EQ(l.errors[2].reason, "unexpected character 'x' after a closing quote (column 6)");
  EXPECT_EQ(l.errors[3].to_string(),
            "in.csv:6: column 'id': '99999999999' is out of range for i32");
  ASSERT_EQ(l.batches.size(), 1u);
  const Batch& b = l.batches[0];
  ASSERT_EQ(b.num_rows, 3);
  EXPECT_EQ(b.columns[0].int_at(0), 1);
  EXPECT_EQ(b.columns[0].int_at(1), 4);
  EXPECT_EQ(b.columns[0].int_at(2), 7);
  EXPECT_EQ(b.columns[1].string_at(2), "g");
  EXPECT_EQ(b.columns[2].int_at(2), 70);
}

TEST(LoadTyped, OtherTypeErrors) {
  auto schema = schema_of({{"b", TypeId::kBool}, {"f", TypeId::kF64}, {"t", TypeId::kTimestamp}});
  auto l = load("maybe,1,1\ntrue,x,1\ntrue,1,2021-13-01\n", schema);
  ASSERT_EQ(l.errors.size(), 3u);
  auto ints = load("-\n1.5\n99999999999999999999\n", schema_of({{"n", TypeId::kI64}}));
  ASSERT_EQ(ints.errors.size(), 3u);
  EXPECT_EQ(ints.errors[0].reason, "column 'n': '-' is not an integer");
  EXPECT_EQ(ints.errors[1].reason, "column 'n': '1.5' is not an integer");
  EXPECT_EQ(ints.errors[2].reason, "column 'n': '99999999999999999999' is out of range for i64");
  EXPECT_EQ(l.errors[0].reason, "column 'b': 'maybe' is not a boolean");
  EXPECT_EQ(l.errors[1].reason, "column 'f': 'x' is not a number");
  EXPECT_EQ(l.errors[2].reason, "column 't': '2021-13-01' is not a timestamp");
  EXPECT_TRUE(l.batches.empty());
}

TEST(LoadTyped, BatchesOfBatchRows) {
  std::string text;
  for (int i = 0; i < 10; ++i) text += std::to_string(i) + "\n";
  LoadOptions o;
  o.batch_rows = 4;
  auto l = load(text, schema_of({{"n", TypeId::kI64}}), o);
  ASSERT_EQ(l.batches.size(), 3u);
  EXPECT_EQ(l.batches[0].num_rows, 4);
  EXPECT_EQ(l.batches[1].num_rows, 4);
  EXPECT_EQ(l.batches[2].num_rows, 2);
  EXPECT_EQ(l.batches[2].columns[0].int_at(1), 9);
}

TEST(LoadTyped, MaxRows) {
  LoadOptions o;
  o.max_rows = 2;
  auto l = load("n\n1\nx\n2\n3\n", schema_of({{"n", TypeId::kI64}}), o);
  EXPECT_EQ(l.stats.rows_loaded, 2);
  EXPECT_EQ(l.stats.rows_rejected, 1);
  ASSERT_EQ(l.batches.size(), 1u);
  EXPECT_EQ(l.batches[0].columns[0].int_at(1), 2);
}

TEST(LoadTyped, HeaderModes) {
  auto schema = schema_of({{"n", TypeId::kI64}});
  LoadOptions present;
  present.header = HeaderMode::kPresent;
  auto a = load("whatever\n5\n", schema, present);
  EXPECT_TRUE(a.stats.header_seen);
  EXPECT_EQ(a.stats.rows_loaded, 1);
  LoadOptions absent;
  absent.header = HeaderMode::kAbsent;
  auto b = load("n\n5\n", schema, absent);
  EXPECT_FALSE(b.stats.header_seen);
  EXPECT_EQ(b.stats.rows_rejected, 1);
  EXPECT_EQ(b.stats.rows_loaded, 1);
}

TEST(LoadTyped, CallbackErrorStopsTheLoad) {
  auto reader = CsvReader::from_string("1\n2\n3\n", "x");
  LoadOptions o;
  o.batch_rows = 1;
  int calls = 0;
  auto r = load_typed(
      *reader, schema_of({{"n", TypeId::kI64}}), o,
      [&](Batch&&) {
        ++calls;
        return io_error("disk full");
      },
      nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "disk full");
  EXPECT_EQ(calls, 1);
}

TEST(LoadTyped, RejectsNonRecordSchema) {
  auto reader = CsvReader::from_string("1\n", "x");
  auto r = load_typed(
      *reader, DataType::of(TypeId::kI64), {}, [](Batch&&) { return Status(); }, nullptr);
  EXPECT_FALSE(r);
}

// ---------------------------------------------------------------------------------------------

Batch infer(const std::string& text, std::vector<std::string> ts = {}) {
  auto reader = CsvReader::from_string(text, "in.csv");
  auto r = load_inferred(*reader, ts);
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? std::move(*r) : Batch{};
}

TEST(LoadInferred, ColumnTypes) {
  Batch b = infer(
      "b,i,f,mix,t,d,s,e,ts2\n"
      "true,1,1.5,1,2021-01-01T00:00:00Z,2021-01-01,x,,2021-01-01T00:00:00.123\n"
      "FALSE,-2,3,2.,2021-01-02 00:00:00.5,2021-01-02,,,2021-01-01\n"
      ",,,.5e-3,,,y,,\n");
  ASSERT_EQ(b.num_rows, 3);
  EXPECT_EQ(b.schema->to_string(),
            "{b: bool, i: i64, f: f64, mix: f64, t: timestamp_ns, d: timestamp_ns, s: string, "
            "e: string, ts2: timestamp_ns}");
  EXPECT_EQ(b.columns[0].int_at(0), 1);
  EXPECT_EQ(b.columns[0].int_at(1), 0);
  EXPECT_FALSE(b.columns[0].is_valid(2));
  EXPECT_EQ(b.columns[1].int_at(1), -2);
  EXPECT_FALSE(b.columns[1].is_valid(2));
  EXPECT_DOUBLE_EQ(b.columns[2].float_at(1), 3.0);
  EXPECT_DOUBLE_EQ(b.columns[3].float_at(2), 0.0005);
  EXPECT_EQ(b.columns[4].int_at(1), *parse_timestamp("2021-01-02T00:00:00.5Z"));
  EXPECT_FALSE(b.columns[4].is_valid(2));
  EXPECT_EQ(b.columns[5].int_at(1), *parse_timestamp("2021-01-02"));
  // Empty cells in string columns are "", not null.
  EXPECT_TRUE(b.columns[6].is_valid(1));
  EXPECT_EQ(b.columns[6].string_at(1), "");
  EXPECT_EQ(b.columns[6].string_at(2), "y");
  EXPECT_TRUE(b.columns[7].is_valid(0));
  EXPECT_EQ(b.columns[8].int_at(0), *parse_timestamp("2021-01-01T00:00:00.123"));
}

TEST(LoadInferred, MixedKindsBecomeString) {
  Batch b = infer("a,b,c,d,e,f\ntrue,1,2021-01-01,1e5,NaN,99999999999999999999\n1,x,5,1E-2,1,1\n");
  EXPECT_EQ(b.schema->to_string(),
            "{a: string, b: string, c: string, d: f64, e: string, f: string}");
  EXPECT_EQ(b.columns[0].string_at(0), "true");
  EXPECT_DOUBLE_EQ(b.columns[3].float_at(0), 1e5);
}

TEST(LoadInferred, TimestampClassificationFollowsArrow) {
  // Seconds followed by a zone suffix are timestamps; a missing seconds field or a fraction
  // longer than 9 digits is not.
  Batch b = infer(
      "a,b,c,d\n"
      "1996-03-21T00:00:00-00:00,2021-01-01T00:00,2021-01-01T00:00:00.1234567890,2021-01-01T00:00:"
      "00+05:30\n");
  EXPECT_EQ(b.schema->to_string(), "{a: timestamp_ns, b: string, c: string, d: timestamp_ns}");
  EXPECT_EQ(b.columns[0].int_at(0), *parse_timestamp("1996-03-21T00:00:00Z"));
  EXPECT_EQ(b.columns[3].int_at(0), *parse_timestamp("2020-12-31T18:30:00Z"));
}

TEST(LoadInferred, ConformanceStyleInput) {
  Batch b = infer(
      "time,key,a,b\n2021-01-01T00:00:00.000000000Z,A,5,1.2\n"
      "2021-01-02T00:00:00.000000000Z,A,6.3,0.4\n2021-03-01T00:00:00.000000000Z,B,,3.7\n"
      "2021-04-10T00:00:00.000000000Z,A,13,\n",
      {"time"});
  EXPECT_EQ(b.schema->to_string(), "{time: timestamp_ns, key: string, a: f64, b: f64}");
  EXPECT_EQ(b.num_rows, 4);
  EXPECT_EQ(b.columns[0].int_at(3), *parse_timestamp("2021-04-10T00:00:00Z"));
  EXPECT_FALSE(b.columns[2].is_valid(2));
  EXPECT_DOUBLE_EQ(b.columns[2].float_at(3), 13.0);
}

TEST(LoadInferred, ForcedTimestampColumns) {
  Batch b = infer("t,u\n1000,2021-01-01\n2.9,\n", {"t", "u"});
  EXPECT_EQ(b.schema->to_string(), "{t: timestamp_ns, u: timestamp_ns}");
  EXPECT_EQ(b.columns[0].int_at(0), 1000);
  EXPECT_EQ(b.columns[0].int_at(1), 2);
  EXPECT_FALSE(b.columns[1].is_valid(1));
}

TEST(LoadInferred, Errors) {
  auto run = [](const std::string& text, std::vector<std::string> ts = {}) {
    auto reader = CsvReader::from_string(text, "in.csv");
    auto r = load_inferred(*reader, ts);
    EXPECT_FALSE(r);
    return r ? std::string() : r.error().message();
  };
  EXPECT_EQ(run(""), "in.csv: empty CSV (a header row is required)");
  EXPECT_EQ(run("a,b\n1,2\n3\n"), "in.csv:3: expected 2 columns, found 1");
  EXPECT_EQ(run("a\n1\n", {"zz"}), "in.csv: timestamp column 'zz' is not in the header");
  EXPECT_EQ(run("a,t\n1,x\n", {"t"}), "in.csv:2:2: column 't': 'x' is not a timestamp");
  EXPECT_EQ(run("d\n2021-02-30\n"), "in.csv:2:1: column 'd': '2021-02-30' is not a timestamp");
  // Found by csv_fuzz: a year whose nanoseconds overflow int64 is an error, not UB.
  EXPECT_EQ(run("t\n9415-01-01T00:00:00Z\n"),
            "in.csv:2:1: column 't': '9415-01-01T00:00:00Z' is not a timestamp");
  EXPECT_EQ(run("a\n\"x\"y\n"),
            "in.csv:2: unexpected character 'y' after a closing quote (column 4)");
}

TEST(LoadInferred, HeaderOnly) {
  Batch b = infer("a,b\n");
  EXPECT_EQ(b.num_rows, 0);
  EXPECT_EQ(b.schema->to_string(), "{a: string, b: string}");
}

}  // namespace
}  // namespace tideline::csv
