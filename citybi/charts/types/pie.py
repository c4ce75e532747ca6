"""Pie or donut chart: the share of one measure across one dimension's values."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from citybi.charts.domain_colors import category_colors, level_order
from citybi.charts.form import option
from citybi.charts.render import RenderContext, base_layout, d3_format, figure, measure_label
from citybi.charts.types import register
from citybi.charts.types._base import AggregatedChart, Shape, plain_text

if TYPE_CHECKING:
    from citybi.charts.spec import ChartSpec


class PieOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    donut: bool = option(False, "环形图")
    hole: float = Field(default=0.5, ge=0.1, le=0.9)
    show_percent: bool = option(True, "显示百分比")


class PieChart(AggregatedChart):
    name = "pie"
    label = "饼图/环形图"
    options_model = PieOptions
    measures = (1, 1)
    series = "none"

    def shape(self, frames: dict[str, pl.DataFrame], spec: ChartSpec) -> Shape:
        """One slice per row."""
        return Shape(categories=frames["main"].height, points=frames["main"].height,
                     category_of=spec.dimensions[0].name)

    def render(self, frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext) -> Any:
        import plotly.graph_objects as go

        opts: PieOptions = spec.typed_options()  # type: ignore[assignment]
        frame = frames["main"]
        m = spec.measures[0]
        name = plain_text(measure_label(m, ctx))
        labels, values = frame[spec.dimensions[0].name].to_list(), frame[m.name].to_list()
        order = level_order(labels)  # air-quality levels read 优 → 严重污染, in the national colours
        if order is not None:
            labels, values = [labels[i] for i in order], [values[i] for i in order]
        colors = category_colors(labels)
        pie = go.Pie(
            labels=[plain_text(v) for v in labels],
            values=values, name=name, hole=opts.hole if opts.donut else 0,
            textinfo="label+percent" if opts.show_percent else "label+value", sort=False,
            hovertemplate=f"%{{label}}: %{{value:{d3_format(m)}}}（%{{percent}}）<extra>{name}</extra>",
            **({"marker": {"colors": colors}, "direction": "clockwise"} if colors else {}),
        )
        return figure([pie], base_layout(spec, ctx))


register(PieChart())
