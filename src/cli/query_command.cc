// `tideline query`: runs a Fenl query over CSV / JSON-lines files and prints the results.
//
// Tables come from a TableSource: local files (.csv via csv::load_inferred, .jsonl with
// per-column type inference), or, for paths `store:[KEYSPACE.]TABLE`, the table store of the
// pipeline config given with -cf/--config (cli/store_table_source.h). Other sources can be
// added by implementing TableSource and registering a scheme prefix in make_table_source().

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/query_output.h"
#include "cli/store_table_source.h"
#include "cli/table_spec.h"
#include "common/time.h"
#include "engine/query.h"
#include "io/columnar_file.h"
#include "io/csv/csv.h"

namespace tideline::cli {

namespace {

struct QueryArgs {
  std::string expr;
  std::string expr_file;
  std::vector<std::string> tables;
  std::vector<std::string> views;
  std::string results = "history";
  std::string final_at;
  std::string changed_since;
  std::string format = "csv";
  bool explain = false;
  bool state_size = false;
  std::string config;  // pipeline config for store: tables
};

// Where a table's rows come from. Implementations return the whole table as one batch.
class TableSource {
 public:
  virtual ~TableSource() = default;
  virtual Result<Batch> load(const TableArg& t) = 0;
};

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(StatusCode::kIoError, "cannot open '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<Batch> load_jsonl(const TableArg& t) {
  TL_ASSIGN_OR_RETURN(std::string text, read_file(t.path));
  std::vector<nlohmann::ordered_json> rows;
  std::vector<std::string> names;
  size_t line = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line;
    std::string_view l(text.data() + pos, end - pos);
    pos = end + 1;
    if (l.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(l, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return error(StatusCode::kParseError, fmt::format("{}:{}: not a JSON object", t.path, line));
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (std::find(names.begin(), names.end(), it.key()) == names.end()) names.push_back(it.key());
    }
    rows.push_back(std::move(j));
  }
  std::vector<Field> fields;
  for (const auto& n : names) {
    bool all_int = true, all_num = true, all_bool = true, any = false;
    for (const auto& r : rows) {
      auto it = r.find(n);
      if (it == r.end() || it->is_null()) continue;
      any = true;
      all_int = all_int && it->is_number_integer();
      all_num = all_num && it->is_number();
      all_bool = all_bool && it->is_boolean();
    }
    TypeId id = TypeId::kString;
    if (n == t.time_column)
      id = TypeId::kTimestamp;
    else if (any && all_int)
      id = TypeId::kI64;
    else if (any && all_num)
      id = TypeId::kF64;
    else if (any && all_bool)
      id = TypeId::kBool;
    fields.push_back({n, DataType::of(id)});
  }
  Batch b = Batch::empty(DataType::record(fields));
  b.num_rows = static_cast<int64_t>(rows.size());
  for (size_t c = 0; c < fields.size(); ++c) {
    Column& col = b.columns[c];
    for (size_t r = 0; r < rows.size(); ++r) {
      auto it = rows[r].find(fields[c].name);
      if (it == rows[r].end() || it->is_null()) {
        col.append_null();
        continue;
      }
      switch (fields[c].type->id) {
        case TypeId::kTimestamp:
          if (it->is_number_integer()) {
            col.append_int(it->get<int64_t>());
          } else if (it->is_string()) {
            auto ts = parse_timestamp(it->get<std::string>());
            if (!ts)
              return error(StatusCode::kParseError,
                           fmt::format("{}: row {}: {}", t.path, r + 1, ts.error().message()));
            col.append_int(*ts);
          } else {
            col.append_null();
          }
          break;
        case TypeId::kI64:
          col.append_int(it->get<int64_t>());
          break;
        case TypeId::kF64:
          col.append_float(it->get<double>());
          break;
        case TypeId::kBool:
          col.append_int(it->get<bool>() ? 1 : 0);
          break;
        default:
          col.append_string(it->is_string() ? it->get<std::string>() : it->dump());
          break;
      }
    }
  }
  return b;
}

class FileTableSource : public TableSource {
 public:
  // `threads`: cores a .tlc read may use (it copies columns in parallel).
  explicit FileTableSource(int threads = 1) : threads_(threads) {}
  Result<Batch> load(const TableArg& t) override {
    if (t.path.ends_with(".tlc")) {
      TL_ASSIGN_OR_RETURN(io::ColumnarTable table, io::read_columnar_file(t.path, threads_));
      return std::move(table.batch);
    }
    if (t.path.size() >= 6 && t.path.ends_with(".jsonl")) {
      try {
        return load_jsonl(t);
      } catch (const std::exception& e) {
        return error(StatusCode::kParseError, t.path + ": " + e.what());
      }
    }
    TL_ASSIGN_OR_RETURN(auto reader, csv::CsvReader::open_file(t.path));
    return csv::load_inferred(*reader, {t.time_column});
  }

 private:
  int threads_;
};

class StoreTableSource : public TableSource {
 public:
  explicit StoreTableSource(const pipeline::PipelineConfig& config) : config_(config) {}
  Result<Batch> load(const TableArg& t) override {
    return load_store_table(config_, std::string_view(t.path).substr(kStorePrefix.size()));
  }

 private:
  const pipeline::PipelineConfig& config_;  // outlives the source
};

bool is_store_path(const std::string& path) {
  return path.starts_with(kStorePrefix);
}

// `config` is loaded when some table is a store: table (else null).
// `threads`: cores the source may use for this table.
std::unique_ptr<TableSource> make_table_source(const TableArg& t,
                                               const pipeline::PipelineConfig* config,
                                               int threads = 1) {
  if (config && is_store_path(t.path)) return std::make_unique<StoreTableSource>(*config);
  return std::make_unique<FileTableSource>(threads);
}

// ---- output ----

std::string format_double(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", d);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

void json_value(nlohmann::ordered_json& out, const Column& c, int64_t r) {
  if (!c.is_valid(r)) {
    out = nullptr;
    return;
  }
  switch (c.type_id()) {
    case TypeId::kBool:
      out = c.int_at(r) != 0;
      break;
    case TypeId::kTimestamp:
      out = format_timestamp(c.int_at(r));
      break;
    case TypeId::kU64:
    case TypeId::kU32:
      out = static_cast<uint64_t>(c.int_at(r));
      break;
    case TypeId::kF32:
    case TypeId::kF64:
      out = c.float_at(r);
      break;
    case TypeId::kString:
      out = std::string(c.string_at(r));
      break;
    case TypeId::kRecord: {
      out = nlohmann::ordered_json::object();
      for (size_t f = 0; f < c.num_children(); ++f)
        json_value(out[c.type()->fields[f].name], c.child(f), r);
      break;
    }
    case TypeId::kNull:
      out = nullptr;
      break;
    default:
      out = c.int_at(r);
      break;
  }
}

std::string text_cell(const Column& c, int64_t r) {
  if (!c.is_valid(r)) return "";
  switch (c.type_id()) {
    case TypeId::kBool:
      return c.int_at(r) ? "true" : "false";
    case TypeId::kTimestamp:
      return format_timestamp(c.int_at(r));
    case TypeId::kU64:
      return std::to_string(static_cast<uint64_t>(c.int_at(r)));
    case TypeId::kF32:
    case TypeId::kF64:
      return format_double(c.float_at(r));
    case TypeId::kString:
      return std::string(c.string_at(r));
    case TypeId::kRecord: {
      nlohmann::ordered_json j;
      json_value(j, c, r);
      return j.dump();
    }
    case TypeId::kNull:
      return "";
    default:
      return std::to_string(c.int_at(r));
  }
}

std::string csv_escape(const std::string& v) {
  if (v.find_first_of(",\"\n\r") == std::string::npos) return v;
  std::string out = "\"";
  for (char ch : v) {
    if (ch == '"') out.push_back('"');
    out.push_back(ch);
  }
  out.push_back('"');
  return out;
}

void write_output(const Batch& b, const std::string& format, std::FILE* out) {
  const auto& fields = b.schema->fields;
  if (format == "jsonl") {
    for (int64_t r = 0; r < b.num_rows; ++r) {
      nlohmann::ordered_json j = nlohmann::ordered_json::object();
      for (size_t c = 0; c < fields.size(); ++c) json_value(j[fields[c].name], b.columns[c], r);
      std::string s = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
      std::fprintf(out, "%s\n", s.c_str());
    }
    return;
  }
  if (format == "table") {
    std::vector<std::vector<std::string>> cells(static_cast<size_t>(b.num_rows));
    std::vector<size_t> width(fields.size());
    for (size_t c = 0; c < fields.size(); ++c) width[c] = fields[c].name.size();
    for (int64_t r = 0; r < b.num_rows; ++r) {
      for (size_t c = 0; c < fields.size(); ++c) {
        std::string v = b.columns[c].is_valid(r) ? text_cell(b.columns[c], r) : "null";
        width[c] = std::max(width[c], v.size());
        cells[static_cast<size_t>(r)].push_back(std::move(v));
      }
    }
    auto line = [&](const std::vector<std::string>& row) {
      std::string s;
      for (size_t c = 0; c < row.size(); ++c) {
        if (c) s += " | ";
        s += row[c] + std::string(width[c] - row[c].size(), ' ');
      }
      while (!s.empty() && s.back() == ' ') s.pop_back();
      std::fprintf(out, "%s\n", s.c_str());
    };
    std::vector<std::string> header;
    for (const auto& f : fields) header.push_back(f.name);
    line(header);
    std::string sep;
    for (size_t c = 0; c < fields.size(); ++c) sep += (c ? "-+-" : "") + std::string(width[c], '-');
    std::fprintf(out, "%s\n", sep.c_str());
    for (const auto& row : cells) line(row);
    std::fprintf(out, "(%lld rows)\n", static_cast<long long>(b.num_rows));
    return;
  }
  std::string s;
  for (size_t c = 0; c < fields.size(); ++c) s += (c ? "," : "") + csv_escape(fields[c].name);
  s += "\n";
  for (int64_t r = 0; r < b.num_rows; ++r) {
    for (size_t c = 0; c < fields.size(); ++c) {
      if (c) s += ",";
      s += csv_escape(text_cell(b.columns[c], r));
    }
    s += "\n";
    if (s.size() > (1 << 20)) {
      std::fwrite(s.data(), 1, s.size(), out);
      s.clear();
    }
  }
  std::fwrite(s.data(), 1, s.size(), out);
}

int run_query(const QueryArgs& a) {
  auto usage = [](const std::string& m) {
    std::fprintf(stderr, "query: %s\n", m.c_str());
    return kExitUsage;
  };
  std::string query = a.expr;
  if (!a.expr_file.empty()) {
    if (!a.expr.empty()) return usage("give either --expr or --expr-file, not both");
    auto t = read_file(a.expr_file);
    if (!t) return usage(t.error().message());
    query = *t;
  } else if (a.expr.empty()) {
    return usage("a query is required (--expr TEXT or --expr-file PATH)");
  }
  engine::QueryOptions opts;
  engine::ResultOptions ropts;
  opts.require_record = true;  // as Fenl: the query must produce a record
  if (a.results == "final")
    ropts.results = engine::ResultBehavior::kFinal;
  else if (a.results != "history")
    return usage("--results must be 'history' or 'final'");
  if (!a.final_at.empty()) {
    auto t = parse_timestamp(a.final_at);
    if (!t) return usage("--final-at: " + t.error().message());
    ropts.final_at = *t;
    ropts.results = engine::ResultBehavior::kFinal;
  }
  if (!a.changed_since.empty()) {
    auto t = parse_timestamp(a.changed_since);
    if (!t) return usage("--changed-since: " + t.error().message());
    ropts.changed_since = *t;
  }
  if (a.format != "csv" && a.format != "jsonl" && a.format != "table" && a.format != "tlc") {
    return usage("--format must be csv, jsonl, table or tlc");
  }
  std::vector<TableArg> targs;
  for (const auto& spec : a.tables) {
    auto t = parse_table_arg(spec);
    if (!t) return usage(t.error().message());
    targs.push_back(*t);
  }
  std::vector<engine::ViewSpec> views;
  for (const auto& spec : a.views) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos) return usage("--view '" + spec + "': expected NAME=PATH");
    auto text = read_file(spec.substr(eq + 1));
    if (!text) return usage("--view: " + text.error().message());
    views.push_back({spec.substr(0, eq), *text});
  }
  std::optional<pipeline::PipelineConfig> config;
  if (std::any_of(targs.begin(), targs.end(),
                  [](const TableArg& t) { return is_store_path(t.path); })) {
    config = load_config_or_report(a.config.empty() ? default_config_path() : a.config);
    if (!config) return kExitUsage;
  }
  // Load tables (their schemas are needed to type-check the query). A .tlc table's schema
  // comes from its header; its data is read after compiling, and only the columns the query
  // uses (see CompiledQuery::used_columns).
  auto is_tlc = [](const TableArg& t) { return t.path.ends_with(".tlc"); };
  std::vector<Batch> batches(targs.size());
  std::vector<std::optional<Column>> key_dicts(targs.size());
  std::vector<engine::TableSpec> specs;
  // Local files load in parallel (one thread per table; a single .tlc table copies its
  // columns on two threads instead). Store tables load on this thread.
  std::vector<std::optional<Result<Batch>>> loaded(targs.size());
  auto load_parallel = [&](auto&& load_one) {
    std::vector<std::thread> loaders;
    for (size_t i = 0; i < targs.size(); ++i) {
      if (!loaded[i]) loaders.emplace_back([&, i] { loaded[i] = load_one(i); });
    }
    for (auto& th : loaders) th.join();
  };
  if (targs.size() > 1 && !config) {
    load_parallel([&](size_t i) -> std::optional<Result<Batch>> {
      if (is_tlc(targs[i])) return std::nullopt;
      return make_table_source(targs[i], nullptr)->load(targs[i]);
    });
  }
  const std::vector<std::string> header_only;
  for (size_t ti = 0; ti < targs.size(); ++ti) {
    const TableArg& t = targs[ti];
    TypePtr schema;
    if (is_tlc(t)) {
      auto h = io::read_columnar_file(t.path, 1, &header_only);
      if (!h) {
        std::fprintf(stderr, "query: table '%s': %s\n", t.name.c_str(),
                     h.error().message().c_str());
        return kExitFailure;
      }
      schema = h->file_schema;
    } else {
      if (!loaded[ti]) loaded[ti] = make_table_source(t, config ? &*config : nullptr, 2)->load(t);
      auto& b = *loaded[ti];
      if (!b) {
        std::fprintf(stderr, "query: table '%s': %s\n", t.name.c_str(),
                     b.error().message().c_str());
        return kExitFailure;
      }
      schema = b->schema;
      batches[ti] = std::move(*b);
      loaded[ti].reset();
    }
    specs.push_back({t.name, schema, t.time_column, t.key_column, t.subsort_column, t.grouping});
  }
  auto compiled = engine::compile(query, specs, views, opts);
  if (!compiled) {
    std::fprintf(stderr, "%s\n", compiled.error().message().c_str());
    return kExitUsage;
  }
  // Compile again when it pays: .tlc tables restricted to the used columns, and string keys
  // as indexes into the key dictionary for the csv/tlc writers (no per-row key copies).
  {
    bool again = false;
    std::vector<std::vector<std::string>> used(targs.size());
    for (size_t ti = 0; ti < targs.size(); ++ti) {
      if (!is_tlc(targs[ti])) continue;
      used[ti] = (*compiled)->used_columns(targs[ti].name);
      if (used[ti].empty() || used[ti].size() == specs[ti].schema->fields.size()) continue;
      std::vector<Field> fields;
      for (const auto& f : specs[ti].schema->fields)
        if (std::find(used[ti].begin(), used[ti].end(), f.name) != used[ti].end())
          fields.push_back(f);
      specs[ti].schema = DataType::record(std::move(fields));
      again = true;
    }
    const auto& out_fields = (*compiled)->output_type()->fields;
    bool flat = std::all_of(out_fields.begin(), out_fields.end(),
                            [](const Field& f) { return f.type->id != TypeId::kRecord; });
    if ((a.format == "tlc" || (a.format == "csv" && flat)) && out_fields.size() > 1 &&
        out_fields[1].type->id == TypeId::kString) {
      opts.key_indices = true;
      again = true;
    }
    if (again) {
      compiled = engine::compile(query, specs, views, opts);
      if (!compiled) {
        std::fprintf(stderr, "%s\n", compiled.error().message().c_str());
        return kExitUsage;
      }
    }
    // A dictionary-encoded key stays encoded (key_dicts) for add_input_dictionary_key.
    auto load_tlc = [&](size_t ti, int threads) -> std::optional<Result<Batch>> {
      if (!is_tlc(targs[ti])) return std::nullopt;
      std::vector<std::string> names;
      for (const auto& f : specs[ti].schema->fields) names.push_back(f.name);
      auto r = io::read_columnar_file(targs[ti].path, threads, &names, &targs[ti].key_column);
      if (!r) return Result<Batch>(std::unexpected(r.error()));
      key_dicts[ti] = std::move(r->dictionary_values);
      return Result<Batch>(std::move(r->batch));
    };
    if (!a.explain) {
      if (std::count_if(targs.begin(), targs.end(), is_tlc) > 1)
        load_parallel([&](size_t i) { return load_tlc(i, 1); });
      for (size_t ti = 0; ti < targs.size(); ++ti) {
        if (!is_tlc(targs[ti])) continue;
        if (!loaded[ti]) loaded[ti] = load_tlc(ti, 2);
        auto& b = *loaded[ti];
        if (!b) {
          std::fprintf(stderr, "query: table '%s': %s\n", targs[ti].name.c_str(),
                       b.error().message().c_str());
          return kExitFailure;
        }
        batches[ti] = std::move(*b);
      }
    }
  }
  for (const auto& w : (*compiled)->warnings()) std::fprintf(stderr, "%s\n", w.c_str());
  if (a.explain) {
    std::fprintf(stdout, "%s", (*compiled)->explain().c_str());
    return kExitOk;
  }
  auto session = engine::start_session(*compiled);
  if (!session) {
    std::fprintf(stderr, "query: %s\n", session.error().message().c_str());
    return kExitFailure;
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    Status st = key_dicts[i] ? (*session)->add_input_dictionary_key(
                                   specs[i].name, std::move(batches[i]), std::move(*key_dicts[i]))
                             : (*session)->add_input(specs[i].name, std::move(batches[i]));
    if (!st.ok()) {
      std::fprintf(stderr, "query: %s\n", st.message().c_str());
      return kExitFailure;
    }
  }
  batches.clear();
  if (a.state_size) {
    // Measurement: the incremental state after all input (advanced just past the latest
    // input time, the input not ended), as a live processor would checkpoint it.
    const int64_t t = (*session)->max_input_time();
    if (t != INT64_MIN) {
      auto r = (*session)->advance(t + 1);
      if (!r) {
        std::fprintf(stderr, "query: %s\n", r.error().message().c_str());
        return kExitFailure;
      }
    }
    auto bytes = (*session)->snapshot();
    if (!bytes) {
      std::fprintf(stderr, "query: %s\n", bytes.error().message().c_str());
      return kExitFailure;
    }
    std::fprintf(stdout, "state_bytes=%zu\n", bytes->size());
    return kExitOk;
  }
  auto result = (*session)->finish(ropts);
  if (!result) {
    std::fprintf(stderr, "query: %s\n", result.error().message().c_str());
    return result.error().code() == StatusCode::kTypeError ? kExitUsage : kExitFailure;
  }
  // With key indexes, `_key` prints the session's key dictionary entries.
  std::vector<const Column*> dicts(result->columns.size(), nullptr);
  if (opts.key_indices && dicts.size() > 1) dicts[1] = (*session)->key_dictionary();
  if (opts.key_indices && !dicts[1]) dicts.clear();
  if (a.format == "tlc") {
    io::ColumnarMeta meta{"_time", "_key", "", ropts.results == engine::ResultBehavior::kHistory};
    Status st = io::write_columnar(stdout, *result, meta, "<stdout>", dicts);
    if (!st.ok()) {
      std::fprintf(stderr, "query: %s\n", st.message().c_str());
      return kExitFailure;
    }
    return kExitOk;
  }
  if (a.format == "csv" && (opts.key_indices || csv_fast_supported(*result))) {
    Status st = write_csv_fast(*result, stdout, 2, dicts);
    if (!st.ok()) {
      std::fprintf(stderr, "query: %s\n", st.message().c_str());
      return kExitFailure;
    }
    std::fflush(stdout);
    return kExitOk;
  }
  write_output(*result, a.format, stdout);
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace

void register_query_command(CLI::App& app, CommandContext& ctx) {
  auto args = std::make_shared<QueryArgs>();
  auto* sub = app.add_subcommand(
      "query", "Run a Fenl query over CSV or JSON-lines files or the configured store's tables");
  sub->add_option("--expr", args->expr, "the query text");
  sub->add_option("--expr-file", args->expr_file, "file holding the query");
  sub->add_option("--table", args->tables,
                  "NAME=PATH,time=COL,key=COL[,subsort=COL][,grouping=G]; PATH is a .csv or "
                  ".jsonl file, or store:[KEYSPACE.]TABLE (a table of the -cf config's store; "
                  "TABLE may be 'input' or 'output')");
  sub->add_option("--cfile,--config", args->config,
                  "(-cf) pipeline configuration for store: tables")
      ->default_str(default_config_path());
  sub->add_option("--view", args->views, "NAME=PATH: a named expression usable in the query");
  sub->add_option("--results", args->results, "history|final")->capture_default_str();
  sub->add_option("--final-at", args->final_at, "final results as of this RFC 3339 time");
  sub->add_option("--changed-since", args->changed_since,
                  "history: rows at or after this time; final: entities changed since");
  sub->add_option("--format", args->format,
                  "csv|jsonl|table|tlc (Tideline columnar, docs/formats/columnar.md)")
      ->capture_default_str();
  sub->add_flag("--explain", args->explain, "print the compiled plan instead of running it");
  sub->add_flag("--state-size", args->state_size,
                "instead of results, print the size in bytes of the incremental engine state "
                "after all input (what a live processor checkpoints)");
  sub->footer(
      "Example:\n  tideline query --expr '{ total: sum(P.amount) }' \\\n"
      "      --table P=purchases.csv,time=ts,key=user --results final --format table\n"
      "  tideline query -cf examples/eshop/embedded.properties \\\n"
      "      --expr-file examples/eshop/session_features.fenl \\\n"
      "      --table kasTblInput=store:input,time=event_time,key=so_key");
  sub->callback([&ctx, args] { ctx.exit_code = run_query(*args); });
}

}  // namespace tideline::cli
