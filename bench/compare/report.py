"""Markdown report, PNG chart and BENCHMARKS.md from a run's raw.json record.

Speed-up = the other engine's time / Tideline's time (above 1: Tideline is faster). It is
only computed when both engines produced a result and their answers agree on the sampled
users; otherwise the cell says why it does not count.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import BY_NAME  # noqa: E402

ENGINE_LABEL = {"tideline": "Tideline", "kaskada": "Kaskada", "duckdb": "DuckDB"}
GOALS = {"kaskada": 3.0, "duckdb": 2.0}
GOAL_EVENTS = 10_000_000


def fmt_events(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f} M/s"
    return f"{x / 1e3:.0f} k/s"


def speedup(wrec: dict, other: str) -> tuple[float | None, str]:
    """(ratio, text) of other/tideline for one workload, or (None, reason)."""
    engines = wrec["engines"]
    t, o = engines.get("tideline"), engines.get(other)
    if not t or not o:
        return None, "—"
    if t["status"] != "ok":
        return None, f"Tideline {t['status']}"
    if o["status"] != "ok":
        return None, f"{ENGINE_LABEL[other]} {o['status']}"
    check = o.get("check", {})
    if check.get("reference") != "tideline" or check.get("status") != "match":
        return None, "answers differ (not counted)"
    ratio = o["engine_s"] / t["engine_s"]
    return ratio, f"{ratio:.2f}x"


def check_text(rec: dict) -> str:
    if rec["status"] != "ok":
        return ""
    c = rec.get("check")
    if not c:
        return "not checked"
    status = c["status"]
    if status == "reference":
        detail = c.get("detail", "")
        for eng, label in ENGINE_LABEL.items():
            detail = detail.replace(eng, label)
        return "reference" + ("" if detail == "reference answer" else f"; {detail}")
    if status == "match":
        ref = ENGINE_LABEL.get(c.get("reference", ""), c.get("reference", ""))
        if rec["engine"] == "tideline":
            return "ok (" + c["detail"] + ")"
        return f"ok (= {ref})"
    return f"**{status.upper()}**: {c['detail']}"


def esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def size_section(size: dict, engines: list[str]) -> list[str]:
    c = size["counts"]
    out = [f"### {fmt_events(size['events'])} events",
           "",
           f"{c['purchases']:,} purchases, {c['page_views']:,} page views, "
           f"{c['reviews']:,} reviews; {size['users']:,} users, {size['items']:,} items; "
           f"results checked on {size['sampled_users']} sampled users.",
           "",
           "| Workload | Engine | Time (s) | Process wall (s) | Process CPU (s) | Input events/s "
           "| Peak RSS (MB) | Load | Answer | Speed-up of Tideline |",
           "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for wrec in size["workloads"]:
        first = True
        for eng in engines:
            rec = wrec["engines"].get(eng)
            if rec is None:
                continue
            name = wrec["title"] if first else ""
            first = False
            if rec["status"] == "ok":
                runs = rec.get("runs_engine_s", [])
                spread = (f" ({min(runs):.2f}–{max(runs):.2f})" if len(runs) > 1 else "")
                cells = [f"{rec['engine_s']:.2f}{spread}", f"{rec['wall_s']:.2f}",
                         f"{rec['cpu_s']:.2f}" if "cpu_s" in rec else "",
                         fmt_rate(rec["events_per_s"]), f"{rec['peak_rss_mb']:.0f}",
                         f"{rec['load_avg_1m']:.1f}" if "load_avg_1m" in rec else "",
                         esc(check_text(rec))]
            else:
                err = esc(rec.get("error", ""))[:400]
                if rec["status"] == "unavailable":
                    err = "see the notes above the tables"
                cells = ["—"] * 6 + [f"**{rec['status'].upper()}**: {err}"]
            sp = "" if eng == "tideline" else speedup(wrec, eng)[1]
            out.append(f"| {name} | {ENGINE_LABEL[eng]} | " + " | ".join(cells) + f" | {sp} |")
    out.append("")
    return out


def goal_section(raw: dict) -> list[str]:
    sizes = [s for s in raw["sizes"] if s["events"] >= GOAL_EVENTS]
    if not sizes:
        return ["### Goal", "",
                f"The goal (at {fmt_events(GOAL_EVENTS)} events: at least "
                f"{GOALS['kaskada']:.0f}x Kaskada and {GOALS['duckdb']:.0f}x DuckDB on every "
                "workload) needs a run that includes --events 10000000.", ""]
    size = sizes[-1]
    out = [f"### Goal at {fmt_events(size['events'])} events "
           f"(at least {GOALS['kaskada']:.0f}x Kaskada, {GOALS['duckdb']:.0f}x DuckDB)", "",
           "| Workload | vs Kaskada | vs DuckDB | Met |", "|---|---:|---:|---|"]
    all_met = True
    for wrec in size["workloads"]:
        cells, met = [], True
        for eng in ("kaskada", "duckdb"):
            ratio, text = speedup(wrec, eng)
            if ratio is None or ratio < GOALS[eng]:
                met = False
            cells.append(text)
        all_met &= met
        out.append(f"| {wrec['title']} | {cells[0]} | {cells[1]} | {'yes' if met else 'no'} |")
    out += ["", f"**Goal {'met' if all_met else 'not met'}** in this run.", ""]
    return out


def method_section() -> list[str]:
    return [
        "### Method",
        "",
        "- Data: Kaskada's SQL benchmark shape (purchases `time, user, amount, item`; page "
        "views `time, user, item`; reviews `time, user, item, rating`; 4:2:1 split; random "
        "UUID users and items; times over 2022), deterministic for the seed, unique "
        "timestamps, none on a month boundary. Each engine reads its own prepared columnar "
        "format, converted from the CSV files before the runs (untimed): Tideline reads "
        "`.tlc` files written by `tideline prepare` (docs/formats/columnar.md; with "
        "`--tideline-io csv` the CSV files), Kaskada and DuckDB the same data as Parquet "
        "(or, with `--baseline-input csv`, the CSV files).",
        "- Each engine runs each workload in a fresh process, `--repeat` times (default 3) "
        "in a row; the fastest run counts, the range of all runs is in parentheses. "
        "*Time* is what counts: for "
        "Tideline the process wall time (start-up, reading the input, query, writing the result "
        "to a file: `.tlc`, or CSV with `--tideline-io csv`); "
        "for Kaskada and DuckDB the time inside their Python process after the interpreter "
        "and imports are up (loading the Parquet sources, query, writing the result to "
        "Parquet) — so the baselines are not charged for Python start-up. *Process wall* is "
        "the whole process for every engine. Peak RSS is the engine process's maximum "
        "resident set size as reported by GNU time (for the Python baselines it includes "
        "the interpreter, pyarrow and pandas).",
        "- Process CPU = user + system CPU seconds of the whole process (above the wall "
        "time means the engine used both cores).",
        "- Input events/s = rows of the tables the workload reads / time. *Load* is the "
        "1-minute load average just before the run; it includes the benchmark's own engine "
        "runs (up to about one per core), so only values clearly above the core count mean "
        "that other work competed.",
        "- Answers: each engine's full row count and every result row of the sampled users "
        "are compared with Tideline's (times exactly, numbers with relative tolerance 1e-9). "
        "A speed-up is only reported when the two answers agree; Tideline's own answer "
        "counts as confirmed when at least one baseline agrees with it.",
        "- Kaskada 0.6 has no Fenl text API: its queries are built with its Python API to "
        "match queries/*.fenl (see run_kaskada.py). Its inputs are read with pyarrow and "
        "added as one Arrow batch per table, its fastest way in (its own Parquet reader was "
        "about 1.6x slower). DuckDB runs queries/*.sql with window "
        "functions and an ASOF join; history results are ordered by time like the Fenl "
        "output.",
        "",
    ]


def header(raw: dict) -> list[str]:
    m, v = raw["machine"], raw["versions"]
    out = [f"- Run: {raw['started_utc']} → {raw.get('finished_utc', '?')} (UTC)",
           f"- Command: `{raw['command']}`",
           f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, {m['os']}; "
           f"load average at start {', '.join(f'{x:.2f}' for x in m['load_avg_at_start'])}",
           f"- Versions: Tideline {v.get('tideline', '?')}, binary "
           f"{v.get('tideline_binary', '?')} ({v.get('compiler', '')}); "
           f"Kaskada {v.get('kaskada')}; DuckDB {v.get('duckdb')}; pyarrow {v.get('pyarrow')}; "
           f"pandas {v.get('pandas')}; Python {m['python']}"]
    fmt = raw.get("baseline_input", "parquet")
    tio = raw.get("tideline_io", "csv")
    tin = ("the `.tlc` files prepared from the CSV (untimed) and writes `.tlc`" if tio == "tlc"
           else "the CSV files and writes CSV")
    out.append(f"- Inputs: Tideline reads {tin}; Kaskada and DuckDB read "
               f"{'the same CSV files' if fmt == 'csv' else 'the same data as Parquet'}"
               f"; best of {raw.get('repeat', 1)} run(s) per engine and workload")
    loads = [r["load_avg_1m"] for size in raw["sizes"] for w in size["workloads"]
             for r in w["engines"].values() if "load_avg_1m" in r]
    # The benchmark's own engines keep up to about one runnable thread per core, so only a
    # load clearly above the core count means that other work competed with them.
    if loads and max(loads) > m["cores"] + 0.5:
        out.append(f"- **Shared machine**: the 1-minute load average before the runs was "
                   f"{min(loads):.1f}–{max(loads):.1f} on {m['cores']} cores (other work, "
                   "e.g. compiles, competed with the engines), so the times are noisy; "
                   "process CPU times are less affected.")
    if raw.get("tideline_note"):
        out.append(f"- Tideline: {esc(raw['tideline_note'])}")
    for eng, why in raw.get("unavailable", {}).items():
        out.append(f"- {ENGINE_LABEL[eng]} unavailable: {esc(why)}")
    out.append("")
    return out


def chart(raw: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines = raw["engines"]
    colors = {"tideline": "#1b7f79", "kaskada": "#e07b39", "duckdb": "#5b6bbf"}
    sizes = raw["sizes"]
    fig, axes = plt.subplots(1, len(sizes), figsize=(7.5 * len(sizes), 4.8), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        names = [BY_NAME[w["workload"]].short if w["workload"] in BY_NAME else w["workload"]
                 for w in size["workloads"]]
        width = 0.8 / max(1, len(engines))
        for i, eng in enumerate(engines):
            xs, ys, hatches, labels = [], [], [], []
            for j, wrec in enumerate(size["workloads"]):
                rec = wrec["engines"].get(eng)
                x = j + (i - (len(engines) - 1) / 2) * width
                if not rec or rec["status"] != "ok":
                    ax.text(x, 0.0, "n/a", ha="center", va="bottom", fontsize=6,
                            rotation=90, transform=ax.get_xaxis_transform())
                    continue
                bad = rec.get("check", {}).get("status") in ("mismatch", "unreadable",
                                                              "unconfirmed")
                xs.append(x)
                ys.append(rec["engine_s"])
                hatches.append("xx" if bad else "")
                labels.append("" if eng == "tideline" else
                              (f"{speedup(wrec, eng)[0]:.1f}x"
                               if speedup(wrec, eng)[0] is not None else ""))
            bars = ax.bar(xs, ys, width, label=ENGINE_LABEL[eng], color=colors[eng])
            for bar, h, text in zip(bars, hatches, labels):
                bar.set_hatch(h)
                if text:  # Tideline's speed-up over this engine
                    ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() * 1.04, text,
                            ha="center", va="bottom", fontsize=6)
        ax.set_yscale("log")
        ax.set_ylabel("time (s, log scale; lower is better)")
        ax.set_title(f"{fmt_events(size['events'])} events")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, fontsize=7)
        ax.grid(axis="y", alpha=0.3, which="both")
    fig.suptitle("Tideline vs Kaskada vs DuckDB — label over a baseline bar: its time / "
                 "Tideline's time (hatched: answer differs from Tideline's)", fontsize=10)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(engines), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def body(raw: dict, chart_ref: str) -> list[str]:
    out: list[str] = []
    for size in raw["sizes"]:
        out += size_section(size, raw["engines"])
    out += goal_section(raw)
    out += [f"![chart]({chart_ref})", ""]
    out += method_section()
    return out


def write_run(raw: dict, run_dir: Path) -> None:
    try:
        chart(raw, run_dir / "chart.png")
        chart_ok = True
    except Exception as e:  # a missing plot must not lose the numbers
        print(f"report: chart failed: {e}", file=sys.stderr)
        chart_ok = False
    lines = ["# Tideline vs Kaskada vs DuckDB", ""] + header(raw)
    lines += body(raw, "chart.png" if chart_ok else "(chart failed)")
    (run_dir / "report.md").write_text("\n".join(lines))


def write_benchmarks(raw: dict, run_dir: Path, root: Path) -> None:
    chart_dst = root / "bench" / "compare" / "chart.png"
    if (run_dir / "chart.png").exists():
        shutil.copyfile(run_dir / "chart.png", chart_dst)
    sizes = " and ".join(fmt_events(s["events"]) for s in raw["sizes"])
    lines = [
        "# Benchmarks",
        "",
        "Tideline against Kaskada 0.6 (its embedded Rust engine) and DuckDB on the six "
        "workloads of Kaskada's own SQL benchmark, on the same data, in one run of the "
        "harness in `bench/compare/`. Everything below is generated by that run "
        "(`--update-benchmarks`); do not edit by hand.",
        "",
        "Reproduce (builds the release binary, prepares a Python venv with the baselines, "
        "generates the data, runs everything, writes `bench/compare/results/<time>/`):",
        "",
        "```sh",
        raw["command"],
        "```",
        "",
        f"## Latest run ({sizes} events)",
        "",
    ] + header(raw) + body(raw, "bench/compare/chart.png")
    (root / "BENCHMARKS.md").write_text("\n".join(lines))


if __name__ == "__main__":
    # Re-render a run's report (and with --benchmarks BENCHMARKS.md) from its raw.json:
    #   python report.py results/<stamp> [--benchmarks]
    d = Path(sys.argv[1])
    raw = json.loads((d / "raw.json").read_text())
    write_run(raw, d)
    if "--benchmarks" in sys.argv[2:]:
        write_benchmarks(raw, d, Path(__file__).resolve().parent.parent.parent)
    print((d / "report.md").read_text())
