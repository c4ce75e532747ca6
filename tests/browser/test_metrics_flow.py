"""The metrics layer as a clerk sees it (real browser, sample city): 问数 names the metric, its
formula and unit and shows the rate as a percentage; the 数据集 page's 指标 tab lists the metrics."""
from __future__ import annotations

import re
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect
expect.set_options(timeout=60_000)

from browser_app import RunningApp  # noqa: E402  (after the importorskip on purpose)
from test_flows import grid_rows, open_page, pick  # noqa: E402


def test_ask_a_metric_and_find_it_on_the_datasets_page(page: Any, app_server: RunningApp) -> None:
    open_page(page, app_server, "/ask", "问数")
    page.get_by_label("问题").fill("各区办结率")
    page.get_by_role("button", name="提问").click()
    reading = page.locator('[data-testid="stAlert"]', has_text="理解为：")
    expect(reading).to_contain_text("办结率 = 已办结工单数 ÷ 工单数")
    expect(reading).to_contain_text("单位：%")
    district = next(iter(app_server.facts.tonnage_by_district))  # the sample city's districts
    rows = grid_rows(page, "区", district)
    assert rows and all(re.fullmatch(r"\d{1,3}\.\d%", r["办结率"]) for r in rows), rows

    open_page(page, app_server, "/datasets", "数据集")
    pick(page, "查看数据集", "热线工单")
    page.get_by_role("tab", name="指标").click()
    listed = grid_rows(page, "公式", "已办结工单数 ÷ 工单数")
    names = {r["指标"] for r in listed}
    assert {"工单数", "办结率", "每万人工单数", "平均办理时长"} <= names, names
