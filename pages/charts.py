"""图表 page: build a chart without SQL — fields into wells, live preview, save as YAML.

Wells: the drag-and-drop board (streamlit-sortables, its own offline frontend) and the
select-based wells edit the SAME state (`cb_wells`), so a clerk can drag or pick; the
selects are also what AppTest drives. Everything the UI cannot edit in a loaded chart
(labels, units, number formats, type options) is kept from the loaded spec.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import streamlit as st

from citybi.charts.geo import load_boundaries
from citybi.charts.profile import dataset_today, date_span, top_values
from citybi.charts.runner import run_chart
from citybi.charts.spec import (
    ChartSpec,
    DateRangeFilter,
    RangeFilter,
    RelativeDateFilter,
    ValueFilter,
    check_against,
    dump_spec,
    spec_from_dict,
)
from citybi.charts.store import chart_store
from citybi.charts.types import all_types, get_type
from citybi.errors import UserFacingError
from citybi.schema import ColumnInfo, DatasetInfo
from citybi.ui.state import catalog, flash, get_warehouse, guarded, show_error, show_flash, show_frame
from citybi.usertext import md
from citybi.vocabulary import AGG_LABELS, RELATIVE_CHOICES, TIME_GRAINS

try:  # the drag-and-drop wells; the select wells below work without it
    from streamlit_sortables import sort_items
except ImportError:  # pragma: no cover - depends on the environment
    sort_items = None

ss = st.session_state
COUNT = "记录数"  # the pseudo-field "count the rows" (COUNT(*))
RAW = "（原值）"
NONE = "（无）"
DEFAULT_SORT = "（默认）"
WELLS = ("维度", "指标", "颜色/系列")
MAX_VALUES = 1000
# compact chips that wrap, wells with a visible drop area (the component's own CSS selectors)
DRAG_STYLE = """
.sortable-component { border: 1px solid #ddd; border-radius: 8px; padding: 4px; }
.sortable-container { min-height: 2.6rem; background-color: #fafafa; }
.sortable-container-header { font-weight: 600; padding-left: 0.5rem; }
.sortable-container-body { display: flex; flex-wrap: wrap; min-height: 2.2rem; }
.sortable-item, .sortable-item:hover { background-color: #fff; color: #333; border: 1px solid #bbb;
  border-radius: 12px; padding: 0 10px; margin: 3px; font-size: 0.85rem; }
"""


# ---------------------------------------------------------------------------- state helpers
def _count_field(info: DatasetInfo) -> str:
    return COUNT if info.column(COUNT) is None else f"{COUNT}（全部行）"


def _wells() -> dict[str, list[str]]:
    return ss.setdefault("cb_wells", {w: [] for w in WELLS})


def _set_wells(wells: dict[str, list[str]], *, remount: bool = True) -> None:
    """Write the wells and the select widgets' state (call before those widgets render)."""
    ss["cb_wells"] = {w: list(wells.get(w, [])) for w in WELLS}
    ss["cb_ms_dims"] = list(wells.get("维度", []))
    ss["cb_ms_measures"] = list(wells.get("指标", []))
    series = wells.get("颜色/系列") or []
    ss["cb_ms_series"] = series[0] if series else NONE
    if remount:
        ss["cb_rev"] = ss.get("cb_rev", 0) + 1


def _from_selects() -> None:
    series = ss.get("cb_ms_series", NONE)
    _set_wells({"维度": ss.get("cb_ms_dims", []), "指标": ss.get("cb_ms_measures", []),
                "颜色/系列": [] if series == NONE else [series]})


def _reset(dataset: str | None = None) -> None:
    for key in [k for k in ss if isinstance(k, str) and k.startswith("cb_") and k not in ("cb_rev", "cb_open")]:
        del ss[key]
    if dataset:
        ss["cb_ds"] = dataset
        ss["cb_wells_ds"] = dataset
    _set_wells({})


def _apply_spec(spec: ChartSpec, name: str | None) -> None:
    """Load a saved chart into the widgets (runs before they render: in a callback or at the top)."""
    _reset(spec.dataset)
    ss["cb_base"] = spec.model_dump(mode="json")
    ss["cb_editing"] = name
    count = COUNT
    _set_wells({"维度": [d.column for d in spec.dimensions],
                "指标": [count if m.column == "*" else m.column for m in spec.measures],
                "颜色/系列": [spec.series.column] if spec.series else []})
    for d in spec.group_dimensions:
        ss[f"cb_grain::{d.column}"] = d.grain or RAW
    for m in spec.measures:
        key = count if m.column == "*" else m.column
        ss[f"cb_agg::{key}"] = m.agg
        if m.agg == "ratio" and m.where and isinstance(m.where[0], ValueFilter):
            ss[f"cb_rcol::{key}"] = m.where[0].column
            ss[f"cb_rval::{key}"] = [str(v) for v in m.where[0].values]
    ss["cb_filters"] = list(dict.fromkeys(f.column for f in spec.filters))
    for f in spec.filters:
        c = f.column
        if isinstance(f, ValueFilter):
            ss[f"cb_fv::{c}"] = [str(v) for v in f.values]
            ss[f"cb_fx::{c}"] = f.op == "not_in"
        elif isinstance(f, RangeFilter):
            ss[f"cb_fmin::{c}"] = f.min
            ss[f"cb_fmax::{c}"] = f.max
        elif isinstance(f, RelativeDateFilter):
            ss[f"cb_fmode::{c}"] = "相对时间"
            ss[f"cb_frel::{c}"] = f.period
        elif isinstance(f, DateRangeFilter):
            ss[f"cb_fmode::{c}"] = "日期范围"
            ss[f"cb_frange::{c}"] = (f.start, f.end) if f.start and f.end else tuple(x for x in (f.start, f.end) if x)
    ss["cb_type"] = spec.type
    opts = spec.options
    for k, v in opts.items():
        if k in ("horizontal", "mode", "show_values", "donut", "smooth", "stacked", "markers", "date_column", "grain",
                 "target", "higher_is_better", "colorscale"):
            ss[f"cb_opt::{k}"] = v
    if spec.sort is not None:
        ss["cb_sort"] = spec.sort.by
        ss["cb_order"] = "从低到高" if spec.sort.order == "asc" else "从高到低"
    ss["cb_topn"] = spec.top_n or 0
    ss["cb_title"] = spec.title
    ss["cb_desc"] = spec.description


def _open(name: str) -> None:
    spec = guarded(lambda: chart_store(get_warehouse().settings).load(name))
    if spec is not None:
        _apply_spec(spec, name)
        flash(f"已打开图表「{name}」")


# ---------------------------------------------------------------------------- data helpers
def _distinct(info: DatasetInfo, column: str) -> list[Any]:
    """The column's values, most frequent first (cached aggregate, at most MAX_VALUES)."""
    return top_values(get_warehouse(), info.name, column, MAX_VALUES)


def _span(info: DatasetInfo, column: str) -> tuple[dt.date, dt.date] | None:
    return date_span(get_warehouse(), info.name, column)


def _kind(c: ColumnInfo | None) -> str:
    if c is None:
        return "count"
    if c.is_numeric:
        return "数值"
    if c.is_temporal or c.type == "year":
        return "日期"
    return "文字"


# ---------------------------------------------------------------------------- page
st.title("图表")
st.caption("不写 SQL 也能做图：选数据集，把字段放进「维度」「指标」「颜色/系列」，设置筛选和图表类型，"
           "右侧即时预览，最后起个中文标题保存。保存的图表可以放到看板上。")
show_flash()

wh = get_warehouse()
store = chart_store(wh.settings)
pending = ss.pop("cb_open", None)  # e.g. "保存为图表" on the 问数 page
if pending:
    _open(pending)
    show_flash()

datasets = guarded(catalog().datasets) or []
if not datasets:
    st.info("还没有数据集。请先到「数据导入」页导入表格。")
    st.stop()

# saved charts: open one to edit, or start a new one
saved = guarded(store.names) or []
with st.container(border=True):
    c1, c2, c3, c4 = st.columns([4, 1, 1, 1], vertical_alignment="bottom")
    pick = c1.selectbox(f"已保存的图表（{len(saved)} 个）", saved, index=None, key="cb_pick",
                        placeholder="选择一个图表打开编辑")
    c2.button("打开", key="cb_open_btn", disabled=pick is None, on_click=_open, args=(pick,), width="stretch")
    c3.button("新建图表", key="cb_new", on_click=_reset, args=(ss.get("cb_ds"),), width="stretch")
    deletable = pick is not None and store.has_user_copy(pick)
    with c4.popover("删除", disabled=not deletable, width="stretch",
                    help="只能删除自己保存的图表；系统自带的图表不能删除"):
        st.markdown(f"确定删除图表「{md(pick)}」吗？用到它的看板将显示“图表不存在”。")
        if st.button("确定删除", key="cb_delete", type="primary") and pick is not None:
            restored = guarded(lambda: store.delete(pick))
            if restored is not None:
                if ss.get("cb_editing") == pick:
                    ss.pop("cb_editing", None)
                ss.pop("cb_pick", None)
                flash(f"已删除图表「{pick}」" + ("，恢复为系统自带的版本" if restored else ""))
                st.rerun()
    if ss.get("cb_editing"):
        st.caption(f"正在编辑：**{md(ss['cb_editing'])}**")

names = [d.name for d in datasets]
if ss.get("cb_ds") not in names:
    ss["cb_ds"] = names[0]
left, right = st.columns([2, 3], gap="large")
with left:
    ds_name = st.selectbox("数据集", names, key="cb_ds")
    info = next(d for d in datasets if d.name == ds_name)
    if ss.get("cb_wells_ds") != ds_name:  # another dataset: its fields, empty wells
        ss["cb_wells_ds"] = ds_name
        _set_wells({})
    count_field = _count_field(info)
    columns = [c.name for c in info.columns]
    fields = [count_field, *columns]

    def label(name: str) -> str:
        kind = _kind(info.column(name))
        return f"{name}（{kind}）" if kind != "count" else f"{name}（行数）"

    # -------------------------------------------------------------- drag-and-drop wells
    wells = _wells()
    if sort_items is not None:
        st.markdown("**字段**：把字段拖进下面的框里（也可以在下方用下拉框选择）")
        used: dict[str, str] = {}  # item label → column; a column in two wells gets a second label
        boxes: list[dict[str, Any]] = []
        placed = {c for w in WELLS for c in wells[w]}
        free = [f for f in fields if f not in placed]
        boxes.append({"header": "字段", "items": free})
        for f in free:
            used[f] = f
        for w in WELLS:
            items = []
            for c in wells[w]:
                item = c if c not in used else f"{c}（{w}）"
                used[item] = c
                items.append(item)
            boxes.append({"header": w, "items": items})
        dragged = sort_items(boxes, multi_containers=True, direction="horizontal", custom_style=DRAG_STYLE,
                             key=f"cb_drag_{ss.get('cb_rev', 0)}")
        if dragged and dragged != boxes:
            got = {b["header"]: [used.get(i, i) for i in b["items"]] for b in dragged}
            new = {w: [c for c in got.get(w, []) if c in fields] for w in WELLS}
            problems = []
            if count_field in new["维度"] or count_field in new["颜色/系列"]:
                problems.append(f"「{count_field}」只能放进「指标」")
                new["维度"] = [c for c in new["维度"] if c != count_field]
                new["颜色/系列"] = [c for c in new["颜色/系列"] if c != count_field]
            if len(new["颜色/系列"]) > 1:
                problems.append("「颜色/系列」只能放一个字段")
                new["颜色/系列"] = new["颜色/系列"][-1:]
            _set_wells(new, remount=bool(problems))
            wells = _wells()
            if problems:
                st.rerun()  # redraw the board without the refused placement

    # -------------------------------------------------------------- select wells (same state)
    with st.expander("用下拉框放置字段", expanded=sort_items is None):
        st.multiselect("维度（分组）", columns, key="cb_ms_dims", format_func=label, on_change=_from_selects,
                       placeholder="例如：区、日期")
        st.multiselect("指标（汇总的数）", fields, key="cb_ms_measures", format_func=label, on_change=_from_selects,
                       placeholder="例如：清运量（吨）、记录数")
        st.selectbox("颜色/系列（按它分色）", [NONE, *columns], key="cb_ms_series", on_change=_from_selects,
                     format_func=lambda n: n if n == NONE else label(n))

    # -------------------------------------------------------------- per-field settings
    dims, measures, series = wells["维度"], wells["指标"], wells["颜色/系列"]
    grains: dict[str, str | None] = {}
    for name in [*dims, *series]:
        c = info.column(name)
        if c is not None and c.is_temporal:
            options = [RAW, *TIME_GRAINS] if c.type != "month" else ["月", "季", "年"]
            key = f"cb_grain::{name}"
            if ss.get(key) not in options:
                ss[key] = "月"
            g = st.segmented_control(f"「{md(name)}」按什么时间粒度汇总", options, key=key)
            grains[name] = None if g in (None, RAW) else g
    aggs: dict[str, str] = {}
    ratio_where: dict[str, dict[str, Any]] = {}
    for name in measures:
        c = info.column(name)
        if c is None:
            choices = ["count", "ratio"]
        elif c.is_numeric:
            choices = ["sum", "avg", "max", "min", "count", "count_distinct"]
        elif c.is_temporal or c.type == "year":
            choices = ["count", "count_distinct", "max", "min"]
        else:
            choices = ["count", "count_distinct"]
        key = f"cb_agg::{name}"
        if ss.get(key) not in choices:
            ss[key] = choices[0]
        aggs[name] = st.selectbox(f"「{md(name)}」怎么汇总", choices, key=key, format_func=lambda a: AGG_LABELS[a])
        if aggs[name] == "ratio":
            cats = [x.name for x in info.columns if not x.is_numeric and not x.is_temporal]
            rc1, rc2 = st.columns(2)
            rcol = rc1.selectbox("占比条件：列", cats, key=f"cb_rcol::{name}")
            rvals = rc2.multiselect("取值", [str(v) for v in _distinct(info, rcol)] if rcol else [],
                                    key=f"cb_rval::{name}")
            if rcol and rvals:
                ratio_where[name] = {"op": "in", "column": rcol, "values": rvals}

    # -------------------------------------------------------------- filters
    st.multiselect("筛选（只看部分数据）", columns, key="cb_filters", format_func=label,
                   placeholder="选择要筛选的字段")
    filters: list[dict[str, Any]] = []
    for name in ss.get("cb_filters", []):
        c = info.column(name)
        if c is None:
            continue
        if c.is_numeric:
            f1, f2 = st.columns(2)
            lo = f1.number_input(f"「{md(name)}」最小值", value=None, key=f"cb_fmin::{name}")
            hi = f2.number_input(f"「{md(name)}」最大值", value=None, key=f"cb_fmax::{name}")
            if lo is not None or hi is not None:
                filters.append({"op": "between", "column": name, "min": lo, "max": hi})
        elif c.is_temporal:
            mode = st.radio(f"「{md(name)}」的时间范围", ["相对时间", "日期范围"], horizontal=True,
                            key=f"cb_fmode::{name}")
            if mode == "相对时间":
                rel_key = f"cb_frel::{name}"
                # a saved chart may use any 最近N天: offer it rather than silently changing it
                choices = list(dict.fromkeys([*RELATIVE_CHOICES, *([ss[rel_key]] if ss.get(rel_key) else [])]))
                period = st.selectbox("相对于今天", choices, key=rel_key)
                filters.append({"op": "relative", "column": name, "period": period})
            else:
                span = _span(info, name)
                rng_key = f"cb_frange::{name}"
                if rng_key not in ss and span:
                    ss[rng_key] = span
                picked = st.date_input("起止日期", key=rng_key)
                if isinstance(picked, (tuple, list)) and len(picked) == 2:
                    filters.append({"op": "date_range", "column": name, "start": picked[0], "end": picked[1]})
        else:
            values = _distinct(info, name)
            shown = [str(v) for v in values]
            fv_key = f"cb_fv::{name}"
            if fv_key in ss:
                ss[fv_key] = [v for v in ss[fv_key] if v in shown]
            chosen = st.multiselect(f"「{md(name)}」取值", shown, key=fv_key)
            exclude = st.checkbox("排除这些值", key=f"cb_fx::{name}")
            if chosen:
                typed = [v for v in values if str(v) in chosen]
                filters.append({"op": "not_in" if exclude else "in", "column": name, "values": typed})

    # -------------------------------------------------------------- chart type and options
    types = all_types()
    if ss.get("cb_type") not in [t.name for t in types]:
        ss["cb_type"] = "bar"
    ctype = st.selectbox("图表类型", [t.name for t in types], key="cb_type",
                         format_func=lambda n: next(t.label for t in types if t.name == n))
    base = ss.get("cb_base") or {}
    options: dict[str, Any] = dict(base.get("options") or {}) if base.get("type") == ctype else {}

    def opt(key: str, widget: Any, *args: Any, **kw: Any) -> None:
        options[key] = widget(*args, key=f"cb_opt::{key}", **kw)

    if ctype == "bar":
        o1, o2 = st.columns(2)
        with o1:
            opt("horizontal", st.checkbox, "横向条形")
            opt("show_values", st.checkbox, "显示数值")
        with o2:
            opt("mode", st.radio, "多个系列时", ["group", "stack", "percent"], horizontal=True,
                format_func=lambda m: {"group": "并排", "stack": "堆叠", "percent": "百分比堆叠"}[m])
    elif ctype == "line":
        ss.setdefault("cb_opt::markers", True)
        opt("markers", st.checkbox, "显示数据点")
        opt("smooth", st.checkbox, "平滑曲线")
    elif ctype == "area":
        ss.setdefault("cb_opt::stacked", True)
        opt("stacked", st.checkbox, "堆叠")
    elif ctype == "pie":
        opt("donut", st.checkbox, "环形图")
    elif ctype == "kpi":
        dates = [c.name for c in info.columns if c.is_temporal]
        if not dates:
            st.warning("指标卡需要一个日期列来计算本期、环比和同比；这个数据集没有日期列。")
        else:
            k1, k2 = st.columns(2)
            with k1:
                opt("date_column", st.selectbox, "按哪个日期列计算", dates)
            with k2:
                ss.setdefault("cb_opt::grain", "月")
                opt("grain", st.selectbox, "本期是", list(TIME_GRAINS), format_func=lambda g: f"本{g}")
            k3, k4 = st.columns(2)
            with k3:
                opt("target", st.number_input, "目标值（可不填）", value=None)
            with k4:
                opt("higher_is_better", st.radio, "数值变大是", [True, False], horizontal=True,
                    format_func=lambda b: "好事（如清运量）" if b else "坏事（如投诉量）")
            if options.get("target") is None:
                options.pop("target", None)
    elif ctype == "map":
        opt("colorscale", st.selectbox, "配色", ["YlOrRd", "Blues", "Greens", "Reds"],
            format_func=lambda s: {"YlOrRd": "黄-红", "Blues": "蓝", "Greens": "绿", "Reds": "红"}[s])
        options.setdefault("region_property", "name")

    # -------------------------------------------------------------- measures, dimensions as spec fields
    base_measures = {(m.get("column"), m.get("agg")): m for m in base.get("measures") or []}
    base_dims = {d.get("column"): d for d in [*(base.get("dimensions") or []), base.get("series") or {}] if d}
    m_specs: list[dict[str, Any]] = []
    for name in measures:
        column = "*" if name == count_field else name
        agg = aggs[name]
        m: dict[str, Any] = {"column": column, "agg": agg}
        kept = base_measures.get((column, agg))
        if kept:  # label, unit, format and ratio condition survive editing
            m.update({k: v for k, v in kept.items() if k in ("label", "unit", "format", "where") and v})
        if agg == "ratio" and name in ratio_where:
            m["where"] = [ratio_where[name]]
        m_specs.append(m)

    def dim(name: str) -> dict[str, Any]:
        d: dict[str, Any] = {"column": name, "grain": grains.get(name)}
        kept = base_dims.get(name)
        if kept and kept.get("label") and kept.get("grain") == grains.get(name):
            d["label"] = kept["label"]
        return d

    d_specs = [dim(n) for n in dims]
    s_spec = dim(series[0]) if series else None

    # -------------------------------------------------------------- sort and top N
    try:
        probe = spec_from_dict({"title": "预览", "dataset": info.name, "type": "table",
                                "dimensions": [*d_specs, *([s_spec] if s_spec else [])], "measures": m_specs})
        out_names = probe.output_names()
    except UserFacingError:
        out_names = [*dims, *series, *measures]
    sort_choices = [DEFAULT_SORT, *out_names]
    if ss.get("cb_sort") not in sort_choices:
        ss["cb_sort"] = DEFAULT_SORT
    s1, s2 = st.columns(2, vertical_alignment="bottom")
    sort_by = s1.selectbox("排序字段", sort_choices, key="cb_sort")
    order = s2.radio("排序方向", ["从高到低", "从低到高"], horizontal=True, key="cb_order")
    top_n = st.number_input("只看前N名（0 = 全部）", min_value=0, max_value=10_000, step=1, key="cb_topn")

# ---------------------------------------------------------------------------- spec + preview
first_measure = m_specs[0] if m_specs else None
auto_title = ""
if first_measure:
    mname = count_field if first_measure["column"] == "*" else first_measure["column"]
    auto_title = (f"各{dims[0]}" if dims else "") + re.sub(r"（[^）]*）$", "", mname)
title = (ss.get("cb_title") or "").strip() or auto_title or "未命名图表"
data: dict[str, Any] = {
    "title": title, "description": ss.get("cb_desc", ""), "dataset": info.name, "type": ctype,
    "dimensions": d_specs, "series": s_spec, "measures": m_specs, "filters": filters,
    "sort": None if sort_by == DEFAULT_SORT else {"by": sort_by, "order": "asc" if order == "从低到高" else "desc"},
    "top_n": int(top_n) or None, "options": options,
}

with right:
    st.subheader("预览")
    spec: ChartSpec | None = None
    if not dims and not measures:
        st.info("把字段放进「维度」和「指标」开始：例如 维度＝区，指标＝清运量（吨）。")
    else:
        try:
            spec = spec_from_dict(data)
            check_against(spec, info)
        except UserFacingError as err:
            spec = None
            show_error(err)
    result = None
    if spec is not None:
        today = dataset_today(get_warehouse(), info)
        geojson = guarded(load_boundaries) if spec.type == "map" else None
        result = guarded(lambda: run_chart(wh, spec, info=info, today=today, geojson=geojson))
    if result is not None:
        for w in result.warnings:
            st.warning(md(w))
        out = result.output
        kind = get_type(result.spec.type).output
        if kind == "pydeck":
            st.pydeck_chart(out, key="cb_deck")
        elif kind == "kpi":
            unit = f" {out.unit}" if out.unit else ""
            mom = out.comparison("环比")
            delta = f"环比 {mom.pct:+.1%}" if mom is not None and mom.pct is not None else None
            color = "normal" if out.higher_is_better else "inverse"
            st.metric(md(out.label), f"{out.value_text}{unit}", delta=delta, delta_color=color)
            yoy = out.comparison("同比")
            if yoy is not None and yoy.pct is not None:
                st.caption(f"同比 {yoy.arrow} {yoy.pct:+.1%}")
            if out.sparkline:
                st.plotly_chart(out.sparkline_figure(height=80), key="cb_spark")
        else:
            st.plotly_chart(out, key="cb_fig")
        cached = "（来自缓存）" if result.cached else ""
        st.caption(f"{result.frame.height} 行结果 · 查询 {result.query_s * 1000:.0f} 毫秒{cached} · "
                   f"相对时间按 {today.isoformat()} 计算")
        with st.expander("查看 SQL"):
            for sql in result.sql.values():
                st.code(sql, language="sql")
        with st.expander("查看数据"):
            show_frame(result.frame, download=result.spec.title, download_key="cb_csv")

    # -------------------------------------------------------------- save
    st.subheader("保存")
    st.text_input("标题", key="cb_title", placeholder=auto_title or "例如：各区清运量", max_chars=80)
    st.text_area("说明（可选）", key="cb_desc", placeholder="这张图看什么、数据口径", height=80)
    editing = ss.get("cb_editing")
    overwrite = st.checkbox("覆盖同名图表", key="cb_overwrite",
                            help="不勾选时，如果已有同名图表，保存会被拒绝，不会悄悄覆盖")

    def _save(name: str | None) -> None:
        if spec is None:
            st.error("图表设置还有问题，请先按上面的提示修改，再保存。")
            return
        target = name or re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "-", spec.title).strip(" .-") or "图表"
        replace = overwrite or name is not None
        if guarded(lambda: store.save(target, spec, overwrite=replace)) is not None:
            ss["cb_editing"] = target
            ss["cb_base"] = spec.model_dump(mode="json")
            flash(f"已保存图表「{target}」，可以在「看板」里添加它。")
            st.rerun()

    b1, b2 = st.columns(2)
    if editing:
        if b1.button("保存修改", type="primary", key="cb_save_edit", width="stretch"):
            _save(editing)
        if b2.button("另存为新图表", key="cb_save_new", width="stretch"):
            _save(None)
    elif b1.button("保存图表", type="primary", key="cb_save", width="stretch"):
        _save(None)
    if spec is not None:
        with st.expander("查看 YAML（保存的内容）"):
            st.code(dump_spec(spec), language="yaml")
