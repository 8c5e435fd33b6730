"""Side-by-side benchmark of Tideline, Kaskada and DuckDB on Kaskada's SQL-benchmark workloads.

Run through bench/compare/run.sh (which prepares the Python environment). For every size:
generate (or reuse) the data, run each workload on each engine in a fresh process (wall
time and peak RSS of that process via wait4), check every engine's answer against
Tideline's on a fixed sample of users, and write results/<timestamp>/{report.md,
chart.png, raw.json}. `--update-benchmarks` also rewrites BENCHMARKS.md at the repo root.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import compare  # noqa: E402
import gen_data  # noqa: E402
import report  # noqa: E402
import tlc  # noqa: E402
from workloads import BY_NAME, TABLE_FILES, WORKLOADS  # noqa: E402

ENGINES = ("tideline", "kaskada", "duckdb")
DEFAULT_SIZES = (1_000_000, 10_000_000)


def cache_dir() -> Path:
    return Path(os.environ.get("TIDELINE_CACHE", Path.home() / ".cache" / "tideline"))


def parse_size(text: str) -> int:
    t = text.strip().lower().replace("_", "")
    mult = 1
    if t.endswith("m"):
        t, mult = t[:-1], 1_000_000
    elif t.endswith("k"):
        t, mult = t[:-1], 1_000
    return int(float(t) * mult)


# ---------------------------------------------------------------------------------------
# Process measurement


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else ""


class Measured:
    def __init__(self, rc: int | None, wall: float, peak_rss_mb: float, timed_out: bool,
                 stdout: str, stderr: str, cpu_s: float):
        self.rc, self.wall, self.peak_rss_mb, self.cpu_s = rc, wall, peak_rss_mb, cpu_s
        self.timed_out, self.stdout, self.stderr = timed_out, stdout, stderr


def run_measured(cmd: list[str], stdout_path: Path | None, err_path: Path, timeout: float,
                 cwd: Path | None = None) -> Measured:
    """Runs cmd in its own process group; wall time and the peak RSS of that process tree.
    stdout goes to stdout_path, or is captured when that is None.

    Peak RSS comes from /usr/bin/time (GNU time's %M, ru_maxrss of the command it forks).
    ru_maxrss of a process forked straight from this harness would be useless: Linux
    carries the parent's high-water RSS across fork and exec, so every engine would show at
    least the harness's own ~200 MB of pandas and pyarrow. Without GNU time the harness
    falls back to its own wait4 figure (an over-estimate)."""
    rss_path = err_path.with_suffix(".rss")
    launcher = ([GNU_TIME, "-f", "%M %U %S", "-o", str(rss_path)] if GNU_TIME else [])
    out_f = open(stdout_path, "wb") if stdout_path else subprocess.PIPE
    with open(err_path, "wb") as err_f:
        started = time.perf_counter()
        proc = subprocess.Popen(launcher + cmd, stdout=out_f, stderr=err_f, cwd=cwd,
                                start_new_session=True)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        captured = b""
        if out_f is subprocess.PIPE:
            captured = proc.stdout.read()  # type: ignore[union-attr]
            proc.stdout.close()  # type: ignore[union-attr]
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted harness: do not leave the engine running
            kill()
            os.wait4(proc.pid, 0)
            raise
        wall = time.perf_counter() - started
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    if stdout_path:
        out_f.close()  # type: ignore[union-attr]
    stderr = err_path.read_text(errors="replace")
    err_path.unlink(missing_ok=True)
    peak_kb = float(usage.ru_maxrss)
    cpu = usage.ru_utime + usage.ru_stime
    if GNU_TIME:
        try:
            # The last line holds "%M %U %S"; earlier ones may say "Command exited with".
            kb, user, system = rss_path.read_text().strip().splitlines()[-1].split()
            peak_kb, cpu = float(kb), float(user) + float(system)
        except (OSError, ValueError, IndexError):
            pass
        rss_path.unlink(missing_ok=True)
    return Measured(proc.returncode, wall, peak_kb / 1024.0, timed_out.is_set(),
                    captured.decode(errors="replace"), stderr, cpu)


def tail(text: str, lines: int = 12, chars: int = 1500) -> str:
    t = "\n".join(text.strip().splitlines()[-lines:])
    return t[-chars:]


# ---------------------------------------------------------------------------------------
# Engines


def tideline_cmd(binary: Path, w, data: Path, io: str = "tlc") -> list[str]:
    """`io` = "tlc": read the prepared .tlc files (tideline prepare, like the baselines'
    Parquet) and write the result as .tlc; "csv": CSV in and out."""
    cmd = [str(binary), "query", "--expr-file", str(w.fenl_path), "--format", io]
    for t in w.tables:
        path = (data / f"{TABLE_FILES[t]}.{io}").resolve()
        cmd += ["--table", f"{t}={path},time=time,key=user,grouping=user"]
    if w.results == "final":
        cmd += ["--results", "final"]
    return cmd


def run_engine(engine: str, w, data: Path, out_dir: Path, args) -> dict:
    """One measured run; returns a record with status ok/failed/timeout/unavailable."""
    # The machine is shared; the 1-minute load average before the run tells whether other
    # work (e.g. builds) competed for the two cores.
    rec: dict = {"engine": engine, "workload": w.name, "load_avg_1m": os.getloadavg()[0]}
    if engine == "tideline":
        if not args.tideline_bin:
            return rec | {"status": "unavailable", "error": args.tideline_missing}
        out = out_dir / f"{w.name}.tideline.{args.tideline_io}"
        cmd = tideline_cmd(args.tideline_bin, w, data, args.tideline_io)
        m = run_measured(cmd, out, out_dir / f"{w.name}.{engine}.stderr", args.timeout)
        rec["command"] = shlex.join(cmd)
    else:
        if engine in args.unavailable:
            return rec | {"status": "unavailable", "error": args.unavailable[engine]}
        out = out_dir / f"{w.name}.{engine}.parquet"
        script = HERE / f"run_{engine}.py"
        cmd = [sys.executable, str(script), "--workload", w.name, "--data", str(data),
               "--out", str(out), "--input", args.baseline_input]
        m = run_measured(cmd, None, out_dir / f"{w.name}.{engine}.stderr", args.timeout)
    rec.update(wall_s=m.wall, cpu_s=m.cpu_s, peak_rss_mb=m.peak_rss_mb, output=str(out))
    if m.timed_out:
        return rec | {"status": "timeout", "error": f"killed after {args.timeout:.0f} s"}
    if m.rc != 0:
        return rec | {"status": "failed",
                      "error": f"exit {m.rc}: {tail(m.stderr) or '(no stderr)'}"}
    if engine == "tideline":
        rec["engine_s"] = m.wall
    else:
        try:
            info = json.loads(m.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return rec | {"status": "failed", "error": f"no timing line: {tail(m.stdout)}"}
        rec["engine_s"] = info["query_seconds"]
        rec["rows"] = info.get("rows")
    return rec | {"status": "ok"}


def best_of(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["status"] == "ok"]
    if not ok:
        return runs[-1]
    best = min(ok, key=lambda r: r["engine_s"])
    best = dict(best)
    best["runs_engine_s"] = [r["engine_s"] for r in ok]
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
    return best


# ---------------------------------------------------------------------------------------
# Checking


def check_results(w, recs: dict[str, dict], sample: set[str]) -> None:
    """Adds rec['check'] = {status, detail, reference} to every engine that ran.

    Reference is Tideline when it produced a result; otherwise the first baseline that did
    (so the harness still cross-checks Kaskada against DuckDB). A speed-up only counts
    when both sides agree."""
    history = w.results == "history"
    loaded: dict[str, compare.Result] = {}
    for eng, rec in recs.items():
        if rec["status"] != "ok":
            continue
        path = Path(rec["output"])
        try:
            if eng == "tideline" and path.suffix == ".tlc":
                loaded[eng] = compare._normalise(tlc.read_tlc(path), w.field, history, sample)
            elif eng == "tideline":
                loaded[eng] = compare.load_csv(path, w.field, history, sample)
            else:
                loaded[eng] = compare.load_parquet(path, w.field, history, sample)
            rec["rows"] = loaded[eng].total_rows
        except Exception as e:  # unreadable output is a wrong answer, not a crash
            rec["check"] = {"status": "unreadable", "detail": f"{type(e).__name__}: {e}"}
    ref = next((e for e in ENGINES if e in loaded), None)
    for eng, rec in recs.items():
        if eng not in loaded:
            continue
        if eng == ref:
            rec["check"] = {"status": "reference", "detail": "reference answer",
                            "reference": ref}
            continue
        same, detail = compare.compare(loaded[ref], loaded[eng], history)
        rec["check"] = {"status": "match" if same else "mismatch", "detail": detail,
                        "reference": ref}
    if ref and ref != "tideline":
        return
    # The reference is only trusted if some other engine agrees with it.
    if ref == "tideline" and "check" in recs["tideline"]:
        agree = [e for e in loaded if e != ref and recs[e]["check"]["status"] == "match"]
        others = [e for e in loaded if e != ref]
        if others and not agree:
            detail = "no other engine agrees with Tideline's answer"
            if len(others) == 2:
                same, _ = compare.compare(loaded[others[0]], loaded[others[1]], history)
                detail += (f"; {others[0]} and {others[1]} "
                           + ("agree with each other" if same else "differ from each other"))
            recs["tideline"]["check"] = {"status": "unconfirmed", "detail": detail,
                                         "reference": ref}
        elif agree:
            recs["tideline"]["check"]["detail"] = "agrees with " + ", ".join(agree)


# ---------------------------------------------------------------------------------------
# Environment facts


def sh(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"') + f" (kernel {platform.release()})"
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_gb, 1),
            "os": os_name, "python": platform.python_version(),
            "load_avg_at_start": os.getloadavg()}


def versions(args) -> dict:
    v: dict = {}
    for mod in ("kaskada", "duckdb", "pyarrow", "pandas", "matplotlib"):
        try:
            from importlib.metadata import version
            v[mod] = version(mod)
        except Exception:
            v[mod] = "not installed"
    commit = sh(["git", "rev-parse", "--short", "HEAD"], ROOT)
    dirty = sh(["git", "status", "--porcelain", "--", "src", "CMakeLists.txt", "cmake"], ROOT)
    v["tideline"] = f"git {commit}" + (" (+ uncommitted changes)" if dirty else "")
    if args.tideline_bin:
        built = dt.datetime.fromtimestamp(args.tideline_bin.stat().st_mtime, dt.timezone.utc)
        shown = args.tideline_bin
        if shown.is_relative_to(ROOT):
            shown = shown.relative_to(ROOT)
        v["tideline_binary"] = f"{shown} (built {built:%Y-%m-%d %H:%M} UTC)"
    v["compiler"] = sh(["c++", "--version"]).splitlines()[0] if sh(["c++", "--version"]) else ""
    return v


# ---------------------------------------------------------------------------------------
# Tideline binary


def find_tideline(args) -> None:
    args.tideline_bin, args.tideline_missing = None, ""
    if args.tideline:
        p = Path(args.tideline)
        if p.is_file() and os.access(p, os.X_OK):
            args.tideline_bin = p.resolve()
        else:
            args.tideline_missing = f"--tideline {p}: not an executable file"
        return
    build_dir = ROOT / "build-release"
    build_log = ""
    if not args.no_build:
        print("harness: building tideline (scripts/build.sh release tideline) ...",
              file=sys.stderr)
        r = subprocess.run([str(ROOT / "scripts" / "build.sh"), "release", "tideline"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            build_log = tail(r.stdout + r.stderr, 8)
            print(f"harness: build failed:\n{build_log}", file=sys.stderr)
    for cand in (build_dir / "tideline", build_dir / "src" / "tideline",
                 build_dir / "bin" / "tideline"):
        if cand.is_file() and os.access(cand, os.X_OK):
            args.tideline_bin = cand
            if build_log:
                args.tideline_build_note = ("release build failed; using the previous binary: "
                                            + build_log)
            return
    args.tideline_missing = ("no release binary in build-release/"
                             + (f"; build failed: {build_log}" if build_log else ""))


def probe_baselines(args) -> None:
    """Marks a baseline unavailable (with the reason) when its package does not import."""
    args.unavailable = {}
    for eng, mod in (("kaskada", "kaskada"), ("duckdb", "duckdb")):
        r = subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            args.unavailable[eng] = f"import {mod} failed: {tail(r.stderr, 1)}"


# ---------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", action="append",
                   help="total events per data set (e.g. 1000000, 10m, 100k); repeatable "
                        "or comma-separated; default 1m and 10m")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--workloads", default=",".join(w.name for w in WORKLOADS))
    p.add_argument("--repeat", type=int, default=3,
                   help="runs per engine and workload; the fastest counts (default 3: the "
                        "machine is shared, single runs are noisy)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per engine run")
    p.add_argument("--baseline-input", choices=("parquet", "csv"), default="parquet",
                   help="what Kaskada and DuckDB read")
    p.add_argument("--tideline-io", choices=("tlc", "csv"), default="tlc",
                   help="Tideline reads .tlc files prepared from the CSV (untimed, like the "
                        "baselines' Parquet) and writes .tlc (default), or CSV in and out")
    p.add_argument("--tideline", help="tideline binary (default: build-release/, built first)")
    p.add_argument("--no-build", action="store_true", help="do not build tideline first")
    p.add_argument("--data-dir", type=Path, help="data cache (default $TIDELINE_CACHE/bench-data)")
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    p.add_argument("--keep-outputs", action="store_true", help="keep engine result files")
    p.add_argument("--update-benchmarks", action="store_true",
                   help="rewrite BENCHMARKS.md (and bench/compare/chart.png) from this run")
    args = p.parse_args()

    sizes = [parse_size(s) for item in (args.events or []) for s in item.split(",") if s]
    sizes = sizes or list(DEFAULT_SIZES)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in ENGINES:
            p.error(f"unknown engine {e!r}; choose from {', '.join(ENGINES)}")
    workloads = []
    for name in args.workloads.split(","):
        if name.strip() not in BY_NAME:
            p.error(f"unknown workload {name!r}; choose from {', '.join(BY_NAME)}")
        workloads.append(BY_NAME[name.strip()])

    started = dt.datetime.now(dt.timezone.utc)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    run_dir = args.results_dir / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    data_root = args.data_dir or cache_dir() / "bench-data"

    args.tideline_build_note = ""
    if "tideline" in engines:
        find_tideline(args)
    else:
        args.tideline_bin, args.tideline_missing = None, "not selected"
    probe_baselines(args)

    raw: dict = {
        "started_utc": started.isoformat(timespec="seconds"),
        "command": "bench/compare/run.sh " + shlex.join(sys.argv[1:]),
        "machine": machine_info(), "versions": versions(args),
        "engines": engines, "seed": args.seed, "repeat": args.repeat,
        "baseline_input": args.baseline_input, "tideline_io": args.tideline_io,
        "tideline_note": args.tideline_build_note or args.tideline_missing,
        "unavailable": args.unavailable, "sizes": [],
    }

    def on_term(signum, frame):  # SIGTERM cleans up like Ctrl-C
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        run_sizes(args, sizes, engines, workloads, data_root, run_dir, raw)
    except KeyboardInterrupt:
        done = (run_dir / "raw.json").exists()
        print("harness: interrupted" + ("; completed sizes are in " + str(run_dir / "raw.json")
                                        if done else ""), file=sys.stderr)
        return 130
    finally:
        if not args.keep_outputs:  # engine outputs are large (GBs at 10M events)
            for d in run_dir.glob("out-*"):
                subprocess.run(["rm", "-rf", str(d)])

    report.write_run(raw, run_dir)
    print(f"harness: report in {run_dir}/report.md", file=sys.stderr)
    if args.update_benchmarks:
        report.write_benchmarks(raw, run_dir, ROOT)
        print("harness: BENCHMARKS.md updated", file=sys.stderr)
    print((run_dir / "report.md").read_text())
    return 0


def run_sizes(args, sizes, engines, workloads, data_root: Path, run_dir: Path,
              raw: dict) -> None:
    for n in sizes:
        data = data_root / f"events{n}-seed{args.seed}"
        print(f"harness: data set of {n} events in {data}", file=sys.stderr)
        t0 = time.perf_counter()
        meta = gen_data.generate(data, n, args.seed)
        print(f"harness: data ready ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        if "tideline" in engines and args.tideline_bin and args.tideline_io == "tlc":
            t0 = time.perf_counter()
            tlc.prepare_inputs(args.tideline_bin, data,
                               {t: TABLE_FILES[t] for w in workloads for t in w.tables})
            print(f"harness: tideline prepare ({time.perf_counter() - t0:.1f} s, untimed)",
                  file=sys.stderr)
        sample = set((data / "sample_users.txt").read_text().split())
        out_dir = run_dir / f"out-{n}"
        out_dir.mkdir(exist_ok=True)
        size_rec = {"events": n, "counts": meta["counts"], "users": meta["users"],
                    "items": meta["items"], "sampled_users": len(sample), "workloads": []}
        for w in workloads:
            recs: dict[str, dict] = {}
            for eng in engines:
                runs = []
                for _ in range(max(1, args.repeat)):
                    r = run_engine(eng, w, data, out_dir, args)
                    runs.append(r)
                    if r["status"] != "ok":
                        break
                recs[eng] = best_of(runs)
                r = recs[eng]
                r["input_events"] = w.input_events(meta["counts"])
                if r["status"] == "ok":
                    r["events_per_s"] = r["input_events"] / r["engine_s"]
                    print(f"harness: {n} {w.name:18s} {eng:9s} {r['engine_s']:8.2f} s "
                          f"{r['peak_rss_mb']:8.0f} MB  (load {r['load_avg_1m']:.1f})",
                          file=sys.stderr)
                else:
                    print(f"harness: {n} {w.name:18s} {eng:9s} {r['status']}: "
                          f"{r.get('error', '')[:300]}", file=sys.stderr)
            check_results(w, recs, sample)
            for eng, r in recs.items():
                if "check" in r:
                    print(f"harness:   check {eng}: {r['check']['status']} "
                          f"({r['check']['detail'][:200]})", file=sys.stderr)
            size_rec["workloads"].append({"workload": w.name, "title": w.title,
                                          "results": w.results, "engines": recs})
            if not args.keep_outputs:
                for r in recs.values():
                    if r.get("output"):
                        Path(r["output"]).unlink(missing_ok=True)
        if not args.keep_outputs:
            for f in out_dir.glob("*"):
                if f.is_dir():
                    subprocess.run(["rm", "-rf", str(f)])
            try:
                out_dir.rmdir()
            except OSError:
                pass
        raw["sizes"].append(size_rec)
        # Written after each size so a long run leaves usable partial results.
        raw["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        (run_dir / "raw.json").write_text(json.dumps(raw, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
