"""数据集 page: what is in the warehouse — schema with units, preview, versions, restore, delete."""
from __future__ import annotations

import polars as pl
import streamlit as st

from citybi.catalog import MODE_LABELS
from citybi.importer import save_rules_table
from citybi.ingest.model import TYPE_LABELS
from citybi.ui.auth import gate
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

overview = pl.DataFrame({
    "数据集": [d.name for d in infos],
    "行数": [d.row_count for d in infos],
    "列数": [len(d.columns) for d in infos],
    "版本": [d.version for d in infos],
    "来源文件": [d.source_file or "—" for d in infos],
    "更新时间": [d.updated_at.strftime("%Y-%m-%d %H:%M") if d.updated_at else "—" for d in infos],
})
st.dataframe(overview, hide_index=True, width="stretch")

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

tab_schema, tab_preview, tab_versions, tab_rules, tab_delete = st.tabs(["结构", "预览", "版本历史", "校验规则", "删除"])

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
        st.caption(f"前 {frame.height} 行（共 {info.row_count} 行）")
        show_frame(frame, download=f"{info.name}_前{frame.height}行", download_key="ds_preview_csv")

with tab_versions:
    versions = guarded(lambda: cat.versions(info.name)) or []
    for v in versions:
        cols = st.columns([5, 1])
        label = (f"第 {v.version} 版 · {MODE_LABELS.get(v.mode, v.mode)} · {v.row_count} 行 · "
                 f"{v.created_at:%Y-%m-%d %H:%M} · {v.source_file or '—'}" + (" · 操作人 " + v.who if v.who else ""))
        cols[0].markdown(("**当前** " if v.current else "") + md(label))
        if v.note:
            cols[0].caption(md(v.note))
        if not v.current and cols[1].button("恢复此版本", key=f"restore_{v.version}"):
            if action(lambda v=v: cat.restore(info.name, v.version)):
                flash(f"已恢复到第 {v.version} 版。")
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

with tab_delete:
    st.warning("删除会移除该数据集及其全部历史版本，无法撤销。")
    typed = st.text_input("请输入数据集名称以确认删除", key="confirm_delete")
    if st.button("删除数据集", type="primary", disabled=typed.strip() != info.name):
        if action(lambda: cat.delete(info.name)):
            flash(f"已删除数据集「{info.name}」。")
            st.rerun()
