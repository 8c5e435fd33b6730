#include "cli/cli.h"
#include "cli/commands.h"

namespace tideline::cli {

void register_main_proc_command(CLI::App& app, CommandContext& ctx) {
  auto* sub = app.add_subcommand("main-proc", "(not yet implemented)");
  sub->callback([&ctx] {
    std::fprintf(stderr, "main-proc: not implemented yet\n");
    ctx.exit_code = kExitFailure;
  });
}

}  // namespace tideline::cli
