"""The login gate and the admin pages (AppTest): open mode, accounts mode, role-filtered pages."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from citybi import audit
from citybi.accounts import Accounts
from citybi.catalog import Catalog, open_warehouse
from citybi.warehouse import Warehouse

ROOT = Path(__file__).resolve().parent.parent
ADMIN_PW = "Admin#pass2026"
CLERK_PW = "Harbor#2026x"


@pytest.fixture()
def wh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(path))
    w = open_warehouse(path=path)
    Catalog(w).write("环卫清运", pl.DataFrame({"日期": [dt.date(2026, 11, 1)], "区": ["临江区"], "清运量": [3.0]}))
    yield w


@pytest.fixture()
def accounts(wh: Warehouse) -> Accounts:
    acc = Accounts(wh)
    acc.add("wang", "admin", ADMIN_PW)
    acc.add("li", "科员", CLERK_PW, department="环卫处", districts="临江区")
    return acc


def _page(path: str) -> AppTest:
    return AppTest.from_file(str(ROOT / path), default_timeout=60)


def _signed_in(path: str, acc: Accounts, name: str, password: str) -> AppTest:
    at = _page(path)
    at.session_state["_citybi_token"] = acc.login(name, password).token
    return at


def _texts(at: AppTest) -> str:
    return " ".join([*(m.value for m in at.markdown), *(t.value for t in at.title), *(e.value for e in at.error),
                     *(w.value for w in at.warning), *(i.value for i in at.info), *(c.value for c in at.caption)])


def test_open_mode_works_as_before_with_a_notice(wh: Warehouse) -> None:
    at = _page("app.py").run()
    assert not at.exception
    assert any("数据集" in t.value for t in at.title)
    assert any("未启用登录" in w.value and "--role admin --password-stdin" in w.value for w in at.sidebar.warning)


@pytest.mark.parametrize("path", ["app.py", "pages/datasets.py", "pages/users.py", "pages/audit_log.py",
                                  "pages/system.py", "pages/account.py", "pages/ask.py", "pages/boards.py"])
def test_accounts_mode_shows_only_the_login_form(accounts: Accounts, path: str) -> None:
    at = _page(path).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["登录"]
    assert [x.label for x in at.text_input] == ["用户名", "密码"]
    assert not at.dataframe


def test_login_wrong_password_then_right_one(accounts: Accounts) -> None:
    at = _page("app.py").run()
    at.text_input(key="login_name").input("li")
    at.text_input(key="login_password").input("wrong-Password1")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["用户名或密码不正确。"]
    at.text_input(key="login_name").input("nobody")
    at.text_input(key="login_password").input(CLERK_PW)
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["用户名或密码不正确。"]  # the same words: no hint the name is unknown
    at.text_input(key="login_name").input("li")
    at.text_input(key="login_password").input(CLERK_PW)
    at.button[0].click().run()
    assert not at.exception
    assert any("数据集" in t.value for t in at.title)
    assert at.query_params["t"] and "li" != at.query_params["t"][0]
    assert any("当前用户：li（科员）" in c.value for c in at.sidebar.caption)


def test_refresh_with_the_token_in_the_url_stays_signed_in(accounts: Accounts) -> None:
    token = accounts.login("li", CLERK_PW).token
    at = _page("app.py")
    at.query_params["t"] = token
    at.run()
    assert any("数据集" in t.value for t in at.title)
    forged = _page("app.py")
    forged.query_params["t"] = token[:-3] + "AAA"
    forged.run()
    assert [t.value for t in forged.title] == ["登录"]


@pytest.mark.parametrize(("path", "title", "shows"), [
    ("pages/users.py", "用户管理", "li"),
    ("pages/audit_log.py", "审计日志", "添加用户"),
    ("pages/system.py", "系统状态", "数据集"),
    ("pages/account.py", "账户", "角色：管理员"),
    ("pages/datasets.py", "数据集", "环卫清运"),
])
def test_admin_sees_each_page(accounts: Accounts, path: str, title: str, shows: str) -> None:
    at = _signed_in(path, accounts, "wang", ADMIN_PW).run()
    assert not at.exception
    assert [t.value for t in at.title][:1] == [title]
    frames = " ".join(d.value.to_string() for d in at.dataframe)
    metrics = " ".join(f"{m.label} {m.value}" for m in at.metric)
    assert shows in _texts(at) + frames + metrics


@pytest.mark.parametrize("path", ["pages/users.py", "pages/audit_log.py", "pages/system.py", "pages/sources.py",
                                  "pages/standards.py"])
def test_a_clerk_is_refused_admin_pages(accounts: Accounts, path: str) -> None:
    at = _signed_in(path, accounts, "li", CLERK_PW).run()
    assert not at.exception
    assert any("您没有权限" in e.value for e in at.error), _texts(at)
    assert not at.dataframe


NAV = [  # "": the hidden front door (app.py), the default page that sends "/" on to 数据集
    ("li", CLERK_PW, ["import", "datasets", "", "boards", "ask", "map", "account"]),
    ("sun", "Leader#pass2026", ["datasets", "", "boards", "ask", "map", "account"]),
    ("zhao", "Analyst#pass2026", ["datasets", "", "boards", "charts", "ask", "map", "sql", "alerts", "account"]),
    ("wang", ADMIN_PW, ["import", "datasets", "standards", "sources", "", "boards", "charts", "ask", "map", "sql",
                        "alerts", "account", "users", "audit", "system"]),
]

@pytest.mark.parametrize(("name", "password", "listed"), NAV, ids=[n[0] for n in NAV])
def test_navigation_lists_only_what_the_role_may_use(accounts: Accounts, name: str, password: str,
                                                     listed: list[str]) -> None:
    import streamlit as st

    accounts.add("sun", "领导", "Leader#pass2026")
    accounts.add("zhao", "分析员", "Analyst#pass2026")

    seen: dict[str, list[str]] = {}
    real = st.navigation

    def spy(pages: object, **kwargs: object) -> object:
        if isinstance(pages, dict):
            seen["pages"] = [p.url_path for group in pages.values() for p in group]
        return real(pages, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(st, "navigation", spy)
        at = _signed_in("app.py", accounts, name, password).run()
    assert not at.exception
    assert seen["pages"] == listed


def test_admin_adds_a_user_on_the_page(accounts: Accounts, wh: Warehouse) -> None:
    at = _signed_in("pages/users.py", accounts, "wang", ADMIN_PW).run()
    at.text_input(key="ua_name").input("zhao")
    at.selectbox(key="ua_role").select("analyst")
    at.text_input(key="ua_pw").input("Analyst#2026")
    next(b for b in at.button if b.label == "添加").click().run()
    assert not at.exception
    assert any("已添加用户「zhao」" in s.value for s in at.success), _texts(at)
    assert accounts.get("zhao").role == "analyst"
    assert audit.entries(wh, action="users.add")[0].user == "wang"


def test_account_page_changes_the_password_and_signs_out(accounts: Accounts) -> None:
    at = _signed_in("pages/account.py", accounts, "li", CLERK_PW).run()
    at.text_input(key="pw_old").input(CLERK_PW)
    at.text_input(key="pw_new").input("Changed#2027")
    at.text_input(key="pw_again").input("Changed#2027")
    next(b for b in at.button if b.label == "修改密码").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["登录"]
    assert any("密码已修改" in s.value for s in at.success)
    assert accounts.login("li", "Changed#2027").user.name == "li"


def test_a_reset_password_must_be_changed_first(accounts: Accounts) -> None:
    accounts.reset("li", "Temporary#99")
    at = _signed_in("app.py", accounts, "li", "Temporary#99").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["修改密码"]
    assert any("管理员重置了您的密码" in w.value for w in at.warning)
    assert [x.label for x in at.text_input] == ["原密码", "新密码", "再次输入新密码"]


def test_a_csv_download_is_audited_as_the_user(accounts: Accounts, wh: Warehouse) -> None:
    from citybi.context import use
    from citybi.ui.state import audited

    with use(accounts.context_for("li")):
        make = audited(lambda: b"csv", "环卫清运", "csv", 1)
    assert make() == b"csv"  # called later, outside the run, as the click is served
    entry = audit.entries(wh, action="export")[0]
    assert (entry.user, entry.target) == ("li", "环卫清运")
