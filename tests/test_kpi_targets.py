"""KPI targets that follow the filters: per 区 and per period length, combined by the card's rule.

The board tests run the shipped 环卫运行 and 12345热线 boards on the sample city (its data
ends on 2025-06-30) and check each card's target and completion against plain DuckDB SQL.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from citybi.boards import BoardSpecError, FilterValues, dump_board, load_board, run_board
from citybi.catalog import open_warehouse
from citybi.charts.cache import ResultCache
from citybi.charts.kpi import KpiValue
from citybi.charts.store import ChartStore
from citybi.charts.targets import (
    KpiTargets,
    TargetSheetError,
    period_length,
    resolve_target,
    rows_from_sheet,
    rows_from_table,
    target_table,
)
from citybi.config import QUERIES_DIR
from citybi.warehouse import Warehouse

D = dt.date
TODAY = D(2025, 6, 30)
WEEK = (D(2025, 6, 24), D(2025, 6, 30))
JUNE = (D(2025, 6, 1), D(2025, 6, 30))
TABLE = KpiTargets.model_validate({"column": "区", "rule": "sum", "rows": [
    {"value": "北港区", "period": "周", "target": 860}, {"value": "北港区", "period": "月", "target": 3640},
    {"value": "北港区", "period": "日", "target": 123}, {"value": "临江区", "period": "周", "target": 720},
    {"value": "临江区", "period": "日", "target": 103},
]})
LEVELS = KpiTargets.model_validate({"column": "区", "rule": "average", "rows": [
    {"value": "北港区", "target": 0.9}, {"value": "临江区", "target": 0.96}]})
ONE_ONLY = TABLE.model_copy(update={"rule": "none"})


@pytest.mark.parametrize(
    ("rng", "grain", "expected"),
    [
        (WEEK, None, "周"),  # 最近7天 is a week long
        ((D(2025, 6, 23), D(2025, 6, 29)), "周", "周"),
        (JUNE, "月", "月"),
        (JUNE, None, "月"),  # a date range that is exactly a month
        ((D(2025, 6, 30), D(2025, 6, 30)), None, "日"),
        ((D(2025, 6, 1), D(2025, 6, 17)), "月", "17天"),  # month to date is not a month
        ((D(2025, 4, 1), D(2025, 6, 30)), None, "季"),
        ((D(2025, 6, 1), D(2025, 6, 30)), None, "月"),
        ((D(2025, 5, 31), D(2025, 6, 29)), None, "30天"),
    ],
)
def test_period_length(rng: tuple[dt.date, dt.date], grain: str | None, expected: str) -> None:
    assert period_length(rng, grain) == expected


# (own target, own period, shown period, agg, table, selection) → (target, note)
@pytest.mark.parametrize(
    ("own", "own_period", "period", "agg", "table", "selection", "target", "note"),
    [
        # no table: the card's own target only for the whole scope and its own period length
        (3300, WEEK, WEEK, "sum", None, {}, 3300, "目标"),
        (3300, WEEK, WEEK, "sum", None, {"区": ["北港区"]}, None,
         "无适用目标：只设了全市目标，没有按「区」分别设定的目标"),
        (3300, WEEK, (D(2025, 5, 1), D(2025, 5, 31)), "sum", None, {}, None,
         "无适用目标：目标按「周」设定，不适用于2025-05-01 至 2025-05-31（31 天）"),
        (0.95, (D(2025, 6, 1), D(2025, 6, 30)), WEEK, "ratio", None, {}, 0.95, "目标"),  # a level: any length
        (None, WEEK, WEEK, "sum", None, {"区": ["北港区"]}, None, ""),  # no target at all: nothing to say
        # one district: its own row for the period length
        (3300, WEEK, WEEK, "sum", TABLE, {"区": ["北港区"]}, 860, "北港区周目标"),
        (3300, WEEK, JUNE, "sum", TABLE, {"区": ["北港区"]}, 3640, "北港区月目标"),
        # two districts: the sum of theirs, never the city's
        (3300, WEEK, WEEK, "sum", TABLE, {"区": ["北港区", "临江区"]}, 1580, "北港区、临江区周目标合计"),
        # no 30-day row: a daily target scales by the days (sum rule only)
        (3300, WEEK, (D(2025, 6, 1), D(2025, 6, 17)), "sum", TABLE, {"区": ["临江区"]}, 103 * 17,
         "临江区日目标 × 17 天"),
        (3300, WEEK, JUNE, "sum", TABLE, {"区": ["临江区"]}, 103 * 30, "临江区日目标 × 30 天"),
        # a selected district without a row
        (3300, WEEK, WEEK, "sum", TABLE, {"区": ["望山区"]}, None,
         "无适用目标：望山区没有适用于2025-06-24 至 2025-06-30（7 天）的目标"),
        # a filter on another column: the per-区 table does not fit a street or a waste type
        (3300, WEEK, WEEK, "sum", TABLE, {"区": ["北港区"], "街道": ["港湾街道"]}, None,
         "无适用目标：目标按「区」设定，没有按「街道」细分的目标"),
        (3300, WEEK, WEEK, "sum", TABLE, {"垃圾类型": ["厨余垃圾"]}, None,
         "无适用目标：目标按「区」设定，没有按「垃圾类型」细分的目标"),
        # nothing selected: the card's own target, or every row combined when the length differs
        (3300, WEEK, WEEK, "sum", TABLE, {}, 3300, "目标"),
        (None, WEEK, WEEK, "sum", TABLE, {}, 1580, "各区周目标合计"),
        # levels average; rule none refuses to combine
        (0.95, WEEK, WEEK, "ratio", LEVELS, {"区": ["北港区", "临江区"]}, pytest.approx(0.93),
         "北港区、临江区目标平均"),
        (0.95, WEEK, JUNE, "ratio", LEVELS, {"区": ["临江区"]}, 0.96, "临江区目标"),
        (3300, WEEK, WEEK, "sum", ONE_ONLY, {"区": ["北港区", "临江区"]}, None,
         "无适用目标：选了多个区，这张卡片的目标不能合并"),
        (3300, WEEK, WEEK, "sum", ONE_ONLY, {"区": ["北港区"]}, 860, "北港区周目标"),
    ],
)
def test_resolve_target(own: float | None, own_period: tuple[dt.date, dt.date], period: tuple[dt.date, dt.date],
                        agg: str, table: KpiTargets | None, selection: dict[str, list[str]], target: Any,
                        note: str) -> None:
    got = resolve_target(own_target=own, own_period=own_period, own_grain=None, period=period, grain=None, agg=agg,
                         targets=table, selection=selection)
    assert (got.value, got.note) == (target, note)


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ("{column: 区, rows: [{value: 北港区, period: 周, target: 1}, {value: 北港区, period: 周, target: 2}]}",
         "目标表中「北港区（周）」出现了多次"),
        ("{column: 区, rows: [{value: 北港区, period: 旬, target: 1}]}", "时长「旬」无效"),
        ("{column: 区, rule: 求和, rows: []}", "合并规则「求和」无效"),
        ("{column: 区, rows: [{value: 北港区, target: 很多}]}", "目标值应为数字"),
        ("{column: 区, rows: [{value: 北港区, target: 1, note: x}]}", "不认识的设置项「note」"),
    ],
)
def test_target_table_errors_in_chinese(targets: str, expected: str) -> None:
    text = f"title: t\ntiles:\n  - {{chart: 环卫_近7天清运量, targets: {targets}}}\n"
    with pytest.raises(BoardSpecError) as err:
        load_board(text)
    assert expected in err.value.message


# ---------------------------------------------------------------------------- on the sample board
@pytest.fixture(scope="module")
def wh(sample_copy: Callable[[str], Path]) -> Iterator[Warehouse]:
    w = open_warehouse(path=sample_copy("targets"))
    yield w
    w.close()


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> ChartStore:
    return ChartStore(tmp_path_factory.mktemp("charts"), [QUERIES_DIR / "charts"])


def _board(name: str) -> Any:
    return load_board((QUERIES_DIR / "boards" / f"{name}.yaml").read_text(encoding="utf-8"))


def _sql_total(wh: Warehouse, table: str, expr: str, date_col: str, rng: tuple[dt.date, dt.date],
               district: str | None) -> float:
    cur = wh.cursor()  # plain SQL, not the chart compiler
    try:
        where = f"CAST(\"{date_col}\" AS DATE) BETWEEN ? AND ?" + (" AND 区 = ?" if district else "")
        params = [rng[0], rng[1], *([district] if district else [])]
        return cur.execute(f'SELECT {expr} FROM "{table}" WHERE {where}', params).fetchone()[0]
    finally:
        cur.close()


def _yaml_row(board: Any, tile_index: int, district: str, period: str | None) -> float:
    rows = board.tiles[tile_index].targets.rows
    return next(r.target for r in rows if r.value == district and r.period == period)


HUANWEI = [  # tile index → (measure SQL, period length of its own period)
    (0, 'SUM("清运量（吨）")', "周"),
    (1, 'SUM("清运量（吨）")', "月"),
    (2, 'SUM("车次")', "周"),
]


@pytest.mark.parametrize("district", ["北港区", "临江区", "青禾新区"])
def test_one_district_shows_its_own_target_and_completion(wh: Warehouse, charts: ChartStore, district: str) -> None:
    board = _board("环卫运行")
    run = run_board(wh, board, charts=charts, values=FilterValues(dimensions={"区": (district,)}), today=TODAY,
                    cache=ResultCache())
    for index, expr, length in HUANWEI:
        k = run.tiles[index].result.output
        assert isinstance(k, KpiValue)
        expected_target = _yaml_row(board, index, district, length)
        value = _sql_total(wh, "环卫清运", expr, "日期", k.period, district)
        assert (k.target, run.tiles[index].target_note) == (expected_target, f"{district}{length}目标")
        assert k.value == pytest.approx(value)
        assert k.pct_of_target == pytest.approx(value / expected_target)


def test_last_month_uses_the_month_rows_and_a_street_has_no_target(wh: Warehouse, charts: ChartStore) -> None:
    board = _board("环卫运行")
    may = run_board(wh, board, charts=charts, values=FilterValues(date="上月", dimensions={"区": ("北港区",)}),
                    today=TODAY, cache=ResultCache())
    k = may.tiles[0].result.output
    assert k.period == (D(2025, 5, 1), D(2025, 5, 31))
    assert (k.target, may.tiles[0].target_note) == (3640, "北港区月目标")
    assert k.pct_of_target == pytest.approx(_sql_total(wh, "环卫清运", 'SUM("清运量（吨）")', "日期", k.period,
                                                       "北港区") / 3640)
    street = run_board(wh, board, charts=charts, values=FilterValues(dimensions={"街道": ("港湾街道",)}),
                       today=TODAY, cache=ResultCache())
    for index, _expr, _length in HUANWEI:
        t = street.tiles[index]
        assert (t.result.output.target, t.result.output.pct_of_target) == (None, None)
        assert t.target_note == "无适用目标：目标按「区」设定，没有按「街道」细分的目标"


def test_whole_city_keeps_the_cards_own_target(wh: Warehouse, charts: ChartStore) -> None:
    run = run_board(wh, _board("环卫运行"), charts=charts, values=FilterValues(), today=TODAY, cache=ResultCache())
    assert [(run.tiles[i].result.output.target, run.tiles[i].target_note) for i in range(3)] == [
        (3300, "目标"), (14000, "目标"), (2400, "目标")]


def test_hotline_rate_target_is_the_districts_average(wh: Warehouse, charts: ChartStore) -> None:
    run = run_board(wh, _board("12345热线"), charts=charts,
                    values=FilterValues(dimensions={"区": ("北港区", "松岭区")}), today=TODAY, cache=ResultCache())
    by_title = {t.title: t for t in run.tiles}
    rate = by_title["办结率"]
    assert (rate.result.output.target, rate.target_note) == (0.95, "北港区、松岭区目标平均")
    score = by_title["平均满意度"]
    assert score.result.output.target == pytest.approx(4.45)
    count = by_title["近7天工单数"]  # a card without targets says nothing about them
    assert (count.result.output.target, count.target_note) == (None, "")


def test_targets_on_a_chart_that_is_not_a_kpi_card_are_refused(wh: Warehouse, charts: ChartStore) -> None:
    board = load_board("title: t\ntiles:\n  - {chart: 环卫_各区清运量, targets: {column: 区, rows: []}}\n")
    run = run_board(wh, board, charts=charts, today=TODAY, cache=ResultCache())
    assert run.tiles[0].error == "只有指标卡可以设置目标表（targets），请删除这个图块的 targets"


# ---------------------------------------------------------------------------- the editable table
@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ("值\t目标\n北港区\t860\n临江区\t720\n",
         [{"value": "北港区", "target": 860.0}, {"value": "临江区", "target": 720.0}]),
        ("北港区\t周\t860\n北港区\t月\t3,640\n", [{"value": "北港区", "period": "周", "target": 860.0},
                                               {"value": "北港区", "period": "月", "target": 3640.0}]),
        ("区 时长 目标\n北港区 每月 3,640\n临江区 任意 95%\n\n", [{"value": "北港区", "period": "月", "target": 3640.0},
                                                         {"value": "临江区", "target": 0.95}]),
    ],
)
def test_rows_pasted_from_a_sheet(text: str, rows: list[dict[str, Any]]) -> None:
    assert rows_from_sheet(text) == rows


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("北港区\t很多\n", "第1行：目标「很多」不是数字（可写 3640、3,640 或 95%）"),
        ("北港区\t旬\t3\n", "第1行：时长「旬」无法识别，可写 日、周、月、季、年，或留空表示任意时长"),
        ("北港区\n", "第1行有 1 列：请粘贴两列（值、目标）或三列（值、时长、目标）"),
        ("\t860\n", "第1行：缺少「值」（如 北港区）"),
    ],
)
def test_bad_pasted_rows_name_the_line(text: str, problem: str) -> None:
    with pytest.raises(TargetSheetError) as err:
        rows_from_sheet(text)
    assert err.value.problems == [problem]


def test_edited_table_round_trips_through_the_board_file() -> None:
    board = _board("环卫运行")
    table = target_table(board.tiles[0].targets)
    assert table[:2] == [{"值": "临江区", "时长": "日", "目标": 103.0}, {"值": "云湖区", "时长": "日", "目标": 81.0}]
    rows = rows_from_table([*table[:1], {"值": "北港区", "时长": "任意", "目标": 900}, {"值": None, "目标": None}])
    changed = board.with_targets(0, "区", "average", rows)
    reloaded = load_board(dump_board(changed))
    assert reloaded.tiles[0].targets == KpiTargets.model_validate({"column": "区", "rule": "average", "rows": [
        {"value": "临江区", "period": "日", "target": 103}, {"value": "北港区", "target": 900}]})
    assert reloaded.tiles[1:] == board.tiles[1:]
    assert load_board(dump_board(changed.with_targets(0, None, None, []))).tiles[0].targets is None


def test_a_duplicate_row_is_refused_in_chinese() -> None:
    rows = rows_from_sheet("北港区\t周\t1\n北港区\t周\t2\n")
    with pytest.raises(BoardSpecError) as err:
        _board("环卫运行").with_targets(0, "区", "sum", rows)
    assert "目标表中「北港区（周）」出现了多次" in err.value.message


def test_air_quality_cards_use_the_districts_own_levels(wh: Warehouse, charts: ChartStore) -> None:
    run = run_board(wh, _board("空气质量"), charts=charts, values=FilterValues(dimensions={"区": ("北港区",)}),
                    today=TODAY, cache=ResultCache())
    assert [(t.result.output.target, t.target_note) for t in run.tiles[:2]] == [
        (80, "北港区目标"), (0.75, "北港区目标")]
