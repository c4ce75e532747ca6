"""Benchmark: what the row rule (citybi/rowrules.py) costs a board's queries.

Why: every query of a restricted user is re-parsed, rewritten (each dataset reference becomes
a filtered derived table) and checked by the door a second time. This prints that overhead per
query for the tiles of the shipped 环卫运行 board, and the whole board cold (empty result cache)
as SYSTEM and as a 临江区 user. It asserts nothing: the machines are shared and noisy.

    .venv/bin/python bench/rowrules.py [--db /tmp/rows_bench.duckdb] [--repeat 20]

The sample city is loaded into --db when it is empty (~15 s the first time).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlglot import exp

from citybi import context
from citybi.boards import board_store, default_chart_store, run_board
from citybi.catalog import Catalog, open_warehouse
from citybi.charts.cache import ResultCache
from citybi.context import Context, Scope
from citybi.querydoor import _PASSED, checked_sql
from citybi.samples import load_samples
from citybi.warehouse import Warehouse

USER = Context("临江分析员", "analyst", Scope("城管局", frozenset({"临江区"})))
TODAY_BOARD = "环卫运行"


def board_trees(wh: Warehouse) -> list[exp.Expression]:
    """The trees the board's tiles send to the door (recorded from one SYSTEM run)."""
    trees: list[exp.Expression] = []
    real = wh.run

    def record(tree: exp.Expression, **kwargs: Any) -> Any:
        trees.append(tree)
        return real(tree, **kwargs)

    wh.run = record  # type: ignore[method-assign]
    try:
        run_board(wh, board_store(wh.settings).load(TODAY_BOARD), charts=default_chart_store(wh.settings),
                  cache=ResultCache(), workers=1, render=False)
    finally:
        del wh.run
    return trees


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "rows_bench.duckdb"))
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    wh = open_warehouse(path=args.db)
    if not Catalog(wh).names():
        load_samples(wh)
    trees = board_trees(wh)
    names, keywords = wh._door_names()
    cold: list[float] = []
    warm: list[float] = []
    for tree in trees:
        sql = checked_sql(tree, names, keywords)
        first = []
        for _ in range(args.repeat):
            wh._rewrites.clear()
            _PASSED.clear()  # the door's verdict cache: judge the rewritten text afresh too
            t0 = time.perf_counter()
            wh._with_row_rules(sql, USER, names, keywords)
            first.append(time.perf_counter() - t0)
        cold.append(statistics.median(first) * 1000)
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            wh._with_row_rules(sql, USER, names, keywords)
        warm.append((time.perf_counter() - t0) / args.repeat * 1000)
    print(f"{TODAY_BOARD}: {len(trees)} queries from {len(board_store(wh.settings).load(TODAY_BOARD).tiles)} tiles")
    print(f"row-rule rewrite, first time (parse + rewrite + door re-check), ms per query: median "
          f"{statistics.median(cold):.2f}, max {max(cold):.2f}, sum per board {sum(cold):.1f}")
    print(f"row-rule rewrite, again (remembered per scope and generation), ms per query: median "
          f"{statistics.median(warm):.3f}, sum per board {sum(warm):.2f}")
    board = board_store(wh.settings).load(TODAY_BOARD)
    charts = default_chart_store(wh.settings)
    for label, ctx in (("SYSTEM", context.SYSTEM), ("临江区 user", USER)):
        runs = []
        for _ in range(5):
            with context.use(ctx):
                t0 = time.perf_counter()
                run_board(wh, board, charts=charts, cache=ResultCache(), render=False)
                runs.append(time.perf_counter() - t0)
        print(f"board cold ({label}): median {statistics.median(runs) * 1000:.0f} ms over 5 runs")
    wh.close()


if __name__ == "__main__":
    main()
