"""Self-tests of the harness pieces that decide what counts: data, answer checks, reports.

    ${TIDELINE_CACHE:-~/.cache/tideline}/bench-venv/bin/python -m unittest bench/compare/test_harness.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare  # noqa: E402
import gen_data  # noqa: E402
import harness  # noqa: E402
import report  # noqa: E402
from workloads import BY_NAME  # noqa: E402


class GenDataTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name) / "d"
        cls.meta = gen_data.generate(cls.dir, 7000, seed=3, quiet=True)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def test_split_and_columns(self) -> None:
        self.assertEqual(self.meta["counts"], {"purchases": 4000, "page_views": 2000,
                                               "reviews": 1000})
        self.assertEqual(pq.read_table(self.dir / "purchases.parquet").column_names,
                         ["time", "user", "amount", "item"])
        self.assertEqual(pq.read_table(self.dir / "reviews.parquet").column_names,
                         ["time", "user", "item", "rating"])
        header = (self.dir / "page_views.csv").read_text().splitlines()[0]
        self.assertEqual(header, "time,user,item")

    def test_times_unique_in_2022_and_off_month_boundaries(self) -> None:
        times = np.concatenate([
            pq.read_table(self.dir / f"{t}.parquet").column("time").cast(pa.int64())
            .to_numpy() for t in gen_data.TABLES])
        self.assertEqual(len(np.unique(times)), len(times))
        self.assertGreaterEqual(times.min(), gen_data.YEAR_START_US)
        self.assertLess(times.max(), gen_data.YEAR_END_US)
        self.assertFalse(np.isin(times, gen_data._month_starts_us()).any())

    def test_csv_and_parquet_hold_the_same_rows(self) -> None:
        csv = pcsv.read_csv(self.dir / "purchases.csv")
        par = pq.read_table(self.dir / "purchases.parquet")
        self.assertEqual(csv.num_rows, par.num_rows)
        self.assertEqual(csv.column("user").to_pylist(), par.column("user").to_pylist())
        self.assertEqual(csv.column("amount").to_pylist(), par.column("amount").to_pylist())
        self.assertTrue(str(csv.column("time")[0]).startswith("2022-"))

    def test_deterministic_and_cached(self) -> None:
        other = Path(self.tmp.name) / "again"
        gen_data.generate(other, 7000, seed=3, quiet=True)
        for t in gen_data.TABLES:
            self.assertEqual((self.dir / f"{t}.csv").read_bytes(),
                             (other / f"{t}.csv").read_bytes())
        mtime = (other / "purchases.csv").stat().st_mtime_ns
        gen_data.generate(other, 7000, seed=3, quiet=True)  # same request: reused
        self.assertEqual((other / "purchases.csv").stat().st_mtime_ns, mtime)
        self.assertEqual(len((self.dir / "sample_users.txt").read_text().split()), 100)  # all 100 users


class CompareTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.d = Path(self.tmp.name)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def write_csv(self, text: str) -> Path:
        p = self.d / "t.csv"
        p.write_text(text)
        return p

    def write_parquet(self, times_us, keys, values) -> Path:
        p = self.d / "o.parquet"
        pq.write_table(pa.table({"_time": pa.array(times_us, pa.timestamp("us")),
                                 "_key": keys, "v": pa.array(values, pa.float64())}), p)
        return p

    def test_tideline_csv_equals_parquet_with_tolerance_and_nulls(self) -> None:
        csv = self.write_csv("_time,_key,v\n"
                             "2022-01-01T00:00:01.000001000Z,a,1.5\n"
                             "2022-01-01T00:00:02.000000000Z,b,\n"
                             "2022-01-01T00:00:03.000000000Z,c,7\n")
        par = self.write_parquet([1640995201000001, 1640995202000000, 1640995203000000],
                                 ["a", "b", "c"], [1.5 + 1e-12, None, 9.0])
        a = compare.load_csv(csv, "v", True, {"a", "b"})
        b = compare.load_parquet(par, "v", True, {"a", "b"})
        ok, detail = compare.compare(a, b, True)
        self.assertTrue(ok, detail)  # c differs but is not sampled; row counts agree

    def test_value_time_and_count_mismatches(self) -> None:
        csv = self.write_csv("_time,_key,v\n2022-01-01T00:00:01Z,a,1\n"
                             "2022-01-01T00:00:02Z,a,2\n")
        ref = compare.load_csv(csv, "v", True, {"a"})
        wrong_value = compare.load_parquet(
            self.write_parquet([1640995201000000, 1640995202000000], ["a", "a"],
                               [1.0, 2.001]), "v", True, {"a"})
        ok, detail = compare.compare(ref, wrong_value, True)
        self.assertFalse(ok)
        self.assertIn("1 of 2 sampled values differ", detail)
        wrong_time = compare.load_parquet(
            self.write_parquet([1640995201000000, 1640995202000001], ["a", "a"],
                               [1.0, 2.0]), "v", True, {"a"})
        self.assertFalse(compare.compare(ref, wrong_time, True)[0])
        null_vs_value = compare.load_parquet(
            self.write_parquet([1640995201000000, 1640995202000000], ["a", "a"],
                               [1.0, None]), "v", True, {"a"})
        self.assertFalse(compare.compare(ref, null_vs_value, True)[0])
        short = compare.load_parquet(self.write_parquet([1640995201000000], ["a"], [1.0]),
                                     "v", True, {"a"})
        ok, detail = compare.compare(ref, short, True)
        self.assertFalse(ok)
        self.assertIn("row count", detail)

    def test_final_results_ignore_time(self) -> None:
        csv = self.write_csv("_time,_key,v\n2023-01-01T00:00:00.000000001Z,a,3\n")
        par = self.d / "f.parquet"
        pq.write_table(pa.table({"_key": ["a"], "v": [3.0]}), par)
        ok, _ = compare.compare(compare.load_csv(csv, "v", False, {"a"}),
                                compare.load_parquet(par, "v", False, {"a"}), False)
        self.assertTrue(ok)

    def test_missing_column_is_an_error(self) -> None:
        csv = self.write_csv("_time,_key,other\n2022-01-01T00:00:01Z,a,1\n")
        with self.assertRaises(ValueError):
            compare.load_csv(csv, "v", True, {"a"})


class MeasureAndReportTest(unittest.TestCase):
    def test_run_measured_reports_exit_rss_and_timeout(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            err = Path(d) / "e"
            m = harness.run_measured(
                [sys.executable, "-c", "import sys; b = bytearray(150 << 20); "
                 "sys.stderr.write('boom'); sys.exit(4)"], Path(d) / "o", err, 60)
            self.assertEqual(m.rc, 4)
            self.assertEqual(m.stderr, "boom")
            self.assertGreater(m.peak_rss_mb, 150)
            self.assertLess(m.peak_rss_mb, 400)  # not the harness's own high-water mark
            m = harness.run_measured(["sleep", "30"], None, err, 0.5)
            self.assertTrue(m.timed_out)
            self.assertLess(m.wall, 10)

    def test_speedup_counts_only_agreeing_answers(self) -> None:
        def rec(engine, secs, check=None, status="ok"):
            r = {"engine": engine, "status": status, "engine_s": secs}
            if check:
                r["check"] = {"status": check, "reference": "tideline", "detail": ""}
            return r
        w = {"engines": {"tideline": rec("tideline", 1.0, "reference"),
                         "kaskada": rec("kaskada", 4.0, "match"),
                         "duckdb": rec("duckdb", 9.0, "mismatch")}}
        self.assertEqual(report.speedup(w, "kaskada"), (4.0, "4.00x"))
        self.assertEqual(report.speedup(w, "duckdb")[0], None)
        w["engines"]["tideline"]["status"] = "failed"
        self.assertEqual(report.speedup(w, "kaskada"), (None, "Tideline failed"))

    def test_workload_queries_exist(self) -> None:
        for w in BY_NAME.values():
            self.assertTrue(w.fenl_path.read_text().strip())
            self.assertIn("{purchases}", w.sql_path.read_text())
        self.assertEqual(json.loads(json.dumps(sorted(BY_NAME))), sorted(BY_NAME))


if __name__ == "__main__":
    unittest.main()
