"""Pivot table: row dimensions down, the series dimension across, measures in the cells.

The query stays a plain GROUP BY (cheap and cacheable); pivoting happens on the small
aggregated frame in polars. Totals are added only for additive aggregations (sum, count):
a total of averages or of distinct counts would be wrong.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel, ConfigDict

from citybi.charts.form import option
from citybi.charts.render import RenderContext
from citybi.charts.types import register
from citybi.charts.types._base import AggregatedChart, Shape, distinct
from citybi.charts.types.table import table_figure

if TYPE_CHECKING:
    from citybi.charts.spec import ChartSpec

TOTAL = "合计"


class PivotOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    totals: bool = option(True, "显示合计")


def pivot_frame(frame: pl.DataFrame, spec: ChartSpec) -> pl.DataFrame:
    """Rows = dimensions, one column per (series value[, measure]); totals when additive."""
    assert spec.series is not None
    opts: PivotOptions = spec.typed_options()  # type: ignore[assignment]
    rows = [d.name for d in spec.dimensions]
    on = spec.series.name
    values = [m.name for m in spec.measures]
    # column names must be text; keep the series' own order (dates ascending, as queried)
    keyed = frame.with_columns(pl.col(on).cast(pl.String).fill_null("（空）"))
    order = keyed.get_column(on).unique(maintain_order=True).to_list()
    wide = keyed.pivot(on=on, on_columns=order, index=rows, values=values, aggregate_function="first",
                       maintain_order=True, separator="·")
    additive = all(m.agg in ("sum", "count") for m in spec.measures)
    if opts.totals and additive and len(values) == 1:
        value_cols = [c for c in wide.columns if c not in rows]
        wide = wide.with_columns(pl.sum_horizontal(value_cols).alias(TOTAL))
        total_row = {r: (TOTAL if i == 0 else None) for i, r in enumerate(rows)}
        sums = wide.select([pl.col(c).sum() for c in [*value_cols, TOTAL]]).row(0, named=True)
        wide = pl.concat([wide.with_columns(pl.col(rows[0]).cast(pl.String)),
                          pl.DataFrame([{**total_row, **sums}], schema=wide.with_columns(
                              pl.col(rows[0]).cast(pl.String)).schema)])
    return wide


class PivotChart(AggregatedChart):
    name = "pivot"
    label = "透视表"
    options_model = PivotOptions
    dims = (1, 4)
    series = "required"

    def shape(self, frames: dict[str, pl.DataFrame], spec: ChartSpec) -> Shape:
        """Rows = distinct row keys (+ a total), columns = one per series value × measure."""
        assert spec.series is not None
        frame = frames["main"]
        rows = distinct(frame, *[d.name for d in spec.dimensions]) + 1
        columns = len(spec.dimensions) + distinct(frame, spec.series.name) * len(spec.measures) + 1
        return Shape(columns=columns, cells=rows * columns, series_of=spec.series.name)

    def render(self, frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext) -> Any:
        wide = pivot_frame(frames["main"], spec)
        ctx.check_time()
        fmt = spec.measures[0].format if len(spec.measures) == 1 else None
        n_rows = len(spec.dimensions)
        formats: list[str | None] = [None] * n_rows + [fmt] * (wide.width - n_rows)
        ratio = set(range(n_rows, wide.width)) if spec.measures[0].agg == "ratio" else set()
        return table_figure(wide, list(wide.columns), formats, spec, ctx, ratio)


register(PivotChart())
