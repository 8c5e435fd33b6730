#include "common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace tideline {

void init_logging(std::string_view level, LogFormat format) {
  auto logger = spdlog::get("tideline");
  if (!logger) {
    logger = spdlog::stderr_color_mt("tideline");
    spdlog::set_default_logger(logger);
  }
  logger->set_level(spdlog::level::from_str(std::string(level)));
  if (format == LogFormat::kJson) {
    logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","msg":"%v"})");
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
}

std::string redact(std::string_view secret) {
  return secret.empty() ? "" : "****";
}

}  // namespace tideline
