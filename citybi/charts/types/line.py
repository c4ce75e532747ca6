"""Line chart: one x dimension (usually a date at some grain), one line per measure or series."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel, ConfigDict

from citybi.charts.form import option
from citybi.charts.render import (
    RenderContext,
    base_layout,
    d3_format,
    figure,
    measure_label,
    series_groups,
    trace_name,
)
from citybi.charts.types import register
from citybi.charts.types._base import AggregatedChart, plain_text, plain_values

if TYPE_CHECKING:
    from citybi.charts.spec import ChartSpec


class LineOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    markers: bool = option(True, "显示数据点")
    smooth: bool = option(False, "平滑曲线")


def line_traces(frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext, *, area: bool,
                stacked: bool = False, markers: bool = True, smooth: bool = False) -> list[Any]:
    import plotly.graph_objects as go

    frame = frames["main"]
    x = spec.dimensions[0].name
    series = spec.series.name if spec.series else None
    traces = []
    for key, part in series_groups(frame, series):
        ctx.check_time()
        for m in spec.measures:
            name = trace_name(key, m, spec, ctx)
            trace: dict[str, Any] = {
                "x": plain_values(part[x].to_list()), "y": part[m.name].to_list(), "name": name,
                "mode": "lines+markers" if markers else "lines",
                "line": {"shape": "spline" if smooth else "linear"},
                "hovertemplate": f"%{{x}}: %{{y:{d3_format(m)}}}<extra>{name}</extra>",
            }
            if area:
                trace["fill"] = "tonexty" if stacked else "tozeroy"
                if stacked:
                    trace["stackgroup"] = "one"
            traces.append(go.Scatter(**trace))
    return traces


class LineChart(AggregatedChart):
    name = "line"
    label = "折线图"
    options_model = LineOptions

    def render(self, frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext) -> Any:
        opts: LineOptions = spec.typed_options()  # type: ignore[assignment]
        traces = line_traces(frames, spec, ctx, area=False, markers=opts.markers, smooth=opts.smooth)
        layout = base_layout(spec, ctx, xaxis={"title": {"text": plain_text(spec.dimensions[0].name)}},
                             yaxis={"title": {"text": plain_text(measure_label(spec.measures[0], ctx))}})
        return figure(traces, layout)


register(LineChart())
