"""Runs one workload on Kaskada 0.6 (its embedded Rust engine) in this fresh process.

Kaskada 0.6 exposes no Fenl text interface; the queries are built with its Python API to
mean exactly what queries/<workload>.fenl says. Sources are keyed by user (grouping "user").
Inputs: the Parquet files (or with --input csv the CSV files), read with pyarrow and handed
to Kaskada as one Arrow batch per table, which is its fastest way in (its own Parquet
reader, --loader kaskada, took 6.9 s instead of 4.2 s for the 10M-event snapshot). The
result batches are written to <out> as Parquet. Prints one JSON line: time after imports
("query_seconds", includes loading the sources), row count, version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

started = time.perf_counter()
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pcsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import kaskada as kd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import BY_NAME, TABLE_FILES  # noqa: E402


# Declared schemas of the CSV files (inference would parse every file twice).
CSV_SCHEMAS = {
    "purchases": pa.schema([("time", pa.timestamp("us")), ("user", pa.string()),
                            ("amount", pa.float64()), ("item", pa.string())]),
    "page_views": pa.schema([("time", pa.timestamp("us")), ("user", pa.string()),
                             ("item", pa.string())]),
    "reviews": pa.schema([("time", pa.timestamp("us")), ("user", pa.string()),
                          ("item", pa.string()), ("rating", pa.int64())]),
}


async def load(data: Path, table: str, fmt: str, loader: str) -> kd.Timestream:
    stem = TABLE_FILES[table]
    path = (data / f"{stem}.{fmt}").resolve()
    schema = CSV_SCHEMAS[stem]
    if fmt == "parquet" and loader == "kaskada":
        return await kd.sources.Parquet.create(
            str(path), time_column="time", key_column="user", grouping_name="user")
    if fmt == "csv":
        # Times ("...Z") parsed as UTC and handed over without a zone: Kaskada 0.6 panics
        # on zoned timestamp batches.
        zoned = {f.name: (pa.timestamp("us", tz="UTC") if f.name == "time" else f.type)
                 for f in schema}
        content = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
            column_types=zoned, strings_can_be_null=True))
        content = content.set_column(0, "time", content.column("time").cast(
            schema.field("time").type))
    else:
        content = pq.read_table(path)
    # The table goes in as one batch, the way kd.sources.CsvString / Pandas feed Kaskada
    # Arrow data: Kaskada 0.6 prepares every added batch separately, so many small batches
    # (CSV blocks, Parquet row groups) cost it minutes at 10M events.
    source = kd.sources.CsvString(schema=content.schema, time_column="time",
                                  key_column="user", grouping_name="user")
    for batch in content.combine_chunks().to_batches():
        await source._ffi_table.add_pyarrow(batch)
    return source


async def build(name: str, data: Path, tables: tuple[str, ...], fmt: str,
                loader: str) -> kd.Timestream:
    src = {t: await load(data, t, fmt, loader) for t in tables}
    purchases = src["Purchases"]
    if name in ("agg_history", "agg_snapshot"):
        return kd.record({"sum_amount": purchases.col("amount").sum()})
    if name in ("windowed_history", "windowed_snapshot"):
        monthly = purchases.col("amount").sum(window=kd.windows.Since.monthly())
        return kd.record({"sum_amount": monthly}).filter(purchases.is_not_null())
    if name == "data_defined":
        views = src["PageViews"].count(window=kd.windows.Since(purchases.is_not_null()))
        views = views.filter(purchases.is_not_null())
        return kd.record({"mean_views": views.mean()})
    if name == "temporal_join":
        reviews = src["Reviews"]
        by_item = reviews.with_key(reviews.col("item"))
        average = by_item.col("rating").mean()
        return kd.record({"average_review": average.lookup(purchases.col("item"))})
    raise ValueError(name)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--workload", required=True, choices=sorted(BY_NAME))
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--input", choices=("parquet", "csv"), default="parquet")
    p.add_argument("--loader", choices=("arrow", "kaskada"), default="arrow",
                   help="arrow: read with pyarrow and add one Arrow batch (fastest); "
                        "kaskada: kd.sources.Parquet's own reader")
    a = p.parse_args()
    imported = time.perf_counter()

    w = BY_NAME[a.workload]
    kd.init_session()
    query = asyncio.run(build(w.name, a.data, w.tables, a.input, a.loader))
    results = kd.results.Snapshot() if w.results == "final" else kd.results.History()
    execution = query._execute(results)
    batches = execution.collect_pyarrow()
    table = pa.Table.from_batches(batches, schema=execution.schema())
    pq.write_table(table, a.out)
    done = time.perf_counter()
    print(json.dumps({"query_seconds": done - imported, "import_seconds": imported - started,
                      "rows": table.num_rows, "version": version("kaskada")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
