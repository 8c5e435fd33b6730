#pragma once
// The `tideline` command line: a thin layer that parses flags and calls the pipeline parts.

namespace tideline::cli {

// Exit codes (documented in docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // runtime failure (I/O, service, data)
inline constexpr int kExitUsage = 2;    // bad flags or configuration
inline constexpr int kExitInterrupted = 130;

int run(int argc, char** argv);

}  // namespace tideline::cli
