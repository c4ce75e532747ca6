"""Lineage on the pages (AppTest): 数据导入's 替换 and 数据集's 删除 say who reads the dataset first, name
the readers that would break, and write nothing until the user ticks the confirmation.

A small 环卫清运 is enough: the shipped boards and charts (queries/) read a dataset of that name.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from citybi.catalog import Catalog, open_warehouse

ROOT = Path(__file__).resolve().parent.parent
HEADER = "日期,区,街道,垃圾类型,{measure},车次,作业人数\n"
ROWS = "2025-06-01,临江区,江滨街道,其他垃圾,12.5,3,5\n2025-06-02,北港区,港口街道,厨余垃圾,8.0,2,4\n"


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(path))
    with open_warehouse(path=path) as wh:
        Catalog(wh).write("环卫清运", pl.DataFrame({
            "日期": [dt.date(2025, 6, 1)], "区": ["临江区"], "街道": ["江滨街道"], "垃圾类型": ["其他垃圾"],
            "清运量（吨）": [10.0], "车次": [2], "作业人数": [3]}))
    return path


def _button(at: AppTest, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def _version(db: Path) -> int | None:
    with open_warehouse(path=db) as wh:
        cat = Catalog(wh)
        return cat.get("环卫清运").version if cat.exists("环卫清运") else None


@pytest.mark.parametrize(("measure", "breaks"), [
    ("清运量", True),  # the clerk's file calls the measure differently: the board's tiles would break
    ("清运量（吨）", False),
])
def test_replace_shows_the_impact_first(db: Path, measure: str, breaks: bool) -> None:
    at = AppTest.from_file(str(ROOT / "pages/import_data.py"), default_timeout=90).run()
    at.file_uploader[0].upload("清运.csv", (HEADER.format(measure=measure) + ROWS).encode(), "text/csv").run()
    at.text_input[0].input("环卫清运").run()
    at.radio[0].set_value("replace").run()
    assert not at.exception, at.exception
    assert any("数据血缘" in m.value and "个看板" in m.value for m in at.markdown), [m.value for m in at.markdown]
    errors = [e.value for e in at.error]
    if not breaks:
        assert not errors and not _button(at, "导入").disabled
        assert any("照常工作" in c.value for c in at.caption)
        return
    assert any("会失效" in e and "看板「环卫运行」" in e and "缺少列「清运量（吨）」" in e for e in errors), errors
    assert _button(at, "导入").disabled  # nothing written without the tick
    box = next(c for c in at.checkbox if "仍要替换" in c.label)
    box.check().run()
    assert not _button(at, "导入").disabled
    _button(at, "导入").click().run()
    assert not at.exception
    assert _version(db) == 2


def test_delete_names_the_readers_and_needs_the_tick(db: Path) -> None:
    at = AppTest.from_file(str(ROOT / "pages/datasets.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any("删除后这些对象会失效" in e and "看板「环卫运行」" in e and "图表「环卫_本月清运量」" in e
               for e in errors), errors
    at.text_input(key="confirm_delete").input("环卫清运").run()
    assert _button(at, "删除数据集").disabled  # the name typed, the impact not yet confirmed
    next(c for c in at.checkbox if "仍要删除" in c.label).check().run()
    _button(at, "删除数据集").click().run()
    assert not at.exception
    assert _version(db) is None


def test_a_clerk_sees_only_what_they_may_and_the_rest_counted(db: Path) -> None:
    from citybi.accounts import Accounts
    from citybi.boards import Board, Tile, board_store
    from citybi.rowrules import Governance

    with open_warehouse(path=db) as wh:
        cat = Catalog(wh)
        cat.write("热线工单", pl.DataFrame({"受理时间": [dt.datetime(2025, 6, 1, 9)], "办结状态": ["已办结"],
                                           "区": ["临江区"]}))
        cat.set_governance("环卫清运", Governance("城管局", "区"))
        cat.set_governance("热线工单", Governance("热线办", "区"))
        # a board over both datasets: the 城管局 clerk may not read 热线工单, so may not see the board
        board_store(wh.settings).save("综合", Board(title="综合", tiles=[
            Tile(chart="环卫_本月清运量"), Tile(chart="热线_办结率")]))
        acc = Accounts(wh)
        acc.add("li", "clerk", "Harbor#2026x", department="城管局")
        token = acc.login("li", "Harbor#2026x").token
    at = AppTest.from_file(str(ROOT / "pages/datasets.py"), default_timeout=60)
    at.session_state["_citybi_token"] = token
    at.run()
    assert not at.exception, at.exception
    lines = [m.value for m in at.markdown if "数据血缘" in m.value]
    assert lines and "2 个看板" in lines[0] and "另有 1 个看板您无权查看" in lines[0], lines
    assert not any("综合" in m.value for m in at.markdown)
    assert any("另有 1 个您无权查看" in e.value for e in at.error), [e.value for e in at.error]


def test_restore_of_a_version_that_breaks_readers_needs_the_tick(db: Path) -> None:
    """v2 lacks 清运量（吨）, v3 (current) has it: going back to v2 names the broken readers and waits for
    the tick; going back to v1 breaks nothing and happens at once."""
    with open_warehouse(path=db) as wh:
        cat = Catalog(wh)
        base = {"日期": [dt.date(2025, 6, 1)], "区": ["临江区"], "街道": ["江滨街道"], "垃圾类型": ["其他垃圾"],
                "车次": [2], "作业人数": [3]}
        cat.write("环卫清运", pl.DataFrame({**base, "清运量": [10.0]}), mode="replace")
        cat.write("环卫清运", pl.DataFrame({**base, "清运量（吨）": [10.0]}), mode="replace")
    at = AppTest.from_file(str(ROOT / "pages/datasets.py"), default_timeout=60).run()
    at.button(key="restore_2").click().run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any("恢复到第 2 版后" in e and "看板「环卫运行」" in e and "缺少列「清运量（吨）」" in e
               for e in errors), errors
    assert _button(at, "确认恢复").disabled and _version(db) == 3  # nothing restored without the tick
    next(c for c in at.checkbox if "仍要恢复到第 2 版" in c.label).check().run()
    _button(at, "确认恢复").click().run()
    assert not at.exception
    assert _version(db) == 2
    at.button(key="restore_1").click().run()  # v1 has every column the readers use
    assert not at.exception
    assert _version(db) == 1
