#!/usr/bin/env bash
# Benchmark (not a test): what checkpoints cost the session-features processor, for one or
# more builds on the same input in the same run.
#   bench/checkpoint_overhead.sh [--rows N] [--repeat K] [--full-every F] BIN [BIN ...]
# Generates N clicks once, publishes them into one embedded data directory per run (copied
# from a loaded template so every run reads identical topics), then times each BIN's
# processor draining the topic (no producer competing) with checkpoints every 1000 ms and
# with effectively none (interval 10^9 ms), K times each, alternating. Prints the
# processor's own rows/s lines and the overhead 1 - (with / without) per binary (best of K).
# --full-every sets tideline.processor.checkpoint.full.every (builds without it ignore it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rows=1000000
repeat=3
full_every=""
while (($#)); do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --full-every) full_every="$2"; shift 2 ;;
    --) shift; break ;;
    -*) echo "usage: bench/checkpoint_overhead.sh [--rows N] [--repeat K] [--full-every F] BIN..." >&2; exit 2 ;;
    *) break ;;
  esac
done
(($#)) || { echo "usage: bench/checkpoint_overhead.sh [--rows N] [--repeat K] BIN..." >&2; exit 2; }
work="$(mktemp -d /tmp/tl-cpo-XXXXXX)"
trap 'rm -rf "$work"' EXIT
first="$1"
extra=()
[ -n "$full_every" ] && extra+=("tideline.processor.checkpoint.full.every=$full_every")
"$root/scripts/session_features_config.sh" "$work/tpl.properties" "$work/tpl"
"$first" gen-eshop --rows "$rows" --header --out "$work/eshop.csv" 2>/dev/null
"$first" prep-env -cf "$work/tpl.properties" -ldr true -rsf "$work/eshop.csv" -ldn -1 > /dev/null
"$first" main-proc -cf "$work/tpl.properties" -wt producer > /dev/null 2>&1
echo "session-features processor draining $rows clicks ($(nproc) cores), best of $repeat"
# rows/s of one processor run: BIN CHECKPOINT_MS
run() {
  local bin="$1" cp_ms="$2" d="$work/run"
  rm -rf "$d" && cp -r "$work/tpl" "$d"
  "$root/scripts/session_features_config.sh" "$work/run.properties" "$d" \
    "tideline.processor.checkpoint.interval.ms=$cp_ms" "${extra[@]}"
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" main-proc -cf "$work/run.properties" -wt processor > "$work/out" 2> "$work/err"
  t1=$(date +%s.%N)
  awk -v n="$rows" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }'
}
declare -A best
for ((k = 0; k < repeat; ++k)); do
  for bin in "$@"; do
    for cp in 1000 1000000000; do
      r=$(run "$bin" "$cp")
      echo "  $bin checkpoint.interval.ms=$cp: $r rows/s"
      key="$bin|$cp"
      if [ -z "${best[$key]:-}" ] || [ "$r" -gt "${best[$key]}" ]; then best[$key]=$r; fi
    done
  done
done
for bin in "$@"; do
  with=${best["$bin|1000"]}
  without=${best["$bin|1000000000"]}
  awk -v b="$bin" -v w="$with" -v o="$without" \
    'BEGIN { printf "%s: %d rows/s with checkpoints every 1 s, %d without: overhead %.1f%%\n", b, w, o, 100 * (1 - w / o) }'
done
