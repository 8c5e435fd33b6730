#!/usr/bin/env bash
# The Tideline demo: sets up the machine, builds Tideline (Release), generates the e-shop
# clickstream and loads it (prep-env) on the embedded backends (SQLite tables and topics
# under demo-data/). Then, live: the per-session features processor
# (examples/eshop/session_features.fenl) and its consumer follow the input topic while the
# producer publishes at a steady rate; a live line shows events/s, watermark lag and result
# delay; the processor is killed (kill -9) mid-stream and restarted, and resumes from its
# checkpoint; the output table is checked against the same query run in batch. Finally the
# original projection pipeline (processor -> consumer) runs over the same topic, and a
# summary is printed.
#   scripts/demo.sh [--rows N] [--seed S] [--rate EVENTS_PER_S]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rows=100000
seed=42
rate=20000
while (($#)); do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "setup (Debian packages)"
TIDELINE_SKIP_PYTHON=1 "$root/scripts/setup.sh"
step "build (Release)"
"$root/scripts/build.sh" release tideline | tail -1
bin="$root/build-release/tideline"
cfg="$root/examples/eshop/embedded.properties"
cfg2="$root/examples/eshop/session_features.properties"
data="$root/demo-data"
rm -rf "$data"
mkdir -p "$data"
log="$data/demo.log"
log2="$data/demo-session-features.log"

step "generate $rows e-shop clicks"
"$bin" gen-eshop --rows "$rows" --seed "$seed" --header --out "$data/eshop.csv"

step "prep-env: tables, topics, schemas, load the CSV"
"$bin" prep-env -cf "$cfg" -ldr true -rsf "$data/eshop.csv" -ldn -1 | tee -a "$log"

# The session-features pipeline reads the same input topic with its own subscriptions; its
# input table is the one loaded above (-ldr false), its output topic and table are its own.
step "session features: prep-env (output table and topic)"
"$bin" prep-env -cf "$cfg2" -cdt true -cpt true -ldr false | tee -a "$log2"

# A copy of its configuration with absolute paths and a report line every second.
ex="$root/examples/eshop"
live_cfg="$data/session_features.live.properties"
"$root/scripts/session_features_config.sh" "$live_cfg" "$data" "tideline.log.report.interval.ms=1000"

step "session features, live: producer at $rate events/s; processor and consumer follow"
proc_log="$data/live-processor.log"
pids=()
cleanup_live() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup_live EXIT
start_processor() {
  "$bin" main-proc -cf "$live_cfg" -wt processor --follow --idle-ms 20 >> "$proc_log" 2>&1 &
  proc_pid=$!
  pids+=("$proc_pid")
}
start_processor
"$bin" main-proc -cf "$live_cfg" -wt consumer --follow --idle-ms 20 >> "$data/live-consumer.log" 2>&1 &
cons_pid=$!
pids+=("$cons_pid")
# The live line: the processor's report every second (events/s, watermark lag, result delay).
# (tail's own pid is kept, so that stopping it ends the filter too)
tail -n0 -F "$proc_log" 2>/dev/null > >(
  grep --line-buffered -E 'processor: [0-9]+ events in|resumed from|replaying|replayed' |
    sed -u -e 's/^.*\(info\|warn\) *//' -e 's/^/  live | /') &
pids+=($!)
"$bin" main-proc -cf "$cfg" -wt producer --rate "$rate" > "$data/live-producer.out" 2>> "$log" &
prod_pid=$!
pids+=("$prod_pid")
sleep 2.5
echo "  demo | kill -9 the processor (pid $proc_pid) in the middle of the stream"
kill -9 "$proc_pid"
wait "$proc_pid" 2>/dev/null || true
sleep 0.5
echo "  demo | restart it: it resumes from its checkpoint and replays its step journal"
start_processor
wait "$prod_pid"
cat "$data/live-producer.out" | tee -a "$log"
for _ in $(seq 1 600); do
  n=$("$bin" table count -cf "$live_cfg" output 2>/dev/null || echo 0)
  [ "$n" -ge "$rows" ] && break
  sleep 0.2
done
sleep 1.2  # one more report line
kill -TERM "$proc_pid" "$cons_pid"
wait "$proc_pid" "$cons_pid" 2>/dev/null || true
cleanup_live
trap - EXIT
grep -hE '^(processor|consumer):' "$proc_log" "$data/live-consumer.log" >> "$log2" || true
grep -o 'result delay (input.*' "$proc_log" | tail -n1 | sed 's/^/  /' || true

step "session features: the output table equals the same query run in batch"
"$bin" query -cf "$live_cfg" --expr-file "$ex/session_features.fenl" \
  --table kasTblInput=store:input,time=event_time,key=so_key > "$data/batch.csv"
"$bin" table dump -cf "$live_cfg" output > "$data/live.csv"
python3 - "$data/batch.csv" "$data/live.csv" <<'PY'
import csv, sys
batch = {r["so_key"]: r for r in csv.DictReader(open(sys.argv[1]))}
live = {r["so_key"]: r for r in csv.DictReader(open(sys.argv[2]))}
cols = ["session", "clicks", "sale_clicks", "seconds_since_first", "prev_model", "model",
        "category", "price"]
diff = [k for k in batch if k not in live or any(batch[k][c] != live[k][c] for c in cols)]
print(f"  batch query: {len(batch)} rows; live output table: {len(live)} rows; "
      f"rows that differ: {len(diff)}")
sys.exit(1 if diff or len(batch) != len(live) else 0)
PY

for wt in processor consumer; do
  step "projection pipeline: main-proc -wt $wt"
  "$bin" main-proc -cf "$cfg" -wt "$wt" | tee -a "$log"
done

step "summary"
in_rows=$("$bin" table count -cf "$cfg" input)
out_rows=$("$bin" table count -cf "$cfg" output)
printf '%-12s %12s\n' "stage" "rows"
printf '%-12s %12s\n' "raw CSV" "$rows"
printf '%-12s %12s\n' "input table" "$in_rows"
grep -E '^(producer|processor|consumer):' "$log" | awk '{sub(":", "", $1); printf "%-12s %12s   %s %s\n", $1, $2, $(NF-1), $NF}'
printf '%-12s %12s\n' "output table" "$out_rows"
printf '\nload: %s\n' "$(grep -E '^loaded' "$log")"
printf '\nfirst output rows:\n'
"$bin" table dump -cf "$cfg" output --limit 5 | column -s, -t
sf_rows=$("$bin" table count -cf "$cfg2" output)
printf '\nsession features (%s):\n' "$(basename "$cfg2")"
grep -E '^(processor|consumer):' "$log2" | awk '{sub(":", "", $1); printf "%-12s %12s   %s %s\n", $1, $2, $(NF-1), $NF}'
printf '%-12s %12s\n' "output table" "$sf_rows"
printf '\nfirst session feature rows:\n'
# (empty cells become "null": column(1) would merge adjacent separators)
"$bin" table dump -cf "$cfg2" output --limit 8 | sed -e ':a' -e 's/,,/,null,/g;ta' -e 's/,$/,null/' |
  column -s, -t
printf '\ndata lives in %s (tables.sqlite, topics.sqlite); inspect with:\n' "$data"
printf '  %s table dump -cf %s output | head\n' "$bin" "$cfg"
printf '  %s table dump -cf %s output | head\n' "$bin" "$cfg2"
printf '  %s query -cf %s --expr-file %s --table kasTblInput=store:input,time=event_time,key=so_key --format table | head\n' \
  "$bin" "$cfg" "$root/examples/eshop/session_features.fenl"
if [ "$in_rows" != "$rows" ] || [ "$out_rows" != "$rows" ] || [ "$sf_rows" != "$rows" ]; then
  echo "demo: expected $rows rows in the input, output and session features tables" >&2
  exit 1
fi
