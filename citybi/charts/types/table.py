"""Table: the aggregated rows as a plotly table (headers carry units, numbers formatted)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from citybi.charts.render import FONT, RenderContext, base_layout, figure, format_value, measure_label
from citybi.charts.types import register
from citybi.charts.types._base import AggregatedChart, Shape, plain_text

if TYPE_CHECKING:
    from citybi.charts.spec import ChartSpec


def table_figure(frame: pl.DataFrame, headers: list[str], formats: list[str | None], spec: ChartSpec,
                 ctx: RenderContext, ratio_cols: set[int] | None = None) -> Any:
    import plotly.graph_objects as go

    ratio_cols = ratio_cols or set()
    cells = []
    for i, (c, fmt) in enumerate(zip(frame.columns, formats, strict=True)):
        ctx.check_time()
        cells.append([plain_text(format_value(v, fmt, ratio=i in ratio_cols)) for v in frame.get_column(c).to_list()])
    aligns = ["right" if frame.schema[c].is_numeric() else "left" for c in frame.columns]
    table = go.Table(
        header={"values": [plain_text(h) for h in headers], "font": {"family": FONT}, "fill": {"color": "#eef2f7"},
                "align": "center"},
        cells={"values": cells, "font": {"family": FONT}, "align": aligns},
    )
    return figure([table], base_layout(spec, ctx))


class TableChart(AggregatedChart):
    name = "table"
    label = "明细表"
    dims = (0, 6)
    measures = (0, 20)

    def shape(self, frames: dict[str, pl.DataFrame], spec: ChartSpec) -> Shape:
        frame = frames["main"]
        return Shape(columns=frame.width, cells=frame.height * frame.width)

    def check(self, spec: ChartSpec) -> list[str]:
        out = super().check(spec)
        if not spec.dimensions and not spec.measures:
            out.append("表格至少需要一个维度或一个指标")
        return out

    def render(self, frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext) -> Any:
        frame = frames["main"]
        dims = spec.group_dimensions
        headers = [d.name for d in dims] + [measure_label(m, ctx) for m in spec.measures]
        formats: list[str | None] = [None] * len(dims) + [m.format for m in spec.measures]
        ratio = {len(dims) + i for i, m in enumerate(spec.measures) if m.agg == "ratio"}
        return table_figure(frame, headers, formats, spec, ctx, ratio)


register(TableChart())
