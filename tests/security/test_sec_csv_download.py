"""Formula cells in CSV downloads.

Attack: a 12345 complaint text `=cmd|' /C calc'!A0` or `=HYPERLINK("http://…")` sits in a
dataset. Streamlit's own "download as CSV" on every table wrote it raw, and Excel runs it as
a formula when the clerk opens the file. Expected: the toolbar download is off (the documented
`client.disableDataExport` option, checked here as the browser receives it), and the pages
offer our own CSV instead — formula-like text neutralised with the same rule as the Excel
export, numbers left numeric, UTF-8 with a BOM so Excel shows Chinese correctly.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from openpyxl import Workbook
from streamlit import config as st_config
from streamlit.proto.NewSession_pb2 import Config as ConfigProto
from streamlit.runtime.app_session import _populate_config_msg
from streamlit.testing.v1 import AppTest

from citybi.catalog import Catalog, open_warehouse
from citybi.export import csv_file_name, frame_csv, write_cell

ROOT = Path(__file__).resolve().parent.parent.parent
BOM = b"\xef\xbb\xbf"

# (id, text cell, what the CSV must hold)
FORMULA_TEXT = [
    ("dde-cmd", "=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("hyperlink", '=HYPERLINK("http://evil.example","点我")', '\'=HYPERLINK("http://evil.example","点我")'),
    ("plus", "+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("minus", "-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("at", "@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
    ("tab", "\t=1+1", "'\t=1+1"),
    ("carriage-return", "\r=1+1", "'\r=1+1"),
    ("newline", "\n=1+1", "'\n=1+1"),
    ("text-minus-number", "-5", "'-5"),
]
SAFE_TEXT = [
    ("chinese", "南湖区", "南湖区"),
    ("inner-equals", "a=1", "a=1"),
    ("fullwidth-equals", "＝SUM(1)", "＝SUM(1)"),
    ("comma-quote", '清运量,"吨"', '清运量,"吨"'),
]


def _rows(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM), "UTF-8 with BOM, so Excel opens Chinese correctly"
    return list(csv.reader(io.StringIO(data[len(BOM):].decode("utf-8"), newline="")))


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _i, t, e in FORMULA_TEXT + SAFE_TEXT],
                         ids=[i for i, _t, _e in FORMULA_TEXT + SAFE_TEXT])
def test_csv_cells_are_neutralised(text: str, expected: str) -> None:
    rows = _rows(frame_csv(pl.DataFrame({"内容": [text]})))
    assert rows == [["内容"], [expected]]


@pytest.mark.parametrize("text", [t for _i, t, _e in FORMULA_TEXT + SAFE_TEXT],
                         ids=[i for i, _t, _e in FORMULA_TEXT + SAFE_TEXT])
def test_csv_and_excel_apply_the_same_rule(text: str) -> None:
    ws = Workbook().active
    assert ws is not None
    cell = write_cell(ws, 1, 1, text)
    csv_cell = _rows(frame_csv(pl.DataFrame({"x": [text]})))[1][0]
    assert csv_cell.startswith("'") == bool(cell.quotePrefix)


def test_formula_like_header_is_neutralised() -> None:
    rows = _rows(frame_csv(pl.DataFrame({"=1+1": [1], "区": ["南湖区"]})))
    assert rows[0] == ["'=1+1", "区"]


def test_numbers_dates_and_nulls_keep_their_meaning() -> None:
    frame = pl.DataFrame({
        "日期": [dt.date(2024, 6, 1), None],
        "时间": [dt.datetime(2024, 6, 1, 8, 30), None],
        "清运量": [-12.5, None],
        "车次": [-3, 1_234_567],
        "达标": [True, False],
    })
    data = frame_csv(frame)
    rows = _rows(data)
    assert rows == [["日期", "时间", "清运量", "车次", "达标"],
                    ["2024-06-01", "2024-06-01 08:30:00", "-12.5", "-3", "TRUE"],
                    ["", "", "", "1234567", "FALSE"]]
    # negative numbers are written bare (Excel reads them as numbers), never quoted or prefixed
    assert b"\r\n2024-06-01,2024-06-01 08:30:00,-12.5,-3,TRUE\r\n" in data


@pytest.mark.parametrize(("title", "expected"), [
    ("环卫清运", "环卫清运.csv"),
    ("../../etc/passwd", "etc_passwd.csv"),
    ('各区:清运量*?"', "各区_清运量.csv"),
    ("", "数据.csv"),
], ids=["chinese", "path", "bad-chars", "empty"])
def test_csv_file_name(title: str, expected: str) -> None:
    assert csv_file_name(title) == expected


# ---------------------------------------------------------------------------- Streamlit's own download
@pytest.fixture()
def project_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConfigProto]:
    """The client config the browser receives when the app runs from the project (as `citybi serve` does)."""
    monkeypatch.chdir(ROOT)
    st_config.get_config_options(force_reparse=True)
    msg = ConfigProto()
    _populate_config_msg(msg)
    yield msg
    monkeypatch.undo()
    st_config.get_config_options(force_reparse=True)


def test_toolbar_csv_download_is_off(project_config: ConfigProto) -> None:
    assert project_config.disable_data_export is True


# ---------------------------------------------------------------------------- our download on the pages
@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(path))
    wh = open_warehouse(path=path)
    Catalog(wh).write("工单", pl.DataFrame({
        "日期": [dt.date(2024, 6, 1), dt.date(2024, 6, 2)],
        "区": ["南湖区", "秀洲区"],
        "内容": ["=cmd|' /C calc'!A0", "+1+1"],
        "工单数": [3, 5],
    }))
    wh.close()
    return path


def _csv_buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.get("download_button") if b.label == "下载 CSV"]


def test_dataset_preview_offers_our_csv(db: Path) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "datasets.py"), default_timeout=60).run()
    assert not at.exception
    assert _csv_buttons(at) == ["下载 CSV"]


def test_ask_results_offer_our_csv(db: Path) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "ask.py"), default_timeout=60).run()
    at.text_input(key="ask_q").input("各区的工单数")  # inside a form: sent with the submit
    next(b for b in at.button if b.label == "提问").click().run()
    assert not at.exception
    assert at.dataframe, "the answer is a table"
    assert _csv_buttons(at) == ["下载 CSV"]


def test_chart_data_offers_our_csv(db: Path) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "charts.py"), default_timeout=60).run()
    at.multiselect(key="cb_ms_dims").set_value(["区"]).run()
    at.multiselect(key="cb_ms_measures").set_value(["工单数"]).run()
    assert not at.exception
    assert _csv_buttons(at) == ["下载 CSV"]


def test_map_district_values_offer_our_csv(db: Path) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "map.py"), default_timeout=60).run()
    assert not at.exception
    assert _csv_buttons(at) == ["下载 CSV"]
