#!/usr/bin/env bash
# Benchmark (not a test): load -> produce -> process -> consume on the embedded backends.
#   bench/pipeline_embedded.sh [--rows N]     (default 1,000,000)
# Prints rows/s of each stage, measured by the stages themselves on a Release build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rows=1000000
while (($#)); do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    *) echo "usage: bench/pipeline_embedded.sh [--rows N]" >&2; exit 2 ;;
  esac
done
"$root/scripts/build.sh" release tideline >/dev/null 2>&1
bin="$root/build-release/tideline"
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
  "$bin" main-proc -cf "$cfg" -wt "$wt" >> "$out"
done
t1=$(date +%s.%N)
echo "embedded pipeline, $rows rows ($(nproc) cores, $(uname -m))"
printf '%-10s %12s %10s %14s\n' stage rows seconds rows/s
awk '/^loaded/ { gsub(/[(),]/, " "); printf "%-10s %12s %10s %14s\n", "load", $2, $5, $7 }
     /^(producer|processor|consumer):/ { gsub(/[(),]/, " "); printf "%-10s %12s %10s %14s\n", substr($1,1,length($1)-1), $2, $11, $13 }' "$out"
awk -v a="$t0" -v b="$t1" -v n="$rows" 'BEGIN { printf "%-10s %12s %10.2f %14.0f\n", "total", n, b-a, n/(b-a) }'
