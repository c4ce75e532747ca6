"""数据导入 page: next month's department report appended onto its dataset (issue 13 item 7).

The page offers 追加到数据集 X, shows the column mapping, re-reads the file with it, writes, and
keeps the result (or the reason it failed) on the page with a link to the dataset.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff

from citybi.catalog import Catalog, open_warehouse
from citybi.importer import ingest_file

ROOT = Path(__file__).resolve().parent.parent
CLEAN = "区,街道,清运量（吨）,车次\n南湖区,建设街道,120.5,30\n秀洲区,新城街道,95,25\n"


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(path))
    with open_warehouse(path=path) as wh:
        ingest_file(wh, ff.csv_text(tmp_path / "清运.csv", CLEAN), table="清运")
    return path


def _upload(tmp_path: Path, name: str, data: bytes) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages/import_data.py"), default_timeout=90).run()
    at.file_uploader[0].upload(name, data, "application/octet-stream").run()
    assert not at.exception, at.exception
    return at


def _button(at: AppTest, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def test_department_report_is_offered_mapped_and_appended(tmp_path: Path, db: Path) -> None:
    report = ff.xlsx_dept_report(tmp_path / "4月.xlsx", 4).read_bytes()
    at = _upload(tmp_path, "4月清运.xlsx", report)
    assert any("建议「追加到数据集 清运」" in i.value for i in at.info), [i.value for i in at.info]
    assert at.text_input[0].value == "清运"
    assert at.radio[0].value == "append"
    mapping = next(e for e in at.data_editor if str(e.key).startswith("map_"))
    assert mapping.value["文件中的列"].to_list() == ["区", "街道", "清运作业/清运量", "清运作业/车次"]
    _button(at, "按列对应调整").click().run()
    assert not at.exception
    assert at.data_editor[0].value["列名"].to_list() == ["区", "街道", "清运量（吨）", "车次"]
    _button(at, "导入").click().run()
    assert not at.exception
    done = "已写入数据集「清运」第 2 版：5 行（追加，新增 3，更新 0）。"
    assert any(done in s.value for s in at.success), [s.value for s in at.success]
    assert any("datasets?ds=" in m.value for m in at.markdown)
    at.run()  # any later interaction: the outcome is still shown
    assert any(done in s.value for s in at.success)
    with open_warehouse(path=db) as wh:
        assert Catalog(wh).get("清运").row_count == 5


def test_a_failed_append_says_why_and_stays_shown(tmp_path: Path, db: Path) -> None:
    at = _upload(tmp_path, "缺列.csv", "区,街道,清运量\n南湖区,建设街道,1.5\n".encode())
    at.text_input[0].input("清运").run()
    at.radio[0].set_value("append").run()
    assert any("「车次」在文件中找不到对应的列" in w.value for w in at.warning), [w.value for w in at.warning]
    _button(at, "导入").click().run()
    assert not at.exception
    for _ in range(2):  # shown after 导入, and still after the next rerun
        errors = [e.value for e in at.error]
        assert "写入失败，数据仓库保持原样。" in errors
        assert any("没有追加：文件的列与数据集「清运」对不上" in e for e in errors), errors
        at.run()
    with open_warehouse(path=db) as wh:
        assert Catalog(wh).get("清运").version == 1


def test_text_renamed_as_xlsx_is_refused_on_the_page(tmp_path: Path, db: Path) -> None:
    at = _upload(tmp_path, "通知.xlsx", "各位同事：\n本月报表请于 5 日前报送。\n".encode())
    assert at.error and "不是电子表格，而是一段纯文本" in at.error[0].value
    assert not at.success  # no plan of "1 列，0 行数据"


def test_datasets_page_opens_on_the_linked_dataset(tmp_path: Path, db: Path) -> None:
    with open_warehouse(path=db) as wh:
        ingest_file(wh, ff.csv_text(tmp_path / "b.csv", "站点,AQI\n嘉兴学院,56\n"), table="空气")
    at = AppTest.from_file(str(ROOT / "pages/datasets.py"), default_timeout=60)
    at.query_params["ds"] = "空气"
    at.run()
    assert not at.exception
    assert at.selectbox(key="ds_pick").value == "空气"
