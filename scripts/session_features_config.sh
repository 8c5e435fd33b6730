#!/usr/bin/env bash
# Writes a copy of examples/eshop/session_features.properties with absolute paths and its own
# data directory, for the demo and the live benchmarks.
#   scripts/session_features_config.sh OUT DATA_DIR [KEY=VALUE ...]
# The KEY=VALUE lines are appended (later keys override earlier ones).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if (($# < 2)); then
  echo "usage: scripts/session_features_config.sh OUT DATA_DIR [KEY=VALUE ...]" >&2
  exit 2
fi
out="$1"
data="$2"
shift 2
ex="$root/examples/eshop"
sed -e "s#^tideline.data.dir=.*#tideline.data.dir=$data#" \
    -e "s#=\.\./\.\./conf/#=$root/conf/#" \
    -e "s#^tideline.processor.query=\(.*\)#tideline.processor.query=$ex/\1#" \
    -e "s#^tideline.cql.output.stmt=cql/#tideline.cql.output.stmt=$ex/cql/#" \
    -e "s#^tideline.schema.output=pulsar-schema/#tideline.schema.output=$ex/pulsar-schema/#" \
    "$ex/session_features.properties" > "$out"
for kv in "$@"; do echo "$kv" >> "$out"; done
