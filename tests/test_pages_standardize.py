"""数据导入 page, 数据标准 section: proposals shown (original → standard, rows, accept box), applied on request."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from citybi.catalog import Catalog, open_warehouse
from citybi.dictionaries import Entry, ValueDictionary

ROOT = Path(__file__).resolve().parent.parent
PLACES = ValueDictionary(name="行政区划", prefixes=["嘉兴市"], entries=[
    Entry(standard="南湖区", level="区", aliases=["Nanhu"]), Entry(standard="秀洲区", level="区"),
])
CSV = "区,工单数\n南湖区,5\n南湖,3\n南湖,4\n嘉兴市南湖区,2\n秀洲區,1\n秀洲区,6\n火星区,7\n"
# the table the clerk sees: (列, 原值, 标准值, 行数, 采用)
SHOWN = [
    ("区", "南湖", "南湖区", 2, False), ("区", "嘉兴市南湖区", "南湖区", 1, False),
    ("区", "秀洲區", "秀洲区", 1, False), ("区", "火星区", "", 1, False),
]


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(path))
    with open_warehouse(path=path) as wh:
        Catalog(wh).save_dictionary(PLACES)
    return path


def _upload() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages/import_data.py"), default_timeout=60).run()
    at.file_uploader[0].upload("工单.csv", CSV.encode(), "text/csv").run()
    assert not at.exception, at.exception
    return at


def _written(at: AppTest, db: Path) -> dict[str, int]:
    at.text_input[0].input("工单").run()
    next(b for b in at.button if b.label == "导入").click().run()
    assert not at.exception
    assert any("已写入数据集「工单」" in s.value for s in at.success), [s.value for s in at.success]
    with open_warehouse(path=db) as wh:
        frame = Catalog(wh).preview("工单")
    return dict(frame.group_by("区").agg(pl.col("工单数").sum()).iter_rows())


def test_proposals_are_shown_and_nothing_is_applied_unasked(db: Path) -> None:
    at = _upload()
    assert any(h.value == "数据标准" for h in at.subheader)
    table = at.data_editor[1].value
    assert list(zip(*[table[c].to_list() for c in ("列", "原值", "标准值", "行数", "采用")], strict=True)) == SHOWN
    assert "不在字典「行政区划」中" in table["依据"].to_list()[-1]
    assert _written(at, db) == {"南湖区": 5, "南湖": 7, "嘉兴市南湖区": 2, "秀洲區": 1, "秀洲区": 6, "火星区": 7}


def test_one_click_applies_the_sure_proposals(db: Path) -> None:
    at = _upload()
    next(b for b in at.button if b.label == "采用全部把握高的建议").click().run()
    assert not at.exception
    assert at.data_editor[1].value["采用"].to_list() == [True, True, True, False]
    assert any("已按数据标准统一：「区」3 种写法 4 行" in s.value for s in at.success), [s.value for s in at.success]
    assert _written(at, db) == {"南湖区": 14, "秀洲区": 7, "火星区": 7}


def test_the_clerk_ticks_one_and_fixes_an_unknown_value(db: Path) -> None:
    at = _upload()
    editor = at.data_editor[1]
    # AppTest applies data_editor edits through the widget's edit state
    at.session_state[editor.key] = {"edited_rows": {0: {"采用": True}, 3: {"标准值": "秀洲区", "采用": True}},
                                    "added_rows": [], "deleted_rows": []}
    next(b for b in at.button if b.label == "按勾选统一取值").click().run()
    assert not at.exception
    assert _written(at, db) == {"南湖区": 12, "嘉兴市南湖区": 2, "秀洲區": 1, "秀洲区": 13}
