#!/usr/bin/env bash
# Configures and builds one flavour of Tideline into build-<flavour>/.
#   scripts/build.sh release   optimized (-O3), used by the demo and benchmarks
#   scripts/build.sh asan      AddressSanitizer + UndefinedBehaviorSanitizer, used by the tests
#   scripts/build.sh debug     unoptimized with debug info
# Extra arguments go to ninja (e.g. a target name).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
flavour="${1:-release}"; shift || true
case "$flavour" in
  release) args=(-DCMAKE_BUILD_TYPE=Release -DTIDELINE_SANITIZE=OFF) ;;
  asan)    args=(-DCMAKE_BUILD_TYPE=Debug -DTIDELINE_SANITIZE=ON -DCMAKE_CXX_FLAGS=-O1) ;;
  debug)   args=(-DCMAKE_BUILD_TYPE=Debug -DTIDELINE_SANITIZE=OFF) ;;
  *) echo "usage: scripts/build.sh release|asan|debug [ninja targets...]" >&2; exit 2 ;;
esac
dir="$root/build-$flavour"
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S "$root" -B "$dir" -G Ninja "${args[@]}" >/dev/null
fi
jobs="${TIDELINE_JOBS:-$(nproc)}"
ninja -C "$dir" -j "$jobs" "$@"
