"""Heatmap: one measure over two dimensions (x = first dimension, y = series or second dimension)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict

from citybi.charts.domain_colors import aqi_colorscale, is_aqi
from citybi.charts.form import option
from citybi.charts.render import RenderContext, base_layout, d3_format, figure, measure_label
from citybi.charts.types import register
from citybi.charts.types._base import AggregatedChart, Shape, distinct, plain_text

if TYPE_CHECKING:
    from citybi.charts.spec import ChartSpec


class HeatmapOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    colorscale: Literal["Blues", "Reds", "Greens", "YlOrRd", "Viridis"] = option(
        "Blues", "配色", labels={"Blues": "蓝", "Reds": "红", "Greens": "绿", "YlOrRd": "黄-红", "Viridis": "紫-黄"})
    show_values: bool = option(False, "显示数值")


def heatmap_axes(spec: ChartSpec) -> tuple[str, str]:
    dims = spec.group_dimensions
    return dims[0].name, dims[1].name


def heatmap_matrix(frame: pl.DataFrame, spec: ChartSpec) -> tuple[list[Any], list[Any], list[list[Any]]]:
    """(x values, y values, z[y][x]) with None where a combination has no rows."""
    x, y = heatmap_axes(spec)
    m = spec.measures[0].name
    xs = frame.get_column(x).unique(maintain_order=True).sort().to_list()
    ys = frame.get_column(y).unique(maintain_order=True).sort().to_list()
    cell = {(r[0], r[1]): r[2] for r in frame.select(x, y, m).iter_rows()}
    return xs, ys, [[cell.get((xv, yv)) for xv in xs] for yv in ys]


class HeatmapChart(AggregatedChart):
    name = "heatmap"
    label = "热力图"
    options_model = HeatmapOptions
    dims = (1, 2)
    measures = (1, 1)

    def shape(self, frames: dict[str, pl.DataFrame], spec: ChartSpec) -> Shape:
        """The full x × y matrix is built, even where the result has no row (sparse results)."""
        x, y = heatmap_axes(spec)
        nx, ny = distinct(frames["main"], x), distinct(frames["main"], y)
        wider = x if nx >= ny else y
        return Shape(categories=max(nx, ny), cells=nx * ny, category_of=wider)

    def check(self, spec: ChartSpec) -> list[str]:
        out = super().check(spec)
        if len(spec.group_dimensions) != 2:
            out.append("热力图需要两个分组：两个维度，或一个维度加颜色/系列")
        return out

    def render(self, frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext) -> Any:
        import plotly.graph_objects as go

        opts: HeatmapOptions = spec.typed_options()  # type: ignore[assignment]
        xs, ys, z = heatmap_matrix(frames["main"], spec)
        m = spec.measures[0]
        xname, yname = (plain_text(n) for n in heatmap_axes(spec))
        trace: dict[str, Any] = {
            "x": [plain_text(v) for v in xs], "y": [plain_text(v) for v in ys], "z": z, "colorscale": opts.colorscale,
            "colorbar": {"title": {"text": plain_text(measure_label(m, ctx))}},
            "hovertemplate": f"{xname} %{{x}}<br>{yname} %{{y}}<br>%{{z:{d3_format(m)}}}<extra></extra>",
        }
        if opts.show_values:
            trace["texttemplate"] = f"%{{z:{d3_format(m)}}}"
        if is_aqi(m):  # AQI cells in the national level colours, on the standard's 0–500 scale
            trace.update(colorscale=aqi_colorscale(), zmin=0, zmax=500)
        layout = base_layout(spec, ctx, xaxis={"title": {"text": xname}, "type": "category"},
                             yaxis={"title": {"text": yname}, "type": "category"})
        return figure([go.Heatmap(**trace)], layout)


register(HeatmapChart())
