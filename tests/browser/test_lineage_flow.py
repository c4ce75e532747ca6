"""The lineage warning in the browser (issue 13 items 5 and 7): a clerk's 替换 of 环卫清运 with the measure
named differently names the board and the missing column, and 导入 stays disabled until the tick.

Nothing is written: the sample warehouse is shared by every browser test.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect

sys.path.insert(0, str(Path(__file__).parent.parent))

from browser_app import BOARD, RunningApp  # noqa: E402  (after the importorskip on purpose)
from test_flows import open_page, upload  # noqa: E402

RENAMED = ("日期,区,街道,垃圾类型,清运量,车次,作业人数\n"
           "2025-06-01,临江区,江滨街道,其他垃圾,12.5,3,5\n2025-06-02,北港区,港口街道,厨余垃圾,8.0,2,4\n")


def test_replace_with_a_renamed_column_names_the_broken_board(page: Any, app_server: RunningApp,
                                                             tmp_path: Path) -> None:
    f = tmp_path / "环卫清运_改名.csv"
    f.write_text(RENAMED, encoding="utf-8")
    open_page(page, app_server, "/import", "数据导入")
    upload(page, f)
    name_box = page.get_by_label("数据集名称")
    expect(name_box).to_have_count(1)
    name_box.fill("环卫清运")
    name_box.press("Enter")
    page.locator('[data-testid="stRadio"]').get_by_text("替换", exact=True).click()
    warning = page.locator('[data-testid="stAlert"]', has_text="会失效")
    expect(warning).to_contain_text(f"看板「{BOARD}」")
    expect(warning).to_contain_text("缺少列「清运量（吨）」")
    expect(page.get_by_text("数据血缘")).to_be_visible()
    button = page.get_by_role("button", name="导入", exact=True)
    expect(button).to_be_disabled()
    page.get_by_text("仍要替换").click()
    expect(button).to_be_enabled()  # not clicked: the shared sample warehouse stays as it is
