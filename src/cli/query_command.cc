#include "cli/cli.h"
#include "cli/commands.h"

namespace tideline::cli {

void register_query_command(CLI::App& app, CommandContext& ctx) {
  auto* sub = app.add_subcommand("query", "(not yet implemented)");
  sub->callback([&ctx] {
    std::fprintf(stderr, "query: not implemented yet\n");
    ctx.exit_code = kExitFailure;
  });
}

}  // namespace tideline::cli
