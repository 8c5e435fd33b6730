#pragma once
// Structured logging on stderr (spdlog). `text` is for people, `json` one object per line for
// machines. Secrets must be passed through redact() before they reach a log line.

#include <string>
#include <string_view>

namespace tideline {

enum class LogFormat { kText, kJson };

// Idempotent; safe to call again to change level/format. Level names: trace, debug, info,
// warn, error, off.
void init_logging(std::string_view level = "info", LogFormat format = LogFormat::kText);

// "****" for any non-empty secret; used for config keys such as ad.client.secret, authParams.
std::string redact(std::string_view secret);

}  // namespace tideline
