#include "cli/cli.h"

#include <cstdio>

#include "cli/commands.h"
#include "common/logging.h"

namespace tideline::cli {

int run(int argc, char** argv) {
  CLI::App app{"Tideline: real-time feature and event processing with Fenl over Cassandra and Pulsar",
               "tideline"};
  app.set_version_flag("--version", std::string("tideline ") + TIDELINE_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  std::string log_level = "info";
  std::string log_format = "text";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
      ->capture_default_str();
  app.add_option("--log-format", log_format, "text|json")->capture_default_str();
  app.parse_complete_callback([&] {
    init_logging(log_level, log_format == "json" ? LogFormat::kJson : LogFormat::kText);
  });

  CommandContext ctx;
  register_prep_env_command(app, ctx);
  register_main_proc_command(app, ctx);
  register_gen_eshop_command(app, ctx);
  register_table_command(app, ctx);
  register_query_command(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return ctx.exit_code;
}

}  // namespace tideline::cli
