#pragma once
// Helpers shared by the subcommands: config loading with the right exit codes, signal-driven
// stop flag, and error printing.

#include <atomic>
#include <string>

#include "common/status.h"
#include "pipeline/config.h"

namespace tideline::cli {

// Set by SIGINT/SIGTERM once install_stop_handlers() ran. Async-signal-safe.
extern std::atomic<bool> g_stop_requested;
void install_stop_handlers();

// Loads the config (default path when empty), prints warnings, and on error prints one line
// and returns nullopt (the caller exits with kExitUsage).
std::optional<pipeline::PipelineConfig> load_config_or_report(const std::string& path);

// Prints "tideline <command>: <message>" on stderr and returns the exit code for the status.
int report_error(std::string_view command, const Status& status);

// Default config file: $TIDELINE_CONFIG, else conf/main-cfg.properties.
std::string default_config_path();

}  // namespace tideline::cli
