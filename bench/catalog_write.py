"""Benchmark: Catalog.write of a large sanitation-like frame — the write every import ends in.

Why: files (`citybi ingest`) and data sources (`citybi sources import`) both end in one
`Catalog.write`: a new version table, its few-valued text columns stored as ENUM, the view,
the version row, the commit. This times that step alone (best of --repeat, wall and CPU, a
fresh warehouse each time), so a change to the write path shows its own cost, apart from
reading files or fetching from a database. Prints figures, asserts nothing.

    .venv/bin/python bench/catalog_write.py [--rows 1000000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import polars as pl

from citybi.catalog import Catalog, open_warehouse


def frame(rows: int) -> pl.DataFrame:
    """日期, 区 (NULL every 5th), 垃圾类型, 清运量（吨） DECIMAL(10,2): what a sanitation import writes."""
    i = pl.int_range(0, rows, eager=True)
    districts = pl.Series(["南湖区", "秀洲区", "嘉善县", "平湖市", None])
    kinds = pl.Series(["厨余垃圾", "其他垃圾", "可回收物", "有害垃圾"])
    days = pl.date_range(dt.date(2024, 1, 1), dt.date(2024, 12, 30), eager=True)
    return pl.DataFrame({
        "日期": days.gather(i % 365),
        "区": districts.gather(i % 5),
        "垃圾类型": kinds.gather(i % 4),
        "清运量（吨）": ((i * 37) % 2000 / 100).cast(pl.Decimal(10, 2)),
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    data = frame(args.rows)
    wall, cpu, types = float("inf"), float("inf"), []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="citybi-bench-") as d:
            wh = open_warehouse(path=Path(d) / "w.duckdb")
            try:
                started, used = time.perf_counter(), time.process_time()
                Catalog(wh).write("环卫清运", data)
                wall, cpu = min(wall, time.perf_counter() - started), min(cpu, time.process_time() - used)
                cur = wh.cursor()
                types = cur.execute("SELECT data_type FROM information_schema.columns WHERE table_schema = '_citybi' "
                                    "AND table_name = 'ds_1_v1' ORDER BY ordinal_position").fetchall()
                cur.close()
            finally:
                wh.close()
    print(f"Catalog.write, {args.rows:,} rows (create, fresh warehouse), best of {args.repeat}: "
          f"{wall:.3f} s wall, {cpu:.3f} s CPU, {args.rows / wall:,.0f} rows/s")
    print("  stored as: " + ", ".join(t[0].split("(")[0] for t in types))


if __name__ == "__main__":
    main()
