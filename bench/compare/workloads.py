"""The six workloads of Kaskada's SQL benchmark, as run by every engine.

Each workload names the tables it reads (all keyed by user, grouping "user"), whether it
asks for every change ("history") or one final value per user ("final"), and the one
result field every engine reports next to `_time` (history only) and `_key`.
The Fenl text is in queries/<name>.fenl (Tideline), the SQL in queries/<name>.sql (DuckDB);
Kaskada 0.6 has no Fenl text interface, so run_kaskada.py builds the same query with its
Python API.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

QUERY_DIR = Path(__file__).resolve().parent / "queries"

# Fenl table name -> data file stem.
TABLE_FILES = {"Purchases": "purchases", "PageViews": "page_views", "Reviews": "reviews"}


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    tables: tuple[str, ...]
    results: str  # "history" or "final"
    field: str
    short: str  # chart label

    @property
    def fenl_path(self) -> Path:
        return QUERY_DIR / f"{self.name}.fenl"

    @property
    def sql_path(self) -> Path:
        return QUERY_DIR / f"{self.name}.sql"

    def input_events(self, counts: dict[str, int]) -> int:
        return sum(counts[TABLE_FILES[t]] for t in self.tables)


WORKLOADS = (
    Workload("agg_history", "Aggregation / history", ("Purchases",), "history", "sum_amount",
             "sum\nhistory"),
    Workload("agg_snapshot", "Aggregation / snapshot", ("Purchases",), "final", "sum_amount",
             "sum\nsnapshot"),
    Workload("windowed_history", "Monthly window / history", ("Purchases",), "history",
             "sum_amount", "monthly\nhistory"),
    Workload("windowed_snapshot", "Monthly window / snapshot", ("Purchases",), "final",
             "sum_amount", "monthly\nsnapshot"),
    Workload("data_defined", "Data-defined window / history", ("Purchases", "PageViews"),
             "history", "mean_views", "data-defined\nhistory"),
    Workload("temporal_join", "Temporal join (with_key + lookup) / history",
             ("Purchases", "Reviews"), "history", "average_review", "temporal join\nhistory"),
)

BY_NAME = {w.name: w for w in WORKLOADS}
