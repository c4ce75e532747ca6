"""Run a chart: spec → queries → (cached) results → rendered output, with timings.

Why here and not in the pages: boards, the chart builder, the export and the benchmark
all need exactly this sequence, and the cache key must be computed the same way in each.
No streamlit here; pages call `run_chart` and lay out what it returns.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citybi.charts.cache import ResultCache, default_cache
from citybi.charts.render import RenderContext, units_for
from citybi.charts.types import get_type

if TYPE_CHECKING:
    import polars as pl

    from citybi.charts.spec import ChartSpec
    from citybi.schema import DatasetInfo
    from citybi.warehouse import Warehouse

CHART_MAX_ROWS = 10_000  # more points than a chart can show; tables past this need filters


@dataclass
class ChartResult:
    spec: ChartSpec
    frames: dict[str, pl.DataFrame]
    sql: dict[str, str]  # pretty SQL per query, shown to the user
    output: Any  # plotly Figure, pydeck Deck or KpiValue (None when render=False)
    query_s: float  # DuckDB time for the queries that missed the cache
    total_s: float
    cached: bool  # every query came from the cache
    warnings: list[str] = field(default_factory=list)

    @property
    def frame(self) -> pl.DataFrame:
        return self.frames["main"]


def run_chart(
    wh: Warehouse,
    spec: ChartSpec,
    *,
    info: DatasetInfo | None = None,
    today: dt.date | None = None,
    cache: ResultCache | None = None,
    geojson: dict[str, Any] | None = None,
    max_rows: int = CHART_MAX_ROWS,
    timeout_s: float | None = None,
    render: bool = True,
) -> ChartResult:
    t0 = time.perf_counter()
    cache = cache or default_cache()
    today = today or dt.date.today()
    info = info or cache.dataset_info(wh, spec.dataset)
    chart_type = get_type(spec.type)
    trees = chart_type.queries(spec, info, today)
    frames: dict[str, pl.DataFrame] = {}
    sql: dict[str, str] = {}
    query_s = 0.0
    all_cached = True
    warnings: list[str] = []
    for name, tree in trees.items():
        result, hit = cache.run(wh, tree, max_rows=max_rows, timeout_s=timeout_s)
        frames[name] = result.frame
        sql[name] = result.sql
        if not hit:
            query_s += result.elapsed_s
            all_cached = False
        if result.truncated:
            warnings.append(f"结果超过 {max_rows:,} 行，只显示前 {max_rows:,} 行；请增加筛选条件或设置前N名")
    output = None
    if render:
        ctx = RenderContext(units=units_for(spec, info), today=today, geojson=geojson)
        output = chart_type.render(frames, spec, ctx)
    return ChartResult(spec=spec, frames=frames, sql=sql, output=output, query_s=query_s,
                       total_s=time.perf_counter() - t0, cached=all_cached, warnings=warnings)
