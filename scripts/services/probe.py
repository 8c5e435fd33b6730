#!/usr/bin/env python3
"""Readiness probes for the test servers; standard library only (runs before the venv exists).

  probe.py cql HOST PORT           CQL native protocol v4: OPTIONS -> SUPPORTED, STARTUP -> READY
  probe.py pulsar HOST PORT        Pulsar binary protocol: CONNECT -> CONNECTED
  probe.py pulsar-admin URL CLUSTER  admin REST: cluster listed and namespace public/default present

Exit status 0 when the server answered as a ready server does, 1 otherwise (reason on stderr).
"""
import json
import socket
import struct
import sys
import urllib.request

TIMEOUT_S = 3.0


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by server")
        data += chunk
    return data


def cql_frame(opcode, body=b""):
    # Header: version 4 request, flags 0, stream 0, opcode, body length.
    return struct.pack(">BBhBi", 0x04, 0, 0, opcode, len(body)) + body


def cql_read(sock):
    version, _flags, _stream, opcode, length = struct.unpack(">BBhBi", recv_exact(sock, 9))
    body = recv_exact(sock, length)
    return version, opcode, body


def cql_string(s):
    raw = s.encode()
    return struct.pack(">H", len(raw)) + raw


def probe_cql(host, port):
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        sock.sendall(cql_frame(0x05))  # OPTIONS
        _, opcode, body = cql_read(sock)
        if opcode != 0x06:  # SUPPORTED
            raise RuntimeError(f"OPTIONS answered with opcode 0x{opcode:02x}: {body[:200]!r}")
        sock.sendall(cql_frame(0x01, struct.pack(">H", 1) + cql_string("CQL_VERSION") + cql_string("3.0.0")))
        _, opcode, body = cql_read(sock)
        if opcode != 0x02:  # READY
            raise RuntimeError(f"STARTUP answered with opcode 0x{opcode:02x}: {body[:200]!r}")


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def probe_pulsar(host, port):
    # BaseCommand { type = CONNECT (2); connect = CommandConnect { client_version (1), protocol_version (4) } }
    version = b"tideline-probe"
    connect = b"\x0a" + varint(len(version)) + version + b"\x20" + varint(15)
    command = b"\x08\x02" + b"\x12" + varint(len(connect)) + connect
    frame = struct.pack(">II", 4 + len(command), len(command)) + command
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        sock.sendall(frame)
        total, cmd_size = struct.unpack(">II", recv_exact(sock, 8))
        cmd = recv_exact(sock, cmd_size)
        if total - 4 > cmd_size:
            recv_exact(sock, total - 4 - cmd_size)
        if cmd[:2] != b"\x08\x03":  # type = CONNECTED (3)
            raise RuntimeError(f"CONNECT answered with {cmd[:40]!r}")


def probe_pulsar_admin(url, cluster):
    with urllib.request.urlopen(url + "/admin/v2/clusters", timeout=TIMEOUT_S) as resp:
        clusters = json.load(resp)
    if cluster not in clusters:
        raise RuntimeError(f"cluster {cluster!r} not in {clusters!r}")
    with urllib.request.urlopen(url + "/admin/v2/namespaces/public", timeout=TIMEOUT_S) as resp:
        namespaces = json.load(resp)
    if "public/default" not in namespaces:
        raise RuntimeError(f"public/default not in {namespaces!r}")


def main(argv):
    try:
        kind = argv[1]
        if kind == "cql":
            probe_cql(argv[2], int(argv[3]))
        elif kind == "pulsar":
            probe_pulsar(argv[2], int(argv[3]))
        elif kind == "pulsar-admin":
            probe_pulsar_admin(argv[2], argv[3])
        else:
            print(f"probe.py: unknown probe {kind!r}", file=sys.stderr)
            return 2
    except IndexError:
        print(__doc__, file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
        print(f"probe {kind}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
