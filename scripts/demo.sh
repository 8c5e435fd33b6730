#!/usr/bin/env bash
# The Tideline demo: sets up the machine, builds Tideline (Release), generates the e-shop
# clickstream and runs prep-env -> producer -> processor -> consumer on the embedded backends
# (SQLite tables and topics under demo-data/), then a second pipeline on the same input topic
# (per-session features, examples/eshop/session_features.fenl), then prints a summary.
#   scripts/demo.sh [--rows N] [--seed S]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rows=100000
seed=42
while (($#)); do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
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

for wt in producer processor consumer; do
  step "main-proc -wt $wt"
  "$bin" main-proc -cf "$cfg" -wt "$wt" | tee -a "$log"
done

# The second pipeline reads the same input topic with its own subscriptions; its input table
# is the one loaded above (-ldr false), its output topic and table are its own.
step "session features: prep-env (output table and topic)"
"$bin" prep-env -cf "$cfg2" -cdt true -cpt true -ldr false | tee -a "$log2"
for wt in processor consumer; do
  step "session features: main-proc -wt $wt"
  "$bin" main-proc -cf "$cfg2" -wt "$wt" | tee -a "$log2"
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
