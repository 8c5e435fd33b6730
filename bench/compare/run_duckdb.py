"""Runs one workload on DuckDB in this (fresh) process; the harness measures the process.

Reads the Parquet inputs directly (read_parquet), evaluates queries/<workload>.sql and
writes the result with COPY ... TO <out> (Parquet). Prints one JSON line with the time
spent after interpreter start-up and imports ("query_seconds") and the row count.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

started = time.perf_counter()
import duckdb  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import BY_NAME, TABLE_FILES  # noqa: E402


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--workload", required=True, choices=sorted(BY_NAME))
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threads", type=int, default=0, help="0 = DuckDB's default (all cores)")
    a = p.parse_args()
    imported = time.perf_counter()

    w = BY_NAME[a.workload]
    sql = w.sql_path.read_text()
    for stem in TABLE_FILES.values():
        path = (a.data / f"{stem}.parquet").resolve()
        sql = sql.replace("{" + stem + "}", f"read_parquet({sql_literal(str(path))})")
    # Drop comment lines: COPY (<query>) needs a bare query.
    sql = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))

    con = duckdb.connect(":memory:")
    if a.threads:
        con.execute(f"SET threads = {a.threads}")
    con.execute(f"SET temp_directory = {sql_literal(str(a.out.parent / 'duckdb_tmp'))}")
    rows = con.execute(
        f"COPY ({sql}) TO {sql_literal(str(a.out))} (FORMAT parquet)").fetchone()[0]
    con.close()
    done = time.perf_counter()
    print(json.dumps({"query_seconds": done - imported, "import_seconds": imported - started,
                      "rows": rows, "version": duckdb.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
