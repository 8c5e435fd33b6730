#include <fmt/format.h>

#include <cstdio>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "common/time.h"
#include "pipeline/pipeline.h"

namespace tideline::cli {

namespace {

struct TableArgs {
  std::string config;
  std::string table;
  int64_t limit = -1;
};

void append_csv_field(std::string& out, std::string_view v) {
  if (v.find_first_of(",\"\n\r") == std::string_view::npos) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char ch : v) {
    if (ch == '"') out.push_back('"');
    out.push_back(ch);
  }
  out.push_back('"');
}

void append_cell(std::string& out, const Column& c, int64_t r) {
  if (!c.is_valid(r)) return;
  switch (c.type_id()) {
    case TypeId::kBool:
      out += c.int_at(r) ? "true" : "false";
      break;
    case TypeId::kTimestamp:
      out += format_timestamp(c.int_at(r));
      break;
    case TypeId::kU64:
      out += std::to_string(static_cast<uint64_t>(c.int_at(r)));
      break;
    case TypeId::kF32:
    case TypeId::kF64:
      out += fmt::format("{}", c.float_at(r));
      break;
    case TypeId::kString:
      append_csv_field(out, c.string_at(r));
      break;
    case TypeId::kNull:
    case TypeId::kRecord:
      break;
    default:
      out += std::to_string(c.int_at(r));
      break;
  }
}

std::string resolve_table(const pipeline::PipelineConfig& cfg, const std::string& name) {
  if (name == "input") return cfg.table_input;
  if (name == "output") return cfg.table_output;
  return name;
}

}  // namespace

void register_table_command(CLI::App& app, CommandContext& ctx) {
  auto args = std::make_shared<TableArgs>();
  auto* table = app.add_subcommand("table", "Inspect the tables of the configured store");
  table->require_subcommand(1);

  auto* dump = table->add_subcommand(
      "dump",
      "Print a table as CSV with a header, in primary-key order ('input' and 'output'\n"
      "name the configured input and output tables)");
  dump->add_option("--cfile,-c", args->config, "(-cf) main configuration file")
      ->default_str(default_config_path());
  dump->add_option("TABLE", args->table, "input, output, or a table name")->required();
  dump->add_option("--limit", args->limit, "at most this many rows (-1 = all)")
      ->capture_default_str();
  dump->footer("Example:\n  tideline table dump -cf examples/eshop/embedded.properties output");
  dump->callback([&ctx, args] {
    auto cfg = load_config_or_report(args->config);
    if (!cfg) {
      ctx.exit_code = kExitUsage;
      return;
    }
    auto store = pipeline::open_table_store(*cfg);
    if (!store) {
      ctx.exit_code = report_error("table dump", store.error());
      return;
    }
    std::string name = resolve_table(*cfg, args->table);
    bool header_done = false;
    std::string out;
    Status s = (*store)->scan(cfg->keyspace, name, args->limit, 8192, [&](Batch&& b) -> Status {
      if (!header_done) {
        for (size_t i = 0; i < b.schema->fields.size(); ++i) {
          if (i) out.push_back(',');
          append_csv_field(out, b.schema->fields[i].name);
        }
        out.push_back('\n');
        header_done = true;
      }
      for (int64_t r = 0; r < b.num_rows; ++r) {
        for (size_t i = 0; i < b.columns.size(); ++i) {
          if (i) out.push_back(',');
          append_cell(out, b.columns[i], r);
        }
        out.push_back('\n');
      }
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
      return {};
    });
    if (!s.ok()) {
      ctx.exit_code = report_error("table dump", s);
      return;
    }
    if (!header_done) {
      // Empty table: still print the header.
      auto schema = (*store)->describe(cfg->keyspace, name);
      if (schema) {
        for (size_t i = 0; i < schema->columns.size(); ++i) {
          if (i) out.push_back(',');
          out += schema->columns[i].name;
        }
        out.push_back('\n');
        std::fwrite(out.data(), 1, out.size(), stdout);
      }
    }
    ctx.exit_code = kExitOk;
  });

  auto* count = table->add_subcommand("count", "Print the number of rows of a table");
  count->add_option("--cfile,-c", args->config, "(-cf) main configuration file")
      ->default_str(default_config_path());
  count->add_option("TABLE", args->table, "input, output, or a table name")->required();
  count->callback([&ctx, args] {
    auto cfg = load_config_or_report(args->config);
    if (!cfg) {
      ctx.exit_code = kExitUsage;
      return;
    }
    auto store = pipeline::open_table_store(*cfg);
    if (!store) {
      ctx.exit_code = report_error("table count", store.error());
      return;
    }
    auto n = (*store)->count(cfg->keyspace, resolve_table(*cfg, args->table));
    if (!n) {
      ctx.exit_code = report_error("table count", n.error());
      return;
    }
    std::printf("%lld\n", static_cast<long long>(*n));
    ctx.exit_code = kExitOk;
  });
}

}  // namespace tideline::cli
