"""预警 in the browser: a clerk makes a rule from the 12345 board's KPI card in two clicks, checks it now
and sees it listed — against the app exactly as `make run` starts it, whose one scheduler the rule
joins (conftest)."""
from __future__ import annotations

from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect

from browser_app import RunningApp  # noqa: E402  (after the importorskip on purpose)
from test_flows import grid_rows, open_page, pick  # noqa: E402

from citybi.alerts.rules import rule_store  # noqa: E402


def test_make_a_rule_from_a_kpi_card_in_two_clicks_and_check_it(page: Any, app_server: RunningApp) -> None:
    open_page(page, app_server, "/alerts", "预警")
    pick(page, "来自", "12345热线")
    pick(page, "监控哪个指标卡或图表", "近7天工单数（指标卡）")  # click 1
    page.get_by_role("button", name="创建预警").click()  # click 2
    expect(page.get_by_text("已创建预警「近7天工单数异常波动」", exact=False)).to_be_visible()
    rows = grid_rows(page, "监控与条件", "近7天工单数异常波动")
    (row,) = [r for r in rows if r["名称"] == "近7天工单数异常波动"]
    assert row["状态"] == "正常" and "看板「12345热线」的「热线_近7天工单数」" in row["监控与条件"]
    assert rule_store(app_server.db).load("近7天工单数异常波动").condition.kind == "unusual"

    page.get_by_role("button", name="立即检查").click()
    expect(page.get_by_text("检查完成：没有满足条件的情况。")).to_be_visible()
