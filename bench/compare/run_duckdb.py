"""Runs one workload on DuckDB in this (fresh) process; the harness measures the process.

Reads the Parquet inputs directly (read_parquet; or the CSV files with --input csv), evaluates queries/<workload>.sql and
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


# Declared, not sniffed, so every run reads the same types (the time column's trailing Z
# would otherwise make it TIMESTAMP WITH TIME ZONE).
CSV_COLUMNS = {
    "purchases": (("time", "TIMESTAMP"), ("user", "VARCHAR"), ("amount", "DOUBLE"),
                  ("item", "VARCHAR")),
    "page_views": (("time", "TIMESTAMP"), ("user", "VARCHAR"), ("item", "VARCHAR")),
    "reviews": (("time", "TIMESTAMP"), ("user", "VARCHAR"), ("item", "VARCHAR"),
                ("rating", "BIGINT")),
}


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--workload", required=True, choices=sorted(BY_NAME))
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threads", type=int, default=0, help="0 = DuckDB's default (all cores)")
    p.add_argument("--input", choices=("parquet", "csv"), default="parquet")
    a = p.parse_args()
    imported = time.perf_counter()

    w = BY_NAME[a.workload]
    sql = w.sql_path.read_text()
    for stem in TABLE_FILES.values():
        path = (a.data / f"{stem}.{a.input}").resolve()
        if a.input == "parquet":
            source = f"read_parquet({sql_literal(str(path))})"
        else:
            columns = ", ".join(f"{sql_literal(c)}: {sql_literal(t)}"
                                for c, t in CSV_COLUMNS[stem])
            source = f"read_csv({sql_literal(str(path))}, header = true, columns = {{{columns}}})"
        sql = sql.replace("{" + stem + "}", source)
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
