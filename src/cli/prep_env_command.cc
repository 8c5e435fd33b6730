#include <cstdio>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "common/properties.h"
#include "pipeline/pipeline.h"

namespace tideline::cli {

namespace {
struct PrepEnvArgs {
  std::string config;
  std::string create_tables = "true";
  std::string create_topics = "true";
  std::string load_raw = "false";
  std::string raw_file;
  int64_t load_count = 100;
  bool strict = false;
};
}  // namespace

void register_prep_env_command(CLI::App& app, CommandContext& ctx) {
  auto args = std::make_shared<PrepEnvArgs>();
  auto* sub = app.add_subcommand(
      "prep-env",
      "Create the input/output tables and topics (with Avro schemas) and load the raw CSV.\n"
      "Short flags as in the original prepEnv.py: -cf -cdt -cpt -ldr -rsf -ldn.\n"
      "BOOL values: yes/true/t/1 (any case) are true, anything else false.");
  sub->add_option("--cfile", args->config, "(-cf) main configuration file")
      ->default_str(default_config_path());
  sub->add_option("--createDbTbl", args->create_tables, "(-cdt BOOL) create the tables")
      ->capture_default_str();
  sub->add_option("--createPulsarTopic", args->create_topics,
                  "(-cpt BOOL) create the namespace, topics and schemas")
      ->capture_default_str();
  sub->add_option("--loadRawSrc", args->load_raw,
                  "(-ldr BOOL) load the raw CSV into the input table")
      ->capture_default_str();
  sub->add_option("--rawSrcFile", args->raw_file, "(-rsf FILE) the raw CSV file");
  sub->add_option("--loadRecNum", args->load_count, "(-ldn N) rows to load, -1 = all")
      ->capture_default_str();
  sub->add_flag("--strict", args->strict, "fail (exit 1) if any row is rejected");
  sub->footer(
      "Example:\n  tideline prep-env -cf examples/eshop/embedded.properties -ldr true "
      "-rsf eshop.csv -ldn -1");
  sub->callback([&ctx, args] {
    pipeline::PrepEnvOptions o;
    o.create_tables = parse_loose_bool(args->create_tables);
    o.create_topics = parse_loose_bool(args->create_topics);
    o.load_raw = parse_loose_bool(args->load_raw);
    o.raw_file = args->raw_file;
    o.load_count = args->load_count;
    o.strict = args->strict;
    if (o.load_raw && (o.load_count == 0 || o.load_count < -1)) {
      std::fprintf(stderr,
                   "tideline prep-env: -ldn must be -1 (all) or a positive number, got %lld\n",
                   static_cast<long long>(o.load_count));
      ctx.exit_code = kExitUsage;
      return;
    }
    if (o.load_raw && o.raw_file.empty()) {
      std::fprintf(stderr, "tideline prep-env: -ldr true needs -rsf FILE\n");
      ctx.exit_code = kExitUsage;
      return;
    }
    auto cfg = load_config_or_report(args->config);
    if (!cfg) {
      ctx.exit_code = kExitUsage;
      return;
    }
    auto rep = pipeline::prep_env(*cfg, o);
    if (!rep) {
      ctx.exit_code = report_error("prep-env", rep.error());
      return;
    }
    for (const auto& a : rep->actions) std::printf("%s\n", a.c_str());
    if (o.load_raw) {
      std::printf(
          "loaded %lld, rejected %lld (%.2f s, %.0f rows/s)\n",
          static_cast<long long>(rep->rows_loaded), static_cast<long long>(rep->rows_rejected),
          rep->load_seconds,
          rep->load_seconds > 0 ? static_cast<double>(rep->rows_loaded) / rep->load_seconds : 0.0);
    }
    ctx.exit_code = kExitOk;
  });
}

}  // namespace tideline::cli
