// `tideline prepare` and `tideline query` over .tlc files: the same answers as over CSV, in
// every output format; the fast CSV writer matches the reference writer byte for byte.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "cli/query_output.h"
#include "cli/run_binary.h"
#include "io/columnar_file.h"

namespace tideline {
namespace {

using testing::run_tideline;
using testing::slurp;
namespace fs = std::filesystem;

class QueryTlc : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tl_query_tlc_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    // Unsorted on purpose (prepare sorts), with nulls, quotes, an equal-time pair, and a row
    // with a null key.
    std::ofstream(dir_ / "p.csv") << "time,user,amount,note\n"
                                     "2022-01-03T00:00:00Z,bob,10.5,\"a,b\"\n"
                                     "2022-01-01T00:00:00Z,alice,1,x\n"
                                     "2022-01-02T00:00:00.000000001Z,alice,,\"q\"\"q\"\n"
                                     "2022-01-02T00:00:00.000000001Z,carol,3e20,\n"
                                     "2022-01-05T12:34:56.789Z,bob,-0.25,y\n"
                                     "2022-02-01T00:00:00Z,,7,z\n";
    std::ofstream(dir_ / "v.csv") << "time,user,page\n"
                                     "2022-01-01T00:00:01Z,alice,1\n"
                                     "2022-01-02T00:00:00Z,bob,2\n"
                                     "2022-01-04T00:00:00Z,bob,3\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& f) const { return (dir_ / f).string(); }
  void prepare(const std::string& stem) {
    auto r = run_tideline({"prepare", "--table", "T=" + path(stem + ".csv") + ",time=time,key=user",
                           "--out", path(stem + ".tlc")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::string query(const std::string& expr, const std::string& ext, const std::string& format,
                    const std::string& results = "history") {
    auto r = run_tideline({"query", "--expr", expr, "--format", format, "--results", results,
                           "--table", "P=" + path("p." + ext) + ",time=time,key=user", "--table",
                           "V=" + path("v." + ext) + ",time=time,key=user,grouping=P"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  fs::path dir_;
};

TEST_F(QueryTlc, SameAnswersAsCsvInEveryFormat) {
  prepare("p");
  prepare("v");
  const std::vector<std::string> exprs = {
      "{ total: sum(P.amount), n: count(P), note: last(P.note) }",
      "{ amount: P.amount, user: P.user, note: P.note }",
      "{ views: count(V, window = since(is_valid(P))) } | when(is_valid(P), $input)",
      "P",
  };
  for (const auto& e : exprs) {
    for (const char* results : {"history", "final"}) {
      for (const char* format : {"csv", "jsonl", "table"}) {
        EXPECT_EQ(query(e, "csv", format, results), query(e, "tlc", format, results))
            << e << " " << results << " " << format;
      }
      // --format tlc reads back as the CSV answer.
      std::string tlc_out = query(e, "tlc", "tlc", results);
      auto t =
          io::read_columnar(std::span<const uint8_t>(
                                reinterpret_cast<const uint8_t*>(tlc_out.data()), tlc_out.size()),
                            "out");
      ASSERT_TRUE(t.has_value()) << e << ": " << t.error().message();
      char* buf = nullptr;
      size_t len = 0;
      std::FILE* f = open_memstream(&buf, &len);
      ASSERT_TRUE(cli::write_csv_fast(t->batch, f, 1).ok());
      std::fclose(f);
      EXPECT_EQ(std::string(buf, len), query(e, "csv", "csv", results)) << e << " " << results;
      std::free(buf);
    }
  }
}

TEST_F(QueryTlc, ReadsOnlyUsedColumnsAndExplains) {
  prepare("p");
  auto r = run_tideline({"query", "--expr", "{ s: sum(P.amount) }", "--explain", "--table",
                         "P=" + path("p.tlc") + ",time=time,key=user"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sum"), std::string::npos) << r.out;
}

TEST_F(QueryTlc, CorruptAndMissingFilesAreClearErrors) {
  prepare("p");
  std::string bytes = slurp(path("p.tlc"));
  std::ofstream(path("cut.tlc"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  auto r = run_tideline({"query", "--expr", "{ s: sum(P.amount) }", "--table",
                         "P=" + path("cut.tlc") + ",time=time,key=user"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cut.tlc: byte "), std::string::npos) << r.err;
  auto m = run_tideline({"query", "--expr", "{ s: sum(P.amount) }", "--table",
                         "P=" + path("none.tlc") + ",time=time,key=user"});
  EXPECT_EQ(m.exit_code, 1);
  EXPECT_NE(m.err.find("cannot open"), std::string::npos) << m.err;
  auto p = run_tideline(
      {"prepare", "--table", "T=" + path("p.csv") + ",time=nope,key=user", "--out", path("x.tlc")});
  EXPECT_NE(p.exit_code, 0);
  EXPECT_NE(p.err.find("nope"), std::string::npos) << p.err;
  EXPECT_FALSE(fs::exists(path("x.tlc")));
}

TEST(QueryCsvWriter, MatchesReferenceFormatting) {
  Batch b = Batch::empty(DataType::record({{"_time", DataType::of(TypeId::kTimestamp)},
                                           {"f", DataType::of(TypeId::kF64)},
                                           {"b", DataType::of(TypeId::kBool)},
                                           {"u", DataType::of(TypeId::kU64)},
                                           {"s", DataType::of(TypeId::kString)}}));
  const double vals[] = {1.0,          0.0001,       1e20,
                         -2.5,         std::nan(""), -std::numeric_limits<double>::infinity(),
                         123456789.125};
  int64_t t = -86'400'000'000'001;  // before the epoch, crossing a day
  for (double f : vals) {
    b.columns[0].append_int(t);
    t += 43'200'000'000'000;
    b.columns[1].append_float(f);
    b.columns[2].append_int(f > 0);
    b.columns[3].append_int(-1);
    b.columns[4].append_string(f > 1 ? "a\"b" : "line\nbreak");
  }
  b.columns[0].append_null();
  b.columns[1].append_null();
  b.columns[2].append_null();
  b.columns[3].append_null();
  b.columns[4].append_null();
  b.num_rows = 8;
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  ASSERT_TRUE(cli::write_csv_fast(b, f, 2).ok());
  std::fclose(f);
  std::string out(buf, len);
  std::free(buf);
  EXPECT_EQ(out,
            "_time,f,b,u,s\n"
            "1969-12-30T23:59:59.999999999Z,1.0,true,18446744073709551615,\"line\nbreak\"\n"
            "1969-12-31T11:59:59.999999999Z,0.0001,true,18446744073709551615,\"line\nbreak\"\n"
            "1969-12-31T23:59:59.999999999Z,1e+20,true,18446744073709551615,\"a\"\"b\"\n"
            "1970-01-01T11:59:59.999999999Z,-2.5,false,18446744073709551615,\"line\nbreak\"\n"
            "1970-01-01T23:59:59.999999999Z,NaN,false,18446744073709551615,\"line\nbreak\"\n"
            "1970-01-02T11:59:59.999999999Z,-inf,false,18446744073709551615,\"line\nbreak\"\n"
            "1970-01-02T23:59:59.999999999Z,123456789.125,true,18446744073709551615,\"a\"\"b\"\n"
            ",,,,\n");
}

}  // namespace
}  // namespace tideline
