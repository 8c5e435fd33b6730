#!/usr/bin/env python3
"""Readiness probes for the test servers; standard library only (runs before the venv exists).

  probe.py cql HOST PORT [SECURE]    CQL native protocol v4: OPTIONS -> SUPPORTED, STARTUP -> READY
                                     (with --user: AUTHENTICATE -> PLAIN AUTH_RESPONSE -> AUTH_SUCCESS)
  probe.py cql-exec HOST PORT [SECURE] STATEMENT...|-  runs each statement (QUERY, consistency
                                     ONE); `-`: one statement per line on standard input
  probe.py pulsar HOST PORT [SECURE] Pulsar binary protocol: CONNECT -> CONNECTED
  probe.py pulsar-admin URL CLUSTER [SECURE]  admin REST: cluster listed and namespace
                                     public/default present
  probe.py pulsar-admin-call URL METHOD PATH [JSON] [SECURE]  one admin REST call, 2xx or 409

SECURE options (the secured profile, docs/services.md): --ca FILE (TLS, trusting that CA and
checking the host name), --cert FILE --key FILE (client certificate), --user NAME
--password-file FILE (CQL PLAIN authentication), --token-file FILE (Pulsar token). Secrets are
read from files so they never appear on a command line.

Exit status 0 when the server answered as a ready server does, 1 otherwise (reason on stderr).
"""
import json
import socket
import ssl
import struct
import sys
import urllib.error
import urllib.request

SECURE_FLAGS = ("--ca", "--cert", "--key", "--user", "--password-file", "--token-file")


def split_secure(args):
    """Positional arguments and the SECURE options (values read from files where secret)."""
    pos, opt = [], {}
    i = 0
    while i < len(args):
        if args[i] in SECURE_FLAGS:
            opt[args[i][2:]] = args[i + 1]
            i += 2
        else:
            pos.append(args[i])
            i += 1
    for key in ("password-file", "token-file"):
        if key in opt:
            with open(opt[key], encoding="utf-8") as f:
                opt[key] = f.read().strip()
    return pos, opt


def ssl_context(opt):
    if "ca" not in opt:
        return None
    ctx = ssl.create_default_context(cafile=opt["ca"])
    if "cert" in opt:
        ctx.load_cert_chain(opt["cert"], opt["key"])
    return ctx


def connect(host, port, opt):
    sock = socket.create_connection((host, port), timeout=TIMEOUT_S)
    ctx = ssl_context(opt)
    if ctx is None:
        return sock
    try:
        return ctx.wrap_socket(sock, server_hostname=host)
    except Exception:
        sock.close()
        raise

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


def cql_session(sock, opt):
    sock.sendall(cql_frame(0x05))  # OPTIONS
    _, opcode, body = cql_read(sock)
    if opcode != 0x06:  # SUPPORTED
        raise RuntimeError(f"OPTIONS answered with opcode 0x{opcode:02x}: {body[:200]!r}")
    sock.sendall(cql_frame(0x01, struct.pack(">H", 1) + cql_string("CQL_VERSION") + cql_string("3.0.0")))
    _, opcode, body = cql_read(sock)
    if opcode == 0x03 and "user" in opt:  # AUTHENTICATE: SASL PLAIN
        token = b"\0" + opt["user"].encode() + b"\0" + opt["password-file"].encode()
        sock.sendall(cql_frame(0x0F, struct.pack(">i", len(token)) + token))
        _, opcode, body = cql_read(sock)
        if opcode != 0x10:  # AUTH_SUCCESS
            raise RuntimeError(f"AUTH_RESPONSE answered with opcode 0x{opcode:02x}: {body[:200]!r}")
    elif opcode != 0x02 and not (opcode == 0x03 and "user" not in opt):  # READY (or AUTHENTICATE: ready)
        raise RuntimeError(f"STARTUP answered with opcode 0x{opcode:02x}: {body[:200]!r}")


def probe_cql(host, port, opt):
    with connect(host, port, opt) as sock:
        cql_session(sock, opt)


def cql_exec(host, port, opt, statements):
    with connect(host, port, opt) as sock:
        sock.settimeout(30)
        cql_session(sock, opt)
        for stmt in statements:
            raw = stmt.encode()
            # QUERY: [long string] query, consistency ONE, no flags.
            sock.sendall(cql_frame(0x07, struct.pack(">i", len(raw)) + raw + struct.pack(">HB", 1, 0)))
            _, opcode, body = cql_read(sock)
            if opcode != 0x08:  # RESULT
                raise RuntimeError(f"{stmt.split()[0]} ... answered with opcode 0x{opcode:02x}: {body[6:300]!r}")


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


def probe_pulsar(host, port, opt):
    # BaseCommand { type = CONNECT (2); connect = CommandConnect { client_version (1),
    # protocol_version (4), [auth_data (3), auth_method_name (5)] } }
    version = b"tideline-probe"
    body = b"\x0a" + varint(len(version)) + version + b"\x20" + varint(15)
    if "token-file" in opt:
        token = opt["token-file"].encode()
        body += b"\x1a" + varint(len(token)) + token + b"\x2a" + varint(5) + b"token"
    command = b"\x08\x02" + b"\x12" + varint(len(body)) + body
    frame = struct.pack(">II", 4 + len(command), len(command)) + command
    with connect(host, port, opt) as sock:
        sock.sendall(frame)
        total, cmd_size = struct.unpack(">II", recv_exact(sock, 8))
        cmd = recv_exact(sock, cmd_size)
        if total - 4 > cmd_size:
            recv_exact(sock, total - 4 - cmd_size)
        if cmd[:2] != b"\x08\x03":  # type = CONNECTED (3)
            raise RuntimeError(f"CONNECT answered with {cmd[:40]!r}")


def admin_request(url, opt, method="GET", data=None):
    req = urllib.request.Request(url, method=method, data=data)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if "token-file" in opt:
        req.add_header("Authorization", "Bearer " + opt["token-file"])
    return urllib.request.urlopen(req, timeout=TIMEOUT_S * 5, context=ssl_context(opt))


def probe_pulsar_admin(url, cluster, opt):
    with admin_request(url + "/admin/v2/clusters", opt) as resp:
        clusters = json.load(resp)
    if cluster not in clusters:
        raise RuntimeError(f"cluster {cluster!r} not in {clusters!r}")
    with admin_request(url + "/admin/v2/namespaces/public", opt) as resp:
        namespaces = json.load(resp)
    if "public/default" not in namespaces:
        raise RuntimeError(f"public/default not in {namespaces!r}")


def pulsar_admin_call(url, method, path, body, opt):
    try:
        with admin_request(url + path, opt, method, None if body is None else body.encode()):
            pass
    except urllib.error.HTTPError as e:
        if e.code != 409:  # exists already
            raise RuntimeError(f"{method} {path}: HTTP {e.code}: {e.read()[:300]!r}") from None


def main(argv):
    kind = argv[1] if len(argv) > 1 else "?"
    try:
        args, opt = split_secure(argv[2:])
        if kind == "cql":
            probe_cql(args[0], int(args[1]), opt)
        elif kind == "cql-exec":
            statements = args[2:]
            if statements == ["-"]:  # one per line on standard input (they may hold secrets)
                statements = [line for line in sys.stdin.read().splitlines() if line.strip()]
            cql_exec(args[0], int(args[1]), opt, statements)
        elif kind == "pulsar":
            probe_pulsar(args[0], int(args[1]), opt)
        elif kind == "pulsar-admin":
            probe_pulsar_admin(args[0], args[1], opt)
        elif kind == "pulsar-admin-call":
            pulsar_admin_call(args[0], args[1], args[2], args[3] if len(args) > 3 else None, opt)
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
