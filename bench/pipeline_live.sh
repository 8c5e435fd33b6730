#!/usr/bin/env bash
# Benchmark (not a test): the live session-features pipeline on the embedded backends.
#   bench/pipeline_live.sh [--rows N] [--rate R] [--checkpoint-ms MS]
# A rate-limited producer (--rate events/s; 0 = as fast as it can) publishes N clicks while
# the session-features processor and the consumer follow. Reports the processor's
# throughput and its result delay (input message publish -> result message publish, p50/p99,
# measured by the processor for every event). --checkpoint-ms sets
# tideline.processor.checkpoint.interval.ms (default 1000; a large value = no checkpoints
# while running). Release build. Excluded from the clock: generating and loading the CSV.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rows=200000
rate=20000
cp_ms=1000
while (($#)); do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --checkpoint-ms) cp_ms="$2"; shift 2 ;;
    *) echo "usage: bench/pipeline_live.sh [--rows N] [--rate R] [--checkpoint-ms MS]" >&2; exit 2 ;;
  esac
done
"$root/scripts/build.sh" release tideline >/dev/null 2>&1
bin="$root/build-release/tideline"
work="$(mktemp -d /tmp/tl-live-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
ex="$root/examples/eshop"
sed -e "s#^tideline.data.dir=.*#tideline.data.dir=$work/data#" \
    -e "s#=\.\./\.\./conf/#=$root/conf/#" \
    -e "s#^tideline.processor.query=\(.*\)#tideline.processor.query=$ex/\1#" \
    -e "s#^tideline.cql.output.stmt=cql/#tideline.cql.output.stmt=$ex/cql/#" \
    -e "s#^tideline.schema.output=pulsar-schema/#tideline.schema.output=$ex/pulsar-schema/#" \
    "$ex/session_features.properties" > "$work/live.properties"
echo "tideline.processor.checkpoint.interval.ms=$cp_ms" >> "$work/live.properties"
cfg="$work/live.properties"
"$bin" gen-eshop --rows "$rows" --header --out "$work/eshop.csv" 2>/dev/null
"$bin" prep-env -cf "$cfg" -ldr true -rsf "$work/eshop.csv" -ldn -1 > /dev/null

"$bin" main-proc -cf "$cfg" -wt processor --follow --idle-ms 5 > "$work/processor.out" 2> "$work/processor.log" &
pids+=($!)
"$bin" main-proc -cf "$cfg" -wt consumer --follow --idle-ms 5 > /dev/null 2> "$work/consumer.log" &
pids+=($!)
sleep 0.5
t0=$(date +%s.%N)
"$bin" main-proc -cf "$cfg" -wt producer --rate "$rate" > "$work/producer.out" 2> /dev/null
t1=$(date +%s.%N)
# Wait until the processor has published a result for every click, then stop it cleanly.
out_topic="persistent://public/tideline/eshop_session_features"
for _ in $(seq 1 600); do
  n=$(sqlite3 "$work/data/topics.sqlite" \
    "SELECT coalesce(sum(next_entry_id),0) FROM partitions p JOIN topics t USING(topic_id) WHERE t.name='$out_topic'")
  [ "$n" -ge "$rows" ] && break
  sleep 0.1
done
t2=$(date +%s.%N)
kill -TERM "${pids[0]}"; wait "${pids[0]}" || true
kill -TERM "${pids[1]}"; wait "${pids[1]}" || true
pids=()
echo "live session-features pipeline, embedded, $rows clicks, producer --rate $rate, checkpoints every $cp_ms ms ($(nproc) cores)"
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$rows" 'BEGIN {
  printf "producer publishing:        %8.2f s (%.0f events/s)\n", b-a, n/(b-a);
  printf "last result after start:    %8.2f s (%.0f events/s end to end)\n", c-a, n/(c-a) }'
grep -o 'result delay.*' "$work/processor.log" || echo "(no result delay reported)"
grep -E '^processor:' "$work/processor.out" || true
