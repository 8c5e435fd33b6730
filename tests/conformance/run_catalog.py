#!/usr/bin/env python3
"""Runs the Fenl conformance catalog (tests/conformance/catalog) against `tideline query`.

Usage: run_catalog.py --bin PATH/TO/tideline [--only PREFIX] [--quiet] [--timeout S] [CATALOG_DIR]

CATALOG_DIR defaults to the `catalog` folder next to this script. Every `*.json` file in it
is one case (format: tests/conformance/README.md). The runner writes the case's tables and
views to a scratch folder, runs

    BIN query --expr-file Q.fenl --format csv --table NAME=PATH,time=C,key=C[,subsort=C][,grouping=G]...
        [--view NAME=PATH]... [--results final] [--final-at TS] [--changed-since TS]

and judges the CSV on stdout against the case's `expected_csv` (see `compare_tables`).
A `kind: diagnostics` case instead expects a non-zero exit with a message on stderr.

Prints `ok NAME` / `FAIL NAME: why` per case (`--quiet`: failures only) and a final
`N passed, M failed` line. Exits 1 when any case fails, and also when the catalog folder
is missing, holds no cases, or `--only` selects none: missing data is a failure, never a skip.
"""
import argparse
import csv
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile

# Columns of the expected output that the runner never requires (they depend on the
# reference engine's internal row keys).
IGNORED_EXPECTED_COLUMNS = frozenset({"_subsort", "_key_hash"})

REL_TOL = 1e-9

_INTEGER = re.compile(r"[+-]?[0-9]+")
_INSTANT = re.compile(
    r"(?P<y>-?[0-9]{4,})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})[Tt ]"
    r"(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})(?:\.(?P<frac>[0-9]{1,9}))?"
    r"(?P<zone>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?")


class CaseError(Exception):
    """A case file that cannot be run (bad JSON or missing fields)."""


# ------------------------------------------------------------------------------------------
# Cell values


def _days_since_epoch(year, month, day):
    """Proleptic Gregorian day number (1970-01-01 = 0); works for any year."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _instant_ns(m):
    """Nanoseconds since the epoch (UTC) of a matched timestamp; no zone means UTC."""
    days = _days_since_epoch(int(m["y"]), int(m["mo"]), int(m["d"]))
    secs = days * 86400 + int(m["h"]) * 3600 + int(m["mi"]) * 60 + int(m["s"])
    zone = m["zone"]
    if zone and zone not in "Zz":
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + (int(digits[2:4]) * 60 if len(digits) > 2 else 0)
        secs -= offset if zone[0] == "+" else -offset
    return secs * 1_000_000_000 + int((m["frac"] or "0").ljust(9, "0"))


def cell_value(text):
    """Classifies one CSV cell as (kind, value); an empty cell is None (null)."""
    if text == "":
        return None
    m = _INSTANT.fullmatch(text)
    if m:
        return ("instant", _instant_ns(m))
    if _INTEGER.fullmatch(text):
        return ("int", int(text))
    lowered = text.lower()
    if lowered in ("true", "false"):
        return ("bool", lowered == "true")
    try:
        return ("float", float(text))
    except ValueError:
        return ("text", text)


def _as_float(v):
    return float(v[1])


def cells_equal(a, b):
    """Equality of two classified cells under the conformance rules."""
    if a is None or b is None:
        return a is None and b is None
    numeric = ("int", "float")
    if a[0] in numeric and b[0] in numeric:
        if a[0] == "int" and b[0] == "int":
            return a[1] == b[1]
        x, y = _as_float(a), _as_float(b)
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        if math.isinf(x) or math.isinf(y):
            return x == y
        return math.isclose(x, y, rel_tol=REL_TOL, abs_tol=0.0)
    return a[0] == b[0] and a[1] == b[1]


class Row:
    """One output row: the cells of the compared columns as text and as classified values."""

    def __init__(self, texts):
        self.texts = texts
        self.values = [cell_value(t) for t in texts]


def rows_equal(r, s):
    return all(cells_equal(a, b) for a, b in zip(r.values, s.values))


# ------------------------------------------------------------------------------------------
# Tables


def read_csv(text, what):
    """Header and rows of a CSV text; raises ValueError on ragged rows."""
    records = list(csv.reader(io.StringIO(text)))
    while records and not records[0]:
        records.pop(0)
    if not records:
        return None, []
    header = records[0]
    # A blank line is a row with one empty (null) cell in a one-column table; elsewhere skip it.
    rows = [r or [""] for r in records[1:] if r or len(header) == 1]
    for i, r in enumerate(rows, start=1):
        if len(r) != len(header):
            raise ValueError(f"{what}: data row {i} has {len(r)} cells, the header {len(header)}")
    return header, rows


def same_multiset(expected, actual):
    """True when the rows can be paired one to one (bipartite matching, since equality
    with a tolerance is not transitive)."""
    if len(expected) != len(actual):
        return False
    candidates = [[j for j, a in enumerate(actual) if rows_equal(e, a)] for e in expected]
    owner = [-1] * len(actual)

    def assign(i, seen):
        for j in candidates[i]:
            if j in seen:
                continue
            seen.add(j)
            if owner[j] < 0 or assign(owner[j], seen):
                owner[j] = i
                return True
        return False

    return all(assign(i, set()) for i in range(len(expected)))


def group_runs(rows, time_index):
    """Consecutive rows with equal time (as instants) form one run."""
    runs = []
    for r in rows:
        if runs and cells_equal(runs[-1][0].values[time_index], r.values[time_index]):
            runs[-1].append(r)
        else:
            runs.append([r])
    return runs


def _show(header, rows):
    lines = [",".join(header)]
    lines += [",".join(r.texts) for r in rows]
    return "\n    ".join(lines)


def compare_tables(expected_text, actual_text):
    """Returns None when the actual CSV satisfies the expected one, else the reason."""
    try:
        exp_header, exp_rows = read_csv(expected_text, "expected CSV")
        act_header, act_rows = read_csv(actual_text, "output")
    except ValueError as e:
        return str(e)
    if exp_header is None:
        return None if not act_rows else f"expected no rows, got {len(act_rows)}"
    if act_header is None:
        return "no output (not even a header)"
    columns = [c for c in exp_header if c not in IGNORED_EXPECTED_COLUMNS]
    missing = [c for c in columns if c not in act_header]
    if missing:
        return f"missing columns {missing}; output header is {act_header}"
    unexpected = [c for c in act_header if c not in exp_header and not c.startswith("_")]
    if unexpected:
        return f"unexpected columns {unexpected} (extra columns must start with '_')"

    exp_pos = [exp_header.index(c) for c in columns]
    act_pos = [act_header.index(c) for c in columns]
    expected = [Row([r[i] for i in exp_pos]) for r in exp_rows]
    actual = [Row([r[i] for i in act_pos]) for r in act_rows]

    time_col = "_time" if "_time" in columns else ("time" if "time" in columns else None)
    if time_col is None:
        if same_multiset(expected, actual):
            return None
        return (f"rows differ as a multiset (expected {len(expected)}, got {len(actual)})\n"
                f"  expected:\n    {_show(columns, expected)}\n  actual:\n    {_show(columns, actual)}")

    t = columns.index(time_col)
    exp_runs, act_runs = group_runs(expected, t), group_runs(actual, t)
    for n, (e, a) in enumerate(zip(exp_runs, act_runs), start=1):
        if not cells_equal(e[0].values[t], a[0].values[t]) or not same_multiset(e, a):
            return (f"run {n} of rows with equal {time_col} differs "
                    f"({len(exp_runs)} runs expected, {len(act_runs)} produced)\n"
                    f"  expected:\n    {_show(columns, e)}\n  actual:\n    {_show(columns, a)}")
    if len(exp_runs) != len(act_runs):
        extra = act_runs[len(exp_runs):] or exp_runs[len(act_runs):]
        who = "output has" if len(act_runs) > len(exp_runs) else "output lacks"
        return (f"{who} {len(extra)} run(s) of rows at the end "
                f"({len(exp_runs)} expected, {len(act_runs)} produced), first:\n"
                f"    {_show(columns, extra[0])}")
    return None


# ------------------------------------------------------------------------------------------
# Cases


def load_case(path):
    try:
        with open(path, encoding="utf-8") as f:
            case = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise CaseError(f"cannot read case: {e}")
    required = ["name", "expression", "tables"]
    if case.get("kind", "csv") != "diagnostics":
        required.append("expected_csv")
    absent = [k for k in required if k not in case]
    if absent:
        raise CaseError(f"case lacks {absent}")
    return case


def query_command(case, binary, scratch):
    def write(name, text):
        p = os.path.join(scratch, name)
        with open(p, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return p

    cmd = [binary, "query", "--expr-file", write("query.fenl", case["expression"]),
           "--format", "csv"]
    for n, table in enumerate(case["tables"]):
        path = write(f"t{n}_{table['name']}.csv", table["csv"])
        spec = [f"{table['name']}={path}", f"time={table['time_column']}",
                f"key={table['key_column']}"]
        if table.get("subsort_column"):
            spec.append(f"subsort={table['subsort_column']}")
        if table.get("grouping"):
            spec.append(f"grouping={table['grouping']}")
        cmd += ["--table", ",".join(spec)]
    for n, view in enumerate(case.get("formulas") or []):
        cmd += ["--view", f"{view['name']}={write(f'v{n}.fenl', view['expression'])}"]
    if case.get("results", "history") == "final":
        cmd += ["--results", "final"]
    if case.get("final_at"):
        cmd += ["--final-at", case["final_at"]]
    if case.get("changed_since"):
        cmd += ["--changed-since", case["changed_since"]]
    return cmd


def run_case(case, binary, timeout):
    """Returns None when the case passes, else why it failed."""
    with tempfile.TemporaryDirectory(prefix="tideline-conf-") as scratch:
        cmd = query_command(case, binary, scratch)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f"no answer within {timeout:g}s"
        except OSError as e:
            return f"cannot run {binary}: {e}"
    stderr = proc.stderr.strip()
    if case.get("kind") == "diagnostics":
        if proc.returncode == 0:
            return "expected a compile error, but the query succeeded"
        if not stderr:
            return f"exit {proc.returncode} without a diagnostic on stderr"
        return None
    if proc.returncode != 0:
        return f"exit {proc.returncode}: {stderr[:500]}"
    return compare_tables(case["expected_csv"], proc.stdout)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Run the Fenl conformance catalog.")
    ap.add_argument("--bin", required=True, help="the tideline binary")
    ap.add_argument("--only", default="", metavar="PREFIX",
                    help="run only cases whose name starts with PREFIX (e.g. 'sum/')")
    ap.add_argument("--quiet", action="store_true", help="print failures only")
    ap.add_argument("--timeout", type=float, default=60, help="seconds per case")
    ap.add_argument("catalog", nargs="?", default=os.path.join(here, "catalog"))
    args = ap.parse_args()

    if not os.path.isdir(args.catalog):
        print(f"error: catalog folder {args.catalog} does not exist", file=sys.stderr)
        return 1
    files = sorted(f for f in os.listdir(args.catalog) if f.endswith(".json"))
    if not files:
        print(f"error: catalog folder {args.catalog} holds no *.json cases", file=sys.stderr)
        return 1
    if not os.access(args.bin, os.X_OK):
        print(f"error: {args.bin} is not an executable", file=sys.stderr)
        return 1

    passed = failed = 0
    for name in files:
        try:
            case = load_case(os.path.join(args.catalog, name))
            label = case["name"]
            if not label.startswith(args.only):
                continue
            why = run_case(case, args.bin, args.timeout)
        except CaseError as e:
            label, why = name, str(e)
            if args.only and not name.startswith(args.only):
                continue
        if why is None:
            passed += 1
            if not args.quiet:
                print(f"ok   {label}")
        else:
            failed += 1
            print(f"FAIL {label}: {why}")
    if passed + failed == 0:
        print(f"error: no case name starts with '{args.only}'", file=sys.stderr)
        return 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
