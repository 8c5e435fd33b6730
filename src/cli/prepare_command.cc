// `tideline prepare`: converts a CSV table once into a Tideline columnar file (.tlc,
// docs/formats/columnar.md) that `tideline query --table NAME=FILE.tlc,...` maps instead of
// parsing text. Types are inferred as `query` infers them for CSV (the time column is forced
// to a timestamp); rows are sorted by time (stable), so the engine's own sort check passes.

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/table_spec.h"
#include "engine/kernels.h"
#include "io/columnar_file.h"
#include "io/csv/csv.h"

namespace tideline::cli {

namespace {

struct PrepareArgs {
  std::string table;
  std::string out;
};

Status prepare(const TableArg& t, const std::string& out) {
  TL_ASSIGN_OR_RETURN(auto reader, csv::CsvReader::open_file(t.path));
  TL_ASSIGN_OR_RETURN(Batch b, csv::load_inferred(*reader, {t.time_column}));
  for (const std::string* c : {&t.time_column, &t.key_column, &t.subsort_column}) {
    if (!c->empty() && b.schema->field_index(*c) < 0)
      return invalid_argument(t.path + ": no column '" + *c + "'");
  }
  const Column& time = b.columns[static_cast<size_t>(b.schema->field_index(t.time_column))];
  // Rows without a time (the engine drops them) go last; others by time, stably.
  auto before = [&](int32_t x, int32_t y) {
    bool vx = time.is_valid(x), vy = time.is_valid(y);
    if (vx != vy) return vx;
    return vx && time.int_at(x) < time.int_at(y);
  };
  std::vector<int32_t> order(static_cast<size_t>(b.num_rows));
  std::iota(order.begin(), order.end(), 0);
  if (!std::is_sorted(order.begin(), order.end(), before)) {
    std::stable_sort(order.begin(), order.end(), before);
    for (auto& c : b.columns) c = engine::gather(c, order);
  }
  io::ColumnarMeta meta{t.time_column, t.key_column, t.subsort_column, true};
  // A string key is written dictionary-encoded (codes in first-seen order): the query then
  // hashes and interns each distinct key once (engine::Session::add_input_dictionary_key).
  const size_t kidx = static_cast<size_t>(b.schema->field_index(t.key_column));
  const Column& key = b.columns[kidx];
  if (key.type_id() != TypeId::kString) return io::write_columnar_file(out, b, meta);
  Column values(DataType::of(TypeId::kString));
  Column codes(DataType::of(TypeId::kU32));
  codes.reserve(b.num_rows);
  std::unordered_map<std::string_view, uint32_t> seen;
  for (int64_t i = 0; i < b.num_rows; ++i) {
    if (!key.is_valid(i)) {
      codes.append_null();
      continue;
    }
    auto [it, added] = seen.try_emplace(key.string_at(i), static_cast<uint32_t>(seen.size()));
    if (added) values.append_string(it->first);
    codes.append_int(it->second);
  }
  Batch encoded = b;
  encoded.columns[kidx] = std::move(codes);
  std::vector<const Column*> dicts(b.columns.size(), nullptr);
  dicts[kidx] = &values;
  std::FILE* f = std::fopen(out.c_str(), "wb");
  if (!f) return io_error("cannot create '" + out + "'");
  Status st = io::write_columnar(f, encoded, meta, out, dicts);
  if (std::fclose(f) != 0 && st.ok()) st = io_error(out + ": close failed");
  if (!st.ok()) std::remove(out.c_str());
  return st;
}

}  // namespace

void register_prepare_command(CLI::App& app, CommandContext& ctx) {
  auto args = std::make_shared<PrepareArgs>();
  auto* sub = app.add_subcommand(
      "prepare", "Convert a CSV table into a Tideline columnar file (.tlc) for fast queries");
  sub->add_option("--table", args->table, "NAME=PATH,time=COL,key=COL[,subsort=COL] (a .csv file)")
      ->required();
  sub->add_option("--out", args->out, "the .tlc file to write")->required();
  sub->footer(
      "Example:\n  tideline prepare --table P=purchases.csv,time=ts,key=user --out purchases.tlc\n"
      "  tideline query --expr '{ total: sum(P.amount) }' --table "
      "P=purchases.tlc,time=ts,key=user\n"
      "Format: docs/formats/columnar.md");
  sub->callback([&ctx, args] {
    auto t = parse_table_arg(args->table);
    if (!t) {
      std::fprintf(stderr, "prepare: %s\n", t.error().message().c_str());
      ctx.exit_code = kExitUsage;
      return;
    }
    Status st = prepare(*t, args->out);
    if (!st.ok()) {
      std::fprintf(stderr, "prepare: %s\n", st.message().c_str());
      ctx.exit_code = kExitFailure;
      return;
    }
    ctx.exit_code = kExitOk;
  });
}

}  // namespace tideline::cli
