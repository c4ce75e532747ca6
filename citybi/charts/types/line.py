"""Line chart: one x dimension (usually a date at some grain), one line per measure or series."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel, ConfigDict

from citybi.charts.domain_colors import aqi_band_shapes, is_aqi
from citybi.charts.form import option
from citybi.charts.periods import next_period_start, period_start
from citybi.charts.render import (
    PALETTE,
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


def incomplete_days(last: Any, grain: str | None, today: dt.date | None) -> int | None:
    """Days of data in the last point's period when that period runs past `today` (else None).

    A line by week or month whose last week holds one day of data would otherwise drop to a
    seventh of its height — read as a collapse, not as "this week has only begun".
    """
    if grain in (None, "日") or today is None:
        return None
    day = last.date() if isinstance(last, dt.datetime) else last
    if not isinstance(day, dt.date):
        return None
    start = period_start(day, grain)
    end = next_period_start(start, grain) - dt.timedelta(days=1)
    if start <= today < end:
        return (today - start).days + 1
    return None


def line_traces(frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext, *, area: bool,
                stacked: bool = False, markers: bool = True, smooth: bool = False) -> list[Any]:
    import plotly.graph_objects as go

    frame = frames["main"]
    x = spec.dimensions[0].name
    series = spec.series.name if spec.series else None
    grain = spec.dimensions[0].grain
    traces = []
    lines = 0  # main traces drawn: the colour the default colorway would have given this one
    for key, part in series_groups(frame, series):
        ctx.check_time()
        xs = plain_values(part[x].to_list())
        partial = incomplete_days(xs[-1], grain, ctx.today) if len(xs) > 1 and not area else None
        for m in spec.measures:
            name = trace_name(key, m, spec, ctx)
            ys = part[m.name].to_list()
            color = PALETTE[lines % len(PALETTE)]
            lines += 1
            trace: dict[str, Any] = {
                "x": xs if partial is None else xs[:-1], "y": ys if partial is None else ys[:-1], "name": name,
                "mode": "lines+markers" if markers else "lines",
                "line": {"shape": "spline" if smooth else "linear", "color": color},
                "hovertemplate": f"%{{x}}: %{{y:{d3_format(m)}}}<extra>{name}</extra>",
                "legendgroup": name,
            }
            if area:
                trace["fill"] = "tonexty" if stacked else "tozeroy"
                if stacked:
                    trace["stackgroup"] = "one"
            traces.append(go.Scatter(**trace))
            if partial is not None:
                # the unfinished last period: dotted and open, and its hover says how many days it holds
                traces.append(go.Scatter(
                    x=xs[-2:], y=ys[-2:], name=f"{name}（未完）", mode=trace["mode"], showlegend=False,
                    legendgroup=name, line={"dash": "dot", "color": color},
                    marker={"symbol": ["circle", "circle-open"], "color": color},
                    hovertemplate=(f"%{{x}}: %{{y:{d3_format(m)}}}（本期未完，仅 {partial} 天数据）"
                                   f"<extra>{name}</extra>")))
    return traces


class LineChart(AggregatedChart):
    name = "line"
    label = "折线图"
    options_model = LineOptions

    def render(self, frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext) -> Any:
        opts: LineOptions = spec.typed_options()  # type: ignore[assignment]
        traces = line_traces(frames, spec, ctx, area=False, markers=opts.markers, smooth=opts.smooth)
        yaxis: dict[str, Any] = {"title": {"text": plain_text(measure_label(spec.measures[0], ctx))}}
        extra: dict[str, Any] = {}
        if len(spec.measures) == 1 and is_aqi(spec.measures[0]):
            # AQI against the national level bands: 优 green, 良 yellow, 轻度污染 orange …
            values = [v for v in frames["main"][spec.measures[0].name].to_list() if v is not None]
            top = max([*values, 50.0]) * 1.1
            extra["shapes"] = aqi_band_shapes(top)
            yaxis["range"] = [0, top]
        layout = base_layout(spec, ctx, xaxis={"title": {"text": plain_text(spec.dimensions[0].name)}},
                             yaxis=yaxis, **extra)
        return figure(traces, layout)


register(LineChart())
