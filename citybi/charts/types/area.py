"""Area chart: a line chart filled to zero, or stacked so the series add up."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel, ConfigDict

from citybi.charts.form import option
from citybi.charts.render import RenderContext, base_layout, figure, measure_label
from citybi.charts.types import register
from citybi.charts.types._base import AggregatedChart, plain_text
from citybi.charts.types.line import line_traces

if TYPE_CHECKING:
    from citybi.charts.spec import ChartSpec


class AreaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stacked: bool = option(True, "堆叠")
    smooth: bool = option(False, "平滑曲线")


class AreaChart(AggregatedChart):
    name = "area"
    label = "面积图"
    options_model = AreaOptions

    def render(self, frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext) -> Any:
        opts: AreaOptions = spec.typed_options()  # type: ignore[assignment]
        traces = line_traces(frames, spec, ctx, area=True, stacked=opts.stacked, markers=False, smooth=opts.smooth)
        layout = base_layout(spec, ctx, xaxis={"title": {"text": plain_text(spec.dimensions[0].name)}},
                             yaxis={"title": {"text": plain_text(measure_label(spec.measures[0], ctx))}})
        return figure(traces, layout)


register(AreaChart())
