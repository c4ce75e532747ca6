"""Duplicates, found before writing: repeated rows in a file, and an append that repeats what is there.

The case that matters most: last month's file appended again. `citybi ingest --mode append` refuses
it with a Chinese message and leaves the dataset as it was (--allow-duplicates appends anyway);
a file that only partly overlaps is appended and the overlap is reported. Fixtures built in code.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff

from citybi.catalog import Catalog, open_warehouse
from citybi.dictionaries import Entry, ValueDictionary
from citybi.importer import find_duplicates, ingest_file, prepare_file

CLI = Path(sys.executable).with_name("citybi")
HEADER = ["日期", "区", "清运量"]
MAY = [["2024-05-01", "南湖区", 10.5], ["2024-05-01", "秀洲区", 8.0], ["2024-05-02", "南湖区", 11.0]]
JUNE = [["2024-06-01", "南湖区", 9.5], ["2024-05-02", "南湖区", 11.0]]  # one row of May sent again


def _file(path: Path, rows: list[list[Any]]) -> Path:
    return ff.xlsx_sheets(path, {"清运": [HEADER, *rows]})


@pytest.mark.parametrize(("rows", "keys", "in_file", "in_file_keys"), [
    (MAY, [], 0, 0),
    ([*MAY, MAY[0]], [], 1, 0),                       # a row typed twice
    ([*MAY, MAY[0], MAY[0]], [], 2, 0),               # and a third time
    ([*MAY, ["2024-05-01", "南湖区", 99.0]], ["日期", "区"], 0, 1),  # same key, another value
])
def test_repeated_rows_within_a_file(tmp_path: Path, rows: list[list[Any]], keys: list[str], in_file: int,
                                     in_file_keys: int) -> None:
    with open_warehouse(path=tmp_path / "w.duckdb") as wh:
        prepared = prepare_file(wh, _file(tmp_path / "f.xlsx", rows))
        try:
            d = find_duplicates(wh, prepared, key_columns=keys)
        finally:
            prepared.discard()
    assert (d.rows, d.in_file, d.in_file_keys, d.in_dataset) == (len(rows), in_file, in_file_keys, None)
    assert len(d.warnings_zh()) == bool(in_file) + bool(in_file_keys)


def test_standardised_spellings_are_compared_as_written(tmp_path: Path) -> None:
    """南湖 and 南湖区 are one district: once standardised, the two rows are one row typed twice."""
    with open_warehouse(path=tmp_path / "w.duckdb") as wh:
        Catalog(wh).save_dictionary(ValueDictionary(name="行政区划", entries=[
            Entry(standard="南湖区", level="区"), Entry(standard="秀洲区", level="区")]))
        rows = [*MAY, ["2024-05-01", "南湖", 10.5]]
        prepared = prepare_file(wh, _file(tmp_path / "f.xlsx", rows), standardize="auto")
        try:
            assert find_duplicates(wh, prepared).in_file == 1
        finally:
            prepared.discard()


def test_an_append_reports_the_rows_the_dataset_has(tmp_path: Path) -> None:
    with open_warehouse(path=tmp_path / "w.duckdb") as wh:
        ingest_file(wh, _file(tmp_path / "5月.xlsx", MAY), table="清运")
        june = ingest_file(wh, _file(tmp_path / "6月.xlsx", JUNE), table="清运", mode="append",
                           allow_repeat=False)
        assert june.duplicates is not None
        assert (june.duplicates.rows, june.duplicates.in_dataset) == (2, 1)
        assert june.write.rows_written == 5  # partly overlapping: appended, and the overlap said
        assert june.outcome()["duplicates"]["in_dataset"] == 1
        assert any("1 行与数据集「清运」中已有的行相同" in w for w in june.duplicates.warnings_zh())


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), "ingest", *args, "--json"], capture_output=True, text=True, timeout=180)


def test_cli_refuses_last_months_file_appended_again(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    may = _file(tmp_path / "5月.xlsx", MAY)
    assert _cli(str(may), "--db", str(db), "--table", "清运").returncode == 0
    again = _cli(str(may), "--db", str(db), "--table", "清运", "--mode", "append")
    assert again.returncode == 2
    assert "文件的全部 3 行都已在数据集「清运」中" in again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["status"] == "error"
    with open_warehouse(path=db) as wh:
        assert [v.version for v in Catalog(wh).versions("清运")] == [1]  # nothing written
    forced = _cli(str(may), "--db", str(db), "--table", "清运", "--mode", "append", "--allow-duplicates")
    assert forced.returncode == 0, forced.stderr
    outcome = json.loads(forced.stdout.strip().splitlines()[-1])
    assert (outcome["rows"], outcome["duplicates"]["in_dataset"]) == (6, 3)


def test_import_page_shows_the_repeat_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(db))
    csv = "\n".join(",".join(str(c) for c in r) for r in [HEADER, *MAY]) + "\n"
    with open_warehouse(path=db) as wh:
        ingest_file(wh, ff.csv_text(tmp_path / "5月.csv", csv), table="清运")
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages/import_data.py"),
                           default_timeout=60).run()
    at.file_uploader[0].upload("5月.csv", csv.encode(), "text/csv").run()
    at.text_input[0].input("清运").run()
    at.radio[0].set_value("append").run()
    assert not at.exception, at.exception
    assert any("文件的全部 3 行都已在数据集「清运」中" in w.value for w in at.warning), [w.value for w in at.warning]
