#!/usr/bin/env bash
# Creates the Python virtualenv with the reference clients (scripts/services/requirements.txt)
# at ${TIDELINE_CACHE:-$HOME/.cache/tideline}/venv. Idempotent: a stamp file holds the hash of
# the requirements, so a second run with unchanged requirements does nothing and prints nothing.
# scripts/services/venv-python prints (or runs) the venv's interpreter.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${TIDELINE_CACHE:-$HOME/.cache/tideline}"
venv="$cache/venv"
req="$here/services/requirements.txt"
stamp="$venv/.tideline-requirements.sha256"

want="$( (cat "$req"; python3 -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

mkdir -p "$cache"
# Concurrent callers (parallel tests) wait for one another; the second finds the stamp.
exec 9>"$cache/venv.lock"
flock 9
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup_python: preparing $venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
# Importing both proves the wheels match this interpreter (no silent half-install).
"$venv/bin/python" - <<'PY'
import cassandra, pulsar, pulsar.schema, fastavro  # noqa: F401
from cassandra.cluster import Cluster  # noqa: F401
PY
echo "$want" >"$stamp"
echo "setup_python: ready ($venv/bin/python)"
