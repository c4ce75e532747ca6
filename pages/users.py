"""用户管理 page (管理员): list accounts, add one, disable/enable, reset a password, change a role."""
from __future__ import annotations

import streamlit as st

from citybi.accounts import Accounts
from citybi.ui.admin import ROLE_CHOICES, SAMPLE_DISTRICTS, users_frame
from citybi.ui.auth import OPEN_NOTICE, gate
from citybi.ui.state import action, flash, get_warehouse, guarded, show_flash, show_frame

ctx = gate("users.manage")  # who is asking, for this run (and the login form when nobody is)
st.title("用户管理")
if ctx.is_system:
    st.info(OPEN_NOTICE)  # the first admin comes from the CLI, not from whoever reaches this page first
    st.stop()
show_flash()
acc = Accounts(get_warehouse())
users = guarded(acc.list) or []
show_frame(users_frame(users))

with st.expander("添加用户", expanded=not users):
    with st.form("user_add", clear_on_submit=True):
        c1, c2 = st.columns(2)
        name = c1.text_input("用户名", key="ua_name")
        role = c2.selectbox("角色", list(ROLE_CHOICES), format_func=ROLE_CHOICES.get, key="ua_role")
        department = c1.text_input("部门", key="ua_dept", placeholder="例如 环卫处")
        districts = c2.multiselect("可见的区（不选则不限）", SAMPLE_DISTRICTS, accept_new_options=True,
                                   key="ua_districts")
        password = st.text_input("初始密码", type="password", key="ua_pw",
                                 help="至少 10 个字符，包含大写字母、小写字母、数字、符号中的至少三类，不能包含用户名")
        if st.form_submit_button("添加", type="primary") and action(
                lambda: acc.add(name, role, password, department=department, districts=districts or None)):
            flash(f"已添加用户「{name}」。")
            st.rerun()

if users:
    names = [u.name for u in users]
    picked = st.selectbox("选择用户", names, key="ua_pick")
    user = next(u for u in users if u.name == picked)
    c1, c2, c3 = st.columns(3)
    with c1.popover("停用" if not user.disabled else "启用"):
        st.write("停用后该用户的登录立即失效。" if not user.disabled else "重新允许该用户登录。")
        if st.button("确认", key="ua_toggle") and action(lambda: acc.set_disabled(picked, not user.disabled)):
            flash(f"已{'停用' if not user.disabled else '启用'}用户「{picked}」。")
            st.rerun()
    with c2.popover("重置密码"):
        new_pw = st.text_input("新密码", type="password", key="ua_reset_pw")
        if st.button("重置", key="ua_reset") and action(lambda: acc.reset(picked, new_pw)):
            flash(f"已重置「{picked}」的密码，该用户登录后需要修改密码。")
            st.rerun()
    with c3.popover("调整角色"):
        new_role = st.selectbox("角色", list(ROLE_CHOICES), format_func=ROLE_CHOICES.get,
                                index=list(ROLE_CHOICES).index(user.role), key="ua_new_role")
        new_dept = st.text_input("部门", value=user.department or "", key="ua_new_dept")
        known = sorted(set(SAMPLE_DISTRICTS) | set(user.districts or ()))
        new_districts = st.multiselect("可见的区（不选则不限）", known,
                                       default=list(user.districts or ()), accept_new_options=True,
                                       key="ua_new_districts")
        if st.button("保存", key="ua_role_save") and action(
                lambda: acc.set_role(picked, new_role, department=new_dept, districts=new_districts)):
            flash(f"已调整「{picked}」的角色，该用户需要重新登录。")
            st.rerun()
