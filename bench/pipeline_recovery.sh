#!/usr/bin/env bash
# Benchmark (not a test): how long the session-features processor takes to be back after a
# SIGKILL, with the state of N clicks (the query is keyed by click, so N entities).
#   bench/pipeline_recovery.sh [--rows N]     (default 1,000,000)
# Loads and publishes N clicks, lets the processor (--follow, checkpoints every 1 s) process
# them all, kills it with SIGKILL, restarts it and reports the time from the restart to the
# moment it has restored its checkpoint and replayed its journal (its log line "replayed the
# journal" or, without a journal, "resumed from the checkpoint"), and the checkpoint size.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rows=1000000
while (($#)); do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    *) echo "usage: bench/pipeline_recovery.sh [--rows N]" >&2; exit 2 ;;
  esac
done
"$root/scripts/build.sh" release tideline >/dev/null 2>&1
bin="$root/build-release/tideline"
work="$(mktemp -d /tmp/tl-recovery-XXXXXX)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
"$root/scripts/session_features_config.sh" "$work/r.properties" "$work/data"
cfg="$work/r.properties"
"$bin" gen-eshop --rows "$rows" --header --out "$work/eshop.csv" 2>/dev/null
"$bin" prep-env -cf "$cfg" -ldr true -rsf "$work/eshop.csv" -ldn -1 > /dev/null
"$bin" main-proc -cf "$cfg" -wt producer > /dev/null 2>&1
count_out() {
  sqlite3 "$work/data/topics.sqlite" "SELECT coalesce(sum(message_count),0) FROM partitions p JOIN topics t USING(topic_id) WHERE t.name='persistent://public/tideline/eshop_session_features'"
}
"$bin" main-proc -cf "$cfg" -wt processor --follow --idle-ms 20 > /dev/null 2> "$work/first.log" &
pid=$!
until [ "$(count_out)" -ge "$rows" ]; do sleep 0.2; done
sleep 1.5  # at least one checkpoint after the last result
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
cp_bytes=$(sqlite3 "$work/data/topics.sqlite" "SELECT length(value) FROM job_state WHERE name='checkpoint'")
t0=$(date +%s.%N)
"$bin" main-proc -cf "$cfg" -wt processor --follow --idle-ms 20 > /dev/null 2> "$work/second.log" &
pid=$!
until grep -qE 'replayed the journal|resumed from the checkpoint' "$work/second.log"; do sleep 0.005; done
if grep -q 'replaying' "$work/second.log"; then
  until grep -q 'replayed the journal' "$work/second.log"; do sleep 0.005; done
fi
t1=$(date +%s.%N)
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
pid=""
echo "session-features processor, $rows clicks of state ($(nproc) cores)"
awk -v a="$t0" -v b="$t1" -v n="$cp_bytes" -v r="$rows" 'BEGIN {
  printf "checkpoint: %.1f MB (%.0f bytes per click)\n", n/1e6, n/r;
  printf "restart to restored (process start, open, restore, journal replay): %.3f s\n", b-a }'
grep -E 'resumed|replay' "$work/second.log" | sed 's/^/  /'
