"""District map: one measure per district, coloured on the district polygons, no tiles.

Why no base map: city networks are often offline and the map page must render in the
offline browser test, so the Deck has map_provider=None (and no map_style: with
map_style=None Streamlit 1.67 still fetches a CARTO style) and draws only
the GeoJSON passed in (the bundled boundary file comes with the map page). This type only
aggregates by the district column and colours the shapes; it never fetches anything.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict

from citybi.charts.form import option
from citybi.charts.render import RenderContext, format_value, measure_label
from citybi.charts.spec import ChartSpecError
from citybi.charts.types import register
from citybi.charts.types._base import AggregatedChart, Shape

if TYPE_CHECKING:
    from citybi.charts.spec import ChartSpec

# low → high colour stops (RGB)
SCALES: dict[str, list[tuple[int, int, int]]] = {
    "YlOrRd": [(255, 255, 178), (253, 141, 60), (189, 0, 38)],
    "Blues": [(239, 243, 255), (107, 174, 214), (8, 81, 156)],
    "Greens": [(237, 248, 233), (116, 196, 118), (0, 109, 44)],
    "Reds": [(254, 229, 217), (251, 106, 74), (165, 15, 21)],
}
NO_DATA = [210, 210, 210, 160]


class MapOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region_property: str = "name"  # the GeoJSON feature property holding the district name
    colorscale: Literal["YlOrRd", "Blues", "Greens", "Reds"] = option(
        "YlOrRd", "配色", labels={"YlOrRd": "黄-红", "Blues": "蓝", "Greens": "绿", "Reds": "红"})
    opacity: float = option(0.8, "不透明度", ge=0.1, le=1.0)


def color_for(value: float | None, lo: float, hi: float, scale: str) -> list[int]:
    if value is None:
        return list(NO_DATA)
    stops = SCALES[scale]
    t = 0.5 if hi == lo else max(0.0, min(1.0, (value - lo) / (hi - lo)))
    seg = min(int(t * (len(stops) - 1)), len(stops) - 2)
    local = t * (len(stops) - 1) - seg
    a, b = stops[seg], stops[seg + 1]
    return [round(a[i] + (b[i] - a[i]) * local) for i in range(3)] + [200]


def _coords(geometry: dict[str, Any]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []

    def walk(node: Any) -> None:
        if isinstance(node, (list, tuple)) and node and isinstance(node[0], (int, float)):
            out.append((float(node[0]), float(node[1])))
        elif isinstance(node, (list, tuple)):
            for child in node:
                walk(child)

    walk((geometry or {}).get("coordinates", []))
    return out


def view_for(features: list[dict[str, Any]]) -> dict[str, float]:
    """Centre and zoom that fit every polygon (deck.gl web-mercator zoom, roughly)."""
    pts = [p for f in features for p in _coords(f.get("geometry") or {})]
    if not pts:
        return {"longitude": 116.4, "latitude": 39.9, "zoom": 8}
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    span = max(max(xs) - min(xs), (max(ys) - min(ys)) * 1.3, 1e-4)
    zoom = max(1.0, min(16.0, math.log2(360.0 / span) - 0.5))
    return {"longitude": (min(xs) + max(xs)) / 2, "latitude": (min(ys) + max(ys)) / 2, "zoom": round(zoom, 2)}


class MapChart(AggregatedChart):
    name = "map"
    label = "区域地图"
    output = "pydeck"
    options_model = MapOptions
    series = "none"

    def shape(self, frames: dict[str, pl.DataFrame], spec: ChartSpec) -> Shape:
        """One region per row (the polygons come from the GeoJSON, the values from here)."""
        return Shape(categories=frames["main"].height, category_of=spec.dimensions[0].name)

    def render(self, frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext) -> Any:
        import pydeck as pdk

        if not ctx.geojson or not isinstance(ctx.geojson.get("features"), list):
            raise ChartSpecError(["地图需要区划边界数据（GeoJSON），当前没有提供"],
                                 hint="请在地图页选择城市边界文件后再显示")
        opts: MapOptions = spec.typed_options()  # type: ignore[assignment]
        frame = frames["main"]
        region = spec.dimensions[0].name
        m = spec.measures[0]
        values = {str(r[0]): r[1] for r in frame.select(region, m.name).iter_rows()}
        present = [v for v in values.values() if v is not None]
        lo, hi = (min(present), max(present)) if present else (0.0, 0.0)
        features = []
        for f in ctx.geojson["features"]:
            props = dict(f.get("properties") or {})
            key = str(props.get(opts.region_property, ""))
            v = values.get(key)
            props.update(region=key, value=v, value_text=format_value(v, m.format, ratio=m.agg == "ratio"),
                         fill=color_for(v, lo, hi, opts.colorscale))
            features.append({"type": "Feature", "geometry": f.get("geometry"), "properties": props})
        layer = pdk.Layer(
            "GeoJsonLayer", data={"type": "FeatureCollection", "features": features}, id="districts",
            get_fill_color="properties.fill", get_line_color=[255, 255, 255, 255], line_width_min_pixels=1,
            stroked=True, filled=True, pickable=True, opacity=opts.opacity,
        )
        label = measure_label(m, ctx)
        return pdk.Deck(
            layers=[layer], initial_view_state=pdk.ViewState(**view_for(features)),
            map_provider=None,  # no map_style on purpose, see the module docstring
            tooltip={"text": "{region}\n" + label + "：{value_text}"},
        )


register(MapChart())
