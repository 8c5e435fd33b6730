#pragma once
// Fail points for fault-injection tests: `failpoint("consumer.before_ack")` kills the process
// with SIGKILL when the environment variable TIDELINE_FAILPOINTS lists that name
// (comma-separated). Costs one cached lookup when unset. Used by tests that prove a stage
// loses nothing when it dies between two steps; never enabled in normal runs.

#include <string_view>

namespace tideline {

void failpoint(std::string_view name);

}  // namespace tideline
