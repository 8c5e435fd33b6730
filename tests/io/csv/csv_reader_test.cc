#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "io/csv/csv.h"

namespace tideline::csv {
namespace {

struct Read {
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> lines;
  std::vector<std::string> errors;
};

Read read_all(CsvReader& reader) {
  Read out;
  CsvRow row;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    auto r = reader.next(row);
    if (!r) {
      out.errors.push_back(r.error().message());
      EXPECT_EQ(r.error().code(), StatusCode::kParseError);
      continue;
    }
    if (!*r) break;
    out.rows.emplace_back(row.fields.begin(), row.fields.end());
    out.lines.push_back(row.line);
  }
  return out;
}

Read read_string(std::string s, char delim = ',') {
  auto reader = CsvReader::from_string(std::move(s), "t.csv", delim);
  return read_all(*reader);
}

using Rows = std::vector<std::vector<std::string>>;

TEST(CsvReader, SimpleRowsWithLf) {
  auto r = read_string("a,b,c\n1,2,3\n");
  EXPECT_EQ(r.rows, (Rows{{"a", "b", "c"}, {"1", "2", "3"}}));
  EXPECT_EQ(r.lines, (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(r.errors.empty());
}

TEST(CsvReader, CrlfAndMissingFinalNewline) {
  auto r = read_string("a,b\r\n1,2\r\n3,4");
  EXPECT_EQ(r.rows, (Rows{{"a", "b"}, {"1", "2"}, {"3", "4"}}));
  EXPECT_EQ(r.lines, (std::vector<int64_t>{1, 2, 3}));
}

TEST(CsvReader, LoneCrEndsALine) {
  auto r = read_string("a\r1\r2");
  EXPECT_EQ(r.rows, (Rows{{"a"}, {"1"}, {"2"}}));
  EXPECT_EQ(r.lines, (std::vector<int64_t>{1, 2, 3}));
}

TEST(CsvReader, EmptyFieldsAndTrailingDelimiter) {
  auto r = read_string(",x,\n,,\n");
  EXPECT_EQ(r.rows, (Rows{{"", "x", ""}, {"", "", ""}}));
}

TEST(CsvReader, QuotedFieldsWithEscapesDelimitersAndNewlines) {
  auto r = read_string(
      "id,text\n1,\"he said \"\"hi\"\", then left\"\n2,\"two\nlines\r\nhere\"\n3,\"\"\n4,x\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0];
  EXPECT_EQ(r.rows, (Rows{{"id", "text"},
                          {"1", "he said \"hi\", then left"},
                          {"2", "two\nlines\r\nhere"},
                          {"3", ""},
                          {"4", "x"}}));
  // Row 3 starts after the two embedded newlines of row 2.
  EXPECT_EQ(r.lines, (std::vector<int64_t>{1, 2, 3, 6, 7}));
}

TEST(CsvReader, BlankLinesAreSkippedButCounted) {
  auto r = read_string("a\n\n\r\nb\n\n");
  EXPECT_EQ(r.rows, (Rows{{"a"}, {"b"}}));
  EXPECT_EQ(r.lines, (std::vector<int64_t>{1, 4}));
}

TEST(CsvReader, Utf8BomIsDropped) {
  auto r = read_string("\xEF\xBB\xBFname\nx\n");
  EXPECT_EQ(r.rows, (Rows{{"name"}, {"x"}}));
}

TEST(CsvReader, OtherDelimiter) {
  auto r = read_string("a;\"b;c\";d\n", ';');
  EXPECT_EQ(r.rows, (Rows{{"a", "b;c", "d"}}));
}

TEST(CsvReader, StrayQuoteIsAnErrorAndReadingResumesAtNextLine) {
  auto r = read_string("a,b\n1,x\"y\n2,3\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0], "t.csv:2: stray '\"' in an unquoted field (column 4)");
  EXPECT_EQ(r.rows, (Rows{{"a", "b"}, {"2", "3"}}));
  EXPECT_EQ(r.lines, (std::vector<int64_t>{1, 3}));
}

TEST(CsvReader, TextAfterClosingQuoteIsAnError) {
  auto r = read_string("\"ab\"c,d\nok\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0], "t.csv:1: unexpected character 'c' after a closing quote (column 5)");
  EXPECT_EQ(r.rows, (Rows{{"ok"}}));
  EXPECT_EQ(r.lines, (std::vector<int64_t>{2}));
}

TEST(CsvReader, UnterminatedQuoteResumesAfterTheRowsFirstLine) {
  auto r = read_string("a\n1,\"open\n2,3\n4,5\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0], "t.csv:2: unterminated quoted field (column 3)");
  EXPECT_EQ(r.rows, (Rows{{"a"}, {"2", "3"}, {"4", "5"}}));
  EXPECT_EQ(r.lines, (std::vector<int64_t>{1, 3, 4}));
}

TEST(CsvReader, UnterminatedQuoteInALaterLineOfARowResumesAfterThatLine) {
  auto r = read_string("a\n\"x\ny\",\"open\nb\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0], "t.csv:3: unterminated quoted field (column 4)");
  EXPECT_EQ(r.rows, (Rows{{"a"}, {"b"}}));
  EXPECT_EQ(r.lines, (std::vector<int64_t>{1, 4}));
}

TEST(CsvReader, ErrorSetsRowLine) {
  auto reader = CsvReader::from_string("ok\n\"bad\"x\n", "f");
  CsvRow row;
  ASSERT_TRUE(reader->next(row).value());
  auto r = reader->next(row);
  ASSERT_FALSE(r);
  EXPECT_EQ(row.line, 2);
  EXPECT_TRUE(row.fields.empty());
  auto end = reader->next(row);
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);
}

TEST(CsvReader, EmptyInput) {
  EXPECT_TRUE(read_string("").rows.empty());
  EXPECT_TRUE(read_string("\n\n").rows.empty());
}

TEST(CsvReader, MissingFileNamesThePath) {
  auto r = CsvReader::open_file("/nonexistent/dir/x.csv");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), StatusCode::kIoError);
  EXPECT_NE(r.error().message().find("/nonexistent/dir/x.csv"), std::string::npos);
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          (name + "_" + std::to_string(::getpid()) + ".csv"))
      .string();
}

// A file of several MiB with quoted fields, escapes, CRLF and embedded newlines straddling the
// reader's chunk boundaries must read exactly like the same text held in memory.
TEST(CsvReader, FileMatchesStringAcrossChunkBoundaries) {
  std::mt19937_64 rng(7);
  std::string text;
  int rows = 0;
  while (text.size() < (size_t{5} << 20)) {
    int nf = 1 + static_cast<int>(rng() % 6);
    text += std::to_string(rows);
    for (int f = 0; f < nf; ++f) {
      text += ',';
      switch (rng() % 5) {
        case 0:
          text += std::to_string(rng() % 100000);
          break;
        case 1:
          text += "\"q\"\"uo,te\"";
          break;
        case 2:
          text += "\"multi\nline\r\nfield\"";
          break;
        case 3:
          text += std::string(rng() % 3000, 'x');
          break;
        default:
          break;
      }
    }
    text += (rng() % 2) ? "\r\n" : "\n";
    ++rows;
  }
  std::string path = temp_path("csv_chunks");
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
  auto file_reader = CsvReader::open_file(path);
  ASSERT_TRUE(file_reader);
  Read from_file = read_all(**file_reader);
  Read from_mem = read_string(text);
  std::filesystem::remove(path);
  EXPECT_TRUE(from_file.errors.empty());
  ASSERT_EQ(from_file.rows.size(), static_cast<size_t>(rows));
  EXPECT_EQ(from_file.rows, from_mem.rows);
  EXPECT_EQ(from_file.lines, from_mem.lines);
}

TEST(CsvReader, RowLongerThanTheChunkGrowsTheBuffer) {
  std::string big(3 << 20, 'z');
  std::string text = "a,\"" + big + "\"\nb,c\n";
  std::string path = temp_path("csv_big_row");
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
  auto reader = CsvReader::open_file(path);
  ASSERT_TRUE(reader);
  Read r = read_all(**reader);
  std::filesystem::remove(path);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0][1].size(), big.size());
  EXPECT_EQ(r.rows[1], (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(r.lines, (std::vector<int64_t>{1, 2}));
}

// Every chunk size, including 1 byte, reads exactly like the in-memory path (rows, lines and
// errors), so refills in the middle of quotes, "" pairs and CRLF pairs are handled.
TEST(CsvReader, ChunkedMatchesInMemoryForEveryChunkSize) {
  const std::string text =
      "\xEF\xBB\xBFh1,h2\r\n\"a\"\"b\",\"x\r\ny\"\r\n\r\nplain,\"\"\n"
      "bad\"q,1\n\"closed late,2\n3,4\r5,6\r\n\"tail\"x\nlast,\"\"\"\"\"\"\nx,\"open\nafter,1\n";
  Read expected = read_string(text);
  ASSERT_EQ(expected.errors.size(), 3u);
  EXPECT_EQ(expected.rows.back(), (std::vector<std::string>{"after", "1"}));
  for (size_t chunk = 1; chunk <= text.size() + 1; ++chunk) {
    auto reader = CsvReader::from_string_chunked(text, chunk, "t.csv");
    Read got = read_all(*reader);
    EXPECT_EQ(got.rows, expected.rows) << "chunk " << chunk;
    EXPECT_EQ(got.lines, expected.lines) << "chunk " << chunk;
    EXPECT_EQ(got.errors, expected.errors) << "chunk " << chunk;
  }
}

}  // namespace
}  // namespace tideline::csv
