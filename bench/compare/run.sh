#!/usr/bin/env bash
# One command for the Tideline / Kaskada / DuckDB comparison (issue 5):
#   bench/compare/run.sh [--events N[,N...]] [--update-benchmarks] [other harness.py flags]
# Default sizes: 1M and 10M events. Prepares (once, quietly afterwards) a venv with the
# baselines and plotting packages at ${TIDELINE_CACHE:-$HOME/.cache/tideline}/bench-venv,
# then runs harness.py (see --help) with it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${TIDELINE_CACHE:-$HOME/.cache/tideline}"
venv="$cache/bench-venv"
req="$here/requirements.txt"
stamp="$venv/.tideline-requirements.sha256"

want="$( (cat "$req"; python3 -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
if ! { [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }; then
  echo "bench/compare: preparing $venv" >&2
  mkdir -p "$cache"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  # Kaskada is installed separately so that a missing wheel leaves the other engines usable
  # (the harness then reports Kaskada as unavailable with the import error).
  grep -v '^kaskada' "$req" >"$cache/bench-requirements-core.txt"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$cache/bench-requirements-core.txt"
  kaskada_ok=1
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        "$(grep '^kaskada' "$req")" >"$cache/bench-kaskada-install.log" 2>&1; then
    kaskada_ok=0
    echo "bench/compare: kaskada did not install (see $cache/bench-kaskada-install.log):" >&2
    tail -3 "$cache/bench-kaskada-install.log" >&2
  fi
  "$venv/bin/python" -c 'import duckdb, pyarrow, pandas, matplotlib'
  # Only a complete install is stamped, so a failed kaskada install is retried next time.
  if [ "$kaskada_ok" = 1 ]; then echo "$want" >"$stamp"; fi
fi
exec "$venv/bin/python" "$here/harness.py" "$@"
