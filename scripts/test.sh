#!/usr/bin/env bash
# Sets up the machine, builds Tideline with sanitizers and runs the whole CTest suite,
# including the real Cassandra and Pulsar servers (labels `cassandra`, `pulsar`).
#   scripts/test.sh            everything
#   scripts/test.sh --fast     skip tests labelled slow, cassandra or pulsar
#   scripts/test.sh -R REGEX   extra arguments go to ctest
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
fast=0
ctest_args=()
for a in "$@"; do
  case "$a" in
    --fast) fast=1 ;;
    *) ctest_args+=("$a") ;;
  esac
done
"$root/scripts/setup.sh"
"$root/scripts/build.sh" asan
cd "$root/build-asan"
if ((fast)); then
  ctest_args+=(-LE "slow|cassandra|pulsar")
fi
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --output-on-failure --timeout 900 -j "${TIDELINE_TEST_JOBS:-2}" "${ctest_args[@]}"
