"""KPI cards: period arithmetic against a fixed today, 同比/环比 values, % of target, direction rule."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from charts_fixture import TODAY, make_warehouse

from citybi.charts.cache import ResultCache
from citybi.charts.kpi import KpiOptions, comparison_periods, current_period
from citybi.charts.periods import relative_range
from citybi.charts.runner import run_chart
from citybi.charts.spec import load_spec, parse_filter, with_filters
from citybi.warehouse import Warehouse

D = dt.date


@pytest.mark.parametrize(
    ("period", "today", "expected"),
    [
        ("今天", TODAY, (D(2024, 5, 17), D(2024, 5, 17))),
        ("昨天", D(2024, 3, 1), (D(2024, 2, 29), D(2024, 2, 29))),
        ("最近7天", TODAY, (D(2024, 5, 11), D(2024, 5, 17))),
        ("最近1天", TODAY, (TODAY, TODAY)),
        ("本周", TODAY, (D(2024, 5, 13), D(2024, 5, 19))),
        ("上周", TODAY, (D(2024, 5, 6), D(2024, 5, 12))),
        ("本周", D(2024, 5, 13), (D(2024, 5, 13), D(2024, 5, 19))),  # Monday starts its own week
        ("上周", D(2024, 1, 3), (D(2023, 12, 25), D(2023, 12, 31))),
        ("本月", TODAY, (D(2024, 5, 1), D(2024, 5, 31))),
        ("上月", D(2024, 3, 31), (D(2024, 2, 1), D(2024, 2, 29))),
        ("上月", D(2024, 1, 15), (D(2023, 12, 1), D(2023, 12, 31))),
        ("本季", TODAY, (D(2024, 4, 1), D(2024, 6, 30))),
        ("上季", TODAY, (D(2024, 1, 1), D(2024, 3, 31))),
        ("上季", D(2024, 2, 1), (D(2023, 10, 1), D(2023, 12, 31))),
        ("今年", TODAY, (D(2024, 1, 1), D(2024, 12, 31))),
        ("去年", TODAY, (D(2023, 1, 1), D(2023, 12, 31))),
    ],
)
def test_relative_ranges(period: str, today: dt.date, expected: tuple[dt.date, dt.date]) -> None:
    assert relative_range(period, today) == expected


# (options, today) → (current, 环比 previous, 同比 year ago)
@pytest.mark.parametrize(
    ("options", "today", "cur", "prev", "yoy"),
    [
        ({"grain": "日"}, TODAY, (D(2024, 5, 17),) * 2, (D(2024, 5, 16),) * 2, (D(2023, 5, 17),) * 2),
        ({"grain": "日"}, D(2024, 2, 29), (D(2024, 2, 29),) * 2, (D(2024, 2, 28),) * 2, (D(2023, 2, 28),) * 2),
        # weeks are Monday–Sunday; 同比 is the same ISO week number last year (2024-W20 → 2023-W20)
        ({"grain": "周"}, TODAY, (D(2024, 5, 13), D(2024, 5, 19)), (D(2024, 5, 6), D(2024, 5, 12)),
         (D(2023, 5, 15), D(2023, 5, 21))),
        ({"grain": "周", "to_date": True}, TODAY, (D(2024, 5, 13), D(2024, 5, 17)), (D(2024, 5, 6), D(2024, 5, 10)),
         (D(2023, 5, 15), D(2023, 5, 19))),
        # 2021 has no ISO week 53 of 2020's length issue: 2021-W01 compares with 2020-W01
        ({"grain": "周"}, D(2021, 1, 6), (D(2021, 1, 4), D(2021, 1, 10)), (D(2020, 12, 28), D(2021, 1, 3)),
         (D(2019, 12, 30), D(2020, 1, 5))),
        ({"grain": "月"}, TODAY, (D(2024, 5, 1), D(2024, 5, 31)), (D(2024, 4, 1), D(2024, 4, 30)),
         (D(2023, 5, 1), D(2023, 5, 31))),
        ({"grain": "月", "to_date": True}, TODAY, (D(2024, 5, 1), D(2024, 5, 17)), (D(2024, 4, 1), D(2024, 4, 17)),
         (D(2023, 5, 1), D(2023, 5, 17))),
        # month-to-date on the 31st: the previous month is clipped to its own last day
        ({"grain": "月", "to_date": True}, D(2024, 3, 31), (D(2024, 3, 1), D(2024, 3, 31)),
         (D(2024, 2, 1), D(2024, 2, 29)), (D(2023, 3, 1), D(2023, 3, 31))),
        ({"grain": "月", "to_date": True}, D(2024, 5, 31), (D(2024, 5, 1), D(2024, 5, 31)),
         (D(2024, 4, 1), D(2024, 4, 30)), (D(2023, 5, 1), D(2023, 5, 31))),
        ({"grain": "月"}, D(2024, 2, 10), (D(2024, 2, 1), D(2024, 2, 29)), (D(2024, 1, 1), D(2024, 1, 31)),
         (D(2023, 2, 1), D(2023, 2, 28))),
        ({"grain": "季"}, TODAY, (D(2024, 4, 1), D(2024, 6, 30)), (D(2024, 1, 1), D(2024, 3, 31)),
         (D(2023, 4, 1), D(2023, 6, 30))),
        ({"grain": "季", "to_date": True}, TODAY, (D(2024, 4, 1), D(2024, 5, 17)), (D(2024, 1, 1), D(2024, 2, 17)),
         (D(2023, 4, 1), D(2023, 5, 17))),
        ({"grain": "年"}, TODAY, (D(2024, 1, 1), D(2024, 12, 31)), (D(2023, 1, 1), D(2023, 12, 31)),
         (D(2023, 1, 1), D(2023, 12, 31))),
        ({"grain": "年", "to_date": True}, TODAY, (D(2024, 1, 1), TODAY), (D(2023, 1, 1), D(2023, 5, 17)),
         (D(2023, 1, 1), D(2023, 5, 17))),
        # an arbitrary range of 7 days compares with the 7 days before it
        ({"range": {"start": "2024-05-10", "end": "2024-05-16"}}, TODAY, (D(2024, 5, 10), D(2024, 5, 16)),
         (D(2024, 5, 3), D(2024, 5, 9)), (D(2023, 5, 10), D(2023, 5, 16))),
        ({"range": {"relative": "最近30天"}}, TODAY, (D(2024, 4, 18), TODAY), (D(2024, 3, 19), D(2024, 4, 17)),
         (D(2023, 4, 18), D(2023, 5, 17))),
        # a relative calendar period keeps its grain: 上月 compares with the month before
        ({"range": {"relative": "上月"}}, TODAY, (D(2024, 4, 1), D(2024, 4, 30)), (D(2024, 3, 1), D(2024, 3, 31)),
         (D(2023, 4, 1), D(2023, 4, 30))),
    ],
)
def test_comparison_periods(options: dict[str, Any], today: dt.date, cur: tuple, prev: tuple, yoy: tuple) -> None:
    opts = KpiOptions.model_validate({"date_column": "日期", **options})
    periods = comparison_periods(opts, today)
    assert (periods["本期"], periods["上期"], periods["去年同期"]) == (cur, prev, yoy)


@pytest.fixture()
def wh(tmp_path: Path) -> Warehouse:
    w = make_warehouse(tmp_path)
    yield w
    w.close()


def _kpi(measure: str, options: str) -> Any:
    return load_spec(f"""
title: 指标
dataset: 环卫清运
type: kpi
measures: [{measure}]
options: {options}
""")


# fixture sums of 清运量: week 2024-05-13..19 = 6 + 9 = 15; week 05-06..12 = 10 + 12 + 8 = 30;
# May 2024 = 45, April 2024 = 25, May 2023 = 7 (week 2023-05-08..14 holds it: ISO W19)
@pytest.mark.parametrize(
    ("measure", "options", "value", "mom", "yoy", "pct_target", "met", "mom_arrow", "mom_color"),
    [
        ("{column: 清运量}", "{date_column: 日期, grain: 周, target: 20}", 15.0, (30.0, -0.5), (None, None),
         0.75, False, "↓", "#c62828"),
        # the same fall is good news when lower is better (e.g. complaints)
        ("{column: 清运量}", "{date_column: 日期, grain: 周, target: 20, higher_is_better: false}", 15.0,
         (30.0, -0.5), (None, None), 0.75, True, "↓", "#2e7d32"),
        ("{column: 清运量}", "{date_column: 日期, grain: 月, target: 40}", 45.0, (25.0, 0.8), (7.0, 38 / 7),
         1.125, True, "↑", "#2e7d32"),
        ("{column: 清运量}", "{date_column: 日期, grain: 月, target: 40, higher_is_better: false}", 45.0,
         (25.0, 0.8), (7.0, 38 / 7), 1.125, False, "↑", "#c62828"),
        ('{column: "*", agg: count}', "{date_column: 日期, grain: 年}", 7, (1, 6.0), (1, 6.0), None, None, "↑",
         "#2e7d32"),
        # share of late trips: May 2024 3 of 5, April 0 of 2 (a change from 0 has no percentage)
        ('{column: "*", agg: ratio, where: [{op: in, column: 超时, values: [true]}]}',
         "{date_column: 日期, grain: 月, higher_is_better: false}", 0.6, (0.0, None), (0.0, None), None, None, "↑",
         "#c62828"),
        # an arbitrary range: 2024-05-07..05-13 (7 days) vs 04-30..05-06, and 2023-05-07..05-13 last year
        ("{column: 清运量}", "{date_column: 日期, range: {start: 2024-05-07, end: 2024-05-13}}", 26.0, (10.0, 1.6),
         (7.0, 19 / 7), None, None, "↑", "#2e7d32"),
    ],
)
def test_kpi_values(wh: Warehouse, measure: str, options: str, value: float, mom: tuple, yoy: tuple,
                    pct_target: float | None, met: bool | None, mom_arrow: str, mom_color: str) -> None:
    k = run_chart(wh, _kpi(measure, options), today=TODAY, cache=ResultCache()).output
    assert k.value == pytest.approx(value)
    m, y = k.comparison("环比"), k.comparison("同比")
    assert (m.base, m.pct) == (pytest.approx(mom[0]), pytest.approx(mom[1]) if mom[1] is not None else None)
    assert y.base == (pytest.approx(yoy[0]) if yoy[0] is not None else None)
    assert y.pct == (pytest.approx(yoy[1]) if yoy[1] is not None else None)
    assert k.pct_of_target == (pytest.approx(pct_target) if pct_target is not None else None)
    assert k.target_met is met
    assert (m.arrow, m.color) == (mom_arrow, mom_color)
    if y.base is None:
        assert (y.arrow, y.good, y.color) == ("→", None, "#757575")


def test_kpi_sparkline_fills_empty_periods(wh: Warehouse) -> None:
    k = run_chart(wh, _kpi("{column: 清运量}", "{date_column: 日期, grain: 周, sparkline: 6}"), today=TODAY,
                  cache=ResultCache()).output
    assert k.sparkline == ((D(2024, 4, 8), 0), (D(2024, 4, 15), 25.0), (D(2024, 4, 22), 0), (D(2024, 4, 29), 0),
                           (D(2024, 5, 6), 30.0), (D(2024, 5, 13), 15.0))
    fig = k.sparkline_figure()
    assert list(fig.data[0].y) == [0, 25.0, 0, 0, 30.0, 15.0]


def test_kpi_respects_spec_filters_and_compare_choice(wh: Warehouse) -> None:
    spec = _kpi("{column: 清运量}", "{date_column: 日期, grain: 月, compare: [环比], sparkline: 0}")
    spec = with_filters(spec, [{"op": "in", "column": "区", "values": ["东城"]}], _info(wh))
    res = run_chart(wh, spec, today=TODAY, cache=ResultCache())
    assert set(res.frames) == {"main"}  # no sparkline query
    assert res.output.value == 22.0 and [c.name for c in res.output.comparisons] == ["环比"]
    assert res.output.comparison("环比").base == 5.0


def test_board_date_filter_sets_the_kpi_period(wh: Warehouse) -> None:
    """A board's date range becomes the card's period, so 环比/同比 still see their own ranges."""
    spec = _kpi("{column: 清运量}", "{date_column: 日期, grain: 月}")
    board = [parse_filter({"op": "date_range", "column": "日期", "start": "2024-05-01", "end": "2024-05-10"}),
             parse_filter({"op": "in", "column": "街道办", "values": ["x"]})]  # no such column: ignored
    applied = with_filters(spec, board, _info(wh))
    assert applied.filters == [] and applied.options["range"] == {"start": D(2024, 5, 1), "end": D(2024, 5, 10)}
    k = run_chart(wh, applied, today=TODAY, cache=ResultCache()).output
    assert (k.period, k.value) == ((D(2024, 5, 1), D(2024, 5, 10)), 30.0)
    assert k.comparison("环比").period == (D(2024, 4, 21), D(2024, 4, 30))


def test_current_period_names_its_grain() -> None:
    opts = KpiOptions.model_validate({"date_column": "日期", "range": {"relative": "本周"}})
    assert current_period(opts, TODAY) == ((D(2024, 5, 13), D(2024, 5, 19)), "周")


def _info(wh: Warehouse) -> Any:
    from citybi.catalog import Catalog

    return Catalog(wh).get("环卫清运")
