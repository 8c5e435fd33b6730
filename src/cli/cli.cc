#include "cli/cli.h"

#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/logging.h"

namespace tideline::cli {

namespace {

// The original programs (Python argparse) use multi-letter single-dash flags such as `-cf`;
// CLI11 only knows single-letter short flags, so they are rewritten to their long forms.
std::vector<std::string> rewrite_legacy_flags(int argc, char** argv) {
  static const std::pair<std::string_view, std::string_view> kAliases[] = {
      {"-cf", "--cfile"},       {"-cdt", "--createDbTbl"}, {"-cpt", "--createPulsarTopic"},
      {"-ldr", "--loadRawSrc"}, {"-rsf", "--rawSrcFile"},  {"-ldn", "--loadRecNum"},
      {"-wt", "--workloadType"}};
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    for (auto [from, to] : kAliases) {
      if (a == from) {
        a = to;
        break;
      }
      if (a.size() > from.size() && a.compare(0, from.size(), from) == 0 && a[from.size()] == '=') {
        a = std::string(to) + a.substr(from.size());
        break;
      }
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

int run(int argc, char** argv) {
  std::vector<std::string> args = rewrite_legacy_flags(argc, argv);
  std::vector<char*> arg_ptrs;
  for (auto& a : args) arg_ptrs.push_back(a.data());
  CLI::App app{
      "Tideline: real-time feature and event processing with Fenl over Cassandra and Pulsar",
      "tideline"};
  app.set_version_flag("--version", std::string("tideline ") + TIDELINE_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  std::string log_level = "info";
  std::string log_format = "text";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
      ->capture_default_str();
  app.add_option("--log-format", log_format, "text|json")->capture_default_str();
  app.parse_complete_callback(
      [&] { init_logging(log_level, log_format == "json" ? LogFormat::kJson : LogFormat::kText); });

  CommandContext ctx;
  register_prep_env_command(app, ctx);
  register_main_proc_command(app, ctx);
  register_gen_eshop_command(app, ctx);
  register_table_command(app, ctx);
  register_query_command(app, ctx);
  register_prepare_command(app, ctx);

  try {
    app.parse(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return ctx.exit_code;
}

}  // namespace tideline::cli
