#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "common/metrics.h"
#include "common/metrics_server.h"
#include "pipeline/pipeline.h"

namespace tideline::cli {

namespace {
struct MainProcArgs {
  std::string config;
  std::string workload;
  int64_t load_count = -1;
  bool follow = false;
  bool reset_state = false;
  int idle_ms = 300;
  double rate = 0;
  int metrics_port = -1;   // -1: tideline.metrics.port of the config
  std::string partitions;  // empty: tideline.processor.partitions of the config
};
}  // namespace

void register_main_proc_command(CLI::App& app, CommandContext& ctx) {
  auto args = std::make_shared<MainProcArgs>();
  auto* sub = app.add_subcommand(
      "main-proc",
      "Run one workload of the pipeline (flags as in the original mainProc.py: -cf -wt -ldn):\n"
      "  producer   input table -> input topic (Avro)\n"
      "  processor  input topic -> Fenl query -> output topic\n"
      "  consumer   output topic -> output table\n"
      "Each stops cleanly on SIGINT/SIGTERM and, unless --follow, when its source is drained.");
  sub->add_option("--cfile", args->config, "(-cf) main configuration file")
      ->default_str(default_config_path());
  sub->add_option("--workloadType", args->workload, "(-wt) producer|processor|consumer")
      ->required();
  sub->add_option("--loadRecNum", args->load_count,
                  "(-ldn N) producer: rows to publish from the input table, -1 = all")
      ->capture_default_str();
  sub->add_flag("--follow", args->follow, "keep running and process new data until stopped");
  sub->add_flag("--reset-state", args->reset_state,
                "processor: discard its checkpoint and start from a fresh state (needed after "
                "changing the query or the input schema)");
  sub->add_option("--idle-ms", args->idle_ms, "how long an empty source counts as drained")
      ->capture_default_str();
  sub->add_option("--rate", args->rate,
                  "producer: publish at most this many events per second, in 10 ms slices "
                  "(0 = as fast as possible)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--metrics-port", args->metrics_port,
                  "serve Prometheus metrics on http://127.0.0.1:PORT/metrics while running "
                  "(0 = off; default: tideline.metrics.port)")
      ->check(CLI::Range(0, 65535));
  sub->add_option("--partitions", args->partitions,
                  "processor: consume only these input partitions, e.g. 0,1 or 0-1 (overrides "
                  "tideline.processor.partitions). Several processors share the Exclusive "
                  "subscription, each owning its partitions and keeping its own checkpoint, so a "
                  "restarted processor with the same partitions resumes their state");
  sub->footer("Example:\n  tideline main-proc -cf examples/eshop/embedded.properties -wt producer");
  sub->callback([&ctx, args] {
    const std::string& wt = args->workload;
    if (wt != "producer" && wt != "processor" && wt != "consumer") {
      std::fprintf(
          stderr,
          "tideline main-proc: -wt must be one of producer, processor, consumer (got '%s')\n",
          wt.c_str());
      ctx.exit_code = kExitUsage;
      return;
    }
    if (args->load_count == 0 || args->load_count < -1) {
      std::fprintf(stderr, "tideline main-proc: -ldn must be -1 (all) or a positive number\n");
      ctx.exit_code = kExitUsage;
      return;
    }
    auto cfg = load_config_or_report(args->config);
    if (!cfg) {
      ctx.exit_code = kExitUsage;
      return;
    }
    if (!args->partitions.empty()) {
      auto parts = pipeline::parse_partition_list(args->partitions);
      if (!parts) {
        std::fprintf(stderr, "tideline main-proc: --partitions: %s\n",
                     parts.error().message().c_str());
        ctx.exit_code = kExitUsage;
        return;
      }
      if (cfg->processor_subscription_type != io::SubscriptionType::kExclusive) {
        std::fprintf(stderr,
                     "tideline main-proc: --partitions needs "
                     "tideline.processor.subscription.type=Exclusive in %s\n",
                     args->config.c_str());
        ctx.exit_code = kExitUsage;
        return;
      }
      cfg->processor_partitions = std::move(*parts);
    }
    install_stop_handlers();
    pipeline::StageOptions o;
    o.limit = args->load_count;
    o.follow = args->follow;
    o.reset_state = args->reset_state;
    o.stop = &g_stop_requested;
    o.idle_ms = args->idle_ms;
    o.rate = args->rate;
    // The registry outlives the server (declared first, destroyed last), and both outlive the
    // stage run.
    MetricsRegistry registry;
    o.metrics = &registry;
    std::unique_ptr<HttpServer> server;
    const int port = args->metrics_port >= 0 ? args->metrics_port : cfg->metrics_port;
    if (port > 0) {
      auto started = serve_metrics(registry, static_cast<uint16_t>(port));
      if (!started) {
        ctx.exit_code = report_error("main-proc", started.error().with_context("metrics endpoint"));
        return;
      }
      server = std::move(*started);
      spdlog::info("{}: metrics on http://127.0.0.1:{}/metrics", wt, server->port());
    }
    Result<pipeline::StageReport> rep = wt == "producer"    ? pipeline::run_producer(*cfg, o)
                                        : wt == "processor" ? pipeline::run_processor(*cfg, o)
                                                            : pipeline::run_consumer(*cfg, o);
    if (!rep) {
      ctx.exit_code = report_error("main-proc", rep.error());
      return;
    }
    std::printf("%s: %lld rows in, %lld rows out, %lld dead letters, %.2f s (%.0f rows/s)%s\n",
                rep->stage.c_str(), static_cast<long long>(rep->rows_in),
                static_cast<long long>(rep->rows_out), static_cast<long long>(rep->dead_letters),
                rep->seconds, rep->rows_per_second(),
                g_stop_requested.load() ? " [stopped by signal]" : "");
    ctx.exit_code = kExitOk;
  });
}

}  // namespace tideline::cli
