"""Query results + spec → a plotly Figure, a pydeck Deck or a KPI value object.

Why separate from the chart types' queries: a board renders many tiles from cached frames,
so rendering must be cheap and pure (no database, no streamlit). The helpers here keep
every chart's labels, units and number formats consistent: a measure is shown as
"清运量（吨）" and hovered with its own format everywhere.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from citybi.charts.spec import ChartSpec, Measure
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
    from citybi.charts.types import get_type

    if isinstance(frames, pl.DataFrame):
        frames = {"main": frames}
    return get_type(spec.type).render(frames, spec, ctx or RenderContext())


# ---------------------------------------------------------------------------- shared helpers
def measure_label(m: Measure, ctx: RenderContext) -> str:
    unit = ctx.units.get(m.name)
    return f"{m.name}（{unit}）" if unit and unit not in m.name else m.name


def d3_format(m: Measure) -> str:
    """The measure's number format for plotly templates (ratios default to percent)."""
    if m.format:
        return m.format
    return ".1%" if m.agg == "ratio" else ",.4~g"


def format_value(value: Any, fmt: str | None, *, ratio: bool = False) -> str:
    """A number formatted the way the chart shows it, for KPI cards and tables."""
    if value is None:
        return "—"
    if not isinstance(value, (int, float)):
        return str(value)
    f = fmt or (".1%" if ratio else None)
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
        "title": {"text": spec.title},
        "font": {"family": FONT},
        "margin": {"l": 40, "r": 20, "t": 50, "b": 40},
        "legend": {"orientation": "h", "y": -0.15},
        "colorway": PALETTE,
    }
    if ctx.height:
        layout["height"] = ctx.height
    layout.update(extra)
    return layout


def series_groups(frame: pl.DataFrame, column: str | None) -> list[tuple[Any, pl.DataFrame]]:
    """Split by the series column keeping first-appearance order ([(None, frame)] without one)."""
    if column is None:
        return [(None, frame)]
    parts = frame.partition_by(column, maintain_order=True, as_dict=True)
    return [(key[0], part) for key, part in parts.items()]


def trace_name(key: Any, m: Measure, spec: ChartSpec, ctx: RenderContext) -> str:
    """Legend name of one (series value, measure) trace: the measure, the series value, or both."""
    if key is None:
        return measure_label(m, ctx)
    return str(key) if len(spec.measures) == 1 else f"{key}·{m.name}"


def figure(data: list[Any], layout: dict[str, Any]) -> go.Figure:
    import plotly.graph_objects as go

    return go.Figure(data=data, layout=layout)
