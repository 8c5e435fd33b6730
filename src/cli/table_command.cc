#include "cli/cli.h"
#include "cli/commands.h"

namespace tideline::cli {

void register_table_command(CLI::App& app, CommandContext& ctx) {
  auto* sub = app.add_subcommand("table", "(not yet implemented)");
  sub->callback([&ctx] {
    std::fprintf(stderr, "table: not implemented yet\n");
    ctx.exit_code = kExitFailure;
  });
}

}  // namespace tideline::cli
