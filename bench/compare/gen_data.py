"""Deterministic data for the comparison benchmark.

The shape follows the data of Kaskada's own SQL benchmark (benchmarks/sql-benchmark in
kaskada-ai/kaskada): three event tables keyed by user,

    purchases   time, user, amount, item      (amount uniform in [5, 500], 2 decimals)
    page_views  time, user, item
    reviews     time, user, item, rating      (rating uniform in 1..5)

with users and items random UUID strings and times uniform over 2022. Kaskada's script
drew 10000 / 5000 / 2500 rows of the three tables; `--events N` keeps that 4:2:1 split.

Two deliberate refinements keep the engines comparable row for row:
  * times are unique across all tables (microsecond resolution), so no engine has to break
    ties between tables (Fenl orders equal-time rows of different files by an internal,
    content-dependent subsort, SQL has no such order at all);
  * no event lies exactly on a month boundary, where Fenl's `since(monthly())` window
    (inclusive end) and SQL's `date_trunc('month', ...)` bucket (inclusive start) differ.

Output (in one directory): <table>.csv (RFC 3339 UTC times, for Tideline), <table>.parquet
(timestamp[us], for the baselines), sample_users.txt (the entities whose results are
checked) and meta.json. The same (events, seed, users, items) always gives identical files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

GENERATOR_VERSION = 2
TABLES = ("purchases", "page_views", "reviews")
SPLIT = (4, 2, 1)  # purchases : page_views : reviews, as in Kaskada's benchmark README
YEAR_START_US = 1640995200 * 1_000_000  # 2022-01-01T00:00:00Z
YEAR_END_US = 1672531200 * 1_000_000  # 2023-01-01T00:00:00Z
SAMPLE_USERS = 200


def default_users(events: int) -> int:
    return max(100, events // 100)


def default_items(events: int) -> int:
    return max(100, events // 1000)


def table_counts(events: int) -> dict[str, int]:
    total = sum(SPLIT)
    purchases = events * SPLIT[0] // total
    page_views = events * SPLIT[1] // total
    return {"purchases": purchases, "page_views": page_views,
            "reviews": events - purchases - page_views}


def _uuid_strings(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    return [str(uuid.UUID(bytes=bytes(row), version=4)) for row in raw]


def _month_starts_us() -> np.ndarray:
    starts = np.arange("2022-01", "2023-02", dtype="datetime64[M]")
    return starts.astype("datetime64[us]").astype(np.int64)


def _unique_times(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.sort(rng.integers(YEAR_START_US, YEAR_END_US - n, size=n, dtype=np.int64))
    boundaries = _month_starts_us()
    for _ in range(8):
        t[np.isin(t, boundaries)] += 1
        idx = np.arange(n, dtype=np.int64)
        t = np.maximum.accumulate(t - idx) + idx  # strictly increasing, minimal shifts
        if not np.isin(t, boundaries).any():
            return t
    raise RuntimeError("could not move times off month boundaries")


def generate(out_dir: Path, events: int, seed: int, users: int | None = None,
             items: int | None = None, quiet: bool = False) -> dict:
    """Writes the data set into out_dir unless an identical one is already there."""
    users = users or default_users(events)
    items = items or default_items(events)
    counts = table_counts(events)
    want = {"generator_version": GENERATOR_VERSION, "events": events, "seed": seed,
            "users": users, "items": items, "counts": counts}
    meta_path = out_dir / "meta.json"
    if meta_path.exists():
        try:
            have = json.loads(meta_path.read_text())
        except ValueError:
            have = {}
        if {k: have.get(k) for k in want} == want and all(
                (out_dir / f"{t}.{ext}").exists() for t in TABLES for ext in ("csv", "parquet")):
            return have

    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    if meta_path.exists():
        meta_path.unlink()
    rng = np.random.default_rng(seed)
    user_ids = pa.array(_uuid_strings(rng, users), pa.string())
    item_ids = pa.array(_uuid_strings(rng, items), pa.string())

    times = _unique_times(rng, events)
    labels = np.repeat(np.arange(3, dtype=np.int8), [counts[t] for t in TABLES])
    rng.shuffle(labels)

    for code, name in enumerate(TABLES):
        t_us = times[labels == code]
        n = len(t_us)
        ts = pa.array(t_us, pa.timestamp("us"))
        cols = {
            "time": ts,
            "user": user_ids.take(pa.array(rng.integers(0, users, size=n))),
        }
        if name == "purchases":
            cols["amount"] = pa.array(np.round(rng.uniform(5.0, 500.0, size=n), 2))
        cols["item"] = item_ids.take(pa.array(rng.integers(0, items, size=n)))
        if name == "reviews":
            cols["rating"] = pa.array(rng.integers(1, 6, size=n, dtype=np.int64))
        table = pa.table(cols)
        pq.write_table(table, out_dir / f"{name}.parquet")
        csv_table = table.set_column(
            0, "time", pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ"))
        # Plain RFC 4180 without quotes (no value holds a comma or a quote).
        with open(out_dir / f"{name}.csv", "wb") as f:
            f.write((",".join(csv_table.column_names) + "\n").encode())
            pcsv.write_csv(csv_table, f, pcsv.WriteOptions(
                include_header=False, quoting_style="none", batch_size=65536))
        if not quiet:
            print(f"gen_data: {name}: {n} rows", file=sys.stderr)

    sample_rng = np.random.default_rng(seed + 1)
    pick = np.sort(sample_rng.choice(users, size=min(SAMPLE_USERS, users), replace=False))
    sample = [user_ids[int(i)].as_py() for i in pick]
    (out_dir / "sample_users.txt").write_text("\n".join(sample) + "\n")

    meta = dict(want)
    meta["seconds"] = round(time.perf_counter() - started, 2)
    meta["bytes"] = {f"{t}.{ext}": os.path.getsize(out_dir / f"{t}.{ext}")
                     for t in TABLES for ext in ("csv", "parquet")}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--users", type=int)
    p.add_argument("--items", type=int)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    meta = generate(a.out, a.events, a.seed, a.users, a.items)
    print(json.dumps(meta, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
