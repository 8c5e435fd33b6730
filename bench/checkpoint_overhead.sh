#!/usr/bin/env bash
# Benchmark (not a test): what checkpoints cost the session-features processor, for one or
# more builds on the same input in the same run.
#   bench/checkpoint_overhead.sh [--rows N] [--repeat K] [--full-every F] BIN [BIN ...]
# Generates N clicks once, publishes them into one embedded data directory per run (copied
# from a loaded template so every run reads identical topics), then times each BIN's
# processor draining the topic (no producer competing) with checkpoints every 1000 ms and
# with effectively none (interval 10^9 ms), K times each, alternating. Prints per run the
# wall-clock rows/s and the processor's CPU time (user + system, all threads), and per
# binary the overhead from the medians: 1 - (rows/s with / rows/s without), by wall clock
# and by CPU time (on a machine shared with other work the CPU figure is the steadier one:
# it does not count time the processor waited for a core; wall also counts its I/O waits).
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
echo "session-features processor draining $rows clicks ($(nproc) cores), median of $repeat"
# One processor run: BIN CHECKPOINT_MS -> "wall_seconds cpu_seconds"
run() {
  local bin="$1" cp_ms="$2" d="$work/run"
  rm -rf "$d" && cp -r "$work/tpl" "$d"
  "$root/scripts/session_features_config.sh" "$work/run.properties" "$d" \
    "tideline.processor.checkpoint.interval.ms=$cp_ms" "${extra[@]}"
  /usr/bin/time -f "%e %U %S" -o "$work/time" \
    "$bin" main-proc -cf "$work/run.properties" -wt processor > "$work/out" 2> "$work/err"
  awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$work/time"
}
declare -A walls cpus
for ((k = 0; k < repeat; ++k)); do
  for bin in "$@"; do
    for cp in 1000 1000000000; do
      read -r wall cpu < <(run "$bin" "$cp")
      awk -v b="$bin" -v c="$cp" -v n="$rows" -v w="$wall" -v u="$cpu" \
        'BEGIN { printf "  %s checkpoint.interval.ms=%s: %.0f rows/s wall (%.2f s), %.2f CPU s\n", b, c, n / w, w, u }'
      walls["$bin|$cp"]+="$wall "
      cpus["$bin|$cp"]+="$cpu "
    done
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for bin in "$@"; do
  ww=$(echo "${walls["$bin|1000"]}" | median); wo=$(echo "${walls["$bin|1000000000"]}" | median)
  cw=$(echo "${cpus["$bin|1000"]}" | median); co=$(echo "${cpus["$bin|1000000000"]}" | median)
  awk -v b="$bin" -v n="$rows" -v k="$repeat" -v ww="$ww" -v wo="$wo" -v cw="$cw" -v co="$co" 'BEGIN {
    printf "%s (medians of %s): with checkpoints every 1 s %.0f rows/s, %.2f CPU s; without %.0f rows/s, %.2f CPU s: overhead %.1f%% wall, %.1f%% CPU\n",
      b, k, n / ww, cw, n / wo, co, 100 * (1 - wo / ww), 100 * (1 - co / cw) }'
done
