#!/usr/bin/env python3
"""Pulsar token authentication material for the secured test server; standard library only.

  token.py secret-key FILE              writes a new random 256-bit HMAC key (raw bytes, 0600)
  token.py create KEY_FILE ROLE [EXP]   prints a JWT (HS256) with subject ROLE signed with the
                                        key; EXP = expiry in seconds since the epoch (optional,
                                        may be in the past for tests of expired tokens)

The broker reads the key with tokenSecretKey=file://FILE and accepts tokens whose `sub` is the
role, as `pulsar tokens create --secret-key` makes them (docs/services.md, "Secured servers").
"""
import base64
import hashlib
import hmac
import json
import os
import sys


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def create(key, role, exp=None):
    header = {"alg": "HS256"}
    claims = {"sub": role}
    if exp is not None:
        claims["exp"] = int(exp)
    signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def main(argv):
    if len(argv) >= 3 and argv[1] == "secret-key":
        fd = os.open(argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
        return 0
    if len(argv) in (4, 5) and argv[1] == "create":
        with open(argv[2], "rb") as f:
            key = f.read()
        print(create(key, argv[3], argv[4] if len(argv) == 5 else None))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
