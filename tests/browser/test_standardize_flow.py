"""数据标准 at import, in the browser: a department's spellings proposed, accepted in one click, written.

The app runs on the sample warehouse, which ships the sample city's dictionaries (行政区划 with
清源市 as the city prefix). A workbook spelling 临江区 three ways is uploaded: the page lists each
proposal with its rows, one click applies the sure ones, and the dataset written holds the
standard names only — checked against the core's own reading of the warehouse afterwards.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect

from browser_app import RunningApp  # noqa: E402  (after the importorskip on purpose)
from test_flows import grid_rows, open_page, upload  # noqa: E402

# (区, 街道, 清运量) rows: 临江区 written as the standard twice, then three other ways
ROWS = [("临江区", "滨江街道", 5), ("临江区", "望江街道", 6), *[("清源市临江区", "滨江街道", 3)] * 3,
        *[("臨江區", "濱江街道", 2)] * 2, ("临江", "望江街道", 4)]


def _workbook(path: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "街道清运"
    ws.append(["区", "街道", "清运量"])
    for r in ROWS:
        ws.append(list(r))
    wb.save(path)
    return path


def test_import_standardises_district_spellings(page: Any, app_server: RunningApp, tmp_path: Path) -> None:
    name = "街道清运_标准化浏览器测试"
    open_page(page, app_server, "/import", "数据导入")
    upload(page, _workbook(tmp_path / "街道清运.xlsx"))
    expect(page.locator("h3", has_text="数据标准")).to_be_visible()

    proposals = {(r["原值"], r["标准值"], r["行数"]) for r in grid_rows(page, "原值", "清源市临江区")}
    assert proposals == {("清源市临江区", "临江区", "3"), ("臨江區", "临江区", "2"), ("临江", "临江区", "1"),
                         ("濱江街道", "滨江街道", "2")}

    page.get_by_role("button", name="采用全部把握高的建议").click()
    expect(page.locator('[data-testid="stAlert"]', has_text="已按数据标准统一")).to_contain_text(
        "「区」3 种写法 6 行")

    name_box = page.get_by_label("数据集名称")
    expect(name_box).to_have_count(1)  # the rerun after the click has replaced the old page
    name_box.fill(name)
    name_box.press("Enter")
    expect(name_box).to_have_count(1)
    expect(name_box).to_have_value(name)
    page.get_by_role("button", name="导入", exact=True).click()
    expect(page.locator('[data-testid="stAlert"]', has_text="已写入数据集")).to_contain_text(
        f"已写入数据集「{name}」第 1 版：8 行")
