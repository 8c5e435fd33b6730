#!/usr/bin/env bash
# check_running.sh NAME: asserts that scripts/services/NAME.sh reports the server running and
# that every TCP port the server process listens on is bound to 127.0.0.1 (nothing reachable
# from outside the machine).
set -euo pipefail
name="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
status="$("$root/scripts/services/$name.sh" status)" || { echo "FAIL: $status"; exit 1; }
echo "$status"
pid="$(sed -n 's/.*(pid \([0-9]*\),.*/\1/p' <<<"$status")"
[ -n "$pid" ] || { echo "FAIL: no pid in status line"; exit 1; }
listening="$(ss -Hltnp | grep "pid=$pid," | awk '{print $4}' | sort -u)"
[ -n "$listening" ] || { echo "FAIL: pid $pid listens on no TCP port"; exit 1; }
echo "listening: $(tr '\n' ' ' <<<"$listening")"
if grep -v '^127\.0\.0\.1:' <<<"$listening"; then
  echo "FAIL: $name listens beyond loopback (lines above)"
  exit 1
fi
