"""The login gate: who is using this browser session, set as the context of every script run.

Why a gate called in three places: app.py runs before the page (navigation lists only what the
role may use), but a page also runs alone (AppTest, a bookmarked URL after a restart), and an
`st.fragment` rerun runs only the fragment function — neither app.py nor the page top. Each of
them calls `gate()`, which re-reads the session and sets `context.set_for_run(...)` for that run;
the core's own checks (citybi.access) are what count, the hidden pages are a courtesy.

Two modes, decided by the warehouse: with no account at all the app works as before, as the local
operator (SYSTEM rights), and says how to create the first admin ("open mode"). Once any account
exists every page needs a login. A login survives a browser refresh only through the signed,
expiring token kept in the URL (`?t=…`, citybi.accounts): never a user name, and the token stops
working at logout, idle expiry, a password change or when the user is disabled.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import streamlit as st

from citybi.access import AccessDenied, allowed, require
from citybi.accounts import AccountError, Accounts, LoginFailed, Session
from citybi.context import Context, Scope, set_for_run
from citybi.ui.state import get_warehouse, show_error, show_flash

TOKEN_PARAM = "t"
_TOKEN_KEY = "_citybi_token"
OPEN_NOTICE = ("未启用登录：还没有任何账户，任何能打开本页面的人都拥有全部权限。"
               "创建第一个管理员后即需登录：`citybi users add 名称 --role admin --password-stdin --db 数据文件`")

# url_path of a page → the action it needs (None: every signed-in user; the 账户 page)
PAGE_ACTIONS: dict[str, str | None] = {
    "import": "datasets.upload",
    "datasets": "datasets.read",
    "standards": "standards.manage",
    "sources": "sources.manage",
    "boards": "boards.view",
    "charts": "charts.edit",
    "ask": "ask",
    "map": "datasets.read",
    "sql": "sql.run",
    "alerts": "alerts.manage",
    "home": "datasets.read",  # app.py's hidden front door: it sends "/" on to 数据集
    "account": None,
    "users": "users.manage",
    "audit": "audit.read",
    "system": "system.status",
}


def _address() -> str | None:
    try:
        ip = st.context.ip_address
    except Exception:  # no request behind this run (AppTest, bare mode)
        return None
    return ip if isinstance(ip, str) else None


def _local_operator() -> Context:
    return Context(user="本机操作员", role="system", address=_address())


def accounts() -> Accounts:
    return Accounts(get_warehouse())


def open_mode() -> bool:
    """True while the warehouse has no account (the app runs as the local operator)."""
    return not accounts().any_account()


def _session() -> Session | None:
    token = st.session_state.get(_TOKEN_KEY) or st.query_params.get(TOKEN_PARAM)
    if not token:
        return None
    found = accounts().resume(str(token), address=_address())
    if found is None:
        st.session_state.pop(_TOKEN_KEY, None)
        if TOKEN_PARAM in st.query_params:
            del st.query_params[TOKEN_PARAM]
        return None
    st.session_state[_TOKEN_KEY] = found.token
    if st.query_params.get(TOKEN_PARAM) != found.token:
        st.query_params[TOKEN_PARAM] = found.token  # a refresh of this tab signs in again, nothing else
    return found


def current_session() -> Session | None:
    """The signed-in session of this browser tab (None in open mode or when signed out)."""
    return None if open_mode() else _session()


def _only(render: Callable[[], None], app_pages: dict[str, list[Any]] | None) -> NoReturn:
    """Show `render` instead of any page and stop this run.

    From app.py it goes through st.navigation under each of the app's addresses: a run of app.py
    that never called st.navigation would list the pages/ folder, and one that declared only a
    login page would answer a bookmarked /boards with Streamlit's "page not found" dialog."""
    if app_pages is not None:
        # every address of the app answers with `render` (a login keeps the address asked for)
        stand_ins = [st.Page(render, title="登录", url_path=p.url_path or "login", default=not p.url_path)
                     for group in app_pages.values() for p in group]
        st.navigation(stand_ins, position="hidden").run()
    else:
        render()
    st.stop()


def gate(action: str | None = None, *, app_pages: dict[str, list[Any]] | None = None) -> Context:
    """Who is asking, set for this run; shows the login form (and stops the run) when nobody is.

    With `action`, a user whose role may not take it sees a Chinese refusal and the run stops.
    app.py passes its pages (`app_pages`), before it builds the navigation."""
    if open_mode():
        ctx = _local_operator()
        set_for_run(ctx)
        return ctx
    session = _session()
    if session is None:
        # no rights and no rows, should anything run before the stop
        set_for_run(Context(user="", role="anonymous", address=_address(),
                            scope=Scope(districts=frozenset(), streets=frozenset())))
        _only(login_form, app_pages)
    ctx = session.user.context(_address())
    set_for_run(ctx)
    if session.user.must_change:
        def must_change() -> None:
            st.title("修改密码")
            st.warning("管理员重置了您的密码，请先设置一个新密码。")
            password_form(session)

        _only(must_change, app_pages)
    if action is not None:
        try:
            require(action, ctx)
        except AccessDenied as err:
            show_error(err)
            st.stop()
    return ctx


def may(ctx: Context, url_path: str) -> bool:
    """True when the navigation should list this page for `ctx`."""
    url_path = url_path or "home"  # the default page answers to "" (app.py: the hidden front door)
    if url_path not in PAGE_ACTIONS:
        raise KeyError(url_path)  # a page added to app.py must say what it needs
    action = PAGE_ACTIONS[url_path]
    if url_path in ("account", "users") and ctx.is_system:
        # open mode (the local operator) has no account to show, and the first admin is made with the
        # CLI by whoever holds the file, never by whoever reaches the port first
        return False
    return action is None or allowed(ctx, action)


def login_form() -> None:
    st.title("登录")
    st.caption("城市自助分析 · 请输入账户和密码")
    show_flash()
    with st.form("login_form"):
        name = st.text_input("用户名", key="login_name")
        password = st.text_input("密码", type="password", key="login_password")
        submitted = st.form_submit_button("登录", type="primary")
    if submitted:
        try:
            session = accounts().login(name, password, address=_address())
        except LoginFailed as err:
            st.error(err.message)
            return
        except Exception as err:  # every failure becomes a message, none a traceback
            show_error(err)
            return
        st.session_state[_TOKEN_KEY] = session.token
        st.query_params[TOKEN_PARAM] = session.token
        st.session_state.pop("login_password", None)
        st.rerun()


def password_form(session: Session) -> None:
    with st.form("password_form", clear_on_submit=True):
        old = st.text_input("原密码", type="password", key="pw_old")
        new = st.text_input("新密码", type="password", key="pw_new",
                            help="至少 10 个字符，包含大写字母、小写字母、数字、符号中的至少三类，不能包含用户名")
        again = st.text_input("再次输入新密码", type="password", key="pw_again")
        submitted = st.form_submit_button("修改密码", type="primary")
    if not submitted:
        return
    if new != again:
        st.error("两次输入的新密码不一致。")
        return
    try:
        accounts().change_password(session.user.name, old, new)
    except AccountError as err:
        show_error(err)
        return
    # the old token stopped working with the change: sign in again with the new password
    sign_out(message="密码已修改，请用新密码重新登录。")


def sign_out(message: str | None = None) -> None:
    token = st.session_state.pop(_TOKEN_KEY, None) or st.query_params.get(TOKEN_PARAM)
    if token:
        try:
            accounts().logout(str(token))
        except Exception as err:  # signing out must not fail on the user: the token is dropped anyway
            show_error(err)
    if TOKEN_PARAM in st.query_params:
        del st.query_params[TOKEN_PARAM]
    if message:
        st.session_state["_flash"] = message
    st.rerun()


def sidebar(ctx: Context) -> None:
    """Who is signed in and 退出登录, or the open-mode notice (called once per run, by app.py)."""
    if ctx.is_system:
        st.sidebar.warning(OPEN_NOTICE)
        return
    st.sidebar.caption(f"当前用户：{ctx.user}（{ctx.role_label}）")
    if st.sidebar.button("退出登录", key="logout", icon=":material/logout:"):
        sign_out(message="已退出登录。")

