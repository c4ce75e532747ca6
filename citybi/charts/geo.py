"""全市一张图 building blocks: boundaries, coordinate columns, point queries, the layered deck.

Why in the core and not in the page: the map page, the browser test and the unit tests
need the same answers to "which columns are coordinates", "which rows are points" and
"what does the deck look like", and the core must stay free of streamlit. The choropleth
values themselves come from the ordinary `map` chart type through run_chart (same SQL,
same cache); this module adds the point and hexagon layers and the Chinese legend.

Offline by design: every Deck has map_provider=None and pydeck's default style sentinel
(not map_style=None, see city_deck), so nothing asks a tile server; the district polygons
are the only background.
"""
from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from typing import Any

import polars as pl
from sqlglot import exp

from citybi.charts.compile import col, date_between, table_ref
from citybi.charts.render import PALETTE, format_value
from citybi.charts.types.map import NO_DATA, SCALES, color_for, view_for
from citybi.config import SAMPLE_DIR
from citybi.errors import UserFacingError
from citybi.schema import DatasetInfo

BOUNDARIES_PATH = SAMPLE_DIR / "boundaries.geojson"
MAX_GEOJSON_BYTES = 20 * 1024 * 1024
MAX_POINTS = 50_000
REGION_NAMES = ("区", "区县", "行政区", "所属区", "区域", "district")
_LON = ("经度", "lon", "lng", "longitude", "x坐标")
_LAT = ("纬度", "lat", "latitude", "y坐标")
_LABEL_FONT = "Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif"


class GeoError(UserFacingError):
    """A boundary file or coordinate column that cannot be used."""


# ---------------------------------------------------------------------------- boundaries
def load_boundaries(source: Path | str | bytes | None = None) -> dict[str, Any]:
    """A checked GeoJSON FeatureCollection of Polygon/MultiPolygon features (the bundled one by default)."""
    if source is None or isinstance(source, (str, Path)):
        path = Path(source) if source is not None else BOUNDARIES_PATH
        if not path.is_file():
            raise GeoError(f"找不到区划边界文件 {path.name}",
                           hint="请运行 python datasets/boundaries.py 生成，或上传 GeoJSON")
        raw = path.read_bytes()
    else:
        raw = source
    if len(raw) > MAX_GEOJSON_BYTES:
        raise GeoError("边界文件过大（超过 20 MB）", hint="请先简化边界（例如用 mapshaper 减少顶点）再上传")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise GeoError("边界文件不是有效的 GeoJSON（UTF-8 编码的 JSON）",
                       hint="请确认文件扩展名为 .geojson 或 .json") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(
            data.get("features"), list):
        raise GeoError("边界文件应为 GeoJSON 的 FeatureCollection", hint="请导出为 FeatureCollection 格式")
    features = [f for f in data["features"] if isinstance(f, dict)
                and (f.get("geometry") or {}).get("type") in ("Polygon", "MultiPolygon")]
    if not features:
        raise GeoError("边界文件里没有多边形（Polygon/MultiPolygon）", hint="区划边界应为面要素，而不是点或线")
    return {**data, "features": features}


def region_properties(geojson: dict[str, Any]) -> list[str]:
    """Feature properties holding text on every feature: candidates for the district name."""
    feats = geojson.get("features") or []
    if not feats:
        return []
    keys = [k for k, v in (feats[0].get("properties") or {}).items() if isinstance(v, str)]
    keys = [k for k in keys if all(isinstance((f.get("properties") or {}).get(k), str) for f in feats)]
    preferred = [k for k in REGION_NAMES if k in keys] + (["name"] if "name" in keys else [])
    return list(dict.fromkeys(preferred + keys))


def region_names(geojson: dict[str, Any], prop: str) -> list[str]:
    return [str((f.get("properties") or {}).get(prop, "")) for f in geojson.get("features") or []]


# ---------------------------------------------------------------------------- columns
def region_columns(info: DatasetInfo) -> list[str]:
    """Text columns that name a district (区 first); empty when the dataset has none."""
    text = [c.name for c in info.columns if c.type == "text"]
    exact = [n for n in REGION_NAMES if n in text]
    loose = [n for n in text if n not in exact and (n.endswith("区") or n.endswith("区县"))]
    return exact + loose


def coordinate_columns(info: DatasetInfo) -> tuple[str, str] | None:
    """(longitude, latitude) numeric columns by name (经度/纬度, lon/lat, …), else None."""
    numeric = [c.name for c in info.columns if c.is_numeric]

    def find(words: tuple[str, ...]) -> str | None:
        for w in words:
            for n in numeric:
                if n.lower() == w or n.lower().startswith(w + "（") or n.lower().startswith(w + "("):
                    return n
        for n in numeric:
            if any(w in n.lower() for w in words if len(w) > 2 or not w.isascii()):
                return n
        return None

    lon, lat = find(_LON), find(_LAT)
    return (lon, lat) if lon and lat and lon != lat else None


def date_columns(info: DatasetInfo) -> list[str]:
    return [c.name for c in info.columns if c.is_temporal]


# ---------------------------------------------------------------------------- queries
def date_span_query(info: DatasetInfo, column: str) -> exp.Select:
    """MIN and MAX of a date column, as DATEs."""
    day = exp.cast(col(column), "DATE")
    return exp.select(exp.Min(this=day).as_("first", quoted=True),
                      exp.Max(this=day.copy()).as_("last", quoted=True)).from_(table_ref(info.name))


def points_query(info: DatasetInfo, lon: str, lat: str, *, category: str | None = None,
                 date_column: str | None = None, start: dt.date | None = None, end: dt.date | None = None,
                 limit: int = MAX_POINTS) -> exp.Select:
    """Rows with both coordinates (plausible degrees only), newest first when there is a date."""
    select = [col(lon).as_("lon", quoted=True), col(lat).as_("lat", quoted=True)]
    if category:
        select.append(exp.cast(col(category), "VARCHAR").as_("category", quoted=True))
    tree = exp.select(*select).from_(table_ref(info.name)).where(exp.and_(
        exp.Between(this=col(lon), low=exp.Literal.number(-180), high=exp.Literal.number(180)),
        exp.Between(this=col(lat), low=exp.Literal.number(-90), high=exp.Literal.number(90)),
    ))
    if date_column and (start or end):
        tree = tree.where(date_between(col(date_column), start, end))
    if date_column:
        tree = tree.order_by(exp.Ordered(this=col(date_column), desc=True))
    return tree.limit(limit)


# ---------------------------------------------------------------------------- the deck
def category_colors(categories: list[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, name in enumerate(categories):
        h = PALETTE[i % len(PALETTE)].lstrip("#")
        out[name] = [int(h[k:k + 2], 16) for k in (0, 2, 4)] + [200]
    return out


def choropleth_features(geojson: dict[str, Any], prop: str, values: dict[str, float | None], *,
                        label: str, fmt: str | None = None, ratio: bool = False,
                        scale: str = "YlOrRd") -> tuple[list[dict[str, Any]], float | None, float | None]:
    """Features with fill colour and tooltip text; (features, low, high) of the values shown."""
    present = [v for k, v in values.items() if v is not None and k in set(region_names(geojson, prop))]
    lo, hi = (min(present), max(present)) if present else (None, None)
    feats = []
    for f in geojson.get("features") or []:
        props = dict(f.get("properties") or {})
        name = str(props.get(prop, ""))
        v = values.get(name)
        text = format_value(v, fmt, ratio=ratio) if v is not None else "无数据"
        props.update(region=name, fill=color_for(v, lo or 0.0, hi or 0.0, scale) if v is not None else list(NO_DATA),
                     tip=f"<b>{html.escape(name)}</b><br/>{html.escape(label)}：{html.escape(text)}")
        feats.append({"type": "Feature", "geometry": f.get("geometry"), "properties": props})
    return feats, lo, hi


def _label_point(feature: dict[str, Any]) -> list[float]:
    """Where a district's name goes: its stated centre if the file has one, else the vertex mean."""
    props = feature.get("properties") or {}
    lon, lat = props.get("中心经度"), props.get("中心纬度")
    if isinstance(lon, (int, float)) and isinstance(lat, (int, float)):
        return [float(lon), float(lat)]
    pts = _ring_points(feature.get("geometry") or {})
    if not pts:
        return [0.0, 0.0]
    return [sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)]


def _ring_points(geometry: dict[str, Any]) -> list[tuple[float, float]]:
    coords = geometry.get("coordinates") or []
    if geometry.get("type") == "MultiPolygon":  # the largest part carries the name
        parts = [p[0] for p in coords if p]
        coords = [max(parts, key=len)] if parts else []
    ring = coords[0] if coords else []
    return [(float(p[0]), float(p[1])) for p in ring if isinstance(p, (list, tuple)) and len(p) >= 2]


def city_deck(geojson: dict[str, Any], features: list[dict[str, Any]] | None, points: pl.DataFrame | None, *,
              show_points: bool = True, show_hexagons: bool = False, hex_radius_m: int = 800,
              point_label: str = "", colors: dict[str, list[int]] | None = None,
              label_property: str = "name") -> Any:
    """One Deck: district polygons (coloured or plain), points, hexagon bins — no base map."""
    import pydeck as pdk

    layers = []
    polys = features if features is not None else [
        {"type": "Feature", "geometry": f.get("geometry"),
         "properties": {**(f.get("properties") or {}), "fill": [235, 235, 235, 160], "tip": ""}}
        for f in geojson.get("features") or []]
    layers.append(pdk.Layer(
        "GeoJsonLayer", data={"type": "FeatureCollection", "features": polys}, id="districts",
        get_fill_color="properties.fill", get_line_color=[90, 90, 90, 255], line_width_min_pixels=1,
        stroked=True, filled=True, pickable=True, opacity=0.75,
    ))
    names = ([str((f.get("properties") or {}).get("region") or "") for f in polys] if features is not None
             else region_names(geojson, label_property))
    labels = [{"text": n, "position": _label_point(f)} for f, n in zip(polys, names, strict=True) if n]
    if points is not None and points.height:
        rows = points.to_dicts()
        colors = colors or {}
        safe_label = html.escape(point_label)
        for r in rows:
            cat = r.get("category")
            r["color"] = colors.get(cat, [33, 102, 172, 200]) if cat is not None else [33, 102, 172, 200]
            r["tip"] = f"{safe_label}<br/>{html.escape(str(cat))}" if cat is not None else safe_label
        if show_hexagons:
            layers.append(pdk.Layer(
                "HexagonLayer", data=[{"lon": r["lon"], "lat": r["lat"]} for r in rows], id="hexagons",
                get_position=["lon", "lat"], radius=hex_radius_m, extruded=False, coverage=0.9,
                opacity=0.6, pickable=False,
                # blue-purple: must not be mistaken for the districts' yellow-red scale
                color_range=[[237, 248, 251], [191, 211, 230], [158, 188, 218], [140, 150, 198], [136, 86, 167],
                             [129, 15, 124]],
            ))
        if show_points:
            layers.append(pdk.Layer(
                "ScatterplotLayer", data=rows, id="points", get_position=["lon", "lat"], get_fill_color="color",
                get_radius=60, radius_min_pixels=2, radius_max_pixels=8, pickable=True,
            ))
    if labels:
        # district names on the map itself: a leader should not need the tooltip to find 临江区
        layers.append(pdk.Layer(
            "TextLayer", data=labels, id="labels", get_position="position", get_text="text", get_size=14,
            get_color=[40, 40, 40, 230], font_family=f"'{_LABEL_FONT}'",
            # the glyphs for the font atlas (deck.gl's default set is ASCII only). Quoted: pydeck
            # turns any bare string or list of strings into an accessor expression
            character_set="'" + "".join(sorted({ch for label in labels for ch in label["text"]} - {"'"})) + "'",
            font_weight=600,
            outline_width=2, outline_color=[255, 255, 255, 220], font_settings={"sdf": True}, pickable=False,
        ))
    view = view_for(geojson.get("features") or [])
    view["zoom"] = round(view["zoom"] + 0.4, 2)  # view_for leaves a wide margin; the page map is tall
    # No map_style argument on purpose: with map_style=None the JSON has no mapStyle and
    # Streamlit 1.67's deck frontend then fetches a CARTO basemap from the internet (seen
    # as a failed request offline). pydeck's default style sentinel with map_provider=None
    # makes Streamlit draw no basemap and request nothing.
    return pdk.Deck(layers=layers, initial_view_state=pdk.ViewState(**view), map_provider=None,
                    tooltip={"html": "{tip}", "style": {"fontFamily": "Noto Sans CJK SC, sans-serif"}})


def legend_html(label: str, lo: float | None, hi: float | None, *, fmt: str | None = None, ratio: bool = False,
                scale: str = "YlOrRd", categories: dict[str, list[int]] | None = None,
                point_label: str = "", hexagons: bool = False) -> str:
    """The Chinese legend as HTML (every user text escaped): gradient, 无数据, point colours."""
    parts = ['<div style="font-size:0.9rem;line-height:1.6">']
    if lo is not None and hi is not None:
        stops = ", ".join(f"rgb{tuple(s)}" for s in SCALES[scale])
        parts.append(f"<div><b>区域颜色：{html.escape(label)}</b></div>"
                     f'<div style="display:flex;align-items:center;gap:6px">'
                     f"<span>{html.escape(format_value(lo, fmt, ratio=ratio))}</span>"
                     f'<span style="display:inline-block;width:160px;height:12px;background:linear-gradient(to right, '
                     f'{stops})"></span><span>{html.escape(format_value(hi, fmt, ratio=ratio))}</span>'
                     f'<span style="display:inline-block;width:14px;height:12px;margin-left:12px;'
                     f'background:rgba(210,210,210,0.63)"></span><span>无数据</span></div>')
    if categories:
        parts.append(f"<div><b>点：{html.escape(point_label)}</b></div><div>")
        for name, c in categories.items():
            parts.append(f'<span style="white-space:nowrap;margin-right:10px"><span style="display:inline-block;'
                         f'width:10px;height:10px;border-radius:5px;background:rgb({c[0]},{c[1]},{c[2]})"></span> '
                         f"{html.escape(name)}</span>")
        parts.append("</div>")
    elif point_label:
        parts.append('<div><span style="display:inline-block;width:10px;height:10px;border-radius:5px;'
                     f'background:rgb(33,102,172)"></span> 点：{html.escape(point_label)}</div>')
    if hexagons:
        parts.append("<div>六边形（蓝紫色）：颜色越深，范围内的点越多</div>")
    parts.append("</div>")
    return "".join(parts)
