"""Parse + plan time of 问数 questions that name metrics, over a warehouse with metrics (the sample
city: `citybi samples --db FILE`). Questions are built from each metric's own name, so the figure
follows whatever metrics the warehouse holds. Prints median and p95 in ms (no SQL execution
except the cached value learning, warmed up first).

  .venv/bin/python bench/metrics.py --db FILE [--today 2025-06-15] [--repeat 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

from citybi.catalog import Catalog, open_warehouse
from citybi.nlq import plan


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--today", default="2025-06-15")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    wh = open_warehouse(path=args.db)
    try:
        cat = Catalog(wh)
        infos = cat.datasets()
        today = dt.date.fromisoformat(args.today)
        questions = [(m.dataset, q) for m in cat.metrics()
                     for q in (m.name, f"各区{m.name}", f"{m.name}最高的区", f"上个月的{m.name}比这个月高多少")]
        by_name = {d.name: d for d in infos}
        for ds, q in questions:  # warm: learned values cached, as in a running app
            plan(q, by_name[ds], wh.run, today, None, infos)
        times: list[float] = []
        for _ in range(args.repeat):
            for ds, q in questions:
                t0 = time.perf_counter()
                plan(q, by_name[ds], wh.run, today, None, infos)
                times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(f"{len(questions)} metric questions × {args.repeat}: parse+plan median "
              f"{statistics.median(times):.1f} ms, p95 {times[int(len(times) * 0.95) - 1]:.1f} ms")
    finally:
        wh.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
