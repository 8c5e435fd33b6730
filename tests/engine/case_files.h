#pragma once
// Readers of the engine's two corpora of example queries, for the tests that run them:
//  - the Fenl language cases, tests/fenl/cases/*.test (format documented at the top of
//    tests/engine/language_cases_test.cc), parsed into one CaseDirective per `query` /
//    `error` directive carrying the tables and views defined before it;
//  - the Fenl conformance catalog, one JSON file per case (tests/conformance/README.md),
//    loaded the way `tideline query` loads CSV tables (src/cli/query_command.cc:
//    csv::load_inferred with the time column parsed as timestamps).

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/time.h"
#include "engine/equivalence.h"
#include "engine/query.h"
#include "io/csv/csv.h"

namespace tideline::engine {

// ---------------------------------------------------------------------------------------
// Language cases (tests/fenl/cases/*.test)

struct CaseDirective {
  enum class Kind { kQuery, kError };
  Kind kind = Kind::kQuery;
  std::string file;  // the file's name (without directory)
  size_t line = 0;   // 1-based line of the directive
  std::string query;
  // `query`: the expected CSV block; `error`: the expected message substring block (both as
  // written, each line ending in "\n").
  std::string expected;
  QueryOptions query_options;
  ResultOptions result_options;
  std::vector<TableInput> tables;  // the tables defined before the directive, in order
  std::vector<ViewSpec> views;     // the views defined before the directive, in order

  std::string where() const { return file + ":" + std::to_string(line); }
};

struct CaseFile {
  std::string path;
  std::vector<CaseDirective> cases;
  // Set when the file could not be read to its end (unreadable file, bad CSV, unknown
  // directive, bad option); `cases` then holds the directives before the problem.
  std::string error;
};

namespace case_files_detail {
inline std::map<std::string, std::string> options(std::istringstream& in) {
  std::map<std::string, std::string> m;
  std::string tok;
  while (in >> tok) {
    auto eq = tok.find('=');
    m[tok.substr(0, eq)] = eq == std::string::npos ? "" : tok.substr(eq + 1);
  }
  return m;
}
}  // namespace case_files_detail

inline CaseFile parse_case_file(const std::filesystem::path& path) {
  CaseFile out;
  out.path = path.string();
  std::ifstream f(path);
  if (!f) {
    out.error = path.string() + ": cannot open";
    return out;
  }
  const std::string fname = path.filename().string();
  std::vector<std::string> lines;
  for (std::string l; std::getline(f, l);) lines.push_back(l);
  std::vector<TableInput> tables;
  std::vector<ViewSpec> views;
  size_t i = 0;
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
    const std::string where = path.string() + ":" + std::to_string(at);
    if (kind == "table") {
      TableInput t;
      words >> t.spec.name;
      auto o = case_files_detail::options(words);
      t.spec.time_column = o["time"];
      t.spec.key_column = o["key"];
      t.spec.subsort_column = o["subsort"];
      t.spec.grouping = o["grouping"];
      auto reader = csv::CsvReader::from_string(block(false), fname + ":" + t.spec.name);
      auto b = csv::load_inferred(*reader, {t.spec.time_column});
      if (!b) {
        out.error = where + ": table " + t.spec.name + ": " + b.error().message();
        return out;
      }
      t.spec.schema = b->schema;
      t.batch = std::move(*b);
      tables.push_back(std::move(t));
    } else if (kind == "view") {
      ViewSpec v;
      words >> v.name;
      v.expression = block(false);
      views.push_back(v);
    } else if (kind == "query" || kind == "error") {
      CaseDirective d;
      d.kind = kind == "query" ? CaseDirective::Kind::kQuery : CaseDirective::Kind::kError;
      d.file = fname;
      d.line = at;
      auto o = case_files_detail::options(words);
      if (o["results"] == "final") d.result_options.results = ResultBehavior::kFinal;
      for (const char* name : {"final_at", "changed_since"}) {
        if (!o.count(name)) continue;
        auto ts = parse_timestamp(o[name]);
        if (!ts) {
          out.error = where + ": " + name + "=" + o[name] + ": " + ts.error().message();
          return out;
        }
        (std::string(name) == "final_at" ? d.result_options.final_at
                                         : d.result_options.changed_since) = *ts;
      }
      d.query = block(true);
      d.expected = block(false);
      d.tables = tables;
      d.views = views;
      out.cases.push_back(std::move(d));
    } else {
      out.error = where + ": unknown directive '" + kind + "'";
      return out;
    }
  }
  return out;
}

// The language case files, sorted by name.
inline std::vector<std::string> language_case_paths() {
  std::vector<std::string> out;
  std::filesystem::path dir = std::filesystem::path(TIDELINE_SOURCE_DIR) / "tests/fenl/cases";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".test") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------
// Conformance catalog (JSON cases)

struct ConformanceCase {
  std::string file;          // the JSON file's name
  std::string name;          // the case's "name"
  bool diagnostics = false;  // kind "diagnostics": a compile error is expected
  std::string expression;
  std::vector<TableInput> tables;
  std::vector<ViewSpec> views;  // "formulas"
  ResultOptions result_options;
  std::string expected_csv;
};

// The catalog folder: the repository's tests/conformance/catalog when it exists, else the
// shared suite's /work/shared/conformance/catalog; "" when neither exists.
inline std::string conformance_catalog_dir() {
  for (std::filesystem::path p :
       {std::filesystem::path(TIDELINE_SOURCE_DIR) / "tests/conformance/catalog",
        std::filesystem::path("/work/shared/conformance/catalog")}) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) return p.string();
  }
  return "";
}

inline std::vector<std::string> conformance_case_paths(const std::string& dir) {
  std::vector<std::string> out;
  if (dir.empty()) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Loads one case as `tideline query` would run it (--results, --final-at (which implies
// final results), --changed-since; tables through csv::load_inferred). On failure returns
// the reason in `error` and leaves the case partly filled.
inline ConformanceCase load_conformance_case(const std::string& path, std::string* error) {
  ConformanceCase c;
  c.file = std::filesystem::path(path).filename().string();
  auto fail = [&](const std::string& why) {
    *error = c.file + ": " + why;
    return c;
  };
  std::ifstream f(path);
  if (!f) return fail("cannot open");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const std::exception& e) {
    return fail(std::string("bad JSON: ") + e.what());
  }
  auto str = [&](const nlohmann::json& o, const char* key) -> std::string {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return "";
    return it->get<std::string>();
  };
  try {
    c.name = str(j, "name");
    c.diagnostics = str(j, "kind") == "diagnostics";
    c.expression = str(j, "expression");
    c.expected_csv = str(j, "expected_csv");
    const std::string results = str(j, "results");
    if (results == "final") {
      c.result_options.results = ResultBehavior::kFinal;
    } else if (!results.empty() && results != "history") {
      return fail("unknown results '" + results + "'");
    }
    for (const char* key : {"final_at", "changed_since"}) {
      std::string v = str(j, key);
      if (v.empty()) continue;
      auto ts = parse_timestamp(v);
      if (!ts) return fail(std::string(key) + ": " + ts.error().message());
      if (std::string(key) == "final_at") {
        c.result_options.final_at = *ts;
        c.result_options.results = ResultBehavior::kFinal;  // as `--final-at`
      } else {
        c.result_options.changed_since = *ts;
      }
    }
    if (auto it = j.find("formulas"); it != j.end() && it->is_array())
      for (const auto& v : *it) c.views.push_back({str(v, "name"), str(v, "expression")});
    for (const auto& t : j.at("tables")) {
      TableInput in;
      in.spec.name = str(t, "name");
      in.spec.time_column = str(t, "time_column");
      in.spec.key_column = str(t, "key_column");
      in.spec.subsort_column = str(t, "subsort_column");
      in.spec.grouping = str(t, "grouping");
      auto reader = csv::CsvReader::from_string(str(t, "csv"), c.file + ":" + in.spec.name);
      auto b = csv::load_inferred(*reader, {in.spec.time_column});
      if (!b) return fail("table " + in.spec.name + ": " + b.error().message());
      in.spec.schema = b->schema;
      in.batch = std::move(*b);
      c.tables.push_back(std::move(in));
    }
  } catch (const std::exception& e) {
    return fail(std::string("bad case: ") + e.what());
  }
  error->clear();
  return c;
}

}  // namespace tideline::engine
