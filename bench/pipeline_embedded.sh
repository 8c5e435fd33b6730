#!/usr/bin/env bash
# Benchmark (not a test): load -> produce -> process -> consume on the embedded backends.
#   bench/pipeline_embedded.sh [--rows N] [--bin PATH]     (default 1,000,000 rows)
# Prints rows/s of each stage, measured by the stages themselves on a Release build, and the
# CPU seconds (user + sys) of each stage's process. --bin runs another tideline binary (e.g.
# a build of main, for a before/after comparison on the same machine and input).
# Excluded from the stages' clocks: generating the CSV and process start-up before the stage
# starts its clock; included: opening the stores, the stage's work, and the processor's and
# consumer's final idle wait (--idle-ms, 300 ms) that tells them the source is drained.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rows=1000000
bin=""
while (($#)); do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    *) echo "usage: bench/pipeline_embedded.sh [--rows N] [--bin PATH]" >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  "$root/scripts/build.sh" release tideline >/dev/null 2>&1
  bin="$root/build-release/tideline"
fi
work="$(mktemp -d /tmp/tl-bench-XXXXXX)"
trap 'rm -rf "$work"' EXIT
sed -e "s#^tideline.data.dir=.*#tideline.data.dir=$work/data#" \
    -e "s#=\.\./\.\./conf/#=$root/conf/#" "$root/examples/eshop/embedded.properties" > "$work/bench.properties"
cfg="$work/bench.properties"
"$bin" gen-eshop --rows "$rows" --header --out "$work/eshop.csv" 2>/dev/null
out="$work/out.txt"
t0=$(date +%s.%N)
"$bin" prep-env -cf "$cfg" -ldr true -rsf "$work/eshop.csv" -ldn -1 > "$out"
for wt in producer processor consumer; do
  /usr/bin/time -o "$work/cpu-$wt" -f "%U %S" "$bin" main-proc -cf "$cfg" -wt "$wt" >> "$out"
done
t1=$(date +%s.%N)
echo "embedded pipeline, $rows rows ($(nproc) cores, $(uname -m))"
printf '%-10s %12s %10s %14s %8s\n' stage rows seconds rows/s cpu_s
awk '/^loaded/ { gsub(/[(),]/, " "); printf "%-10s %12s %10s %14s\n", "load", $2, $5, $7 }' "$out"
for wt in producer processor consumer; do
  cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$work/cpu-$wt")
  awk -v wt="$wt" -v cpu="$cpu" '$1 == wt":" { gsub(/[(),]/, " "); printf "%-10s %12s %10s %14s %8s\n", wt, $2, $11, $13, cpu }' "$out"
done
awk -v a="$t0" -v b="$t1" -v n="$rows" 'BEGIN { printf "%-10s %12s %10.2f %14.0f\n", "total", n, b-a, n/(b-a) }'
