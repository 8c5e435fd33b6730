#!/usr/bin/env bash
# Benchmark (not a test): the session-features processor's memory over a long input. The
# processor's memory must follow its state (one entry per entity), not the history.
#   bench/pipeline_memory.sh [--rows N] [--sessions S] [--key session|so_key]
# Defaults: 10,000,000 clicks over at most 100,000 session ids (gen-eshop --sessions), the
# input keyed by `session` (so the query's entities are the 100,000 sessions). With
# `--key so_key` every click is an entity of the input table (the examples' setting), so the
# state itself grows with the input.
# Loads and publishes the clicks first (not measured), then runs the processor over the whole
# topic (checkpoints every second) and samples its resident memory every 0.5 s against the
# number of result rows published so far; prints the samples, the peak (VmHWM) and the size
# of the last checkpoint (the engine state).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rows=10000000
sessions=100000
key=session
while (($#)); do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --sessions) sessions="$2"; shift 2 ;;
    --key) key="$2"; shift 2 ;;
    *) echo "usage: bench/pipeline_memory.sh [--rows N] [--sessions S] [--key session|so_key]" >&2; exit 2 ;;
  esac
done
"$root/scripts/build.sh" release tideline >/dev/null 2>&1
bin="$root/build-release/tideline"
work="$(mktemp -d /tmp/tl-memory-XXXXXX)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
"$root/scripts/session_features_config.sh" "$work/m.properties" "$work/data" \
  "tideline.processor.key.column=$key"
cfg="$work/m.properties"
echo "preparing $rows clicks over at most $sessions sessions, input keyed by $key ..." >&2
"$bin" gen-eshop --rows "$rows" --sessions "$sessions" --header --out "$work/eshop.csv" 2>/dev/null
"$bin" prep-env -cf "$cfg" -ldr true -rsf "$work/eshop.csv" -ldn -1 > /dev/null
rm -f "$work/eshop.csv"
"$bin" main-proc -cf "$cfg" -wt producer > /dev/null 2>&1
count_out() {
  sqlite3 "$work/data/topics.sqlite" "SELECT coalesce(sum(message_count),0) FROM partitions p JOIN topics t USING(topic_id) WHERE t.name='persistent://public/tideline/eshop_session_features'" 2>/dev/null || echo "?"
}
"$bin" main-proc -cf "$cfg" -wt processor --idle-ms 500 > "$work/proc.out" 2> "$work/proc.log" &
pid=$!
echo "session-features processor over $rows clicks, <= $sessions sessions, input key $key ($(nproc) cores)"
printf "%12s %14s %10s\n" "seconds" "rows out" "RSS (MiB)"
t0=$SECONDS
hwm=0
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status" 2>/dev/null || echo 0)
  h=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status" 2>/dev/null || echo 0)
  [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
  [ -n "$rss" ] && printf "%12d %14s %10s\n" $((SECONDS - t0)) "$(count_out)" "$rss"
  sleep 0.5
done
wait "$pid"
pid=""
cp_bytes=$(sqlite3 "$work/data/topics.sqlite" "SELECT length(value) FROM job_state WHERE name='checkpoint'" 2>/dev/null || echo 0)
echo "peak RSS (VmHWM, last sample): $hwm MiB; last checkpoint (engine state): $(awk -v n="$cp_bytes" 'BEGIN {printf "%.1f MB", n/1e6}')"
tail -n 1 "$work/proc.out"
