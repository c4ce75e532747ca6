"""Benchmark: what the 数据质量 report adds to an import's commit (citybi/quality.py).

Why: every commit now measures its frame before writing — repeated rows within the file (one
hash pass over every column), empty cells, the dataset's rules (pandera) — so a large import pays
for it once. This times those steps alone on a sanitation-like frame (best of --repeat, wall
seconds), apart from reading the file and writing the version. Prints figures, asserts nothing.

    .venv/bin/python bench/quality.py [--rows 200000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import polars as pl

from citybi import quality
from citybi.validation import Allowed, Range, Rules


def frame(rows: int) -> pl.DataFrame:
    """日期, 区, 街道, 垃圾类型, 清运量（吨）, 车次 — the shape of the sample city's 环卫清运."""
    i = pl.int_range(0, rows, eager=True)
    districts = pl.Series(["临江区", "云湖区", "北港区", "望山区", "松岭区", None])
    kinds = pl.Series(["厨余垃圾", "其他垃圾", "可回收物", "有害垃圾"])
    days = pl.date_range(dt.date(2024, 1, 1), dt.date(2024, 12, 30), eager=True)
    return pl.DataFrame({
        "日期": days.gather(i % 365), "区": districts.gather(i % 6),
        "街道": "街道" + (i % 40).cast(pl.String),
        "垃圾类型": kinds.gather(i % 4), "清运量（吨）": (i * 37) % 2000 / 100, "车次": i % 9,
    })


RULES = Rules(required=["日期", "区"], not_null=["日期", "区"], ranges={"清运量（吨）": Range(min=0, max=15)},
              allowed={"垃圾类型": Allowed(values=["厨余垃圾", "其他垃圾", "可回收物"])}, not_future=["日期"])


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    f = frame(args.rows)
    checked: list[tuple[list, int, bool]] = []
    dup = best(lambda: int(f.select(~pl.struct(pl.all()).is_first_distinct()).to_series().sum()), args.repeat)
    rules = best(lambda: checked.append(quality.check_rules(f, RULES, [], dt.date(2025, 1, 1))), args.repeat)
    failures, bad, _ = checked[-1]
    report = best(lambda: quality.measure(f, failures=failures, rows_breaking_rules=bad, rules_checked=True,
                                          duplicates={"in_file": 0}), args.repeat)
    print(f"rows {f.height} × {f.width} columns (best of {args.repeat})")
    print(f"  repeated rows within the file   {dup:6.3f} s")
    print(f"  dataset rules (pandera, {len(failures)} broken) {rules:6.3f} s  ({bad} rows break a rule)")
    print(f"  counts, parts and score         {report:6.3f} s")


if __name__ == "__main__":
    main()
