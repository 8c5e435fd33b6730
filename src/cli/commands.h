#pragma once
// Each subcommand lives in its own file and registers itself on the root app. A command's
// callback stores its exit code in the shared context (CLI11 callbacks return void).

#include <CLI/CLI.hpp>

namespace tideline::cli {

struct CommandContext {
  int exit_code = 0;
};

void register_prep_env_command(CLI::App& app, CommandContext& ctx);
void register_main_proc_command(CLI::App& app, CommandContext& ctx);
void register_gen_eshop_command(CLI::App& app, CommandContext& ctx);
void register_table_command(CLI::App& app, CommandContext& ctx);
void register_query_command(CLI::App& app, CommandContext& ctx);
void register_prepare_command(CLI::App& app, CommandContext& ctx);

}  // namespace tideline::cli
