#include "cli/cli.h"
#include "cli/commands.h"

namespace tideline::cli {

void register_prep_env_command(CLI::App& app, CommandContext& ctx) {
  auto* sub = app.add_subcommand("prep-env", "(not yet implemented)");
  sub->callback([&ctx] {
    std::fprintf(stderr, "prep-env: not implemented yet\n");
    ctx.exit_code = kExitFailure;
  });
}

}  // namespace tideline::cli
