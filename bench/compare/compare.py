"""Loads an engine's result for the sampled users and compares two engines' results.

Every engine's output is normalised to rows (key, time_ns, value) restricted to the sample
of users: `time_ns` is the row time for history results and dropped for final results
(engines stamp snapshots differently: Fenl uses the last event time + 1 ns, SQL has none).
Values compare as numbers with a relative tolerance (engines sum and average in different
orders), nulls only equal nulls, and rows are matched per user in time order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

REL_TOL = 1e-9
ABS_TOL = 1e-9


@dataclass
class Result:
    """One engine's result restricted to the sampled users."""
    total_rows: int
    rows: pd.DataFrame  # columns: key (str), time_ns (int64, history only), value (float)
    columns: list[str] = field(default_factory=list)


def _time_to_ns(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if pa.types.is_timestamp(col.type):
        return col.cast(pa.timestamp("ns", tz=col.type.tz)).cast(pa.int64()).to_numpy(
            zero_copy_only=False)
    if pa.types.is_integer(col.type):
        return col.cast(pa.int64()).to_numpy(zero_copy_only=False)
    # RFC 3339 text (Tideline's CSV); pandas handles offsets and up to 9 fraction digits.
    parsed = pd.to_datetime(pd.Series(col.to_pylist(), dtype="object"), utc=True,
                            format="ISO8601")
    return parsed.astype("int64").to_numpy()


def _normalise(table: pa.Table, field_name: str, history: bool,
               sample: set[str]) -> Result:
    names = table.column_names
    missing = [c for c in ("_key", field_name) + (("_time",) if history else ())
               if c not in names]
    if missing:
        raise ValueError(f"output lacks column(s) {missing}; has {names}")
    total = table.num_rows
    keys = table.column("_key").cast(pa.string())
    mask = pc.is_in(keys, value_set=pa.array(sorted(sample), pa.string()))
    t = table.filter(mask)
    values = t.column(field_name)
    if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        values = values.cast(pa.float64())
    frame = {"key": t.column("_key").cast(pa.string()).to_pylist(),
             "value": values.cast(pa.float64()).to_numpy(zero_copy_only=False)}
    if history:
        frame["time_ns"] = _time_to_ns(t.column("_time"))
    df = pd.DataFrame(frame)
    df = df.sort_values(["key", "time_ns"] if history else ["key"], kind="stable")
    return Result(total, df.reset_index(drop=True), names)


def load_csv(path: Path, field_name: str, history: bool, sample: set[str]) -> Result:
    """Tideline's CSV output (header; `_time`, `_key`, then the record fields)."""
    opts = pcsv.ConvertOptions(column_types={"_key": pa.string(), "_time": pa.string()},
                               strings_can_be_null=False)
    table = pcsv.read_csv(path, convert_options=opts)
    return _normalise(table, field_name, history, sample)


def load_parquet(path: Path, field_name: str, history: bool, sample: set[str]) -> Result:
    return _normalise(pq.read_table(path), field_name, history, sample)


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= max(ABS_TOL, REL_TOL * max(abs(a), abs(b)))


def compare(ref: Result, other: Result, history: bool) -> tuple[bool, str]:
    """(agree, one-line explanation). Null is NaN on both sides."""
    if ref.total_rows != other.total_rows:
        return False, f"row count {other.total_rows} != {ref.total_rows}"
    a, b = ref.rows, other.rows
    if len(a) != len(b):
        return False, f"sampled rows {len(b)} != {len(a)}"
    if not (a["key"].to_numpy() == b["key"].to_numpy()).all():
        i = int(np.argmax(a["key"].to_numpy() != b["key"].to_numpy()))
        return False, f"row {i}: key {b['key'][i]!r} != {a['key'][i]!r}"
    if history:
        ta, tb = a["time_ns"].to_numpy(), b["time_ns"].to_numpy()
        if not (ta == tb).all():
            i = int(np.argmax(ta != tb))
            return False, (f"user {a['key'][i]}: time "
                           f"{pd.Timestamp(int(tb[i]), tz='UTC')} != "
                           f"{pd.Timestamp(int(ta[i]), tz='UTC')}")
    va, vb = a["value"].to_numpy(), b["value"].to_numpy()
    bad = [i for i in range(len(va)) if not _close(float(va[i]), float(vb[i]))]
    if bad:
        i = bad[0]
        where = f"user {a['key'][i]}"
        if history:
            where += f" at {pd.Timestamp(int(a['time_ns'][i]), tz='UTC')}"
        return False, (f"{len(bad)} of {len(va)} sampled values differ; first: {where}: "
                       f"{float(vb[i])!r} vs {float(va[i])!r}")
    users = a["key"].nunique()
    return True, f"{len(va)} rows of {users} sampled users match"
