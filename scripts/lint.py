#!/usr/bin/env python3
"""Project conventions that the compiler does not check (run by CTest as `lint`).

- file names are snake_case (.h/.cc, tests *_test.cc, benches *_bench.cc, fuzz *_fuzz.cc);
- every header starts with `#pragma once` (after comments);
- enums are `enum class`;
- no `using namespace` in headers;
- clang-format (if installed) finds nothing to change, when --format is given.
Exit 1 with one line per problem, `path:line: message`.
"""
import os, re, shutil, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRS = ["src", "tests", "bench", "fuzz"]
SNAKE = re.compile(r"^[a-z0-9_]+(\.[a-z]+)+$")
problems = []


def sources():
    for d in DIRS:
        for base, _, files in os.walk(os.path.join(ROOT, d)):
            for f in files:
                if f.endswith((".h", ".cc")):
                    yield os.path.join(base, f)


for path in sources():
    rel = os.path.relpath(path, ROOT)
    name = os.path.basename(path)
    if not SNAKE.match(name):
        problems.append(f"{rel}:1: file name is not snake_case")
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().split("\n")
    if name.endswith(".h"):
        first = next((l for l in lines if l.strip() and not l.strip().startswith("//")), "")
        if first.strip() != "#pragma once":
            problems.append(f"{rel}:1: header must start with #pragma once")
    for i, line in enumerate(lines, 1):
        # Drop string literals (raw strings on one line too), then comments.
        code = re.sub(r'R"\((.*?)\)"', '""', line)
        code = re.sub(r'"(?:\\.|[^"\\])*"', '""', code)
        code = code.split("//")[0]
        if re.search(r"\benum\s+(?!class\b|struct\b)[A-Za-z_]", code):
            problems.append(f"{rel}:{i}: use enum class")
        if name.endswith(".h") and re.search(r"^\s*using\s+namespace\b", code):
            problems.append(f"{rel}:{i}: no using namespace in headers")

if "--format" in sys.argv:
    cf = shutil.which("clang-format-14") or shutil.which("clang-format")
    if cf:
        for path in sources():
            r = subprocess.run([cf, "--dry-run", "--Werror", path], capture_output=True, text=True)
            if r.returncode != 0:
                problems.append(f"{os.path.relpath(path, ROOT)}:1: not clang-formatted (scripts/format.sh)")

for p in problems:
    print(p)
print(f"lint: {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
