#!/usr/bin/env python3
"""A/B timing of two Tideline binaries on the comparison workloads (same data, same run).

    python3 bench/compare/ab.py --a OLD_BINARY --b NEW_BINARY [--events N] [--repeat R]

Runs `tideline query` of every workload of workloads.py over the prepared .tlc files of the
harness's data cache (run bench/compare/run.sh once to create them), alternating A and B
R times, and prints the best wall time of each, the ratio A/B, and whether the two results
are byte-identical. Only the query process is timed (data generation and preparation are
not). Alternating makes both binaries see the same machine load.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from workloads import TABLE_FILES, WORKLOADS  # noqa: E402


def cmd(binary: str, w, data: Path) -> list[str]:
    c = [binary, "query", "--expr-file", str(w.fenl_path), "--format", "tlc"]
    for t in w.tables:
        c += ["--table", f"{t}={(data / f'{TABLE_FILES[t]}.tlc').resolve()},time=time,key=user,grouping=user"]
    if w.results == "final":
        c += ["--results", "final"]
    return c


def timed(c: list[str], out: Path) -> float:
    t0 = time.perf_counter()
    with open(out, "wb") as f:
        subprocess.run(c, stdout=f, check=True)
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="baseline binary")
    p.add_argument("--b", required=True, help="candidate binary")
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--data-dir", type=Path)
    args = p.parse_args()
    cache = Path(os.environ.get("TIDELINE_CACHE", Path.home() / ".cache" / "tideline"))
    data = args.data_dir or cache / "bench-data" / f"events{args.events}-seed42"
    if not all((data / f"{f}.tlc").exists() for f in TABLE_FILES.values()):
        print(f"ab: no prepared .tlc files in {data}; run bench/compare/run.sh --events {args.events} first",
              file=sys.stderr)
        return 2
    print(f"| workload | A best (s) | B best (s) | A/B | same result |")
    print("|---|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for w in WORKLOADS:
            ta, tb = [], []
            oa, ob = Path(tmp) / "a.tlc", Path(tmp) / "b.tlc"
            for _ in range(args.repeat):
                ta.append(timed(cmd(args.a, w, data), oa))
                tb.append(timed(cmd(args.b, w, data), ob))
            same = oa.read_bytes() == ob.read_bytes()
            print(f"| {w.name} | {min(ta):.3f} | {min(tb):.3f} | {min(ta) / min(tb):.2f} | {'yes' if same else 'NO'} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
