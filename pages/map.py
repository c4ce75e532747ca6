"""全市一张图: districts coloured by any measure, plus point and hexagon layers — fully offline.

The district values come from the ordinary `map` chart type (same SQL builder and result
cache as every chart); citybi.charts.geo adds the point/hexagon layers and the legend.
No tile server: the deck has map_provider=None and no style; the district polygons are the background.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import streamlit as st

from citybi.charts.cache import default_cache
from citybi.charts.geo import (
    MAX_POINTS,
    category_colors,
    choropleth_features,
    city_deck,
    coordinate_columns,
    date_columns,
    legend_html,
    load_boundaries,
    points_query,
    region_columns,
    region_names,
    region_properties,
)
from citybi.charts.profile import date_span
from citybi.charts.render import RenderContext, measure_label, units_for
from citybi.charts.runner import run_chart
from citybi.charts.spec import spec_from_dict
from citybi.schema import DatasetInfo
from citybi.ui.auth import gate
from citybi.ui.state import catalog, get_warehouse, guarded, show_frame
from citybi.usertext import md
from citybi.vocabulary import AGG_LABELS

gate("datasets.read")  # who is asking, for this run (and the login form when nobody is)
ss = st.session_state
COUNT = "记录数"
NONE = "（无）"
TOP_CATEGORIES = 9


@st.cache_resource(show_spinner=False)
def _bundled() -> dict[str, Any]:
    return load_boundaries()


def _span(info: DatasetInfo, column: str) -> tuple[dt.date, dt.date] | None:
    return date_span(get_warehouse(), info.name, column)


def _date_range(info: DatasetInfo, label: str, key: str) -> tuple[str | None, dt.date | None, dt.date | None]:
    """A date column of the dataset and a range on it (default: all its data)."""
    dates = date_columns(info)
    if not dates:
        return None, None, None
    column = dates[0] if len(dates) == 1 else st.selectbox(f"{label}：日期列", dates, key=f"{key}_col")
    span = _span(info, column)
    if span is None:
        return column, None, None
    rkey = f"{key}::{info.name}::{column}"
    if rkey not in ss:
        ss[rkey] = span
    picked = st.date_input(f"{label}：时间范围", key=rkey, min_value=span[0], max_value=span[1])
    if isinstance(picked, (tuple, list)) and len(picked) == 2:
        return column, picked[0], picked[1]
    return column, None, None


st.title("全市一张图")
st.caption("各区按所选指标着色；带经纬度的数据叠加为散点或六边形聚合。地图不需要联网，也不使用在线底图。")

wh = get_warehouse()
datasets = guarded(catalog().datasets) or []
if not datasets:
    st.info("还没有数据集。请先到「数据导入」页导入表格。")
    st.stop()

geojson = guarded(_bundled)
prop = "区"
with st.expander("区划边界", expanded=geojson is None):
    upload = st.file_uploader("使用自己的区划边界（GeoJSON，可选）", type=["geojson", "json"], key="map_geojson")
    if upload is not None:
        mine = guarded(lambda: load_boundaries(upload.getvalue()))
        if mine is not None:
            geojson = mine
    if geojson is not None:
        props = region_properties(geojson)
        if not props:
            st.error("边界文件的要素没有文字属性，无法与数据中的区名对应。"
                     "请在 properties 中加入区名（例如 区 或 name）。")
            st.stop()
        prop = st.selectbox("边界文件中表示区名的属性", props, key="map_prop")
        st.caption(f"共 {len(geojson['features'])} 个区域：" + md("、".join(region_names(geojson, prop))))
if geojson is None:
    st.stop()

regional = [d for d in datasets if region_columns(d)]
located = [d for d in datasets if coordinate_columns(d)]
controls, view = st.columns([1, 3], gap="large")

# ---------------------------------------------------------------------------- district measure
with controls:
    st.markdown("**区域着色**")
    show_regions = st.checkbox("按指标给各区着色", value=True, key="map_regions", disabled=not regional)
    spec = None
    if not regional:
        st.caption("没有带「区」列的数据集，无法按区着色。")
    elif show_regions:
        names = [d.name for d in regional]
        if ss.get("map_ds") not in names:
            ss["map_ds"] = "环卫清运" if "环卫清运" in names else names[0]
        ds_name = st.selectbox("数据集", names, key="map_ds")
        info = next(d for d in regional if d.name == ds_name)
        rcols = region_columns(info)
        region_col = rcols[0] if len(rcols) == 1 else st.selectbox("区名所在列", rcols, key="map_rcol")
        measure_cols = [COUNT] + [c.name for c in info.columns if c.is_numeric]
        mkey = f"map_m::{info.name}"
        if ss.get(mkey) not in measure_cols:
            ss[mkey] = measure_cols[1] if len(measure_cols) > 1 else COUNT
        m_col = st.selectbox("指标", measure_cols, key=mkey)
        aggs = ["count"] if m_col == COUNT else ["sum", "avg", "max", "min"]
        akey = f"map_agg::{info.name}::{m_col}"
        if ss.get(akey) not in aggs:
            ss[akey] = aggs[0]
        agg = st.selectbox("汇总方式", aggs, key=akey, format_func=lambda a: AGG_LABELS[a])
        d_col, start, end = _date_range(info, "着色", "map_range")
        scale = st.selectbox("配色", ["YlOrRd", "Blues", "Greens", "Reds"], key="map_scale",
                             format_func=lambda s: {"YlOrRd": "黄-红", "Blues": "蓝", "Greens": "绿", "Reds": "红"}[s])
        filters = [{"op": "date_range", "column": d_col, "start": start, "end": end}] if d_col and start else []
        spec = guarded(lambda: spec_from_dict({
            "title": "全市一张图", "dataset": info.name, "type": "map",
            "dimensions": [{"column": region_col}],
            "measures": [{"column": "*" if m_col == COUNT else m_col, "agg": agg}],
            "filters": filters, "options": {"region_property": prop, "colorscale": scale},
        }))

    # ------------------------------------------------------------------------ points
    st.markdown("**点位**")
    points: pl.DataFrame | None = None
    p_label = ""
    colors: dict[str, list[int]] | None = None
    show_points = show_hex = False
    hex_radius = 800
    if not located:
        st.caption("没有带经纬度列（经度/纬度 或 lon/lat）的数据集。")
    else:
        p_names = [NONE, *[d.name for d in located]]
        if ss.get("map_pds") not in p_names:
            ss["map_pds"] = max(located, key=lambda d: d.row_count).name  # events rather than 6 centres
        p_name = st.selectbox("点位数据集", p_names, key="map_pds")
        if p_name != NONE:
            p_info = next(d for d in located if d.name == p_name)
            lon, lat = coordinate_columns(p_info) or ("", "")
            show_points = st.checkbox("散点", value=True, key="map_points")
            show_hex = st.checkbox("六边形聚合（看密度）", value=False, key="map_hex")
            if show_hex:
                hex_radius = st.slider("六边形半径（米）", 200, 5000, 800, step=100, key="map_hex_r")
            cats = [NONE, *[c.name for c in p_info.columns if c.type == "text" and c.name not in (lon, lat)]]
            category = st.selectbox("按类别上色", cats, key=f"map_cat::{p_name}")
            pd_col, p_start, p_end = _date_range(p_info, "点位", "map_prange")
            tree = points_query(p_info, lon, lat, category=None if category == NONE else category,
                                date_column=pd_col, start=p_start, end=p_end)
            result = guarded(lambda: wh.run(tree, max_rows=MAX_POINTS))
            if result is not None:
                points = result.frame
                p_label = f"{p_name}（{points.height:,} 个点）"
                if result.truncated:
                    st.caption(f"点太多，只显示最新的 {MAX_POINTS:,} 个；请缩小时间范围。")
                if category != NONE and points.height:
                    top = (points.group_by("category").len().sort(["len", "category"], descending=[True, False])
                           ["category"].to_list())
                    keep = set(top[:TOP_CATEGORIES])
                    if len(top) > TOP_CATEGORIES:
                        points = points.with_columns(pl.when(pl.col("category").is_in(list(keep)))
                                                     .then(pl.col("category")).otherwise(pl.lit("其他")))
                    colors = category_colors([c for c in top if c in keep] + (["其他"] if len(top) > len(keep) else []))

# ---------------------------------------------------------------------------- the map
with view:
    features = None
    lo = hi = None
    label = ""
    table: pl.DataFrame | None = None
    m = spec.measures[0] if spec is not None else None
    if spec is not None and m is not None:
        result = guarded(lambda: run_chart(wh, spec, render=False))
        if result is not None:
            info = default_cache().dataset_info(wh, spec.dataset)
            label = measure_label(m, RenderContext(units=units_for(spec, info)))
            region = spec.dimensions[0].name
            frame = result.frame
            values = {str(r[0]): r[1] for r in frame.select(region, m.name).iter_rows()}
            features, lo, hi = choropleth_features(geojson, prop, values, label=label, fmt=m.format,
                                                   ratio=m.agg == "ratio", scale=spec.options.get("colorscale",
                                                                                                  "YlOrRd"))
            shapes = set(region_names(geojson, prop))
            missing = sorted(k for k in values if k not in shapes)
            if missing:
                st.warning("这些区在边界文件中找不到，没有画出：" + md("、".join(missing))
                           + "。请检查区名是否与边界文件一致（例如「临江」与「临江区」）。")
            table = frame.rename({m.name: label}).sort(label, descending=True, nulls_last=True)
    deck = city_deck(geojson, features, points, show_points=show_points, show_hexagons=show_hex,
                     hex_radius_m=hex_radius, point_label=p_label, colors=colors, label_property=prop)
    st.pydeck_chart(deck, height=620, key="map_deck")
    st.markdown(legend_html(label, lo, hi, fmt=m.format if m else None, ratio=bool(m and m.agg == "ratio"),
                            scale=spec.options.get("colorscale", "YlOrRd") if spec else "YlOrRd",
                            categories=colors if show_points else None,
                            point_label=p_label if show_points else "", hexagons=show_hex),
                unsafe_allow_html=True)
    if table is not None:
        with st.expander("各区数值"):
            show_frame(table, download=f"各区{label}", download_key="map_csv")
