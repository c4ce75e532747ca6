"""A board on a phone (390×844, an iPhone's user agent), as a leader opens a shared link: the first
screen, without scrolling, shows every KPI card's value (the figures the core computes for the
board); the filters are one folded control; the sidebar is gone; nothing is wider than the screen
(the table scrolls inside itself).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect

from browser_app import BOARD, FIRST_LOAD_MS, RunningApp, kpi_value, new_tab  # noqa: E402

WIDTH, HEIGHT = 390, 844
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    yield from new_tab(browser, viewport={"width": WIDTH, "height": HEIGHT}, user_agent=IPHONE, is_mobile=True,
                       has_touch=True)


@pytest.mark.parametrize("view", ["leader", "analyst"])
def test_phone_first_screen_shows_the_kpi_values(phone: Any, app_server: RunningApp, view: str) -> None:
    expected = app_server.facts.board_kpis[""]  # {card title: "3,190 吨"}, computed by the core
    query = f"board={BOARD}" + ("&view=leader" if view == "leader" else "")
    phone.goto(f"{app_server.url}/boards?{query}", wait_until="domcontentloaded")
    expect(phone.locator("h1", has_text=BOARD)).to_be_visible(timeout=FIRST_LOAD_MS)
    values = phone.locator('[data-testid="stMetricValue"]')
    values.first.wait_for(timeout=FIRST_LOAD_MS)  # a phone-sized Chromium on a shared CI box is slow to draw
    expect(values).to_have_count(len(expected))
    for title, text in expected.items():
        value = kpi_value(phone, title)
        expect(value).to_have_text(re.compile(rf"^{re.escape(text)}$"))
        box = value.bounding_box()
        assert box is not None and box["y"] + box["height"] <= HEIGHT, (title, box)  # on the first screen
    # one folded filter control instead of a row of five
    expect(phone.get_by_role("button", name=re.compile("^筛选"))).to_be_visible()
    expect(phone.locator('[data-testid="stMultiSelect"]')).to_have_count(0)
    if view == "leader":
        expect(phone.locator('[data-testid="stSidebar"]')).to_be_hidden()
        expect(phone.locator('[data-testid="stExpandSidebarButton"]')).to_be_hidden()
    # nothing wider than the phone: the 街道 table scrolls inside its own frame
    phone.locator('[data-testid="stDataFrame"]').first.wait_for()
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= WIDTH + 1
