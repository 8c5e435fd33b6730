"""Interop peer of tests/io/cql/table_store_itest.cc: the official Python driver reads rows
written by Tideline's CQL client, and writes rows that Tideline then reads.

  interop.py read  HOST PORT KEYSPACE TABLE     print every row, sorted by k
  interop.py write HOST PORT KEYSPACE TABLE N   insert rows k = 0..N-1 (formula below)

Table: (k int PRIMARY KEY, i int, b bigint, t text, ts timestamp, d double, f float,
bo boolean). Output lines are tab-separated and exact: k, i, b, t as UTF-8 hex, ts as ms since
the epoch, d and f as their IEEE bit patterns (f widened to double, as Python holds it), bo as
0/1; "N" for null. Run with scripts/services/venv-python.
"""
import datetime
import struct
import sys

from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args

EPOCH = datetime.datetime(1970, 1, 1)


def fmt(v, kind):
    if v is None:
        return "N"
    if kind == "t":
        return v.encode("utf-8").hex()
    if kind == "ts":
        if v.tzinfo is not None:
            v = v.replace(tzinfo=None)
        delta = v - EPOCH
        return str((delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000)
    if kind in ("d", "f"):
        return str(struct.unpack(">q", struct.pack(">d", v))[0])
    if kind == "bo":
        return "1" if v else "0"
    return str(v)


def python_row(k):
    # Must match python_row() in table_store_itest.cc.
    t = None if k % 5 == 0 else f"py-{k}-é"
    ts = EPOCH + datetime.timedelta(milliseconds=1600000000000 + k * 1001 - 5000000)
    d = None if k % 7 == 0 else k / 4.0 + 0.125
    return (k, k * 7 - 3, k * 1000003, t, ts, d, k * 0.5, k % 2 == 0)


def main():
    mode, host, port, ks, table = sys.argv[1:6]
    cluster = Cluster([host], port=int(port), protocol_version=4, connect_timeout=20)
    session = cluster.connect()
    try:
        if mode == "read":
            rows = session.execute(f'SELECT k, i, b, t, ts, d, f, bo FROM "{ks}"."{table}"')
            out = []
            for r in rows:
                out.append((r.k, "\t".join([fmt(r.k, "k"), fmt(r.i, "i"), fmt(r.b, "b"),
                                            fmt(r.t, "t"), fmt(r.ts, "ts"), fmt(r.d, "d"),
                                            fmt(r.f, "f"), fmt(r.bo, "bo")])))
            for _, line in sorted(out):
                print(line)
        elif mode == "write":
            n = int(sys.argv[6])
            insert = session.prepare(
                f'INSERT INTO "{ks}"."{table}" (k, i, b, t, ts, d, f, bo) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
            results = execute_concurrent_with_args(session, insert, [python_row(k) for k in range(n)],
                                                   concurrency=64, raise_on_first_error=True)
            failed = [r for r in results if not r.success]
            assert not failed, f"{len(failed)} inserts failed"
        else:
            raise SystemExit(f"unknown mode {mode}")
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
