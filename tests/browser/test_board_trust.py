"""A board a leader can trust, in the browser: with 区 = one district every KPI card's target and
completion are that district's own, and with 日期 = 上月 every card's title and value are last
month's. Expected figures come from plain SQL on the pristine sample warehouse and the
targets written in queries/boards/环卫运行.yaml — not from the code under test.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect

from browser_app import BOARD, RunningApp, SampleFacts, kpi_card  # noqa: E402
from test_flows import pick, pick_many  # noqa: E402

DISTRICT = "北港区"
LAST_DAY = dt.date(2025, 6, 30)  # the samples end here, so the board's 今天 is this day
WEEK = (LAST_DAY - dt.timedelta(days=6), LAST_DAY)
MAY = (dt.date(2025, 5, 1), dt.date(2025, 5, 31))
# card title → (measure column, its target rows' period under the card's own period)
CARDS = {
    "近7天清运量": ("清运量（吨）", "周", WEEK),
    "本月清运量": ("清运量（吨）", "月", (dt.date(2025, 6, 1), LAST_DAY)),
    "近7天出车车次": ("车次", "周", WEEK),
}


def _target(chart_title: str, period: str) -> float:
    """The district's target as written in the shipped board file (read as plain YAML)."""
    import yaml

    from citybi.config import QUERIES_DIR

    board = yaml.safe_load((QUERIES_DIR / "boards" / f"{BOARD}.yaml").read_text(encoding="utf-8"))
    chart = {"近7天清运量": "环卫_近7天清运量", "本月清运量": "环卫_本月清运量", "近7天出车车次": "环卫_近7天车次"}
    tile = next(t for t in board["tiles"] if t.get("chart") == chart[chart_title])
    return next(r["target"] for r in tile["targets"]["rows"] if r["value"] == DISTRICT and r.get("period") == period)


def _total(db: Path, column: str, rng: tuple[dt.date, dt.date]) -> float:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        sql = f'SELECT SUM("{column}") FROM "环卫清运" WHERE "区" = ? AND CAST("日期" AS DATE) BETWEEN ? AND ?'
        return float(con.execute(sql, [DISTRICT, *rng]).fetchone()[0])
    finally:
        con.close()


def test_district_targets_and_last_month_titles(page: Any, app_server: RunningApp,
                                                sample_warehouse: tuple[Path, SampleFacts]) -> None:
    pristine, _facts = sample_warehouse
    page.goto(f"{app_server.url}/boards?board={BOARD}", wait_until="domcontentloaded")
    expect(page.locator("h1", has_text=BOARD)).to_be_visible()
    pick_many(page, "区", DISTRICT)
    for title, (column, period, rng) in CARDS.items():
        value, target = _total(pristine, column, rng), _target(title, period)
        expect(kpi_card(page, title).locator('[data-testid="stMetricValue"]')).to_have_text(
            re.compile(rf"^{re.escape(format(value, ',.0f'))}( \S+)?$"))
        line = f"{DISTRICT}{period}目标 {target:,.0f}"
        expect(page.get_by_text(re.compile(rf"{line} \S+ · 完成 {re.escape(format(value / target, '.1%'))}"))
               ).to_be_visible()
    expect(page.get_by_text("目标 3,300")).to_have_count(0)  # never the whole city's target

    pick(page, "日期", "上月")
    expect(kpi_card(page, "上月出车车次")).to_be_visible()
    expect(page.locator('[data-testid="stMetricLabel"]', has_text="近7天")).to_have_count(0)
    tons, trips = _total(pristine, "清运量（吨）", MAY), _total(pristine, "车次", MAY)
    expect(kpi_card(page, "上月清运量").locator('[data-testid="stMetricValue"]')).to_have_text(
        [re.compile(rf"^{re.escape(format(tons, ',.0f'))}"), re.compile(rf"^{re.escape(format(tons, ',.0f'))}")])
    expect(kpi_card(page, "上月出车车次").locator('[data-testid="stMetricValue"]')).to_have_text(
        re.compile(rf"^{re.escape(format(trips, ',.0f'))}"))
    month_target = _target("本月清运量", "月")
    expect(page.get_by_text(re.compile(
        rf"{DISTRICT}月目标 {month_target:,.0f} \S+ · 完成 {re.escape(format(tons / month_target, '.1%'))}")).first
           ).to_be_visible()


# English a reader must not meet on a board: Streamlit's widget defaults, raw missing values,
# plotly's default date ticks (month and weekday names)
ENGLISH = re.compile(r"Select all|Choose an? options?|Page not found|\bNone\b|\bnull\b|\bNaN\b|\bundefined\b|"
                     r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b|\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b")
BOARDS = {"环卫运行": "环卫运行", "12345热线": "12345 热线", "空气质量": "空气质量"}  # file name → title


@pytest.mark.parametrize("board", BOARDS)
def test_board_pages_have_no_english_words(page: Any, app_server: RunningApp, board: str) -> None:
    page.goto(f"{app_server.url}/boards?board={board}", wait_until="domcontentloaded")
    expect(page.locator("h1", has_text=BOARDS[board])).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]').first).to_be_visible()
    ticks = page.locator(".js-plotly-plot g.xtick text")
    ticks.first.wait_for(state="attached")
    # open the 区 filter's list as a reader would: its options, not Streamlit's bulk action
    box = page.locator('[data-testid="stMultiSelect"]', has=page.get_by_text("区", exact=True))
    box.click()
    expect(page.get_by_role("option").first).to_be_visible()
    seen = page.inner_text("body") + "\n" + "\n".join(
        page.locator(".js-plotly-plot text").evaluate_all("els => els.map(e => e.textContent)"))
    page.keyboard.press("Escape")
    assert not ENGLISH.findall(seen), sorted(set(ENGLISH.findall(seen)))
    # date ticks read like 6月8日 / 2025年6月 (daily and weekly charts on every one of these boards)
    tick_text = ticks.evaluate_all("els => els.map(e => e.textContent)")
    assert any(re.fullmatch(r"\d{1,2}月\d{1,2}日|\d{4}年\d{1,2}月|\d{4}年", t) for t in tick_text), tick_text
