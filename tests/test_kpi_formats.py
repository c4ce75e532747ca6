"""Units and formats: a share is a percentage everywhere (value, 同比, 环比, 去年同期, tables,
tooltips, Excel) and changes by 百分点; a period with fewer days of data than it spans says so.

Board checks run on the sample city (data ends Monday 2025-06-30).
"""
from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from citybi.boards import FilterValues, load_board, run_board
from citybi.catalog import open_warehouse
from citybi.charts.cache import ResultCache
from citybi.charts.kpi import Comparison, KpiValue
from citybi.charts.periods import coverage_note
from citybi.charts.render import d3_format, format_value, ratio_format
from citybi.charts.spec import Measure
from citybi.charts.store import ChartStore
from citybi.config import QUERIES_DIR
from citybi.export import excel_format, export_board
from citybi.warehouse import Warehouse

D = dt.date
TODAY = D(2025, 6, 30)
SHARE = {"column": "*", "agg": "ratio", "where": [{"op": "in", "column": "办结状态", "values": ["已办结"]}]}


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [(None, ".1%"), (".1%", ".1%"), (".2f", ".2%"), (",.0f", ".0%"), (".0%", ".0%")],
)
def test_ratio_format_is_always_a_percentage(fmt: str | None, expected: str) -> None:
    assert ratio_format(fmt) == expected


@pytest.mark.parametrize(
    ("measure", "value", "text", "d3", "excel"),
    [
        ({**SHARE, "format": ".2f"}, 0.9312, "93.12%", ".2%", "0.00%"),  # a share written as .2f still reads 93.12%
        ({**SHARE}, 0.8061, "80.6%", ".1%", "0.0%"),
        ({"column": "清运量", "agg": "sum", "format": ",.0f"}, 13173.4, "13,173", ",.0f", "#,##0"),
        ({"column": "满意度", "agg": "avg", "format": ".2f"}, 4.456, "4.46", ".2f", "0.00"),
    ],
)
def test_value_tooltip_and_excel_formats_agree(measure: dict[str, Any], value: float, text: str, d3: str,
                                               excel: str) -> None:
    m = Measure.model_validate(measure)
    ratio = m.agg == "ratio"
    assert (format_value(value, m.format, ratio=ratio), d3_format(m), excel_format(m.format, ratio=ratio)) == (
        text, d3, excel)


def _card(ratio: bool, fmt: str | None) -> KpiValue:
    return KpiValue(label="x", unit=None, value=0.806 if ratio else 120.0, value_text="", period=(TODAY, TODAY),
                    grain=None, target=None, pct_of_target=None, target_met=None, higher_is_better=True,
                    comparisons=(), fmt=fmt, ratio=ratio)


@pytest.mark.parametrize(
    ("ratio", "fmt", "base", "delta", "pct", "base_text", "change"),
    [
        (True, ".1%", 0.93, -0.124, -0.1333, "93.0%", "-12.4 个百分点"),  # 80.6% against 去年同期 93.0%
        (True, ".2f", 0.75, 0.056, 0.0747, "75.00%", "+5.6 个百分点"),
        (False, ",.0f", 100.0, 20.0, 0.2, "100", "+20.0%"),
        (False, ",.0f", None, None, None, "—", "—"),
    ],
)
def test_kpi_comparison_texts(ratio: bool, fmt: str | None, base: float | None, delta: float | None,
                              pct: float | None, base_text: str, change: str) -> None:
    k = _card(ratio, fmt)
    c = Comparison("同比", (TODAY, TODAY), base, delta, pct, "↓", None, "#757575")
    assert (k.text(base), k.change_text(c)) == (base_text, change)


@pytest.mark.parametrize(
    ("period", "data", "expected"),
    [
        ((D(2025, 6, 30), D(2025, 7, 6)), (D(2024, 1, 1), TODAY), "仅 1 天数据（截至 6月30日）"),  # 本周 on a Monday
        ((D(2025, 6, 1), D(2025, 6, 30)), (D(2024, 1, 1), TODAY), ""),
        ((D(2025, 6, 1), D(2025, 6, 30)), (D(2024, 1, 1), D(2025, 6, 17)), "仅 17 天数据（截至 6月17日）"),
        ((D(2023, 12, 25), D(2023, 12, 31)), (D(2023, 12, 28), TODAY), "仅 4 天数据（从 12月28日 开始）"),
        ((D(2025, 7, 1), D(2025, 7, 31)), (D(2024, 1, 1), TODAY), "这段时间还没有数据（数据截至 2025-06-30）"),
        ((D(2023, 1, 1), D(2023, 1, 31)), (D(2024, 1, 1), TODAY), "这段时间没有数据（数据从 2024-01-01 开始）"),
        ((D(2025, 6, 1), D(2025, 6, 30)), None, ""),
    ],
)
def test_coverage_note(period: tuple[dt.date, dt.date], data: tuple[dt.date, dt.date] | None, expected: str) -> None:
    assert coverage_note(period, data) == expected


# ---------------------------------------------------------------------------- on the sample boards
@pytest.fixture(scope="module")
def wh(sample_copy: Callable[[str], Path]) -> Iterator[Warehouse]:
    w = open_warehouse(path=sample_copy("formats"))
    yield w
    w.close()


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> ChartStore:
    return ChartStore(tmp_path_factory.mktemp("charts"), [QUERIES_DIR / "charts"])


def _board(name: str) -> Any:
    return load_board((QUERIES_DIR / "boards" / f"{name}.yaml").read_text(encoding="utf-8"))


def test_this_week_on_a_monday_says_one_day_of_data(wh: Warehouse, charts: ChartStore) -> None:
    run = run_board(wh, _board("环卫运行"), charts=charts, values=FilterValues(date="本周"), today=TODAY,
                    cache=ResultCache())
    assert {t.period_note for t in run.tiles} == {"仅 1 天数据（截至 6月30日）"}
    whole = run_board(wh, _board("环卫运行"), charts=charts, values=FilterValues(date="上周"), today=TODAY,
                      cache=ResultCache())
    assert {t.period_note for t in whole.tiles} == {""}


def test_hotline_shares_read_as_percentages_on_the_card_and_in_excel(wh: Warehouse, charts: ChartStore) -> None:
    run = run_board(wh, _board("12345热线"), charts=charts, today=TODAY, cache=ResultCache())
    tile = next(t for t in run.tiles if t.title == "办结率")
    k = tile.result.output
    assert k.ratio and k.value_text.endswith("%")
    for c in k.comparisons:
        assert k.text(c.base).endswith("%") and k.change_text(c).endswith("个百分点")
    wb = openpyxl.load_workbook(io.BytesIO(export_board(run, cover=False)))
    ws = wb["办结率"]
    rows = {ws.cell(r, 1).value: ws.cell(r, 2) for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value}
    assert rows["去年同期"].number_format == "0.0%" and rows["上期"].number_format == "0.0%"
    assert rows["同比变化（百分点）"].value == pytest.approx(k.comparison("同比").delta * 100)
    assert rows["目标"].number_format == "0.0%" and rows["目标"].value == 0.95


# ---------------------------------------------------------------------------- the unfinished last period of a series
@pytest.mark.parametrize(
    ("last", "grain", "today", "expected"),
    [
        (D(2025, 6, 30), "周", TODAY, 1),  # the week starting Monday 30 June holds one day
        (D(2025, 6, 23), "周", TODAY, None),  # last week is complete
        (D(2025, 6, 1), "月", D(2025, 6, 17), 17),
        (D(2025, 6, 1), "月", TODAY, None),  # 30 June closes June
        (D(2025, 4, 1), "季", D(2025, 5, 2), 32),
        (D(2025, 6, 30), "日", TODAY, None),  # a day is never partial
        (D(2025, 6, 30), None, TODAY, None),
        ("临江区", "周", TODAY, None),
    ],
)
def test_incomplete_days(last: Any, grain: str | None, today: dt.date, expected: int | None) -> None:
    from citybi.charts.types.line import incomplete_days

    assert incomplete_days(last, grain, today) == expected


def test_a_weekly_line_draws_its_unfinished_week_dotted(wh: Warehouse) -> None:
    from citybi.charts.runner import run_chart
    from citybi.charts.spec import load_spec

    spec = load_spec("""
title: 每周清运量
dataset: 环卫清运
type: line
dimensions: [{column: 日期, grain: 周}]
measures: [{column: 清运量（吨）, agg: sum, label: 清运量, format: ",.0f"}]
filters: [{op: relative, column: 日期, period: 最近28天}]
""")
    fig = run_chart(wh, spec, today=TODAY, cache=ResultCache()).output
    solid, dotted = fig.data
    assert [str(x)[:10] for x in solid.x][-1] == "2025-06-23" and solid.line.dash is None
    assert [str(x)[:10] for x in dotted.x] == ["2025-06-23", "2025-06-30"] and dotted.line.dash == "dot"
    assert "仅 1 天数据" in dotted.hovertemplate and dotted.line.color == solid.line.color
    assert dotted.showlegend is False


@pytest.mark.parametrize(
    ("period", "shown", "previous", "target", "note"),
    [
        # Monday: this week so far is one day — compared with last Monday, against one day's target
        ("本周", (TODAY, TODAY), (D(2025, 6, 23), D(2025, 6, 23)), (123, "北港区日目标"),
         "仅 1 天数据（截至 6月30日）"),
        # the 30th closes June: the whole month, against the month's target
        ("本月", (D(2025, 6, 1), TODAY), (D(2025, 5, 1), D(2025, 5, 31)), (3640, "北港区月目标"), ""),
        ("上周", (D(2025, 6, 23), D(2025, 6, 29)), (D(2025, 6, 16), D(2025, 6, 22)), (860, "北港区周目标"), ""),
    ],
)
def test_current_periods_on_cards_compare_like_with_like(
        wh: Warehouse, charts: ChartStore, period: str, shown: tuple[dt.date, dt.date],
        previous: tuple[dt.date, dt.date], target: tuple[float, str], note: str) -> None:
    run = run_board(wh, _board("环卫运行"), charts=charts,
                    values=FilterValues(date=period, dimensions={"区": ("北港区",)}), today=TODAY, cache=ResultCache())
    card = run.tiles[0]
    k = card.result.output
    assert (card.title, k.period, k.comparison("环比").period) == (f"{period}清运量", shown, previous)
    assert (k.target, card.target_note, card.period_note) == (*target, note)
    cur = wh.cursor()
    try:
        value = cur.execute('SELECT SUM("清运量（吨）") FROM 环卫清运 WHERE 区 = ? AND 日期 BETWEEN ? AND ?',
                            ["北港区", *shown]).fetchone()[0]
    finally:
        cur.close()
    assert k.value == pytest.approx(value)


@pytest.mark.parametrize(
    ("period", "grain", "partial", "points"),
    [
        ((TODAY, TODAY), "周", True, [5.0, 6.0]),  # Monday of a week: its one day is left off the sparkline
        ((D(2025, 6, 23), D(2025, 6, 29)), "周", False, [5.0, 6.0, 1.0]),
        ((D(2025, 6, 1), TODAY), "月", False, [5.0, 6.0, 1.0]),
        ((D(2025, 6, 24), TODAY), None, False, [5.0, 6.0, 1.0]),  # 最近7天 is never partial
    ],
)
def test_partial_period_leaves_the_sparkline_without_a_fake_drop(
        period: tuple[dt.date, dt.date], grain: str | None, partial: bool, points: list[float]) -> None:
    k = KpiValue(label="x", unit=None, value=1.0, value_text="1", period=period, grain=grain, target=None,
                 pct_of_target=None, target_met=None, higher_is_better=True, comparisons=(),
                 sparkline=((D(2025, 6, 16), 5.0), (D(2025, 6, 23), 6.0), (D(2025, 6, 30), 1.0)))
    assert (k.partial, k.spark_values()) == (partial, points)
