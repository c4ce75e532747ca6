"""图表 page: build a chart without SQL — fields into wells, live preview, save as YAML.

Thin on purpose: the form model (citybi.charts.form) knows what each field may do and how the
form becomes a ChartSpec; citybi.ui.chart_builder draws its widgets (each chart type's option
widgets come from its own options model); citybi.ui.chart_view draws the result, as the 看板
does. This page lays them out, previews, and saves.
"""
from __future__ import annotations

import streamlit as st

from citybi.charts.form import ChartForm
from citybi.charts.geo import load_boundaries
from citybi.charts.profile import dataset_today
from citybi.charts.runner import run_chart
from citybi.charts.spec import ChartSpec, dump_spec
from citybi.charts.store import chart_store
from citybi.errors import UserFacingError
from citybi.ui import chart_builder as builder
from citybi.ui.auth import gate
from citybi.ui.chart_view import show_output, show_sql
from citybi.ui.state import catalog, flash, get_warehouse, guarded, show_flash, show_frame
from citybi.usertext import file_stem, md

gate("charts.edit")  # who is asking, for this run (and the login form when nobody is)
ss = st.session_state
st.title("图表")
st.caption("不写 SQL 也能做图：选数据集，把字段放进「维度」「指标」「颜色/系列」，设置筛选和图表类型，"
           "右侧即时预览，最后起个中文标题保存。保存的图表可以放到看板上。")
show_flash()

wh = get_warehouse()
store = chart_store(wh.settings)
datasets = guarded(catalog().datasets) or []
infos = {d.name: d for d in datasets}


def _open(name: str) -> None:
    spec = guarded(lambda: store.load(name))
    if spec is not None:
        builder.open_form(ChartForm.from_spec(spec, infos.get(spec.dataset)), name)
        flash(f"已打开图表「{name}」")


pending = ss.pop("cb_open", None)  # e.g. "保存为图表" on the 问数 page
if pending:
    _open(pending)
    show_flash()
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
    c3.button("新建图表", key="cb_new", on_click=builder.reset, args=(ss.get("cb_ds"),), width="stretch")
    with c4.popover("删除", disabled=pick is None or not store.has_user_copy(pick), width="stretch",
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

if ss.get("cb_ds") not in infos:
    ss["cb_ds"] = datasets[0].name
left, right = st.columns([2, 3], gap="large")
with left:
    info = infos[st.selectbox("数据集", list(infos), key="cb_ds")]
    form = builder.form_editor(info)
form = form.model_copy(update={"title": ss.get("cb_title") or "", "description": ss.get("cb_desc") or ""})

with right:
    st.subheader("预览")
    spec: ChartSpec | None = None
    if form.is_empty():
        st.info("把字段放进「维度」和「指标」开始：例如 维度＝区，指标＝清运量（吨）。")
    else:
        try:
            spec = form.to_spec(info)
        except UserFacingError as err:
            # still choosing: what is missing is a next step, not a failure (no red until 保存)
            st.info("还差一步：" + (md("；".join(err.problems)) if hasattr(err, "problems") else md(err.message)),
                    icon=":material/lightbulb:")
    if spec is not None:
        today = dataset_today(wh, info)
        geojson = guarded(load_boundaries) if spec.type == "map" else None
        result = guarded(lambda: run_chart(wh, spec, info=info, today=today, geojson=geojson))
        if result is not None:
            for w in result.warnings:
                st.warning(md(w))
            show_output(result, key="cb_fig", title=spec.title)
            cached = "（来自缓存）" if result.cached else ""
            st.caption(f"{result.frame.height} 行结果 · 查询 {result.query_s * 1000:.0f} 毫秒{cached} · "
                       f"相对时间按 {today.isoformat()} 计算")
            show_sql(result)
            with st.expander("查看数据"):
                show_frame(result.frame, download=result.spec.title, download_key="cb_csv")

    # -------------------------------------------------------------- save
    st.subheader("保存")
    auto_title = form.auto_title(info)
    st.text_input("标题", key="cb_title", placeholder=auto_title or "例如：各区清运量", max_chars=80)
    st.text_area("说明（可选）", key="cb_desc", placeholder="这张图看什么、数据口径", height=80)
    editing = ss.get("cb_editing")
    overwrite = st.checkbox("覆盖同名图表", key="cb_overwrite",
                            help="不勾选时，如果已有同名图表，保存会被拒绝，不会悄悄覆盖")

    def _save(name: str | None) -> None:
        if spec is None:
            st.error("图表设置还有问题，请先按上面的提示修改，再保存。")
            return
        target = name or file_stem(spec.title, "图表")
        if guarded(lambda: store.save(target, spec, overwrite=overwrite or name is not None)) is not None:
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
