"""Sheet shapes seen on real department files (issue 13 item 6): file → expected plan and frame.

Each case builds its workbook with tests/filefactory.py and reads it through the real sandboxed
reader (citybi.ingest.pipeline.prepare), as the page and `citybi ingest` do.
"""
from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff

from citybi.config import Limits
from citybi.ingest.model import ImportOptions, ImportPlan
from citybi.ingest.pipeline import prepare

L = Limits()


def read(path: Path, options: ImportOptions | None = None) -> tuple[ImportPlan, list[tuple[Any, ...]], list[str]]:
    prepared = prepare(path, options or ImportOptions(), L)
    try:
        frame = prepared.frame()
        return prepared.plan, frame.rows(), frame.columns
    finally:
        prepared.discard()


# (id, builder, header rows, columns, (type, unit) per column, first row, row count)
SHAPES: list[tuple[str, Callable[[Path], Path], list[int], list[str], list[tuple[str, str | None]],
                   tuple[Any, ...], int]] = [
    ("three-level-form", ff.xlsx_three_level_form, [2, 3, 4],
     ["街道", "社区", "收运量（吨）/干湿分类/厨余", "收运量（吨）/干湿分类/其他", "收运量（吨）/其他分类/可回收",
      "收运量（吨）/其他分类/有害", "车次"],
     [("text", None), ("text", None), ("integer", "吨"), ("number", "吨"), ("integer", "吨"), ("number", "吨"),
      ("integer", None)],
     ("街道1", "社区1", 10, 20.5, 3, 0.25, 2), len(ff.FORM_ROWS)),
    ("english-code-row", ff.xlsx_code_header, [1, 2],
     ["日期", "区", "街道", "清运量（吨）", "车次"],
     [("date", None), ("text", None), ("text", None), ("number", "吨"), ("integer", None)],
     (dt.date(2024, 3, 1), "南湖区", "建设街道", 12.5, 3), 3),
    ("unit-line-names-columns", ff.xlsx_unit_line, [3],
     ["日期", "站点", "AQI", "PM2.5", "PM10", "NO2", "CO"],
     [("date", None), ("text", None), ("integer", None), ("integer", "微克/立方米"), ("integer", "微克/立方米"),
      ("integer", "微克/立方米"), ("number", "毫克/立方米")],
     (dt.date(2024, 3, 1), "嘉兴学院", 56, 38, 61, 22, 0.6), 2),
    ("mdd-dates-zero-rows", ff.xlsx_sensor_mdd, [1],
     ["日期", "站点", "PM2.5", "PM10", "NO2"],
     [("number", None), ("text", None), ("integer", None), ("integer", None), ("integer", None)],
     (3.01, "嘉兴学院", 38, 61, 22), 6),
]


@pytest.mark.parametrize(("case", "build", "header_rows", "names", "types", "first", "n"), SHAPES,
                         ids=[s[0] for s in SHAPES])
def test_sheet_shape(tmp_path: Path, case: str, build: Callable[[Path], Path], header_rows: list[int],
                     names: list[str], types: list[tuple[str, str | None]], first: tuple[Any, ...], n: int) -> None:
    plan, rows, columns = read(build(tmp_path / f"{case}.xlsx"))
    assert plan.header_rows == header_rows
    assert columns == names
    assert [(c.type, c.unit) for c in plan.columns] == types
    assert rows[0] == first
    assert len(rows) == n == plan.row_count


def test_formatted_empty_rows_are_not_listed_as_dropped(tmp_path: Path) -> None:
    plan, _, _ = read(ff.xlsx_three_level_form(tmp_path / "form.xlsx", empty_rows=600))
    assert plan.dropped_rows == []
    assert plan.warnings == []


def test_english_codes_are_aliases_not_data(tmp_path: Path) -> None:
    plan, rows, _ = read(ff.xlsx_code_header(tmp_path / "codes.xlsx"))
    assert [c.aliases for c in plan.columns] == [["date"], ["district"], ["street"], ["tonnage"], ["trips"]]
    assert plan.columns[0].header == ["日期", "date"]
    assert all("date" not in r for r in rows)
    assert any("第 2 行是各列的英文代码" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("rows", "code_row"),
    [
        # ids and categories typed in ASCII under Chinese names are data, not codes
        ([["站点编号", "类型"], ["JX01", "PM"], ["JX02", "PM"]], False),
        # a code row over text-only columns cannot be told from data: left as data
        ([["区", "街道"], ["district", "street"], ["南湖区", "建设街道"]], False),
        ([["区", "人数"], ["district", "people"], ["南湖区", 3], ["秀洲区", 4]], True),
    ],
)
def test_code_row_detection(rows: list[list[Any]], code_row: bool) -> None:
    from rawsheet_factory import make_raw

    from citybi.ingest.header import detect_header

    hb = detect_header(make_raw(rows))
    assert bool(hb.code_rows) == code_row


def test_month_day_floats_and_zero_rows_flagged_not_guessed(tmp_path: Path) -> None:
    plan, rows, _ = read(ff.xlsx_sensor_mdd(tmp_path / "sensor.xlsx"))
    mdd = [w for w in plan.warnings if "月.日" in w]
    zeros = [w for w in plan.warnings if "都是 0" in w]
    assert len(mdd) == 1 and "3.1 可能是 3 月 1 日也可能是 3 月 10 日" in mdd[0]
    assert len(zeros) == 1 and "有 2 行" in zeros[0] and "第 3、7 行" in zeros[0]
    # nothing changed: the dates stay numbers, the zeros stay zeros
    assert [r[0] for r in rows] == [3.01, 3.02, 3.1, 3.01, 3.02, 3.1]
    assert rows[1][2:] == (0, 0, 0)


@pytest.mark.parametrize(
    ("line", "units"),
    [
        ("浓度单位：微克/立方米", {"PM2.5浓度": "微克/立方米", "PM10浓度": "微克/立方米", "AQI": None}),
        ("浓度单位：微克/立方米；CO单位：毫克/立方米", {"PM2.5浓度": "微克/立方米", "CO": "毫克/立方米"}),
        ("填报单位：市环境监测站", {"PM2.5浓度": None, "CO": None}),  # who filled it in, not a unit
    ],
)
def test_unit_line_by_column_name(line: str, units: dict[str, str | None]) -> None:
    from test_ingest import shape

    plan, _ = shape([["空气质量日报"], [line], ["站点", "AQI", "PM2.5浓度", "PM10浓度", "CO"],
                     ["嘉兴学院", 56, 38.0, 61.0, 0.6], ["南湖区站", 48, 31.0, 50.0, 0.5]])
    got = {c.name: c.unit for c in plan.columns}
    assert {k: got[k] for k in units} == units


@pytest.mark.parametrize(
    ("pick", "names", "rows", "header_rows"),
    [
        (None, ["区", "清运量（吨）", "车次"], [("南湖区", 120.5, 30), ("秀洲区", 95.0, 25)], [2]),
        (1, ["区", "清运量（吨）", "车次"], [("南湖区", 120.5, 30), ("秀洲区", 95.0, 25)], [2]),
        (2, ["区", "街道", "公厕（座）", "保洁人员（人）"],
         [("南湖区", "建设街道", 12, 30), ("南湖区", "新兴街道", 8, 21), ("秀洲区", "新城街道", 15, 40)], [9]),
    ],
)
def test_several_tables_on_one_sheet(tmp_path: Path, pick: int | None, names: list[str],
                                     rows: list[tuple[Any, ...]], header_rows: list[int]) -> None:
    plan, got, columns = read(ff.xlsx_two_tables(tmp_path / "two.xlsx"), ImportOptions(sheet_table=pick))
    assert [(t.index, t.title, t.first_row, t.last_row) for t in plan.tables] == [
        (1, "表1 各区垃圾清运量", 2, 5), (2, "表2 各街道公厕数量", 8, 14)]
    assert (columns, got, plan.header_rows) == (names, rows, header_rows)
    assert any("有 2 张表" in w and f"现在导入的是第 {pick or 1} 张" in w for w in plan.warnings)
    # the other table's rows are neither data nor listed as dropped
    own = range(1, 6) if pick in (None, 1) else range(8, 15)
    assert all(d.row in own for d in plan.dropped_rows)


def test_sheet_table_out_of_range_refused(tmp_path: Path) -> None:
    from citybi.errors import ImportRejected

    with pytest.raises(ImportRejected, match="只有 2 张表，没有第 3 张"):
        read(ff.xlsx_two_tables(tmp_path / "two.xlsx"), ImportOptions(sheet_table=3))


@pytest.mark.parametrize(
    "rows",
    [
        # a header repeated after a page break is the same table going on
        [["区", "量"], ["甲", 1], ["乙", 2], [None, None], ["区", "量"], ["丙", 3]],
        # a blank row, then the total and a signature line: one table
        [["区", "量"], ["甲", 1], ["乙", 2], [None, None], ["合计", 3], [None, None], ["填报人：张三", "审核人：李四"]],
    ],
)
def test_one_table_is_one_table(rows: list[list[Any]]) -> None:
    from test_ingest import shape

    plan, _ = shape(rows)
    assert plan.tables == []
