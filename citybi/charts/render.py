"""Query results + spec → a plotly Figure, a pydeck Deck or a KPI value object.

Why separate from the chart types' queries: a board renders many tiles from cached frames,
so rendering must be cheap and pure (no database, no streamlit). The helpers here keep
every chart's labels, units and number formats consistent: a measure is shown as
"清运量（吨）" and hovered with its own format everywhere.
"""
from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import polars as pl

from citybi.charts.spec import chart_type_of
from citybi.charts.types._base import TOO_MUCH_HINT, RenderRefused, check_shape, plain_text
from citybi.config import RenderLimits, render_limits

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from citybi.charts.spec import ChartSpec, Measure
    from citybi.charts.types import ChartType
    from citybi.schema import DatasetInfo

FONT = "Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif"
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


@dataclass
class RenderContext:
    """What a renderer may need besides the frames: units, the reference day, map shapes."""

    units: dict[str, str] = field(default_factory=dict)  # output name → unit
    today: dt.date | None = None
    geojson: dict[str, Any] | None = None  # district boundaries for the map type
    height: int | None = None
    limits: RenderLimits = field(default_factory=render_limits)
    deadline: float | None = None  # time.monotonic() after which check_time() refuses

    def check_time(self) -> None:
        """Refuse once the render's wall-clock budget is spent. Renderers call this between
        steps (per trace, per table column); the shape caps bound each step, so a render
        overruns its budget by at most one bounded step (Python cannot stop a thread mid-call)."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise RenderRefused(f"图表绘制超过 {self.limits.budget_s:g} 秒仍未完成，已停止", hint=TOO_MUCH_HINT)


def units_for(spec: ChartSpec, info: DatasetInfo | None) -> dict[str, str]:
    """Each measure's unit: the spec's own, else the column's (not for counts and ratios)."""
    out: dict[str, str] = {}
    for m in spec.measures:
        unit = m.unit
        if unit is None and info is not None and m.column != "*" and m.agg in ("sum", "avg", "max", "min"):
            c = info.column(m.column)
            unit = c.unit if c is not None else None
        if unit:
            out[m.name] = unit
    return out


def render(spec: ChartSpec, frames: dict[str, pl.DataFrame] | pl.DataFrame, ctx: RenderContext | None = None) -> Any:
    """Dispatch to the chart type's renderer. A single frame is taken as the "main" query."""
    if isinstance(frames, pl.DataFrame):
        frames = {"main": frames}
    return render_output(chart_type_of(spec.type), frames, spec, ctx or RenderContext())


def render_output(chart_type: ChartType, frames: dict[str, pl.DataFrame], spec: ChartSpec,
                  ctx: RenderContext) -> Any:
    """The one way to call a renderer: refuse a result past the limits from its shape (cheap,
    nothing built yet), then render under the wall-clock budget (RenderRefused, Chinese)."""
    check_shape(chart_type.shape(frames, spec), ctx.limits, chart_type.label)
    return chart_type.render(frames, spec, replace(ctx, deadline=time.monotonic() + ctx.limits.budget_s))


# ---------------------------------------------------------------------------- shared helpers
def measure_label(m: Measure, ctx: RenderContext) -> str:
    """"清运量（吨）" as plain text; wrap it in plain_text() before it goes into a figure."""
    unit = ctx.units.get(m.name)
    return f"{m.name}（{unit}）" if unit and unit not in m.name else m.name


def ratio_format(fmt: str | None) -> str:
    """A ratio's format: always a percentage (".2f" on 办结率 would read 0.93, not 93.00%)."""
    if fmt and fmt.endswith("%"):
        return fmt
    digits = re.search(r"\.(\d{1,2})", fmt or "")
    return f".{digits.group(1)}%" if digits else ".1%"


def d3_format(m: Measure) -> str:
    """The measure's number format for plotly templates (ratios always as a percentage)."""
    if m.is_ratio:
        return ratio_format(m.format)
    return m.format or ",.4~g"


def format_value(value: Any, fmt: str | None, *, ratio: bool = False) -> str:
    """A number formatted the way the chart shows it, for KPI cards and tables."""
    if value is None:
        return "—"
    if not isinstance(value, (int, float)):
        return str(value)
    f = ratio_format(fmt) if ratio else fmt
    if f:
        try:
            return format(value, f)
        except ValueError:
            pass
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def base_layout(spec: ChartSpec, ctx: RenderContext, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        # the title sits on the plot area's top edge, the toolbar in the margin's top 30 px above
        # it: however narrow the tile, the toolbar never covers the title
        "title": {"text": plain_text(spec.title), "x": 0, "xref": "paper", "xanchor": "left",
                  "y": 1, "yref": "paper", "yanchor": "bottom", "pad": {"b": 10}},
        "font": {"family": FONT},
        "margin": {"l": 40, "r": 20, "t": 70, "b": 40},
        "legend": {"orientation": "h", "y": -0.15},
        "colorway": PALETTE,
    }
    if ctx.height:
        layout["height"] = ctx.height
    layout.update(extra)
    ctx.check_time()  # every plotly type builds its layout after its traces
    return layout


def series_groups(frame: pl.DataFrame, column: str | None) -> list[tuple[Any, pl.DataFrame]]:
    """Split by the series column keeping first-appearance order ([(None, frame)] without one)."""
    if column is None:
        return [(None, frame)]
    parts = frame.partition_by(column, maintain_order=True, as_dict=True)
    return [(key[0], part) for key, part in parts.items()]


def trace_name(key: Any, m: Measure, spec: ChartSpec, ctx: RenderContext) -> str:
    """Legend name of one (series value, measure) trace: the measure, the series value, or both.
    Escaped for plotly (it also goes into hover templates)."""
    if key is None:
        return plain_text(measure_label(m, ctx))
    return plain_text(key if len(spec.measures) == 1 else f"{key}·{m.name}")


# Chinese date ticks at every zoom level: plotly's defaults read "Jan 2024" and "Jun 8"
DATE_TICKS: list[dict[str, Any]] = [
    {"dtickrange": [None, 1000], "value": "%H:%M:%S.%L"},
    {"dtickrange": [1000, 60_000], "value": "%H:%M:%S"},
    {"dtickrange": [60_000, 86_400_000], "value": "%-m月%-d日 %H:%M"},
    {"dtickrange": [86_400_000, "M1"], "value": "%-m月%-d日"},
    {"dtickrange": ["M1", "M12"], "value": "%Y年%-m月"},
    {"dtickrange": ["M12", None], "value": "%Y年"},
]
DATE_HOVER = "%Y年%-m月%-d日"
DATETIME_HOVER = "%Y年%-m月%-d日 %H:%M"


def _first_value(values: Any) -> Any:
    return next((v for v in (values if values is not None else ()) if v is not None), None)


def date_axes(data: list[Any]) -> dict[str, str]:
    """Axes ("xaxis"/"yaxis") whose traces carry dates, with the hover format each needs."""
    out: dict[str, str] = {}
    for trace in data:
        for axis in ("x", "y"):
            if trace.type in ("pie", "table", "heatmap"):
                continue
            first = _first_value(getattr(trace, axis, None))
            if isinstance(first, dt.datetime):
                out[f"{axis}axis"] = DATETIME_HOVER
            elif isinstance(first, dt.date):
                out.setdefault(f"{axis}axis", DATE_HOVER)
    return out


def figure(data: list[Any], layout: dict[str, Any]) -> go.Figure:
    """The figure, with any date axis ticked and hovered in Chinese (2024年1月, 6月8日)."""
    import plotly.graph_objects as go

    for axis, hover in date_axes(data).items():
        layout[axis] = {"tickformatstops": DATE_TICKS, "hoverformat": hover, **layout.get(axis, {})}
    return go.Figure(data=data, layout=layout)
