"""Scatter chart: one point per category, x and y from two measures, optional size from a third."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel, ConfigDict

from citybi.charts.form import option
from citybi.charts.render import RenderContext, base_layout, d3_format, figure, measure_label, series_groups
from citybi.charts.types import register
from citybi.charts.types._base import AggregatedChart, Shape, distinct, plain_text

if TYPE_CHECKING:
    from citybi.charts.spec import ChartSpec


class ScatterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size_max: int = option(40, "气泡最大尺寸（像素）", ge=4, le=120)


class ScatterChart(AggregatedChart):
    name = "scatter"
    label = "散点图"
    options_model = ScatterOptions
    measures = (2, 3)

    def shape(self, frames: dict[str, pl.DataFrame], spec: ChartSpec) -> Shape:
        """One point per row, one trace per series value (the measures are x, y and size)."""
        frame = frames["main"]
        series = spec.series.name if spec.series else ""
        return Shape(series=distinct(frame, series) if series else 1, points=frame.height, series_of=series)

    def render(self, frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext) -> Any:
        import plotly.graph_objects as go

        opts: ScatterOptions = spec.typed_options()  # type: ignore[assignment]
        frame = frames["main"]
        mx, my = spec.measures[0], spec.measures[1]
        msize = spec.measures[2] if len(spec.measures) > 2 else None
        label_col = spec.dimensions[0].name
        size_peak = max((v for v in frame[msize.name].to_list() if v is not None), default=1) if msize else 1
        traces = []
        for key, part in series_groups(frame, spec.series.name if spec.series else None):
            ctx.check_time()
            marker: dict[str, Any] = {}
            if msize is not None:
                marker = {"size": [v or 0 for v in part[msize.name].to_list()], "sizemode": "area",
                          "sizeref": 2.0 * (size_peak or 1) / opts.size_max ** 2, "sizemin": 3}
            traces.append(go.Scatter(
                x=part[mx.name].to_list(), y=part[my.name].to_list(), mode="markers",
                text=[plain_text(v) for v in part[label_col].to_list()],
                name=plain_text(key if key is not None else label_col), marker=marker,
                hovertemplate=(f"%{{text}}<br>{plain_text(mx.name)}: %{{x:{d3_format(mx)}}}<br>"
                               f"{plain_text(my.name)}: %{{y:{d3_format(my)}}}<extra></extra>"),
            ))
        layout = base_layout(spec, ctx, xaxis={"title": {"text": plain_text(measure_label(mx, ctx))}},
                             yaxis={"title": {"text": plain_text(measure_label(my, ctx))}})
        return figure(traces, layout)


register(ScatterChart())
