"""Targets imported from a sheet: an Excel or CSV file of 区 / 时长 / 目标 becomes a KPI card's
target rows, read by the same sandboxed reader as any import; columns are found by their header.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from citybi.catalog import open_warehouse
from citybi.charts.targets import TargetSheetError, rows_from_columns
from citybi.errors import UserFacingError
from citybi.importer import read_targets
from citybi.warehouse import Warehouse

ROWS = [{"value": "北港区", "period": "月", "target": 3640.0}, {"value": "临江区", "period": "周", "target": 720.0},
        {"value": "云湖区", "target": 0.95}]


@pytest.mark.parametrize(
    ("header", "records", "expected"),
    [
        (["区", "时长", "目标"], [["北港区", "月", "3,640"], ["临江区", "每周", "720"], ["云湖区", "", "95%"]], ROWS),
        (["目标（吨）", "区", "周期"], [["3640", "北港区", "月"]], ROWS[:1]),  # any order, named by header
        (["街道", "目标"], [["滨江街道", "120"], ["", ""]], [{"value": "滨江街道", "target": 120.0}]),
        (["a", "b"], [["北港区", "3640"]], [{"value": "北港区", "target": 3640.0}]),  # no header: by position
    ],
)
def test_columns_are_found_by_header(header: list[str], records: list[list[Any]],
                                     expected: list[dict[str, Any]]) -> None:
    assert rows_from_columns(header, records) == expected


@pytest.mark.parametrize(
    ("header", "records", "message"),
    [
        (["区", "时长", "目标"], [["北港区", "月", "很多"]], "第1行：目标「很多」不是数字"),
        (["区", "时长", "目标"], [["北港区", "半年", "1"]], "第1行：时长「半年」无法识别"),
        (["目标"], [["1"]], "缺少「值」这一列"),
        (["a", "b", "c", "d"], [["1", "2", "3", "4"]], "表格有 4 列"),
    ],
)
def test_bad_sheets_say_what_to_fix(header: list[str], records: list[list[Any]], message: str) -> None:
    with pytest.raises(TargetSheetError) as err:
        rows_from_columns(header, records)
    assert message in str(err.value)


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = open_warehouse(path=tmp_path / "t.duckdb")
    yield w
    w.close()


def _xlsx(path: Path, rows: list[list[Any]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


SHEET = [["区", "时长", "目标"], ["北港区", "月", 3640], ["临江区", "周", "720"], ["云湖区", None, "95%"]]


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_a_target_file_is_read_through_the_import_reader(wh: Warehouse, tmp_path: Path, kind: str) -> None:
    if kind == "xlsx":
        path = _xlsx(tmp_path / "目标.xlsx", SHEET)
    else:
        path = tmp_path / "目标.csv"
        path.write_text("\n".join(",".join("" if c is None else f'"{c}"' for c in r) for r in SHEET),
                        encoding="utf-8-sig")
    assert read_targets(wh, path, original_name=path.name) == ROWS


def test_a_target_file_without_a_target_header_is_refused(wh: Warehouse, tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "无表头.xlsx", [["北港区", 3640], ["临江区", 720]])
    with pytest.raises(UserFacingError) as err:
        read_targets(wh, path, original_name=path.name)
    assert "名为「目标」" in err.value.message
