#!/usr/bin/env bash
# Builds Tideline's libFuzzer flavour into build-fuzz (clang 16, ASan+UBSan, every translation
# unit coverage-instrumented) and runs a fuzz target.
#
#   scripts/fuzz.sh TARGET [SECONDS] [-- LIBFUZZER_ARGS...]   build, then fuzz for SECONDS (default 60)
#   scripts/fuzz.sh --build-only [TARGET...]                  build targets (default: all)
#   scripts/fuzz.sh --no-build TARGET [SECONDS] [-- ...]      fuzz an already built target
#   scripts/fuzz.sh --list                                    list targets (fuzz/*_fuzz.cc)
#
# Corpus: build-fuzz/corpus/TARGET (grows as libFuzzer finds inputs) seeded from
# fuzz/corpus/TARGET; fuzz/TARGET.dict is used as a dictionary when present. Crashing inputs
# go to build-fuzz/artifacts/TARGET/; reproduce with `build-fuzz/fuzz/TARGET FILE`.
# Environment: TIDELINE_FUZZ_BUILD_DIR (default build-fuzz), TIDELINE_FUZZ_CXX / _CC (default
# clang++-16 / clang-16), TIDELINE_FUZZ_JOBS (default 2).
# Exit status: libFuzzer's (0 = no crash found in the time given).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${TIDELINE_FUZZ_BUILD_DIR:-$root/build-fuzz}"
cxx="${TIDELINE_FUZZ_CXX:-clang++-16}"
cc="${TIDELINE_FUZZ_CC:-clang-16}"
jobs="${TIDELINE_FUZZ_JOBS:-2}"

die() { echo "fuzz.sh: $*" >&2; exit 2; }

all_targets() {
  for f in "$root"/fuzz/*_fuzz.cc; do
    [ -e "$f" ] && basename "$f" .cc
  done
}

build_targets() {
  command -v "$cxx" >/dev/null || die "$cxx not found (scripts/setup.sh installs clang-16 and libclang-rt-16-dev)"
  mkdir -p "$build"
  (
    # One build at a time per build directory.
    flock 9
    if [ ! -f "$build/build.ninja" ]; then
      cmake -S "$root" -B "$build" -G Ninja \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
        -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link -include $root/fuzz/clang_expected_compat.h" \
        -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" \
        -DTIDELINE_BUILD_FUZZ=ON -DTIDELINE_SANITIZE=ON -DTIDELINE_WERROR=OFF \
        -DTIDELINE_BUILD_TESTS=OFF -DTIDELINE_BUILD_BENCH=OFF >/dev/null
    fi
    ninja -C "$build" -j "$jobs" "$@"
  ) 9>"$build/.build.lock"
}

run_target() {
  local target="$1" secs="$2"
  shift 2
  local bin="$build/fuzz/$target"
  [ -x "$bin" ] || die "$bin is not built (scripts/fuzz.sh --build-only $target)"
  local corpus="$build/corpus/$target" artifacts="$build/artifacts/$target/"
  mkdir -p "$corpus" "$artifacts"
  local args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$artifacts")
  [ -f "$root/fuzz/$target.dict" ] && args+=(-dict="$root/fuzz/$target.dict")
  local dirs=("$corpus")
  [ -d "$root/fuzz/corpus/$target" ] && dirs+=("$root/fuzz/corpus/$target")
  if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
    for s in llvm-symbolizer-16 llvm-symbolizer llvm-symbolizer-14; do
      if command -v "$s" >/dev/null; then export ASAN_SYMBOLIZER_PATH="$(command -v "$s")"; break; fi
    done
  fi
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  echo "fuzz.sh: running $target for ${secs}s (corpus $corpus)"
  exec "$bin" "${args[@]}" "$@" "${dirs[@]}"
}

do_build=1
case "${1:-}" in
  "" | -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
  --list) all_targets; exit 0 ;;
  --build-only)
    shift
    if (($#)); then build_targets "$@"; else mapfile -t t < <(all_targets); build_targets "${t[@]}"; fi
    exit 0 ;;
  --no-build) do_build=0; shift ;;
esac
target="${1:?target}"
shift
secs=60
if (($#)) && [ "$1" != "--" ]; then secs="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
[ -f "$root/fuzz/$target.cc" ] || die "no fuzz/$target.cc (see scripts/fuzz.sh --list)"
((do_build)) && build_targets "$target"
run_target "$target" "$secs" "$@"
