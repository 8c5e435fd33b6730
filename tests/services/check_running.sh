#!/usr/bin/env bash
# check_running.sh NAME [--secure]: asserts that scripts/services/NAME.sh reports the server running and
# that every TCP socket the server process listens on is bound to a loopback address (nothing
# reachable from outside the machine). Reads /proc directly, so needs no ss/netstat.
set -euo pipefail
name="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
status="$("$root/scripts/services/$name.sh" status "${@:2}")" || { echo "FAIL: $status"; exit 1; }
echo "$status"
pid="$(sed -n 's/.*(pid \([0-9]*\),.*/\1/p' <<<"$status")"
[ -n "$pid" ] || { echo "FAIL: no pid in status line"; exit 1; }
exec python3 - "$pid" <<'PY'
import ipaddress, os, sys

pid = sys.argv[1]
inodes = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if target.startswith("socket:["):
        inodes.add(target[8:-1])

def addr(hex_addr, v6):
    ip_hex, port_hex = hex_addr.split(":")
    raw = bytes.fromhex(ip_hex)
    # /proc stores the address as 32-bit words in host (little-endian) order.
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(raw), int(port_hex, 16)

listening = []
for table, v6 in (("tcp", False), ("tcp6", True)):
    try:
        lines = open(f"/proc/{pid}/net/{table}").read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        f = line.split()
        if f[3] == "0A" and f[9] in inodes:  # state LISTEN, owned by the server
            listening.append(addr(f[1], v6))

if not listening:
    sys.exit(f"FAIL: pid {pid} listens on no TCP port")
print("listening:", " ".join(f"{ip}:{port}" for ip, port in sorted(listening, key=lambda a: a[1])))
outside = [f"{ip}:{port}" for ip, port in listening if not ip.is_loopback]
if outside:
    sys.exit(f"FAIL: listens beyond loopback: {' '.join(outside)}")
PY
