#include "cli/common.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "cli/cli.h"

namespace tideline::cli {

std::atomic<bool> g_stop_requested{false};

namespace {
extern "C" void on_stop_signal(int) {
  g_stop_requested.store(true);
}
}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

std::string default_config_path() {
  const char* env = std::getenv("TIDELINE_CONFIG");
  return env && *env ? env : "conf/main-cfg.properties";
}

std::optional<pipeline::PipelineConfig> load_config_or_report(const std::string& path) {
  auto cfg = pipeline::load_config(path.empty() ? default_config_path() : path);
  if (!cfg) {
    std::fprintf(stderr, "tideline: %s\n", cfg.error().message().c_str());
    return std::nullopt;
  }
  for (const auto& w : cfg->warnings) spdlog::warn("{}", w);
  return std::move(*cfg);
}

int report_error(std::string_view command, const Status& status) {
  std::fprintf(stderr, "tideline %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               status.to_string().c_str());
  if (status.code() == StatusCode::kCancelled) return kExitInterrupted;
  return kExitFailure;
}

}  // namespace tideline::cli
