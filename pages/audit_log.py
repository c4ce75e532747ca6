"""审计日志 page (管理员): who did what, when, from where; filters, CSV export, chain check."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from citybi import audit
from citybi.ui.admin import audit_rows
from citybi.ui.auth import gate
from citybi.ui.state import get_warehouse, guarded, show_frame

gate("audit.read")  # who is asking, for this run (and the login form when nobody is)
st.title("审计日志")
st.caption(f"登录、导入、替换、恢复、删除、导出、提问、SQL 和用户管理都会记录；每条记录与上一条哈希相连，"
           f"任何修改或删除都能被校验发现。默认保留 {audit.DEFAULT_RETENTION_DAYS} 天。")
wh = get_warehouse()
c1, c2, c3 = st.columns(3)
user = c1.text_input("用户", key="al_user")
label = c2.selectbox("操作", ["全部", *audit.ACTION_LABELS.values()], key="al_action")
today = dt.date.today()
days = c3.date_input("日期", value=(today - dt.timedelta(days=30), today), key="al_days")
start, end = (days if isinstance(days, tuple) and len(days) == 2 else (None, None))
rows = guarded(lambda: audit_rows(wh, user=user, action_label=label, start=start, end=end))
if rows is not None:
    st.caption(f"共 {rows.height} 条（最多显示 5000 条）")
    show_frame(rows, download="审计日志", download_key="al_csv")
if st.button("校验完整性", key="al_verify"):
    verdict = guarded(lambda: audit.verify(wh))
    if verdict is not None and verdict.ok:
        st.success(f"审计日志完整：检查了 {verdict.checked} 条记录。最新哈希 {verdict.head_hash}")
    elif verdict is not None:
        st.error("审计日志被改动过：" + "；".join(verdict.problems))
