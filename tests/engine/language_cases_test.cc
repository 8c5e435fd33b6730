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
// nulls empty.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/time.h"
#include "engine/query.h"
#include "io/csv/csv.h"

namespace tideline::engine {
namespace {

struct CaseTable {
  TableSpec spec;
  Batch batch;
};

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

std::map<std::string, std::string> options(std::istringstream& in) {
  std::map<std::string, std::string> m;
  std::string tok;
  while (in >> tok) {
    auto eq = tok.find('=');
    m[tok.substr(0, eq)] = eq == std::string::npos ? "" : tok.substr(eq + 1);
  }
  return m;
}

void run_file(const std::filesystem::path& path) {
  std::ifstream f(path);
  ASSERT_TRUE(f) << path;
  std::vector<std::string> lines;
  for (std::string l; std::getline(f, l);) lines.push_back(l);
  std::vector<CaseTable> tables;
  std::vector<ViewSpec> views;
  size_t i = 0;
  int cases = 0;
  auto block = [&](bool stop_at_dashes) {
    std::string text;
    while (i < lines.size() && !(stop_at_dashes ? lines[i] == "----" : lines[i].empty()))
      text += lines[i++] + "\n";
    if (i < lines.size()) ++i;
    return text;
  };
  while (i < lines.size()) {
    const std::string line = lines[i];
    const size_t at = i + 1;
    if (line.empty() || line[0] == '#') {
      ++i;
      continue;
    }
    std::istringstream words(line);
    std::string kind;
    words >> kind;
    ++i;
    if (kind == "table") {
      CaseTable t;
      words >> t.spec.name;
      auto o = options(words);
      t.spec.time_column = o["time"];
      t.spec.key_column = o["key"];
      t.spec.subsort_column = o["subsort"];
      t.spec.grouping = o["grouping"];
      auto reader =
          csv::CsvReader::from_string(block(false), path.filename().string() + ":" + t.spec.name);
      auto b = csv::load_inferred(*reader, {t.spec.time_column});
      ASSERT_TRUE(b) << b.error().message();
      t.spec.schema = b->schema;
      t.batch = std::move(*b);
      tables.push_back(std::move(t));
    } else if (kind == "view") {
      ViewSpec v;
      words >> v.name;
      v.expression = block(false);
      views.push_back(v);
    } else if (kind == "query" || kind == "error") {
      auto o = options(words);
      QueryOptions opts;
      ResultOptions opts_r;
      if (o["results"] == "final") opts_r.results = ResultBehavior::kFinal;
      if (o.count("final_at")) opts_r.final_at = *parse_timestamp(o["final_at"]);
      if (o.count("changed_since")) opts_r.changed_since = *parse_timestamp(o["changed_since"]);
      std::string query = block(true);
      std::string expected = block(false);
      ++cases;
      SCOPED_TRACE(path.filename().string() + ":" + std::to_string(at) + ": " + query);
      std::vector<TableSpec> specs;
      for (const auto& t : tables) specs.push_back(t.spec);
      auto q = compile(query, specs, views, opts);
      if (kind == "error") {
        ASSERT_FALSE(q) << "expected a compile error";
        while (!expected.empty() && expected.back() == '\n') expected.pop_back();
        EXPECT_NE(q.error().message().find(expected), std::string::npos) << q.error().message();
        continue;
      }
      ASSERT_TRUE(q) << q.error().message();
      auto s = start_session(*q);
      ASSERT_TRUE(s);
      for (const auto& t : tables) ASSERT_TRUE((*s)->add_input(t.spec.name, t.batch).ok());
      auto r = (*s)->finish(opts_r);
      ASSERT_TRUE(r) << r.error().message();
      EXPECT_EQ(render(*r), expected);
    } else {
      FAIL() << path << ":" << at << ": unknown directive '" << kind << "'";
    }
  }
  EXPECT_GT(cases, 0) << path << " has no cases";
}

class LanguageCases : public ::testing::TestWithParam<std::string> {};

TEST_P(LanguageCases, Run) {
  run_file(GetParam());
}

std::vector<std::string> case_files() {
  std::vector<std::string> out;
  std::filesystem::path dir = std::filesystem::path(TIDELINE_SOURCE_DIR) / "tests/fenl/cases";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".test") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fenl, LanguageCases, ::testing::ValuesIn(case_files()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = std::filesystem::path(info.param).stem().string();
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace tideline::engine
