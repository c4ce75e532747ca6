"""账户 page: who is signed in, with which rights and data scope; change one's own password."""
from __future__ import annotations

import streamlit as st

from citybi.ui.auth import current_session, gate, password_form
from citybi.ui.state import show_flash
from citybi.usertext import md

ctx = gate()  # who is asking, for this run (and the login form when nobody is)
st.title("账户")
show_flash()
session = current_session()
if session is None:
    st.info("当前未启用登录，以本机操作员身份使用全部功能。")
    st.stop()
user = session.user
# names an admin typed: shown as text (citybi.usertext.md), never as Markdown
st.write(md(f"用户：{user.name} · 角色：{user.role_label} · 部门：{user.department or '未设置'}"))
st.write(md(f"可见的区：{'、'.join(user.districts) if user.districts else '全部'} · "
            f"可见的街道：{'、'.join(user.streets) if user.streets else '全部'}"))
st.subheader("修改密码")
st.caption("至少 10 个字符，包含大写字母、小写字母、数字、符号中的至少三类，不能包含用户名。修改后需要重新登录。")
password_form(session)
