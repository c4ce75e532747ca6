"""The 图表 builder's widgets: wells, per-field settings, filters, chart type and its options.

Why a module: the page only lays out and saves. What a widget may offer comes from the core
form model (citybi.charts.form: which aggregations a field takes, which grains, how a filter
row becomes a filter, which labels of a loaded chart survive), and each chart type's option
widgets come from its own options model (`option()` fields), so a new chart type needs no
change here. Widget state lives under "cb_" keys in session state; `open_form` writes them
from a ChartForm (opening a saved chart), `form_editor` draws the widgets and reads them
back into a ChartForm.

Wells: the drag-and-drop board (streamlit-sortables, its own offline frontend) and the
select-based wells edit the SAME state (`cb_wells`), so a clerk can drag or pick; the
selects are also what AppTest drives.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from citybi.charts.form import (
    ChartForm,
    FilterRow,
    OptionField,
    RatioCondition,
    agg_choices,
    count_field,
    field_kind,
    grain_choices,
    metric_fields,
    metric_of_field,
    option_fields,
    ratio_columns,
)
from citybi.charts.profile import date_span, top_values
from citybi.charts.types import all_types, get_type
from citybi.schema import DatasetInfo
from citybi.ui.state import get_warehouse
from citybi.usertext import md
from citybi.vocabulary import AGG_LABELS, RELATIVE_CHOICES

try:  # the drag-and-drop wells; the select wells below work without it
    from streamlit_sortables import sort_items
except ImportError:  # pragma: no cover - depends on the environment
    sort_items = None

ss = st.session_state
RAW = "（原值）"
NONE = "（无）"
DEFAULT_SORT = "（默认）"
WELLS = ("维度", "指标", "颜色/系列")
MAX_VALUES = 1000
MODES = {"values": "值列表", "range": "数值范围", "relative": "相对时间", "date_range": "日期范围"}
# compact chips that wrap, wells with a visible drop area (the component's own CSS selectors)
DRAG_STYLE = """
.sortable-component { border: 1px solid #ddd; border-radius: 8px; padding: 4px; }
.sortable-container { min-height: 2.6rem; background-color: #fafafa; }
.sortable-container-header { font-weight: 600; padding-left: 0.5rem; }
.sortable-container-body { display: flex; flex-wrap: wrap; min-height: 2.2rem; }
.sortable-item, .sortable-item:hover { background-color: #fff; color: #333; border: 1px solid #bbb;
  border-radius: 12px; padding: 0 10px; margin: 3px; font-size: 0.85rem; }
"""


# ---------------------------------------------------------------------------- state
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


def reset(dataset: str | None = None) -> None:
    """An empty builder (on the given dataset)."""
    for key in [k for k in ss if isinstance(k, str) and k.startswith("cb_") and k not in ("cb_rev", "cb_open")]:
        del ss[key]
    if dataset:
        ss["cb_ds"] = dataset
        ss["cb_wells_ds"] = dataset
    _set_wells({})


def open_form(form: ChartForm, name: str | None) -> None:
    """Load a chart into the widgets (runs before they render: in a callback or at the top)."""
    reset(form.dataset)
    ss["cb_base"] = form.base
    ss["cb_editing"] = name
    _set_wells({"维度": form.dims, "指标": form.measures, "颜色/系列": [form.series] if form.series else []})
    for column, grain in form.grains.items():
        ss[f"cb_grain::{column}"] = grain or RAW
    for name_, agg in form.aggs.items():
        ss[f"cb_agg::{name_}"] = agg
    for name_, ratio in form.ratios.items():
        ss[f"cb_rcol::{name_}"] = ratio.column
        ss[f"cb_rval::{name_}"] = [str(v) for v in ratio.values]
    ss["cb_filters"] = list(dict.fromkeys(f.column for f in form.filters))
    for f in form.filters:
        c = f.column
        if f.mode == "values":
            ss[f"cb_fv::{c}"] = [str(v) for v in f.values]
            ss[f"cb_fx::{c}"] = f.exclude
        elif f.mode == "range":
            ss[f"cb_fmin::{c}"], ss[f"cb_fmax::{c}"] = f.min, f.max
        elif f.mode == "relative":
            ss[f"cb_fmode::{c}"], ss[f"cb_frel::{c}"] = "相对时间", f.period
        else:
            ss[f"cb_fmode::{c}"] = "日期范围"
            ss[f"cb_frange::{c}"] = tuple(d for d in (f.start, f.end) if d)
    ss["cb_type"] = form.type
    for key, value in form.options.items():
        ss[f"cb_opt::{key}"] = value
    if form.sort_by is not None:
        ss["cb_sort"] = form.sort_by
        ss["cb_order"] = "从低到高" if form.order == "asc" else "从高到低"
    ss["cb_topn"] = form.top_n
    ss["cb_title"] = form.title
    ss["cb_desc"] = form.description


# ---------------------------------------------------------------------------- widgets
def _label(info: DatasetInfo, name: str) -> str:
    if metric_of_field(name):
        return name
    kind = field_kind(info.column(name))
    return f"{name}（{kind}）" if kind != "count" else f"{name}（行数）"


def _drag_wells(info: DatasetInfo, fields: list[str]) -> None:
    """The drag-and-drop board: fields into wells; refused placements are put back with a message."""
    wells = _wells()
    count = count_field(info)
    st.markdown("**字段**：把字段拖进下面的框里（也可以在下方用下拉框选择）")
    used: dict[str, str] = {}  # item label → column; a column in two wells gets a second label
    placed = {c for w in WELLS for c in wells[w]}
    free = [f for f in fields if f not in placed]
    boxes: list[dict[str, Any]] = [{"header": "字段", "items": free}]
    used.update({f: f for f in free})
    for w in WELLS:
        items = []
        for c in wells[w]:
            item = c if c not in used else f"{c}（{w}）"
            used[item] = c
            items.append(item)
        boxes.append({"header": w, "items": items})
    dragged = sort_items(boxes, multi_containers=True, direction="horizontal", custom_style=DRAG_STYLE,
                         key=f"cb_drag_{ss.get('cb_rev', 0)}")
    if not dragged or dragged == boxes:
        return
    got = {b["header"]: [used.get(i, i) for i in b["items"]] for b in dragged}
    new = {w: [c for c in got.get(w, []) if c in fields] for w in WELLS}
    problems = []
    if count in new["维度"] or count in new["颜色/系列"]:
        problems.append(f"「{count}」只能放进「指标」")
        new["维度"] = [c for c in new["维度"] if c != count]
        new["颜色/系列"] = [c for c in new["颜色/系列"] if c != count]
    if len(new["颜色/系列"]) > 1:
        problems.append("「颜色/系列」只能放一个字段")
        new["颜色/系列"] = new["颜色/系列"][-1:]
    _set_wells(new, remount=bool(problems))
    if problems:
        st.rerun()  # redraw the board without the refused placement


def wells_editor(info: DatasetInfo) -> dict[str, list[str]]:
    """Drag-and-drop and select wells over the same state; returns 维度 / 指标 / 颜色/系列."""
    if ss.get("cb_wells_ds") != info.name:  # another dataset: its fields, empty wells
        ss["cb_wells_ds"] = info.name
        _set_wells({})
    columns = [c.name for c in info.columns]
    fields = [count_field(info), *columns, *metric_fields(info)]
    if sort_items is not None:
        _drag_wells(info, fields)
    with st.expander("用下拉框放置字段", expanded=sort_items is None):
        st.multiselect("维度（分组）", columns, key="cb_ms_dims", format_func=lambda n: _label(info, n),
                       on_change=_from_selects, placeholder="例如：区、日期")
        st.multiselect("指标（汇总的数）", fields, key="cb_ms_measures", format_func=lambda n: _label(info, n),
                       on_change=_from_selects, placeholder="例如：清运量（吨）、记录数")
        st.selectbox("颜色/系列（按它分色）", [NONE, *columns], key="cb_ms_series", on_change=_from_selects,
                     format_func=lambda n: n if n == NONE else _label(info, n))
    return _wells()


def field_settings(info: DatasetInfo, wells: dict[str, list[str]]) -> dict[str, Any]:
    """Time grain per date dimension, aggregation per measure, 占比 conditions (ChartForm fields)."""
    grains: dict[str, str | None] = {}
    for name in [*wells["维度"], *wells["颜色/系列"]]:
        choices = grain_choices(info.column(name))
        if choices:
            key = f"cb_grain::{name}"
            if ss.get(key) not in [RAW, *choices]:
                ss[key] = "月"
            g = st.segmented_control(f"「{md(name)}」按什么时间粒度汇总", [RAW, *choices], key=key)
            grains[name] = None if g in (None, RAW) else g
    aggs: dict[str, str] = {}
    ratios: dict[str, RatioCondition] = {}
    for name in wells["指标"]:
        if metric_of_field(name):  # a metric carries its own formula: nothing to choose
            aggs[name] = "metric"
            continue
        choices = agg_choices(info.column(name))
        key = f"cb_agg::{name}"
        if ss.get(key) not in choices:
            ss[key] = choices[0]
        aggs[name] = st.selectbox(f"「{md(name)}」怎么汇总", choices, key=key, format_func=lambda a: AGG_LABELS[a])
        if aggs[name] == "ratio":
            c1, c2 = st.columns(2)
            rcol = c1.selectbox("占比条件：列", ratio_columns(info), key=f"cb_rcol::{name}")
            values = [str(v) for v in top_values(get_warehouse(), info.name, rcol, MAX_VALUES)] if rcol else []
            picked = c2.multiselect("取值", values, key=f"cb_rval::{name}")
            if rcol and picked:
                ratios[name] = RatioCondition(column=rcol, values=picked)
    return {"grains": grains, "aggs": aggs, "ratios": ratios}


def _filter_row(info: DatasetInfo, name: str) -> FilterRow | None:
    c = info.column(name)
    if c is None:
        return None
    if c.is_numeric:
        f1, f2 = st.columns(2)
        lo = f1.number_input(f"「{md(name)}」最小值", value=None, key=f"cb_fmin::{name}")
        hi = f2.number_input(f"「{md(name)}」最大值", value=None, key=f"cb_fmax::{name}")
        return FilterRow(column=name, mode="range", min=lo, max=hi)
    if c.is_temporal:
        mode = st.radio(f"「{md(name)}」的时间范围", ["相对时间", "日期范围"], horizontal=True, key=f"cb_fmode::{name}")
        if mode == "相对时间":
            key = f"cb_frel::{name}"
            # a saved chart may use any 最近N天: offer it rather than silently changing it
            choices = list(dict.fromkeys([*RELATIVE_CHOICES, *([ss[key]] if ss.get(key) else [])]))
            return FilterRow(column=name, mode="relative", period=st.selectbox("相对于今天", choices, key=key))
        key = f"cb_frange::{name}"
        span = date_span(get_warehouse(), info.name, name)
        if key not in ss and span:
            ss[key] = span
        picked = st.date_input("起止日期", key=key)
        start, end = (picked[0], picked[1]) if isinstance(picked, (tuple, list)) and len(picked) == 2 else (None, None)
        return FilterRow(column=name, mode="date_range", start=start, end=end)
    values = top_values(get_warehouse(), info.name, name, MAX_VALUES)
    shown = [str(v) for v in values]
    key = f"cb_fv::{name}"
    if key in ss:
        ss[key] = [v for v in ss[key] if v in shown]
    chosen = st.multiselect(f"「{md(name)}」取值", shown, key=key)
    exclude = st.checkbox("排除这些值", key=f"cb_fx::{name}")
    return FilterRow(column=name, mode="values", values=[v for v in values if str(v) in chosen], exclude=exclude)


def filter_editor(info: DatasetInfo) -> list[FilterRow]:
    st.multiselect("筛选（只看部分数据）", [c.name for c in info.columns], key="cb_filters",
                   format_func=lambda n: _label(info, n), placeholder="选择要筛选的字段")
    rows = [_filter_row(info, name) for name in ss.get("cb_filters", [])]
    return [r for r in rows if r is not None]


def option_widget(field: OptionField, key: str) -> Any:
    """One option widget drawn from its OptionField (a chart type declares these in its model)."""
    label, help_ = md(field.title), md(field.help) if field.help else None
    if field.empty is not None:
        st.warning(md(field.empty))
        return None
    if key not in ss and field.default is not None:
        ss[key] = field.default
    if field.kind == "bool":
        return st.checkbox(label, key=key, help=help_)
    if field.kind == "choice":
        if ss.get(key) not in field.choices:
            ss[key] = field.default if field.default in field.choices else field.choices[0]
        fmt = field.label_of
        if len(field.choices) <= 3 and field.labels:
            return st.radio(label, field.choices, key=key, horizontal=True, format_func=fmt, help=help_)
        return st.selectbox(label, field.choices, key=key, format_func=fmt, help=help_)
    number: dict[str, Any] = {}
    if field.minimum is not None:
        number["min_value"] = int(field.minimum) if field.integer else float(field.minimum)
    if field.maximum is not None:
        number["max_value"] = int(field.maximum) if field.integer else float(field.maximum)
    if field.optional and key not in ss:
        number["value"] = None
    return st.number_input(label, key=key, help=help_, **number)


def type_editor(info: DatasetInfo) -> tuple[str, dict[str, Any]]:
    """The chart type and its options (kept from the loaded chart where no widget shows them)."""
    types = all_types()
    names = [t.name for t in types]
    if ss.get("cb_type") not in names:
        ss["cb_type"] = "bar"
    ctype = st.selectbox("图表类型", names, key="cb_type", format_func=lambda n: get_type(n).label)
    base = ss.get("cb_base") or {}
    options: dict[str, Any] = dict(base.get("options") or {}) if base.get("type") == ctype else {}
    fields = option_fields(get_type(ctype).options_model, info)
    cols = st.columns(2) if len(fields) > 1 else [st.container()]
    for i, field in enumerate(fields):
        with cols[i % len(cols)]:
            value = option_widget(field, f"cb_opt::{field.key}")
        if field.empty is None:
            options[field.key] = value
    return ctype, options


def sort_editor(output_names: list[str]) -> dict[str, Any]:
    choices = [DEFAULT_SORT, *output_names]
    if ss.get("cb_sort") not in choices:
        ss["cb_sort"] = DEFAULT_SORT
    c1, c2 = st.columns(2, vertical_alignment="bottom")
    sort_by = c1.selectbox("排序字段", choices, key="cb_sort")
    order = c2.radio("排序方向", ["从高到低", "从低到高"], horizontal=True, key="cb_order")
    top_n = st.number_input("只看前N名（0 = 全部）", min_value=0, max_value=10_000, step=1, key="cb_topn")
    return {"sort_by": None if sort_by == DEFAULT_SORT else sort_by, "order": "asc" if order == "从低到高" else "desc",
            "top_n": int(top_n)}


def form_editor(info: DatasetInfo) -> ChartForm:
    """Every builder widget for one dataset, read back as the form (title/description come later)."""
    wells = wells_editor(info)
    settings = field_settings(info, wells)
    filters = filter_editor(info)
    ctype, options = type_editor(info)
    form = ChartForm(dataset=info.name, dims=wells["维度"], measures=wells["指标"],
                     series=(wells["颜色/系列"] or [None])[0], filters=filters, type=ctype, options=options,
                     base=ss.get("cb_base"), **settings)
    return form.model_copy(update=sort_editor(form.output_names(info)))
