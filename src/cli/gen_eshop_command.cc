#include "cli/cli.h"
#include "cli/commands.h"

namespace tideline::cli {

void register_gen_eshop_command(CLI::App& app, CommandContext& ctx) {
  auto* sub = app.add_subcommand("gen-eshop", "(not yet implemented)");
  sub->callback([&ctx] {
    std::fprintf(stderr, "gen-eshop: not implemented yet\n");
    ctx.exit_code = kExitFailure;
  });
}

}  // namespace tideline::cli
