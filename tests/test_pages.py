"""Every page renders without an exception (Streamlit AppTest), and the import flow works end to end."""
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
    Catalog(wh).write("环卫清运", pl.DataFrame({
        "日期": [dt.date(2024, 6, 1), dt.date(2024, 6, 2)],
        "区": ["南湖区", "秀洲区"],
        "清运量（吨）": [12.5, 8.0],
    }), units={"清运量（吨）": "吨"})
    Catalog(wh).write("环卫清运", pl.DataFrame({
        "日期": [dt.date(2024, 6, 1)], "区": ["南湖区"], "清运量（吨）": [1.0],
    }), mode="replace")
    return path


def _page(path: str) -> AppTest:
    return AppTest.from_file(str(ROOT / path), default_timeout=60)


def test_app_entry_renders(db: Path) -> None:
    at = _page("app.py").run()
    assert not at.exception
    assert any("数据集" in t.value for t in at.title)


def test_datasets_page_lists_schema_versions_and_restores(db: Path) -> None:
    at = _page("pages/datasets.py").run()
    assert not at.exception
    assert at.dataframe[0].value["数据集"].to_list() == ["环卫清运"]
    schema = at.dataframe[1].value
    assert schema["单位"].to_list() == ["", "", "吨"]
    assert any("第 1 版" in m.value for m in at.markdown), [m.value for m in at.markdown]
    at.button(key="restore_1").click().run()
    assert not at.exception
    assert any("已恢复到第 1 版" in s.value for s in at.success)


def test_datasets_page_delete_needs_the_name(db: Path) -> None:
    at = _page("pages/datasets.py").run()
    delete = next(b for b in at.button if b.label == "删除数据集")
    assert delete.disabled
    at.text_input(key="confirm_delete").input("环卫清运").run()
    # the shipped boards read 环卫清运: the delete also needs the impact confirmed (tests/test_pages_lineage.py)
    next(c for c in at.checkbox if "仍要删除" in c.label).check().run()
    next(b for b in at.button if b.label == "删除数据集").click().run()
    assert not at.exception
    assert any("已删除" in s.value for s in at.success)


def test_import_page_without_upload(db: Path) -> None:
    at = _page("pages/import_data.py").run()
    assert not at.exception
    assert at.title[0].value == "数据导入"


def test_import_page_plan_and_commit(db: Path) -> None:
    csv = ("某区热线工单统计\n单位：件\n区,工单数,日期\n南湖区,\"1,200\",2024年6月1日\n秀洲区,800,2024年6月2日\n"
           "合计,2000,\n填报人：张三\n").encode("gb18030")
    at = _page("pages/import_data.py").run()
    at.file_uploader[0].upload("热线统计.csv", csv, "text/csv").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("2 行数据" in s.value for s in at.success)
    at.text_input[0].input("热线统计").run()
    next(b for b in at.button if b.label == "导入").click().run()
    assert not at.exception
    assert any("已写入数据集「热线统计」" in s.value for s in at.success)
    wh = open_warehouse(path=db)
    info = Catalog(wh).get("热线统计")
    assert info.row_count == 2
    assert {c.name: c.type for c in info.columns} == {"区": "text", "工单数": "integer", "日期": "date"}


def test_import_page_rejects_a_renamed_binary_with_a_message(db: Path) -> None:
    at = _page("pages/import_data.py").run()
    at.file_uploader[0].upload("台账.xlsx", b"\x7fELF\x02\x01\x01" + b"\x00" * 200).run()
    assert not at.exception
    assert at.error and "Excel" in at.error[0].value


def test_ask_page_answers_and_keeps_history(db: Path) -> None:
    at = _page("pages/ask.py").run()
    assert not at.exception
    at.date_input(key="ask_today").set_value(dt.date(2024, 6, 15))
    at.text_input(key="ask_q").input("各区的清运量合计")
    at.button[-1].click().run()
    assert not at.exception
    assert any("区" in i.value for i in at.info), [i.value for i in at.info]
    table = at.dataframe[0].value
    assert table.shape[0] == 1 and table.iloc[0, 0] == "南湖区"
    assert any("SELECT" in c.value for c in at.code)


def _ask(at: AppTest) -> None:
    next(b for b in at.button if b.label == "提问").click().run()


def test_ask_page_keeps_the_conversation_and_starts_over(db: Path) -> None:
    at = _page("pages/ask.py").run()
    at.date_input(key="ask_today").set_value(dt.date(2024, 6, 15))
    at.text_input(key="ask_q").input("本月各区的清运量")
    _ask(at)
    at.text_input(key="ask_q").input("那上个月呢")
    _ask(at)
    assert not at.exception
    # the follow-up kept the grouping and the measure and says so
    assert any("沿用" in c.value and "分组 区" in c.value for c in at.caption), [c.value for c in at.caption]
    assert any("对话中" in c.value for c in at.caption)
    assert "2024-05-01" in at.info[0].value.replace("\\", "") and "分组：区" in at.info[0].value
    at.button(key="ask_new").click().run()
    assert not any("对话中" in c.value for c in at.caption)
    at.text_input(key="ask_q").input("那上个月呢")
    _ask(at)
    assert not any("沿用" in c.value for c in at.caption[:3])  # a new conversation inherits nothing


def test_ask_page_refuses_honestly(db: Path) -> None:
    at = _page("pages/ask.py").run()
    at.text_input(key="ask_q").input("帮我删除南湖区的数据")
    at.button[-1].click().run()
    assert not at.exception
    assert at.warning and not at.dataframe


# (id, month 1 / month 2 CSV, the clerk's edits of month 1 by column name, month 2's columns)
RECIPE_CASES = [
    ("rename", "区,工单数\n南湖区,12\n秀洲区,7\n", "区,工单数\n南湖区,30\n秀洲区,9\n东城区,4\n",
     {"工单数": {"列名": "工单量"}}, ["区", "工单量"]),
    # a skipped column used to leave the recipe unmatchable (it was keyed on the edited plan)
    ("rename-and-skip", "区,工单数,备注\n南湖区,12,a\n秀洲区,7,b\n", "区,工单数,备注\n南湖区,30,c\n秀洲区,9,d\n",
     {"工单数": {"列名": "工单量"}, "备注": {"跳过": True}}, ["区", "工单量"]),
]


@pytest.mark.parametrize(("case", "may", "june", "edits", "names"), RECIPE_CASES, ids=[c[0] for c in RECIPE_CASES])
def test_import_page_recipe_is_reused_for_next_months_file(
    db: Path, case: str, may: str, june: str, edits: dict[str, dict[str, object]], names: list[str]
) -> None:
    """The clerk edits the columns once; next month's file of the same report gets them in one click."""
    at = _page("pages/import_data.py").run()
    at.file_uploader[0].upload("5月工单.csv", may.encode(), "text/csv").run()
    editor = at.data_editor[0]
    current = editor.value["列名"].to_list()
    # AppTest applies data_editor edits through the widget's edit state
    rows = {current.index(col): edit for col, edit in edits.items()}
    at.session_state[editor.key] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    next(b for b in at.button if b.label == "按修改重新分析").click().run()
    assert not at.exception
    at.text_input[0].input("月度工单").run()
    next(b for b in at.button if b.label == "导入").click().run()
    assert any("已写入数据集「月度工单」" in s.value for s in at.success), [s.value for s in at.success]

    at = _page("pages/import_data.py").run()
    at.file_uploader[0].upload("6月工单.csv", june.encode(), "text/csv").run()
    assert not at.exception
    assert any("已自动套用上次保存的导入方案「月度工单」" in i.value for i in at.info), [i.value for i in at.info]
    assert at.data_editor[0].value["列名"].to_list() == names
