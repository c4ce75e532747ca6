"""Drill-down and linked charts in the core: a click becomes a drill step in the board's filter
model, every tile takes it, a chart with a drill path goes down and back up it, and 查看明细
returns the rows behind a number (bounded).

The sample data ends on 2025-06-30 (the boards' "today" here); expected figures come from plain
DuckDB SQL on the same file, not from the chart compiler.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from citybi.boards import FilterValues, board_store, run_board
from citybi.catalog import open_warehouse
from citybi.charts.cache import ResultCache
from citybi.charts.drill import (
    DrillStep,
    detail_filters,
    detail_rows,
    drill_level,
    drilled_spec,
    step_for_points,
    step_for_region,
    step_for_row,
    up_step,
    with_step,
    without_step,
)
from citybi.charts.spec import ChartSpecError, DateRangeFilter, ValueFilter, spec_from_dict
from citybi.charts.store import chart_store
from citybi.export import export_rows
from citybi.warehouse import Warehouse

D = dt.date
TODAY = D(2025, 6, 30)
DISTRICT = "临江区"


@pytest.fixture(scope="module")
def wh(sample_copy: Callable[[str], Path]) -> Iterator[Warehouse]:
    w = open_warehouse(path=sample_copy("drill"))
    yield w
    w.close()


def _sql(wh: Warehouse, query: str, *params: Any) -> Any:
    cur = wh.cursor()
    try:
        return cur.execute(query, list(params)).fetchall()
    finally:
        cur.close()


BAR = {"title": "各区清运量", "dataset": "环卫清运", "type": "bar", "dimensions": [{"column": "区"}],
       "measures": [{"column": "清运量（吨）", "label": "清运量"}], "sort": {"by": "区", "order": "asc"},
       "drill": [{"column": "区"}, {"column": "街道"}, {"column": "垃圾类型"}]}
TREND = {"title": "清运走势", "dataset": "环卫清运", "type": "line",
         "dimensions": [{"column": "日期", "grain": "年"}], "measures": [{"column": "清运量（吨）"}],
         "drill": [{"column": "日期", "grain": "年"}, {"column": "日期", "grain": "月"},
                   {"column": "日期", "grain": "日"}]}


# ---------------------------------------------------------------------------- steps
@pytest.mark.parametrize(
    ("step", "text", "expected_filter"),
    [
        (DrillStep("区", "北港区", label="区"), "区：北港区", ValueFilter(op="in", column="区", values=["北港区"])),
        (DrillStep("日期", D(2025, 6, 17), "月", "日期"), "日期：2025年6月",
         DateRangeFilter(op="date_range", column="日期", start=D(2025, 6, 1), end=D(2025, 6, 30))),
        (DrillStep("日期", D(2025, 2, 3), "周", "周"), "周：2025年2月3日当周",
         DateRangeFilter(op="date_range", column="日期", start=D(2025, 2, 3), end=D(2025, 2, 9))),
        (DrillStep("日期", D(2024, 5, 1), "季", "日期"), "日期：2024年第2季度",
         DateRangeFilter(op="date_range", column="日期", start=D(2024, 4, 1), end=D(2024, 6, 30))),
        (DrillStep("日期", D(2024, 1, 1), "年", "日期"), "日期：2024年",
         DateRangeFilter(op="date_range", column="日期", start=D(2024, 1, 1), end=D(2024, 12, 31))),
        (DrillStep("日期", D(2024, 3, 9), "日"), "日期：2024年3月9日",
         DateRangeFilter(op="date_range", column="日期", start=D(2024, 3, 9), end=D(2024, 3, 9))),
    ],
)
def test_a_step_reads_and_filters_like_the_click(wh: Warehouse, step: DrillStep, text: str,
                                                 expected_filter: Any) -> None:
    info = ResultCache().dataset_info(wh, "环卫清运")
    assert step.text == text
    assert step.to_filter(info) == expected_filter


Y24, Y25 = DrillStep("日期", D(2024, 1, 1), "年"), DrillStep("日期", D(2025, 1, 1), "年")
M24 = DrillStep("日期", D(2024, 3, 1), "月")
A, B, S = DrillStep("区", "临江区"), DrillStep("区", "北港区"), DrillStep("街道", "滨江街道")


@pytest.mark.parametrize(
    ("before", "click", "after"),
    [
        ((), A, (A,)),
        ((A,), B, (B,)),  # another district replaces the first
        ((A,), S, (A, S)),  # a street below the district adds a level
        ((A, S), B, (S, B)),
        ((Y24, M24), Y25, (Y25,)),  # another year forgets the month of the old one
        ((Y24,), M24, (Y24, M24)),
    ],
)
def test_clicks_add_or_replace_steps(before: tuple[DrillStep, ...], click: DrillStep,
                                     after: tuple[DrillStep, ...]) -> None:
    assert with_step(before, click) == after


def test_removing_a_breadcrumb_entry() -> None:
    assert without_step((A, S), 0) == (S,)
    values = FilterValues(date="上月").with_drill(A).with_drill(S)
    assert values.drill == (A, S) and values.date == "上月"
    assert values.without_drill(1).drill == (A,)
    assert values.describe() == ["日期：上月", "钻取 区：临江区", "钻取 街道：滨江街道"]


# ---------------------------------------------------------------------------- drill paths
@pytest.mark.parametrize(
    ("spec", "steps", "level", "dimension", "title", "up"),
    [
        (BAR, (), 0, "区", "各区清运量", None),
        (BAR, (A,), 1, "街道", "各区清运量 · 临江区", 0),
        (BAR, (B, A), 1, "街道", "各区清运量 · 临江区", 1),
        (BAR, (A, S), 2, "垃圾类型", "各区清运量 · 临江区 › 滨江街道", 1),
        (BAR, (S,), 0, "区", "各区清运量", None),  # a street alone does not skip the district level
        (TREND, (Y24,), 1, "日期", "清运走势 · 2024年", 0),
        (TREND, (Y24, M24), 2, "日期", "清运走势 · 2024年 › 2024年3月", 1),
    ],
)
def test_a_drill_path_goes_down_with_each_step(spec: dict[str, Any], steps: tuple[DrillStep, ...], level: int,
                                              dimension: str, title: str, up: int | None) -> None:
    s = spec_from_dict(spec)
    assert drill_level(s, steps) == level
    shown = drilled_spec(s, steps)
    assert (shown.dimensions[0].column, shown.title) == (dimension, title)
    assert shown.dimensions[0] == s.drill[level]
    assert up_step(s, steps) == up
    if level:
        assert shown.sort is None or shown.sort.by == shown.dimensions[0].name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drill": [{"column": "区"}]}, "至少需要两级"),
        ({"drill": [{"column": "街道"}, {"column": "区"}]}, "第一级应与图表的第一个维度相同"),
        ({"drill": [{"column": "区"}, {"column": "区"}]}, "重复的层级"),
        ({"drill": [{"column": "区"}, {"column": "街道", "extra": 1}]}, "钻取路径"),
        ({"type": "scatter", "dimensions": [{"column": "区"}],
          "measures": [{"column": "清运量（吨）"}, {"column": "车次"}]}, "不能设置钻取路径"),
    ],
)
def test_bad_drill_paths_are_refused_in_chinese(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ChartSpecError) as err:
        spec_from_dict({**BAR, **change})
    assert message in str(err.value)


# ---------------------------------------------------------------------------- what the browser reports
FRAME = pl.DataFrame({"区": ["A&B区", "北港区", None], "清运量": [1.0, 2.0, 3.0]})
WEEKS = pl.DataFrame({"周": [D(2025, 6, 2), D(2025, 6, 9)], "清运量": [1.0, 2.0]})
WEEK_SPEC = {"title": "每周", "dataset": "环卫清运", "type": "bar",
             "dimensions": [{"column": "日期", "grain": "周", "label": "周"}], "measures": [{"column": "清运量（吨）"}]}


@pytest.mark.parametrize(
    ("spec", "frame", "points", "expected"),
    [
        (BAR, FRAME, [{"x": "A&amp;B区", "y": 1.0}], DrillStep("区", "A&B区", None, "区")),  # escaped as drawn
        (BAR, FRAME, [{"x": 2.0, "y": "北港区"}], DrillStep("区", "北港区", None, "区")),  # horizontal bars
        (BAR, FRAME, [{"label": "北港区", "value": 2.0}], DrillStep("区", "北港区", None, "区")),  # a pie slice
        (BAR, FRAME, [{"x": "—", "y": 3.0}], None),  # the missing category filters nothing
        (BAR, FRAME, [{"x": "不存在", "y": 1.0}], None),
        (BAR, FRAME, [], None),
        (WEEK_SPEC, WEEKS, [{"x": "2025-06-09", "y": 2.0}], DrillStep("日期", D(2025, 6, 9), "周", "周")),
        (WEEK_SPEC, WEEKS, [{"x": "2025-06-02 00:00:00", "y": 1.0}], DrillStep("日期", D(2025, 6, 2), "周", "周")),
    ],
)
def test_a_clicked_point_becomes_a_typed_step(spec: dict[str, Any], frame: pl.DataFrame,
                                              points: list[dict[str, Any]], expected: DrillStep | None) -> None:
    assert step_for_points(spec_from_dict(spec), frame, points) == expected


def test_a_clicked_row_or_region_becomes_a_step() -> None:
    spec = spec_from_dict(BAR)
    assert step_for_row(spec, FRAME, 1) == DrillStep("区", "北港区", None, "区")
    assert step_for_row(spec, FRAME, 9) is None
    objects = {"districts": [{"type": "Feature", "properties": {"region": "北港区", "value": 2.0}}]}
    assert step_for_region(spec, FRAME, objects) == DrillStep("区", "北港区", None, "区")
    assert step_for_region(spec, FRAME, {"districts": []}) is None


# ---------------------------------------------------------------------------- the whole board
def test_a_district_click_filters_the_whole_board_and_drills_the_district_chart(wh: Warehouse) -> None:
    board = board_store(wh.settings).load("环卫运行")
    charts = chart_store(wh.settings)
    cache = ResultCache()
    before = run_board(wh, board, charts=charts, today=TODAY, cache=cache)
    bars = before.tiles[3]
    assert bars.title == "各区清运量" and bars.drill_up is None
    step = step_for_points(bars.spec, bars.result.frame, [{"x": DISTRICT, "y": 1.0}])
    assert step == DrillStep("区", DISTRICT, None, "区")
    values = FilterValues().with_drill(step)
    after = run_board(wh, board, charts=charts, today=TODAY, cache=cache, values=values)
    [(week,)] = _sql(wh, """SELECT sum("清运量（吨）") FROM 环卫清运 WHERE 区 = ?
        AND 日期 BETWEEN DATE '2025-06-24' AND DATE '2025-06-30'""", DISTRICT)
    card = after.tiles[0]
    assert card.result.output.value == pytest.approx(week)
    assert card.result.output.target == 720  # 临江区's own weekly target, not the city's
    drilled = after.tiles[3]
    assert drilled.title == f"各区清运量 · {DISTRICT}" and drilled.drill_up == 0
    streets = dict(_sql(wh, """SELECT 街道, sum("清运量（吨）") FROM 环卫清运 WHERE 区 = ?
        AND 日期 BETWEEN DATE '2025-06-24' AND DATE '2025-06-30' GROUP BY 1""", DISTRICT))
    got = dict(drilled.result.frame.select("街道", "清运量").iter_rows())
    assert got == pytest.approx(streets)
    assert set(after.tiles[7].result.frame["区"].to_list()) == {DISTRICT}
    assert all(t.skipped_filters == [] for t in after.tiles)
    # the breadcrumb's ✕ (or the chart's 上一级) takes it back up
    back = run_board(wh, board, charts=charts, today=TODAY, cache=cache, values=values.without_drill(0))
    assert back.tiles[3].title == "各区清运量" and back.tiles[3].result.frame.height == 6


def test_a_drill_on_a_column_a_tile_lacks_is_reported(wh: Warehouse) -> None:
    board = board_store(wh.settings).load("空气质量")
    values = FilterValues(drill=(DrillStep("垃圾类型", "厨余垃圾", None, "垃圾类型"),))
    run = run_board(wh, board, charts=chart_store(wh.settings), today=TODAY, cache=ResultCache(), values=values)
    assert all("垃圾类型" in t.skipped_filters for t in run.tiles if t.ok)
    assert all("未按「垃圾类型」筛选" in t.not_taken_text for t in run.tiles if t.ok)


# ---------------------------------------------------------------------------- 查看明细
@pytest.mark.parametrize("limit", [5, 100_000])
def test_detail_rows_are_the_rows_behind_the_card(wh: Warehouse, limit: int) -> None:
    board = board_store(wh.settings).load("环卫运行")
    values = FilterValues(drill=(DrillStep("区", DISTRICT, None, "区"),))
    run = run_board(wh, board, charts=chart_store(wh.settings), today=TODAY, cache=ResultCache(), values=values)
    card = run.tiles[0]
    info = ResultCache().dataset_info(wh, "环卫清运")
    rows = detail_rows(wh, info, detail_filters(card.spec, card.date_column, card.period), TODAY, limit=limit,
                       order_by=card.date_column)
    [(n, tons)] = _sql(wh, """SELECT count(*), sum("清运量（吨）") FROM 环卫清运 WHERE 区 = ?
        AND 日期 BETWEEN DATE '2025-06-24' AND DATE '2025-06-30'""", DISTRICT)
    assert rows.total == n
    assert rows.frame.height == min(n, limit) and rows.truncated == (n > limit)
    assert set(rows.frame["区"].to_list()) == {DISTRICT}
    if not rows.truncated:
        assert rows.frame["清运量（吨）"].sum() == pytest.approx(tons)
        assert "共" in rows.caption and "前" not in rows.caption
    else:
        assert rows.frame["日期"].to_list()[0] == TODAY  # newest first
        assert f"前 {limit:,} 行" in rows.caption
    book = export_rows("近7天清运量 明细", rows.frame, ["钻取 区：临江区", rows.caption])
    assert book[:2] == b"PK"
