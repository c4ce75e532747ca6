"""数据集 page: what is in the warehouse — schema with units, preview, versions, restore, delete, and
the dataset's metrics (指标: defined once, used by 问数, charts and KPI cards)."""
from __future__ import annotations

import polars as pl
import streamlit as st

from citybi.catalog import MODE_LABELS
from citybi.charts.cache import default_cache
from citybi.context import effective
from citybi.engines import location
from citybi.importer import save_rules_table
from citybi.ingest.model import TYPE_LABELS
from citybi.lineage import find_readers, restore_check
from citybi.metrics import KIND_LABELS, dump_yaml, from_fields, table_rows, to_fields
from citybi.quality import dataset_quality
from citybi.ui.auth import gate
from citybi.ui.lineage_view import delete_impact, replace_impact
from citybi.ui.plan_view import quality_panel
from citybi.ui.state import action, catalog, flash, get_warehouse, guarded, show_flash, show_frame
from citybi.usertext import md
from citybi.validation import rules_table

gate("datasets.read")  # who is asking, for this run (and the login form when nobody is)
st.title("数据集")
show_flash()
cat = catalog()
infos = guarded(cat.datasets) or []
if not infos:
    st.info("仓库中还没有数据集。请到「数据导入」页上传 Excel 或 CSV 文件。")
    st.stop()

scores = {k: str(v) for k, v in (guarded(cat.quality_scores) or {}).items()}
# the rows this caller may see (a row rule narrows the count too: a whole-table count is a leak)
counted = default_cache()  # keyed by scope and data version: a rerun does not count again
visible = {d.name: guarded(lambda d=d: cat.visible_rows(d, lambda t: counted.run(get_warehouse(), t)[0]))
           for d in infos}
overview = pl.DataFrame({
    "数据集": [d.name for d in infos],
    "行数": [visible[d.name] for d in infos],
    "列数": [len(d.columns) for d in infos],
    "版本": [d.version for d in infos],
    "质量得分": [scores.get(d.name, "—") for d in infos],  # the current version's report (citybi.quality)
    "来源文件": [d.source_file or "—" for d in infos],
    "更新时间": [d.updated_at.strftime("%Y-%m-%d %H:%M") if d.updated_at else "—" for d in infos],
})
# every dataset at once while the list is short (the default shows ten and hides the rest behind an
# inner scroll bar that clerks miss); a long list keeps a scrolling box of about twenty rows
st.dataframe(overview, hide_index=True, width="stretch", height="content" if overview.height <= 30 else 740)

names = [d.name for d in infos]
# opened from a link (数据导入's result: datasets?ds=<name>) on that dataset
wanted = st.query_params.get("ds")
chosen = st.selectbox("查看数据集", names, key="ds_pick", index=names.index(wanted) if wanted in names else 0)
info = next(d for d in infos if d.name == chosen)
if info.description:
    st.caption(md(info.description))
governance = guarded(lambda: cat.governance(info.name))
if governance is not None:  # owner and row-rule columns (citybi.rowrules); `citybi datasets govern` changes them
    st.caption("数据权限：" + md(governance.describe()))
st.caption(md(location(guarded(lambda: cat.live_target(info.name)))))  # DuckDB here, or a live dataset's engine
quality = guarded(lambda: dataset_quality(get_warehouse(), info.name))  # the current version's report
if quality is not None:
    st.caption(f"数据质量：得分 {quality.report.score}（详见「数据质量」页签）" if quality.report is not None
               else "数据质量：" + md(quality.note or "无质量报告"))

tab_schema, tab_preview, tab_versions, tab_rules, tab_metrics, tab_quality, tab_delete = st.tabs(
    ["结构", "预览", "版本历史", "校验规则", "指标", "数据质量", "删除"])

with tab_schema:
    schema = pl.DataFrame({
        "列名": [c.name for c in info.columns],
        "类型": [TYPE_LABELS.get(c.type, c.type) for c in info.columns],
        "单位": [c.unit or "" for c in info.columns],
        "说明": [c.description for c in info.columns],
        "同义词": ["、".join(c.synonyms) for c in info.columns],
    })
    st.dataframe(schema, hide_index=True, width="stretch")
    with st.form("synonyms"):
        st.markdown("**同义词**：问数时也认这些说法（用顿号或逗号分隔）")
        col = st.selectbox("列", [c.name for c in info.columns])
        current = next(c for c in info.columns if c.name == col)
        words = st.text_input("同义词", value="、".join(current.synonyms))
        if st.form_submit_button("保存同义词"):
            parts = [w for w in words.replace(",", "、").replace("，", "、").split("、") if w.strip()]
            if action(lambda: cat.set_synonyms(info.name, parts, column=col)):
                st.success(f"已保存「{md(col)}」的同义词。")

with tab_preview:
    frame = guarded(lambda: cat.preview(info.name, 200))
    if frame is not None:
        st.caption(f"前 {frame.height} 行（共 {visible[info.name]} 行）")
        show_frame(frame, download=f"{info.name}_前{frame.height}行", download_key="ds_preview_csv")

with tab_versions:
    versions = guarded(lambda: cat.versions(info.name)) or []
    me = effective()  # narrowed by districts/streets, or not allowed this dataset: no whole-table counts
    scoped = not (me.is_system or me.scope.unrestricted) or visible[info.name] is None
    for v in versions:
        cols = st.columns([5, 1])
        # an earlier version's count is the whole table's: shown only to a caller no row rule narrows
        rows = v.row_count if not scoped else (visible[info.name] if v.current else None)
        label = (f"第 {v.version} 版 · {MODE_LABELS.get(v.mode, v.mode)} · "
                 + (f"{rows} 行 · " if rows is not None else "")
                 + f"{v.created_at:%Y-%m-%d %H:%M} · {v.source_file or '—'}" + (" · 操作人 " + v.who if v.who else ""))
        cols[0].markdown(("**当前** " if v.current else "") + md(label))
        if v.note:
            cols[0].caption(md(v.note))
        if not v.current and cols[1].button("恢复此版本", key=f"restore_{v.version}"):
            st.session_state["ds_restore"] = (info.name, v.version)
    # an older version may lack a column a board was built on since (citybi/lineage.py): say so first
    pending = st.session_state.get("ds_restore")
    if pending and pending[0] == info.name:
        version = pending[1]
        checked = guarded(lambda: restore_check(get_warehouse(), info.name, version))
        go = checked is not None and not checked[1]  # nothing breaks: restore at once, as before
        if checked is not None and checked[1]:
            st.markdown(f"**恢复到第 {version} 版**")
            ok = replace_impact(*checked, key=f"restore_impact_{info.name}_{version}", what=f"恢复到第 {version} 版",
                                advice="建议先修改这些看板、图表和预警，或选择其他版本。")
            left, right = st.columns(2)
            go = left.button("确认恢复", type="primary", disabled=not ok, key="restore_confirm")
            if right.button("取消", key="restore_cancel"):
                st.session_state.pop("ds_restore", None)
                st.rerun()
        if go:
            st.session_state.pop("ds_restore", None)
            if action(lambda: cat.restore(info.name, version)):
                flash(f"已恢复到第 {version} 版。")
                st.rerun()

with tab_rules:
    st.caption("以后每次替换或追加导入时检查，不符合的行会在导入前列出（数据不会被悄悄删改）。"
               "取值字典写成 字典名 或 字典名/层级，例如 行政区划/区。")
    rules = guarded(lambda: cat.rules(info.name))
    if rules is not None:
        rule_rows = st.data_editor(pl.DataFrame(rules_table(rules, [c.name for c in info.columns])),
                                   hide_index=True, width="stretch", disabled=["列"], key=f"rules_{info.name}")
        key_cols = st.multiselect("主键（这些列的组合不能重复）", [c.name for c in info.columns],
                                  default=[c for c in rules.unique if c in {x.name for x in info.columns}],
                                  key=f"rules_key_{info.name}")
        if st.button("保存校验规则", key="rules_save") and action(
                lambda: save_rules_table(get_warehouse(), info.name, rule_rows.to_dicts(), key_cols)):
            flash(f"已保存数据集「{info.name}」的校验规则。")
            st.rerun()

with tab_metrics:
    st.caption("指标只定义一次（例如 办结率 = 已办结工单数 ÷ 工单数），问数、图表和指标卡都按同一个公式计算。")
    mine = guarded(lambda: cat.metrics(info.name)) or []
    if mine:
        st.dataframe(pl.DataFrame(table_rows(mine)), hide_index=True, width="stretch")
        st.download_button("导出为 YAML", dump_yaml(mine), file_name=f"{info.name}_指标.yaml", key="metrics_yaml")
    else:
        st.info("这个数据集还没有指标。")
    NEW = "（新建指标）"
    picked = st.selectbox("新建或修改", [NEW, *[m.name for m in mine]], key=f"metric_pick_{info.name}")
    old = next((m for m in mine if m.name == picked), None)
    v = to_fields(old) if old else {}
    kinds = list(KIND_LABELS)
    with st.form(f"metric_form_{info.name}_{picked}"):
        c1, c2 = st.columns(2)
        name = c1.text_input("指标名称", value=v.get("name", ""))
        kind = c2.selectbox("公式", kinds, index=kinds.index(v.get("kind", "count")), format_func=KIND_LABELS.get)
        column = st.text_input("列（合计/平均/去重计数的列；每X 的除数列）", value=v.get("column", ""),
                               help="可用的列：" + md("、".join(c.name for c in info.columns)))
        where = st.text_area("条件（每行一个，例如 办结状态=已办结、空气质量等级 in 优、良）",
                             value="\n".join(v.get("where", [])))
        c3, c4 = st.columns(2)
        numerator = c3.text_input("分子指标（比率、每X）", value=v.get("numerator", ""))
        denominator = c4.text_input("分母指标（比率）", value=v.get("denominator", ""))
        c5, c6, c7 = st.columns(3)
        by_dataset = c5.text_input("除数所在的数据集（每X 跨表时）", value=v.get("by_dataset", ""))
        key = c6.text_input("本表键列（例如 区）", value=v.get("key", ""))
        by_key = c7.text_input("对方键列（默认同本表）", value=v.get("by_key", ""))
        c8, c9, c10 = st.columns(3)
        multiplier = c8.number_input("结果乘以", value=float(v.get("multiplier", 1.0)), min_value=1e-9, format="%g")
        unit = c9.text_input("单位（例如 人/平方公里）", value=v.get("unit", ""))
        decimals = c10.number_input("小数位数", value=int(v.get("decimals", 2)), min_value=0, max_value=6, step=1)
        percent = st.checkbox("以百分比显示（比率）", value=bool(v.get("percent", False)))
        synonyms = st.text_input("同义词（用顿号分隔）", value="、".join(v.get("synonyms", [])))
        description = st.text_input("说明", value=v.get("description", ""))
        if st.form_submit_button("保存指标") and action(lambda: cat.save_metrics([from_fields(
                name=name, dataset=info.name, kind=kind, column=column.strip(), where=where.splitlines(),
                numerator=numerator.strip(), denominator=denominator.strip(), by_dataset=by_dataset.strip(),
                key=key.strip(), by_key=by_key.strip(), multiplier=float(multiplier), unit=unit.strip(),
                percent=percent, decimals=int(decimals), synonyms=synonyms.replace(",", "、").split("、"),
                description=description, info=info)], replace=old.name if old else None)):
            flash(f"已保存指标「{name.strip()}」。")
            st.rerun()
    if old is not None and st.button(f"删除指标「{old.name}」", key="metric_delete") and action(
            lambda: cat.delete_metric(old.name)):
        flash(f"已删除指标「{old.name}」。")
        st.rerun()

with tab_quality:  # score, counts, broken rules with sample rows (citybi.quality)
    if quality is not None and quality.report is not None:
        quality_panel(quality.report, title=f"第 {quality.version} 版", note=quality.note, expanded=True)
    elif quality is not None:
        st.info(md(quality.note or "无质量报告"))

with tab_delete:
    # who reads it first (citybi/lineage.py): a delete that breaks boards or alerts needs its own confirmation
    lin = guarded(lambda: find_readers(get_warehouse(), info.name))
    impact_ok = lin is not None and delete_impact(lin, key=f"delete_impact_{info.name}")
    st.warning("删除会移除该数据集及其全部历史版本，无法撤销。")
    typed = st.text_input("请输入数据集名称以确认删除", key="confirm_delete")
    if st.button("删除数据集", type="primary", disabled=typed.strip() != info.name or not impact_ok):
        if action(lambda: cat.delete(info.name)):
            flash(f"已删除数据集「{info.name}」。")
            st.rerun()
