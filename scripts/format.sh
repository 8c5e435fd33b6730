#!/usr/bin/env bash
# Formats every C++ source of the project in place with clang-format (style in .clang-format).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cf="$(command -v clang-format-14 || command -v clang-format)"
find "$root/src" "$root/tests" "$root/bench" "$root/fuzz" -name '*.h' -o -name '*.cc' | xargs "$cf" -i
