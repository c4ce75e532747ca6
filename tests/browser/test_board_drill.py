"""Drill-down in the browser: a click on a district's bar filters the whole board (KPI cards
included, checked against plain SQL on the pristine sample warehouse), the district chart goes
one level down its drill path (区 → 街道), the breadcrumb shows the click and one click on it
removes it; 查看明细 shows the rows behind a card with their count.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect

from browser_app import BOARD, FIRST_LOAD_MS, RunningApp, SampleFacts, kpi_value  # noqa: E402

DISTRICT = "北港区"
WEEK = (dt.date(2025, 6, 24), dt.date(2025, 6, 30))  # the samples end on 2025-06-30: the board's 近7天


def _sql(db: Path, query: str, *params: Any) -> Any:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query, list(params)).fetchall()
    finally:
        con.close()


def _click_bar(page: Any, chart_title: str, category: str) -> None:
    """Click the bar of `category` the way a reader does: hover it, then click it."""
    plot = page.locator(".js-plotly-plot", has=page.locator("text.gtitle", has_text=chart_title))
    expect(plot.locator("g.point").first).to_be_visible()
    ticks = plot.locator("g.xtick text").evaluate_all("els => els.map(e => e.textContent)")
    bar = plot.locator("g.trace.bars g.point path").nth(ticks.index(category))
    plot.scroll_into_view_if_needed()
    box = bar.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.6
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def test_a_district_bar_click_filters_the_board_and_the_breadcrumb_removes_it(
        page: Any, app_server: RunningApp, sample_warehouse: tuple[Path, SampleFacts]) -> None:
    pristine, _facts = sample_warehouse
    [(city,)] = _sql(pristine, 'SELECT SUM("清运量（吨）") FROM "环卫清运" WHERE CAST("日期" AS DATE) BETWEEN ? AND ?',
                     *WEEK)
    [(district,)] = _sql(pristine, 'SELECT SUM("清运量（吨）") FROM "环卫清运" WHERE "区" = ? '
                                   'AND CAST("日期" AS DATE) BETWEEN ? AND ?', DISTRICT, *WEEK)
    page.goto(f"{app_server.url}/boards?board={BOARD}", wait_until="domcontentloaded")
    # the first page of a fresh server on a loaded CI box may take a while
    expect(page.locator("h1", has_text=BOARD)).to_be_visible(timeout=FIRST_LOAD_MS)
    card = kpi_value(page, "近7天清运量")
    page.locator('[data-testid="stMetricValue"]').first.wait_for()
    expect(card).to_have_text(re.compile(rf"^{re.escape(format(city, ',.0f'))}"))

    _click_bar(page, "各区清运量", DISTRICT)
    crumb = page.get_by_role("button", name=f"区：{DISTRICT}")
    expect(crumb).to_be_visible()
    expect(card).to_have_text(re.compile(rf"^{re.escape(format(district, ',.0f'))}"))
    # the district chart went down its drill path: 北港区's streets, and a way back up
    expect(page.locator("text.gtitle", has_text=f"各区清运量 · {DISTRICT}")).to_be_visible()
    streets = {s for (s,) in _sql(pristine, 'SELECT DISTINCT "街道" FROM "环卫清运" WHERE "区" = ?', DISTRICT)}
    plot = page.locator(".js-plotly-plot", has=page.locator("text.gtitle", has_text=f"各区清运量 · {DISTRICT}"))
    ticks = set(plot.locator("g.xtick text").evaluate_all("els => els.map(e => e.textContent)"))
    assert ticks and ticks <= streets, (ticks, streets)
    expect(page.get_by_role("button", name="上一级")).to_be_visible()

    # 查看明细 on the card: the rows behind its number, counted like the SQL counts them
    [(rows,)] = _sql(pristine, 'SELECT COUNT(*) FROM "环卫清运" WHERE "区" = ? '
                               'AND CAST("日期" AS DATE) BETWEEN ? AND ?', DISTRICT, *WEEK)
    page.get_by_role("button", name="查看明细").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"共 {rows:,} 行")).to_be_visible()
    expect(dialog.get_by_role("button", name="导出 Excel")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    crumb.click()
    expect(crumb).to_have_count(0)
    expect(card).to_have_text(re.compile(rf"^{re.escape(format(city, ',.0f'))}"))
    expect(page.locator("text.gtitle", has_text=f"各区清运量 · {DISTRICT}")).to_have_count(0)
