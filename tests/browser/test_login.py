"""Signing in, in a real browser: a 临江区 科员 made with the CLI logs in and sees the 数据集 page.

The login form is all an unsigned visitor sees; a wrong password gets the same Chinese message
whatever the name; a refresh keeps the login (the signed token in the URL, never the name);
退出登录 ends it. (Which rows the clerk sees is the row rules' test, with the rows work.)
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect
expect.set_options(timeout=60_000)

from browser_app import RunningApp, new_tab  # noqa: E402  (after the importorskip on purpose)
from conftest import CLERK  # noqa: E402


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    yield from new_tab(browser)


def _sign_in(tab: Any, name: str, password: str) -> None:
    tab.get_by_label("用户名").fill(name)
    tab.get_by_label("密码").fill(password)
    tab.get_by_role("button", name="登录").click()


def test_clerk_signs_in_sees_datasets_and_signs_out(tab: Any, accounts_app_server: RunningApp) -> None:
    app = accounts_app_server
    tab.goto(app.url + "/", wait_until="domcontentloaded")  # 数据集 is the default page
    expect(tab.locator("h1", has_text="登录")).to_be_visible()
    expect(tab.locator("h1", has_text="数据集")).to_have_count(0)

    _sign_in(tab, CLERK[0], "Wrong#password1")
    expect(tab.get_by_text("用户名或密码不正确。")).to_be_visible()
    _sign_in(tab, "nobody", CLERK[1])
    expect(tab.get_by_text("用户名或密码不正确。")).to_be_visible()

    _sign_in(tab, *CLERK)
    expect(tab.locator("h1", has_text="数据集")).to_be_visible()
    expect(tab.get_by_text("当前用户：li（科员）")).to_be_visible()
    nav = tab.locator('[data-testid="stSidebarNav"]')
    expect(nav.get_by_text("用户管理")).to_have_count(0)  # an admin page is not listed for a 科员
    assert "?t=" in tab.url and "li" not in tab.url.split("?")[0]  # a signed token, no name parameter

    tab.reload(wait_until="domcontentloaded")  # a refresh keeps the login through the token
    expect(tab.locator("h1", has_text="数据集")).to_be_visible()

    tab.get_by_role("button", name="退出登录").click()
    expect(tab.locator("h1", has_text="登录")).to_be_visible()
    expect(tab.get_by_text("已退出登录。")).to_be_visible()
