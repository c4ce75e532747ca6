"""数据标准 page (AppTest): dictionaries listed, edited in place, imported from a CSV, deleted."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from citybi.catalog import Catalog, open_warehouse
from citybi.samples import sample_dictionaries

ROOT = Path(__file__).resolve().parent.parent


def _page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages/standards.py"), default_timeout=60)


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(path))
    return path


def _dictionaries(db: Path) -> dict[str, list[tuple[str, list[str]]]]:
    with open_warehouse(path=db) as wh:
        return {d.name: [(e.standard, e.aliases) for e in d.entries] for d in Catalog(wh).dictionaries()}


def test_an_empty_warehouse_says_how_to_get_dictionaries(db: Path) -> None:
    at = _page().run()
    assert not at.exception
    assert any("还没有数据标准字典" in i.value for i in at.info)


def test_sample_dictionaries_are_listed_and_edited(db: Path) -> None:
    with open_warehouse(path=db) as wh:
        for d in sample_dictionaries():
            Catalog(wh).save_dictionary(d)
    at = _page().run()
    assert not at.exception
    assert at.selectbox(key="dict_pick").options == ["垃圾类型", "行政区划", "诉求类型"]
    table = at.data_editor[0].value
    assert table["标准名称"].to_list() == ["厨余垃圾", "可回收物", "有害垃圾", "其他垃圾"]
    # the clerk adds an alias and saves
    at.session_state[at.data_editor[0].key] = {"edited_rows": {2: {"别名": "有毒有害垃圾、危险废物"}},
                                               "added_rows": [], "deleted_rows": []}
    next(b for b in at.button if b.label == "保存修改").click().run()
    assert not at.exception
    assert any("已保存字典「垃圾类型」" in s.value for s in at.success)
    assert _dictionaries(db)["垃圾类型"][2] == ("有害垃圾", ["有毒有害垃圾", "危险废物"])


def test_a_bad_edit_is_a_message_and_nothing_is_saved(db: Path) -> None:
    with open_warehouse(path=db) as wh:
        Catalog(wh).save_dictionary(sample_dictionaries()[1])  # 垃圾类型
    at = _page().run()
    at.session_state[at.data_editor[0].key] = {"edited_rows": {0: {"上级": "不存在的上级"}},
                                               "added_rows": [], "deleted_rows": []}
    next(b for b in at.button if b.label == "保存修改").click().run()
    assert not at.exception
    assert any("本身不在字典里" in e.value for e in at.error), [e.value for e in at.error]
    assert _dictionaries(db)["垃圾类型"][0] == ("厨余垃圾", ["湿垃圾", "餐厨垃圾"])


def test_a_dictionary_is_imported_from_a_csv(db: Path) -> None:
    at = _page().run()
    csv = "标准名称,别名\n噪音扰民,噪声扰民\n违章停车,乱停车\n"
    at.file_uploader(key="dict_upload").upload("诉求.csv", csv.encode(), "text/csv").run()
    at.text_input(key="dict_new_name").input("诉求类型").run()
    next(b for b in at.button if b.label == "导入字典").click().run()
    assert not at.exception, at.exception
    assert _dictionaries(db) == {"诉求类型": [("噪音扰民", ["噪声扰民"]), ("违章停车", ["乱停车"])]}
    assert at.selectbox(key="dict_pick").value == "诉求类型"
