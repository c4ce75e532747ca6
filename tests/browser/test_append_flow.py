"""The monthly append in the browser (issue 13 item 7): a dataset made from a clean file, then next
month's department report — 清运作业 merged over 清运量 and 车次 — appended onto it through the
column mapping, the result kept on the page with a link that opens the dataset.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect

sys.path.insert(0, str(Path(__file__).parent.parent))

import filefactory as ff  # noqa: E402  (after the importorskip on purpose)
from browser_app import RunningApp  # noqa: E402
from test_flows import grid_rows, open_page, upload  # noqa: E402

NAME = "街道清运_追加浏览器测试"
CLEAN = "区,街道,清运量（吨）,车次\n南湖区,建设街道,120.5,30\n秀洲区,新城街道,95,25\n"


def _write(page: Any, name: str) -> None:
    name_box = page.get_by_label("数据集名称")
    expect(name_box).to_have_count(1)
    name_box.fill(name)
    name_box.press("Enter")
    expect(name_box).to_have_value(name)


def test_department_report_appended_through_the_column_mapping(page: Any, app_server: RunningApp,
                                                               tmp_path: Path) -> None:
    open_page(page, app_server, "/import", "数据导入")
    upload(page, ff.csv_text(tmp_path / "清运.csv", CLEAN))
    _write(page, NAME)
    page.get_by_role("button", name="导入", exact=True).click()
    expect(page.locator('[data-testid="stAlert"]', has_text="已写入数据集")).to_contain_text(
        f"已写入数据集「{NAME}」第 1 版：2 行")

    open_page(page, app_server, "/import", "数据导入")
    upload(page, ff.xlsx_dept_report(tmp_path / "4月清运.xlsx", 4))
    expect(page.locator('[data-testid="stAlert"]', has_text="建议「追加到数据集")).to_be_visible()
    _write(page, NAME)
    page.locator('[data-testid="stRadio"]').get_by_text("追加", exact=True).click()
    mapping = {r["数据集的列"]: r["文件中的列"] for r in grid_rows(page, "数据集的列", "清运量（吨）")}
    assert mapping == {"区": "区", "街道": "街道", "清运量（吨）": "清运作业/清运量", "车次": "清运作业/车次"}
    page.get_by_role("button", name="按列对应调整").click()
    names = [r["列名"] for r in grid_rows(page, "列名", "清运量（吨）")]
    assert names == ["区", "街道", "清运量（吨）", "车次"]
    page.get_by_role("button", name="导入", exact=True).click()
    expect(page.locator('[data-testid="stAlert"]', has_text="已写入数据集")).to_contain_text(
        f"已写入数据集「{NAME}」第 2 版：5 行（追加")

    page.get_by_role("link", name=f"查看数据集「{NAME}」").click()
    expect(page.locator("h1", has_text="数据集")).to_be_visible()
    expect(page.get_by_role("combobox", name="查看数据集")).to_have_value(NAME)
