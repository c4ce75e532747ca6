"""数据标准 page: the value dictionaries imports are standardised against — see, edit, import, delete."""
from __future__ import annotations

import shutil
from pathlib import Path

import streamlit as st

from citybi import tempfiles
from citybi.dictionaries import to_frame
from citybi.importer import import_dictionary, save_dictionary_table
from citybi.ui.auth import gate
from citybi.ui.state import action, catalog, flash, get_warehouse, guarded, show_flash
from citybi.usertext import md

gate("standards.manage")  # who is asking, for this run (and the login form when nobody is)
st.title("数据标准")
st.caption("各部门写法不一的取值（南湖、南湖区、嘉兴市南湖区……）在导入时按这里的字典统一为标准值；"
           "导入页会列出每条建议和影响的行数，确认后才改写。")
show_flash()
wh = get_warehouse()
found = guarded(catalog().dictionaries) or []

with st.expander("从 Excel/CSV 导入字典", expanded=not found):
    st.caption("表格列：标准名称（必填）、编码、层级（如 区/街道/社区）、上级、别名（多个用顿号分隔）。"
               "同名字典会被整体替换。")
    upload = st.file_uploader("字典文件", type=["xlsx", "xls", "csv"], key="dict_upload")
    c1, c2 = st.columns(2)
    new_name = c1.text_input("字典名称", key="dict_new_name", placeholder="例如 行政区划")
    new_prefix = c2.text_input("取值前可能出现的前缀（市名等，用顿号分隔）", key="dict_new_prefix")
    if upload is not None and st.button("导入字典", disabled=not new_name.strip()):
        folder = tempfiles.make_dir("dict-")
        try:
            path = folder / Path(upload.name).name
            path.write_bytes(upload.getvalue())
            d = guarded(lambda: import_dictionary(wh, path, name=new_name, original_name=upload.name,
                                                  prefixes=[p for p in new_prefix.split("、") if p.strip()]))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if d is not None:
            flash(f"已导入字典「{d.name}」：{len(d.entries)} 个标准值。")
            st.rerun()

if not found:
    st.info("还没有数据标准字典。载入示例数据时会带上示例城市的行政区划、垃圾类型和诉求类型；也可以在上面导入。")
    st.stop()

names = [d.name for d in found]
chosen = st.selectbox("字典", names, key="dict_pick")
current = next(d for d in found if d.name == chosen)
if current.description:
    st.caption(md(current.description))
levels = "，".join(f"{lv or '取值'} {len(current.values(lv))} 个" for lv in current.levels())
st.write(f"{levels}；别名 {sum(len(e.aliases) for e in current.entries)} 个。")
prefix = st.text_input("取值前可能出现的前缀（用顿号分隔）", value="、".join(current.prefixes), key=f"prefix_{chosen}")
edited = st.data_editor(to_frame(current), hide_index=True, width="stretch", num_rows="dynamic",
                        key=f"entries_{chosen}")
c1, c2 = st.columns(2)
if c1.button("保存修改", type="primary") and action(
        lambda: save_dictionary_table(wh, chosen, edited.to_dicts(), prefixes=prefix.split("、"),
                                      description=current.description)):
    flash(f"已保存字典「{chosen}」。")
    st.rerun()
with c2.popover("删除字典"):
    st.write(f"删除后，导入时不再按「{md(chosen)}」统一取值（已导入的数据不变）。")
    if st.button("确认删除", key="dict_delete") and action(lambda: catalog().delete_dictionary(chosen)):
        flash(f"已删除字典「{chosen}」。")
        st.rerun()
