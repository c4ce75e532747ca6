"""Bar chart: grouped, stacked or 100% stacked; vertical or horizontal.

This file is also the template for a new chart type: an options model, a class with
name/label/output/options_model, check() and queries() (inherited here), render(), and
one `register(...)` call at import.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict

from citybi.charts.domain_colors import category_colors
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
from citybi.charts.types._base import AggregatedChart, category_values, plain_text

if TYPE_CHECKING:
    from citybi.charts.spec import ChartSpec


class BarOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    horizontal: bool = option(False, "横向条形")
    mode: Literal["group", "stack", "percent"] = option(
        "group", "多个系列时", labels={"group": "并排", "stack": "堆叠", "percent": "百分比堆叠"})
    show_values: bool = option(False, "显示数值")


class BarChart(AggregatedChart):
    name = "bar"
    label = "柱状图"
    options_model = BarOptions

    def render(self, frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext) -> Any:
        import plotly.graph_objects as go

        opts: BarOptions = spec.typed_options()  # type: ignore[assignment]
        frame = frames["main"]
        x = spec.dimensions[0].name
        series = spec.series.name if spec.series else None
        traces = []
        for key, part in series_groups(frame, series):
            ctx.check_time()
            for m in spec.measures:
                name = trace_name(key, m, spec, ctx)
                cats, vals = category_values(part[x].to_list()), part[m.name].to_list()
                fmt = d3_format(m)
                trace: dict[str, Any] = {"name": name, "orientation": "h" if opts.horizontal else "v"}
                if opts.horizontal:
                    trace.update(x=vals, y=cats, hovertemplate=f"%{{y}}: %{{x:{fmt}}}<extra>{name}</extra>")
                else:
                    trace.update(x=cats, y=vals, hovertemplate=f"%{{x}}: %{{y:{fmt}}}<extra>{name}</extra>")
                colors = category_colors([key]) if key is not None else category_colors(cats)
                if colors is not None:  # air-quality levels keep the national colours (优 green …)
                    trace["marker"] = {"color": colors[0] if key is not None else colors}
                if opts.show_values:
                    trace.update(texttemplate=f"%{{{'x' if opts.horizontal else 'y'}:{fmt}}}", textposition="auto")
                traces.append(go.Bar(**trace))
        barmode = {"group": "group", "stack": "stack", "percent": "relative"}[opts.mode]
        layout = base_layout(spec, ctx, barmode=barmode)
        if opts.mode == "percent":
            layout["barnorm"] = "percent"
        value_axis = {"title": {"text": plain_text(measure_label(spec.measures[0], ctx))}}
        cat_axis = {"title": {"text": plain_text(x)}, "type": "category"}
        if opts.horizontal:
            layout.update(xaxis=value_axis, yaxis={**cat_axis, "autorange": "reversed"})
        else:
            layout.update(xaxis=cat_axis, yaxis=value_axis)
        return figure(traces, layout)


register(BarChart())
