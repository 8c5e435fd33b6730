#!/usr/bin/env python3
"""Checks the `tideline query` command's interface beyond the conformance catalog: exit
codes, diagnostics on stderr, output formats, JSON-lines tables, views and result options.

Usage: query_cli_test.py PATH/TO/tideline   (exit 0 when every check passes)
"""
import json, os, subprocess, sys, tempfile

BIN = sys.argv[1]
failures = []


def run(*args):
    return subprocess.run([BIN, "query", *args], capture_output=True, text=True, timeout=60)


def check(name, cond, detail=""):
    if not cond:
        failures.append(f"{name}: {detail}")


with tempfile.TemporaryDirectory() as tmp:
    csv_path = os.path.join(tmp, "p.csv")
    with open(csv_path, "w") as f:
        f.write("ts,user,amount\n2021-01-01T00:00:00Z,alice,10\n2021-01-02T00:00:00Z,bob,5\n"
                "2021-01-03T00:00:00Z,alice,7\n")
    jsonl_path = os.path.join(tmp, "p.jsonl")
    with open(jsonl_path, "w") as f:
        f.write('{"ts": "2021-01-01T00:00:00Z", "user": "alice", "amount": 10}\n'
                '{"ts": "2021-01-02T00:00:00Z", "user": "bob", "amount": 5}\n'
                '{"ts": "2021-01-03T00:00:00Z", "user": "alice", "amount": 7}\n')
    view_path = os.path.join(tmp, "total.fenl")
    with open(view_path, "w") as f:
        f.write("sum(P.amount)\n")
    qfile = os.path.join(tmp, "q.fenl")
    with open(qfile, "w") as f:
        f.write("# a comment\n{ total: sum(P.amount) }\n")
    table = f"P={csv_path},time=ts,key=user"

    r = run("--expr-file", qfile, "--table", table)
    check("csv history", r.returncode == 0 and r.stdout.splitlines() == [
        "_time,_key,total",
        "2021-01-01T00:00:00.000000000Z,alice,10",
        "2021-01-02T00:00:00.000000000Z,bob,5",
        "2021-01-03T00:00:00.000000000Z,alice,17"], r.stdout + r.stderr)

    r = run("--expr", "{ total: total }", "--view", f"total={view_path}", "--table",
            f"P={jsonl_path},time=ts,key=user", "--results", "final", "--format", "jsonl")
    rows = [json.loads(l) for l in r.stdout.splitlines()] if r.returncode == 0 else []
    check("jsonl final with view", [(x["_key"], x["total"]) for x in rows] == [("alice", 17), ("bob", 5)]
          or [(x["_key"], x["total"]) for x in rows] == [("bob", 5), ("alice", 17)], r.stdout + r.stderr)
    check("final stamp", all(x["_time"] == "2021-01-03T00:00:00.000000001Z" for x in rows), r.stdout)

    r = run("--expr", "{ total: sum(P.amount) }", "--table", table, "--final-at", "2021-01-02T00:00:00Z")
    check("final-at", r.returncode == 0 and sorted(r.stdout.splitlines()[1:]) == [
        "2021-01-02T00:00:00.000000001Z,alice,10", "2021-01-02T00:00:00.000000001Z,bob,5"], r.stdout + r.stderr)

    r = run("--expr", "{ total: sum(P.amount) }", "--table", table, "--changed-since", "2021-01-02T00:00:00Z")
    check("changed-since", r.returncode == 0 and len(r.stdout.splitlines()) == 3, r.stdout + r.stderr)

    r = run("--expr", "{ total: sum(P.amount) }", "--table", table, "--format", "table")
    check("table format", r.returncode == 0 and "(3 rows)" in r.stdout and " | " in r.stdout, r.stdout)

    r = run("--expr", "{ total: sum(P.amont) }", "--table", table)
    check("type error exit 2", r.returncode == 2 and "Type error at 1:14" in r.stderr and "^" in r.stderr,
          r.stderr)

    r = run("--expr", "{ total: sum(P.amount) + }", "--table", table)
    check("parse error exit 2", r.returncode == 2 and "Parse error at 1:26" in r.stderr, r.stderr)

    r = run("--expr", "P.amount", "--table", table)
    check("record required", r.returncode == 2 and "must produce a record" in r.stderr, r.stderr)

    r = run("--expr", "{ a: 1 }", "--table", f"P={tmp}/missing.csv,time=ts,key=user")
    check("missing table exit 1", r.returncode == 1 and "missing.csv" in r.stderr, r.stderr)

    r = run("--expr", "{ a: 1 }", "--table", f"P={csv_path},time=ts")
    check("bad --table exit 2", r.returncode == 2 and "--table" in r.stderr, r.stderr)

    r = run("--table", table)
    check("no query exit 2", r.returncode == 2, r.stderr)

    r = run("--expr", "{ a: 1 }", "--table", table, "--format", "xml")
    check("bad format exit 2", r.returncode == 2, r.stderr)

    r = run("--expr", "let unused = 1 in { total: sum(P.amount) }", "--table", table)
    check("warning on stderr", r.returncode == 0 and "Warning at 1:5: unused binding 'unused'" in r.stderr,
          r.stderr)

for f in failures:
    print("FAIL", f)
print(f"{'ok' if not failures else 'FAILED'}: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
