"""Benchmark: what finding a dataset's readers (citybi/lineage.py) costs a page run.

Why: 数据导入 (替换) and 数据集 (删除) ask for the lineage on every rerun of the page, so it must stay
well under the time a rerun already takes. This prints the cost for each sample dataset, cold (first call:
every chart, board, rule and briefing parsed; in a fresh process this includes importing the
chart types — plotly — once) and warm (the stores' parsed files reused), plus the same with
`--extra N` more saved charts and one board over them. It asserts nothing: the machines are shared and noisy.

    .venv/bin/python bench/lineage.py [--db /tmp/lineage_bench.duckdb] [--repeat 10] [--extra 200]

The sample city is loaded into --db when it is empty (~15 s the first time).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from citybi.boards import Board, Tile, board_store
from citybi.catalog import Catalog, open_warehouse
from citybi.charts.spec import ChartSpec, Dimension, Measure
from citybi.charts.store import chart_store
from citybi.lineage import find_readers
from citybi.samples import load_samples


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "lineage_bench" / "city.duckdb"))
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--extra", type=int, default=200, help="saved charts added (then one board over 40 of them)")
    args = p.parse_args()
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    with open_warehouse(path=args.db) as wh:
        load_samples(wh)
        names = Catalog(wh).names()

        def measure(label: str) -> None:
            for name in names:
                t0 = time.perf_counter()
                lin = find_readers(wh, name)
                cold = time.perf_counter() - t0
                warm = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    find_readers(wh, name)
                    warm.append(time.perf_counter() - t0)
                print(f"{label} {name}: {len(lin.all_readers)} readers; first {cold * 1000:.0f} ms, "
                      f"then median {statistics.median(warm) * 1000:.1f} ms (max {max(warm) * 1000:.1f})")

        measure("shipped")
        charts = chart_store(wh.settings)
        for i in range(args.extra):
            charts.save(f"bench_{i}", ChartSpec(title=f"图{i}", dataset="环卫清运", type="bar",
                                                dimensions=[Dimension(column="区")],
                                                measures=[Measure(column="清运量（吨）", agg="sum")]))
        board_store(wh.settings).save("bench_board", Board(title="bench", tiles=[
            Tile(chart=f"bench_{i}") for i in range(min(40, args.extra))]))
        measure(f"+{args.extra} charts")


if __name__ == "__main__":
    main()
