"""The 数据集 page's 指标 tab (AppTest): list, add, refuse a bad definition in Chinese, edit, delete."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from citybi.catalog import Catalog, open_warehouse

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(path))
    wh = open_warehouse(path=path)
    Catalog(wh).write("巡查记录", pl.DataFrame({
        "巡查日期": [dt.date(2024, 6, 1), dt.date(2024, 6, 2), dt.date(2024, 6, 3)],
        "片区": ["东片", "西片", "东片"], "结果": ["合格", "不合格", "合格"], "里程（公里）": [3.0, 5.0, 4.0],
    }), units={"里程（公里）": "公里"})
    wh.close()
    return path


def _text(at: AppTest, label: str) -> object:
    return next(t for t in at.text_input if t.label.startswith(label))


def _save(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "保存指标").click().run()


def _metrics_table(at: AppTest) -> list[str]:
    frames = [d.value for d in at.dataframe if "指标" in d.value.columns]
    return frames[0]["指标"].to_list() if frames else []


def test_metrics_tab_add_refuse_edit_delete(db: Path) -> None:
    at = AppTest.from_file(str(ROOT / "pages/datasets.py"), default_timeout=60).run()
    assert not at.exception
    assert any("还没有指标" in i.value for i in at.info)

    # add: a count with a condition
    _text(at, "指标名称").input("合格次数")
    next(t for t in at.text_area if t.label.startswith("条件")).input("结果=合格")
    at = _save(at)
    assert not at.exception
    assert _metrics_table(at) == ["合格次数"]

    # a sum over a text column is refused with the reason, nothing saved
    _text(at, "指标名称").input("错的")
    next(s for s in at.selectbox if s.label == "公式").select("sum")
    _text(at, "列").input("片区")
    at = _save(at)
    assert any("不是数值列" in e.value for e in at.error), [e.value for e in at.error]
    assert _metrics_table(at) == ["合格次数"]

    # edit: rename and give a unit
    at.selectbox(key="metric_pick_巡查记录").select("合格次数").run()
    assert _text(at, "指标名称").value == "合格次数"
    _text(at, "指标名称").input("合格巡查数")
    _text(at, "单位").input("次")
    at = _save(at)
    assert _metrics_table(at) == ["合格巡查数"]
    rows = next(d.value for d in at.dataframe if "指标" in d.value.columns)
    assert rows["单位"].to_list() == ["次"] and "结果 = 合格" in rows["公式"].to_list()[0]

    # delete
    at.selectbox(key="metric_pick_巡查记录").select("合格巡查数").run()
    at.button(key="metric_delete").click().run()
    assert not at.exception
    assert _metrics_table(at) == []
