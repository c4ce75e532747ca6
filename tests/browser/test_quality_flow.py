"""数据质量 in the browser (issue 13 item 3): the import plan shows the quality report before 导入
(rows read / kept / dropped with their reasons), and the dataset's 数据质量 tab shows the same
report kept with the version (score, its parts).
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
from test_append_flow import _write  # noqa: E402
from test_flows import open_page, upload  # noqa: E402

NAME = "清运_质量浏览器测试"


def test_the_quality_report_before_and_after_import(page: Any, app_server: RunningApp, tmp_path: Path) -> None:
    open_page(page, app_server, "/import", "数据导入")
    upload(page, ff.xlsx_titled_merged(tmp_path / "清运.xlsx"))  # 3 rows, a 合计, a blank row, a 注： footer
    _write(page, NAME)
    report = page.locator('[data-testid="stMarkdownContainer"]', has_text="导入质量").first
    expect(report).to_contain_text("读入 6 行，保留 3 行，去除 3 行")
    page.get_by_role("button", name="导入", exact=True).click()
    expect(page.locator('[data-testid="stAlert"]', has_text="已写入数据集")).to_be_visible()

    page.get_by_role("link", name=f"查看数据集「{NAME}」").click()
    expect(page.get_by_role("combobox", name="查看数据集")).to_have_value(NAME)
    expect(page.get_by_text("数据质量：得分 100")).to_be_visible()
    page.get_by_role("tab", name="数据质量").click()
    expect(page.get_by_text("质量得分 100 的明细")).to_be_visible()
