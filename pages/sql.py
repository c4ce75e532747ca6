"""SQL 查询 page (分析员, 管理员): type DuckDB SQL, see the rows, download them, keep a simple query as a chart.

Thin: the checks (who may, one SELECT over catalog datasets, the row rule, limits) are all in
citybi.sqlbox and the warehouse's door.
"""
from __future__ import annotations

import streamlit as st

from citybi import access
from citybi.sqlbox import run_sql, save_query_as_chart
from citybi.ui.auth import gate
from citybi.ui.state import action, catalog, get_warehouse, guarded, show_frame
from citybi.usertext import md

gate("sql.run")  # who is asking, for this run (and the login form when nobody is)
st.title("SQL 查询")
st.caption("用 DuckDB SQL 查询已导入的数据集：只能执行一条 SELECT，只能读取数据集，结果受您的数据权限限制。"
           "中文表名和列名请用双引号括起来。")

if guarded(lambda: access.require("sql.run")) is None:
    st.stop()

wh = get_warehouse()
datasets = guarded(catalog().datasets) or []
with st.expander("可查询的数据集和列"):
    for d in datasets:
        st.markdown(f"**{md(d.name)}**：" + md("、".join(c.name for c in d.columns)))

limits = wh.settings.query
EXAMPLE = 'SELECT 区, SUM("清运量（吨）") AS 清运量 FROM 环卫清运 GROUP BY 区 ORDER BY 清运量 DESC'
text = st.text_area("SQL", key="sql_text", height=160, placeholder=EXAMPLE)
st.caption(f"最多返回 {limits.max_rows:,} 行；超过 {limits.timeout_s:g} 秒未完成的查询会被停止。")
if st.button("执行", type="primary", key="sql_run"):
    st.session_state["sql_result"] = guarded(lambda: run_sql(wh, text))
    st.session_state["sql_ran"] = text

result = st.session_state.get("sql_result")
if result is not None:
    notes = [f"{result.frame.height:,} 行，用时 {result.elapsed_s:.2f} 秒"]
    if result.truncated:
        notes.append(f"结果超过上限，只显示前 {result.frame.height:,} 行")
    if result.scope_note:
        notes.append(result.scope_note)
    st.caption("；".join(notes))
    show_frame(result.frame, download="SQL 查询结果", download_key="sql_csv")
    with st.popover("保存为图表", icon=":material/bookmark_add:"):
        st.caption("只有能用图表设置表达的查询（一个数据集、分组列、求和/计数等、简单条件、排序和 LIMIT）可以保存；"
                   "保存前会按图表重新计算并与查询结果核对。")
        title = st.text_input("图表标题", key="sql_chart_title", max_chars=80)
        overwrite = st.checkbox("覆盖同名图表", key="sql_chart_over")
        if st.button("保存", key="sql_chart_save"):
            ran = str(st.session_state.get("sql_ran", ""))
            saved: list[str] = []
            if action(lambda: saved.append(save_query_as_chart(wh, ran, title, overwrite=overwrite))):
                st.success(f"已保存为图表「{md(saved[0])}」。打开「图表」页可继续编辑，也可以把它加到看板上。")
