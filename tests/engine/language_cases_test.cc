// Runs the Fenl language cases in tests/fenl/cases/*.test (a sqllogictest-like format):
//
//   # comment
//   table NAME time=COL key=COL [subsort=COL] [grouping=G]
//   <CSV with header, up to a blank line>
//
//   view NAME
//   <expression, up to a blank line>
//
//   query [results=final] [final_at=TS] [changed_since=TS]
//   <query lines>
//   ----
//   <expected CSV (header _time,_key,fields...), up to a blank line or end of file>
//
//   error
//   <query lines>
//   ----
//   <a substring the compile error message must contain>
//
// Tables and views stay defined for the rest of the file. Output cells: timestamps
// RFC 3339 with 9 digits and Z, floats shortest round-trip (with ".0" when integral),
// nulls empty. The parser is tests/engine/case_files.h (parse_case_file).

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/time.h"
#include "engine/case_files.h"
#include "engine/query.h"

namespace tideline::engine {
namespace {

std::string cell(const Column& c, int64_t r) {
  if (!c.is_valid(r)) return "";
  switch (c.type_id()) {
    case TypeId::kBool:
      return c.int_at(r) ? "true" : "false";
    case TypeId::kTimestamp:
      return format_timestamp(c.int_at(r));
    case TypeId::kU64:
      return std::to_string(static_cast<uint64_t>(c.int_at(r)));
    case TypeId::kF32:
    case TypeId::kF64: {
      double d = c.float_at(r);
      if (std::isnan(d)) return "NaN";
      if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
      std::string s = fmt::format("{}", d);
      if (s.find_first_of(".e") == std::string::npos) s += ".0";
      return s;
    }
    case TypeId::kString: {
      std::string s(c.string_at(r));
      if (s.find_first_of(",\"\n") == std::string::npos) return s;
      std::string q = "\"";
      for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      return q + "\"";
    }
    case TypeId::kRecord:
      return "<record>";
    case TypeId::kNull:
      return "";
    default:
      return std::to_string(c.int_at(r));
  }
}

std::string render(const Batch& b) {
  std::string s;
  for (size_t c = 0; c < b.schema->fields.size(); ++c)
    s += (c ? "," : "") + b.schema->fields[c].name;
  s += "\n";
  for (int64_t r = 0; r < b.num_rows; ++r) {
    for (size_t c = 0; c < b.columns.size(); ++c) s += (c ? "," : "") + cell(b.columns[c], r);
    s += "\n";
  }
  return s;
}

void run_file(const std::filesystem::path& path) {
  CaseFile file = parse_case_file(path);
  int cases = 0;
  for (const CaseDirective& c : file.cases) {
    ++cases;
    SCOPED_TRACE(c.where() + ": " + c.query);
    std::vector<TableSpec> specs;
    for (const auto& t : c.tables) specs.push_back(t.spec);
    auto q = compile(c.query, specs, c.views, c.query_options);
    if (c.kind == CaseDirective::Kind::kError) {
      ASSERT_FALSE(q) << "expected a compile error";
      std::string expected = c.expected;
      while (!expected.empty() && expected.back() == '\n') expected.pop_back();
      EXPECT_NE(q.error().message().find(expected), std::string::npos) << q.error().message();
      continue;
    }
    ASSERT_TRUE(q) << q.error().message();
    auto s = start_session(*q);
    ASSERT_TRUE(s);
    for (const auto& t : c.tables) ASSERT_TRUE((*s)->add_input(t.spec.name, t.batch).ok());
    auto r = (*s)->finish(c.result_options);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(render(*r), c.expected);
  }
  ASSERT_TRUE(file.error.empty()) << file.error;
  EXPECT_GT(cases, 0) << path << " has no cases";
}

class LanguageCases : public ::testing::TestWithParam<std::string> {};

TEST_P(LanguageCases, Run) {
  run_file(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Fenl, LanguageCases, ::testing::ValuesIn(language_case_paths()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = std::filesystem::path(info.param).stem().string();
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace tideline::engine
