"""Run a chart: spec → queries → (cached) results → rendered output, with timings.

Why here and not in the pages: boards, the chart builder, the export and the benchmark
all need exactly this sequence, and the cache key must be computed the same way in each.
No streamlit here; pages call `run_chart` and lay out what it returns.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citybi.charts.cache import ResultCache, default_cache
from citybi.charts.render import RenderContext, render_output, units_for
from citybi.charts.types import get_type

if TYPE_CHECKING:
    import polars as pl
    from sqlglot import exp

    from citybi.charts.spec import ChartSpec
    from citybi.schema import DatasetInfo
    from citybi.warehouse import Warehouse

CHART_MAX_ROWS = 10_000  # more points than a chart can show; tables past this need filters


_COMPILED: OrderedDict[tuple[Any, ...], dict[str, tuple[exp.Select, str]]] = OrderedDict()
_COMPILED_MAX = 1024
_COMPILED_LOCK = threading.Lock()


def compile_queries(spec: ChartSpec, info: DatasetInfo, today: dt.date) -> dict[str, tuple[exp.Select, str]]:
    """The chart's query trees and their SQL text, remembered per (spec, dataset version, today).

    Building and printing sqlglot trees costs 1–10 ms per tile, which alone would eat a warm
    board's budget; the inputs are small and immutable, so the result is reused. Callers
    must not modify the returned trees (Warehouse.run copies before adding its LIMIT).
    """
    key = (spec.model_dump_json(), info.name, info.version, info.columns, today)
    with _COMPILED_LOCK:
        found = _COMPILED.get(key)
        if found is not None:
            _COMPILED.move_to_end(key)
            return found
    trees = get_type(spec.type).queries(spec, info, today)
    out = {name: (tree, tree.sql(dialect="duckdb")) for name, tree in trees.items()}
    with _COMPILED_LOCK:
        _COMPILED[key] = out
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
    return out


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
    render_s: float = 0.0

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
    reuse_output: bool = True,
    target_for_scope: bool = False,
) -> ChartResult:
    """Run one chart. With `reuse_output` a warm call returns the same (read-only) output object.

    `target_for_scope`: a KPI card's target was already resolved for the caller's scope (a board's
    per-district targets), so rows narrowed by the door need no warning about it."""
    t0 = time.perf_counter()
    cache = cache or default_cache()
    today = today or dt.date.today()
    info = info or cache.dataset_info(wh, spec.dataset)
    chart_type = get_type(spec.type)
    compiled = compile_queries(spec, info, today)
    frames: dict[str, pl.DataFrame] = {}
    sql: dict[str, str] = {}
    query_s = 0.0
    all_cached = True
    warnings: list[str] = []
    narrowed = ""  # the row rule's note when any query was narrowed to the caller's scope
    for name, (tree, text) in compiled.items():
        result, hit = cache.run(wh, tree, sql=text, max_rows=max_rows, timeout_s=timeout_s)
        frames[name] = result.frame
        sql[name] = result.sql
        if not hit:
            query_s += result.elapsed_s
            all_cached = False
        if result.truncated:
            warnings.append(f"结果超过 {max_rows:,} 行，只显示前 {max_rows:,} 行；请增加筛选条件或设置前N名")
        narrowed = narrowed or result.scope_note
    if narrowed and spec.type == "kpi" and spec.options.get("target") is not None and not target_for_scope:
        # the door narrowed the rows to the caller's scope, but the card's target was set for the
        # rows the chart's author saw: say so rather than show a silently wrong 完成率
        warnings.append(f"{narrowed}；卡片上的目标值 {spec.options['target']:g} 不一定是按这个范围设定的，"
                        "完成情况仅供参考")
    output = None
    t_render = time.perf_counter()
    if render:
        ctx = RenderContext(units=units_for(spec, info), today=today, geojson=geojson, limits=wh.settings.render)
        output = (_rendered(chart_type, spec, frames, ctx) if reuse_output
                  else render_output(chart_type, frames, spec, ctx))
    t1 = time.perf_counter()
    return ChartResult(spec=spec, frames=frames, sql=sql, output=output, query_s=query_s,
                       total_s=t1 - t0, cached=all_cached, warnings=warnings, render_s=t1 - t_render)


_RENDERED: OrderedDict[str, tuple[tuple[Any, ...], Any]] = OrderedDict()
_RENDERED_MAX = 256


def _rendered(chart_type: Any, spec: ChartSpec, frames: dict[str, pl.DataFrame], ctx: RenderContext) -> Any:
    """Reuse the output object when the very same cached frames are rendered with the same spec.

    Building a plotly figure costs 3–10 ms; a warm board of 8 tiles would spend most of its
    time there. Identity (`is`) of the cached frames proves the data is the same; the
    entry holds the frames, so their ids cannot be recycled meanwhile. The output is shared:
    treat it as read-only (copy a figure before update_layout).
    """
    key = spec.model_dump_json()
    inputs = (tuple(frames.items()), tuple(sorted(ctx.units.items())), ctx.today, ctx.geojson, ctx.height)
    with _COMPILED_LOCK:
        found = _RENDERED.get(key)
    if found is not None and _same(found[0], inputs):
        return found[1]
    output = render_output(chart_type, frames, spec, ctx)
    with _COMPILED_LOCK:
        _RENDERED[key] = (inputs, output)
        _RENDERED.move_to_end(key)
        while len(_RENDERED) > _RENDERED_MAX:
            _RENDERED.popitem(last=False)
    return output


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    frames_a, frames_b = a[0], b[0]
    if len(frames_a) != len(frames_b) or any(
            na != nb or fa is not fb for (na, fa), (nb, fb) in zip(frames_a, frames_b, strict=True)):
        return False
    return a[1] == b[1] and a[2] == b[2] and a[3] is b[3] and a[4] == b[4]
