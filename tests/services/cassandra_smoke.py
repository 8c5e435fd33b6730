"""Smoke test of the test Cassandra using only the official Python driver (the reference peer):
create a keyspace and a table, write 1,000 rows, read them back and compare every value.

Run with the venv's python (scripts/services/venv-python); the server comes from the CTest
fixture cassandra_server or from scripts/services/cassandra.sh start.
Environment: TIDELINE_CASSANDRA_PORT (default 9042).
"""
import datetime
import os
import sys
import time
import uuid

from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args

ROWS = 1000


def main():
    port = int(os.environ.get("TIDELINE_CASSANDRA_PORT", "9042"))
    t0 = time.monotonic()
    cluster = Cluster(["127.0.0.1"], port=port, protocol_version=5, connect_timeout=10)
    session = cluster.connect()
    # A keyspace of its own: other tests may share the server at the same time.
    keyspace = "smoke_" + uuid.uuid4().hex[:12]
    session.execute(
        f"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
    )
    try:
        session.set_keyspace(keyspace)
        session.execute(
            "CREATE TABLE events (entity text, seq int, amount double, label text, at timestamp, "
            "PRIMARY KEY ((entity), seq))"
        )
        base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
        rows = [
            (f"e{i % 37}", i, i * 0.25 - 100.0, None if i % 10 == 0 else f"label-{i}",
             base + datetime.timedelta(milliseconds=i * 1500))
            for i in range(ROWS)
        ]
        insert = session.prepare("INSERT INTO events (entity, seq, amount, label, at) VALUES (?, ?, ?, ?, ?)")
        results = execute_concurrent_with_args(session, insert, rows, concurrency=64, raise_on_first_error=True)
        failed = [r for r in results if not r.success]
        assert not failed, f"{len(failed)} inserts failed: {failed[0].result_or_exc!r}"

        count = session.execute("SELECT count(*) FROM events").one()[0]
        assert count == ROWS, f"count(*) = {count}, expected {ROWS}"

        got = {}
        for r in session.execute("SELECT entity, seq, amount, label, at FROM events"):
            got[r.seq] = (r.entity, r.seq, r.amount, r.label, r.at.replace(tzinfo=datetime.timezone.utc))
        assert len(got) == ROWS, f"read back {len(got)} rows, expected {ROWS}"
        for want in rows:
            assert got[want[1]] == want, f"row {want[1]}: read {got[want[1]]!r}, wrote {want!r}"

        # Clustering order within one partition is the order of seq.
        seqs = [r.seq for r in session.execute("SELECT seq FROM events WHERE entity = 'e5'")]
        assert seqs == sorted(seqs) and len(seqs) == len([i for i in range(ROWS) if i % 37 == 5])
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        cluster.shutdown()
    print(f"cassandra smoke: wrote and read back {ROWS} rows in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
