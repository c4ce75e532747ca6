"""系统状态 page (管理员): warehouse size, datasets, accounts, who is online, latest errors."""
from __future__ import annotations

import streamlit as st

from citybi.ui.admin import status
from citybi.ui.auth import gate
from citybi.ui.state import get_warehouse, guarded, show_frame

gate("system.status")  # who is asking, for this run (and the login form when nobody is)
st.title("系统状态")
info = guarded(lambda: status(get_warehouse()))
if info is None:
    st.stop()
c1, c2, c3, c4 = st.columns(4)
c1.metric("数据文件", f"{info['size_mb']:.1f} MB")
c2.metric("数据集", info["datasets"])
c3.metric("账户", info["users"])
c4.metric("审计日志", "完整" if info["audit"].ok else "被改动")
st.subheader("最近 30 分钟活跃的用户")
show_frame(info["online"])
st.subheader("最近的错误")
if info["errors"].height:
    show_frame(info["errors"])
else:
    st.caption("本次启动以来没有记录到错误。")
