#include <cstdio>

#include "cli/cli.h"
#include "cli/commands.h"
#include "pipeline/eshop.h"

namespace tideline::cli {

void register_gen_eshop_command(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<pipeline::EshopOptions>();
  auto out = std::make_shared<std::string>();
  auto* sub = app.add_subcommand(
      "gen-eshop",
      "Generate a synthetic e-shop clickstream CSV (16 columns: year,month,day,order_seq,country,\n"
      "session,category,model,color,location,photography,price,price_ind,page,event_time,so_key),\n"
      "deterministic for a seed.");
  sub->add_option("--rows", o->rows, "number of rows")->required();
  sub->add_option("--seed", o->seed, "random seed")->capture_default_str();
  sub->add_option("--sessions", o->sessions,
                  "at most N distinct session ids, reused cyclically by later visits (0 = one "
                  "per visit); so_key stays unique")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_flag("--header", o->header, "write a header line");
  sub->add_option("--out", *out, "output file ('-' = stdout)")->required();
  sub->footer("Example:\n  tideline gen-eshop --rows 100000 --header --out eshop.csv");
  sub->callback([&ctx, o, out] {
    auto stats = pipeline::generate_eshop(*out, *o);
    if (!stats) {
      std::fprintf(stderr, "tideline gen-eshop: %s\n", stats.error().message().c_str());
      ctx.exit_code =
          stats.error().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
      return;
    }
    if (*out != "-") {
      std::fprintf(stderr, "wrote %lld rows (%lld sessions over %lld days) to %s\n",
                   static_cast<long long>(stats->rows), static_cast<long long>(stats->sessions),
                   static_cast<long long>(stats->days), out->c_str());
    }
    ctx.exit_code = kExitOk;
  });
}

}  // namespace tideline::cli
