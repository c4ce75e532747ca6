"""The impact of a replace or a delete as 数据导入 and 数据集 show it, before anything is written.

Why one component: both pages must say the same thing the same way — "影响 3 个看板、7 个图表、1 条预警",
the readers by name, a clear warning naming the readers that will break and which columns, and an
explicit confirmation before a replace or delete that breaks them (citybi/lineage.py finds them).
"""
from __future__ import annotations

import streamlit as st

from citybi.lineage import KINDS, Broken, Lineage, broken_text
from citybi.usertext import md


def readers_list(lin: Lineage) -> None:
    """The summary line, the hidden count and, folded, each visible reader with the columns it uses."""
    hidden = lin.hidden_text()
    st.markdown("**数据血缘**：" + md(lin.summary()) + (f"（{md(hidden)}）" if hidden else ""))
    if lin.readers:
        with st.expander(f"使用这个数据集的对象（{len(lin.readers)}）"):
            for kind in KINDS:
                mine = [r for r in lin.readers if r.kind == kind]
                if not mine:
                    continue
                lines = [f"- {md(r.name)}" + (f"（{md(r.note)}）" if r.note else "")
                         + (f"：{md('、'.join(r.columns))}" if r.columns else "") for r in mine]
                st.markdown(f"**{KINDS[kind][0]}**\n" + "\n".join(lines))
    for p in lin.problems:
        st.caption("注意：无法读取 " + md(p) + "（血缘可能不完整）")


def replace_impact(lin: Lineage, broken: list[Broken], *, key: str, what: str = "替换",
                   advice: str = "建议先把文件的列名改回与数据集一致（在上面的列表中修改列名后「按修改重新分析」）。"
                   ) -> bool:
    """Show the impact of a replace (or an append changing columns, or a restore); True when it may go
    ahead: nothing breaks, or the user ticked the confirmation."""
    readers_list(lin)
    if not broken:
        if lin.all_readers:
            st.caption(f"这些对象用到的列都在，且类型不变，{what}后它们照常工作。")
        return True
    st.error(f"{what}后，下面 {len(broken)} 个对象会失效（用到的列缺失或类型改变）：\n\n"
             + "\n".join(f"- {md(line)}" for line in broken_text(broken)))
    st.caption(advice)
    return st.checkbox(f"我已知晓以上 {len(broken)} 个对象会失效，仍要{what}", key=key)


def delete_impact(lin: Lineage, *, key: str) -> bool:
    """Show what a delete breaks; True when nothing reads the dataset or the user ticked the confirmation."""
    readers_list(lin)
    gone = lin.on_delete()
    if not gone:
        return True
    names = "、".join(md(r.label) for r in gone if r.visible)
    hidden = sum(1 for r in gone if not r.visible)
    st.error(f"删除后这些对象会失效：{names}" + (f"（另有 {hidden} 个您无权查看）" if hidden else "")
             + "。" + ("该数据集的指标会一并删除。" if any(r.kind == "metric" for r in gone) else ""))
    return st.checkbox(f"我已知晓以上 {len(gone)} 个对象会失效，仍要删除", key=key)
