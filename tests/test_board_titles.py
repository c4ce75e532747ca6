"""Titles follow the board's filters: a tile whose dates the board sets names that period; a
tile keeping its own period says so; the board lists which filters each tile did not take.

Runs on the sample city (data ends 2025-06-30); values are checked with plain DuckDB SQL.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from citybi.boards import FilterValues, load_board, run_board
from citybi.catalog import open_warehouse
from citybi.charts.cache import ResultCache
from citybi.charts.kpi import KpiValue
from citybi.charts.periods import period_title, range_label
from citybi.charts.store import ChartStore
from citybi.config import QUERIES_DIR
from citybi.warehouse import Warehouse

D = dt.date
TODAY = D(2025, 6, 30)
MAY = (D(2025, 5, 1), D(2025, 5, 31))


@pytest.mark.parametrize(
    ("title", "period", "expected"),
    [
        ("近7天清运量", "上月", "上月清运量"),
        ("本月清运量", "上周", "上周清运量"),
        ("最近30天 · 办结率", "本月", "本月办结率"),
        ("办结率", "上月", "上月办结率"),
        ("各区每周清运量", "最近7天", "最近7天各区每周清运量"),
        ("近7天清运量", (D(2025, 6, 1), D(2025, 6, 30)), "2025年6月清运量"),
        ("近7天清运量", (D(2025, 1, 1), D(2025, 12, 31)), "2025年清运量"),
        ("近7天清运量", (D(2025, 6, 1), D(2025, 6, 17)), "清运量（2025-06-01 至 2025-06-17）"),
        ("近7天", "上月", "上月近7天"),  # a title that is only a period word keeps something to name
    ],
)
def test_period_title(title: str, period: str | tuple[dt.date, dt.date], expected: str) -> None:
    assert period_title(title, period) == expected


@pytest.mark.parametrize(
    ("rng", "expected"),
    [
        ((D(2025, 6, 8), D(2025, 6, 8)), "2025-06-08"),
        ((D(2024, 2, 1), D(2024, 2, 29)), "2024年2月"),
        ((D(2024, 2, 1), D(2024, 2, 28)), "2024-02-01 至 2024-02-28"),
        ((D(2024, 1, 1), D(2024, 12, 31)), "2024年"),
    ],
)
def test_range_label(rng: tuple[dt.date, dt.date], expected: str) -> None:
    assert range_label(rng) == expected


@pytest.fixture(scope="module")
def wh(sample_copy: Callable[[str], Path]) -> Iterator[Warehouse]:
    w = open_warehouse(path=sample_copy("titles"))
    yield w
    w.close()


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> ChartStore:
    return ChartStore(tmp_path_factory.mktemp("charts"), [QUERIES_DIR / "charts"])


def _sum(wh: Warehouse, column: str, rng: tuple[dt.date, dt.date]) -> float:
    cur = wh.cursor()
    try:
        return cur.execute(f'SELECT SUM("{column}") FROM 环卫清运 WHERE 日期 BETWEEN ? AND ?', list(rng)).fetchone()[0]
    finally:
        cur.close()


def test_last_month_renames_every_tile_and_every_card_shows_last_month(wh: Warehouse, charts: ChartStore) -> None:
    board = load_board((QUERIES_DIR / "boards" / "环卫运行.yaml").read_text(encoding="utf-8"))
    run = run_board(wh, board, charts=charts, values=FilterValues(date="上月"), today=TODAY, cache=ResultCache())
    assert [t.title for t in run.tiles] == [
        "上月清运量", "上月清运量", "上月出车车次", "上月各区清运量", "上月每日清运量", "上月垃圾类型构成",
        "上月街道清运量前十", "上月各区每周清运量"]
    assert all(t.period == MAY for t in run.tiles)
    cards = [(t.result.output.value, t.result.output.period) for t in run.tiles[:3]]
    assert cards == [(pytest.approx(_sum(wh, "清运量（吨）", MAY)), MAY),
                     (pytest.approx(_sum(wh, "清运量（吨）", MAY)), MAY), (_sum(wh, "车次", MAY), MAY)]
    assert run.tiles[3].result.spec.title == "上月各区清运量"  # the figure's own title too
    assert run.not_taken() == []


def test_no_board_date_keeps_the_saved_titles(wh: Warehouse, charts: ChartStore) -> None:
    board = load_board((QUERIES_DIR / "boards" / "环卫运行.yaml").read_text(encoding="utf-8"))
    run = run_board(wh, board, charts=charts, values=FilterValues(dimensions={"区": ("北港区",)}), today=TODAY,
                    cache=ResultCache())
    assert [t.title for t in run.tiles[:3]] == ["近7天清运量", "本月清运量", "近7天出车车次"]


MIXED = """
title: 混合看板
tiles:
  - {chart: 环卫_近7天清运量, width: 4}
  - {chart: 环卫_本月清运量, width: 4, follows_date: false}
  - {chart: 热线_办结率, width: 4}
  - {chart: 空气_各区PM25, width: 6}
filters:
  dimensions:
    - {column: 区}
    - {column: 垃圾类型}
"""


@pytest.mark.parametrize(
    ("values", "titles", "not_taken"),
    [
        (FilterValues(date="上月", dimensions={"垃圾类型": ("厨余垃圾",)}),
         ["上月清运量", "本月清运量", "上月办结率", "上月各区PM2.5浓度"],
         ["「本月清运量」不受日期筛选影响（保持自己的时间范围）",
          "「上月办结率」未按「垃圾类型」筛选：数据中没有这一列",
          "「上月各区PM2.5浓度」未按「垃圾类型」筛选：数据中没有这一列"]),
        (FilterValues(dimensions={"区": ("北港区",)}),
         ["近7天清运量", "本月清运量", "办结率", "各区PM2.5浓度"], []),
    ],
)
def test_tiles_say_which_filters_they_did_not_take(wh: Warehouse, charts: ChartStore, values: FilterValues,
                                                   titles: list[str], not_taken: list[str]) -> None:
    run = run_board(wh, load_board(MIXED), charts=charts, values=values, today=TODAY, cache=ResultCache())
    assert [t.error for t in run.tiles] == [None] * 4
    assert [t.title for t in run.tiles] == titles
    assert run.not_taken() == not_taken


def test_a_tile_that_keeps_its_period_shows_its_own_dates(wh: Warehouse, charts: ChartStore) -> None:
    run = run_board(wh, load_board(MIXED), charts=charts, values=FilterValues(date="上月"), today=TODAY,
                    cache=ResultCache())
    own = run.tiles[1].result.output
    assert isinstance(own, KpiValue) and own.period == (D(2025, 6, 1), D(2025, 6, 30))
    assert own.target == 14000  # its own period, so its own target still fits


def test_export_cover_names_untaken_filters_and_partial_periods(wh: Warehouse, charts: ChartStore) -> None:
    import io

    import openpyxl

    from citybi.export import export_board

    run = run_board(wh, load_board(MIXED), charts=charts,
                    values=FilterValues(date="本周", dimensions={"垃圾类型": ("厨余垃圾",)}), today=TODAY,
                    cache=ResultCache())
    cover = openpyxl.load_workbook(io.BytesIO(export_board(run, now=dt.datetime(2025, 7, 1))))["看板信息"]
    rows = {cover.cell(r, 2).value: (cover.cell(r, 4).value, cover.cell(r, 5).value) for r in range(8, 12)}
    assert rows == {
        "本周清运量": ("2025-06-30（仅 1 天数据（截至 6月30日））", "正常"),
        "本月清运量": ("2025-06-01 至 2025-06-30", "正常；不受日期筛选影响（保持自己的时间范围）"),
        "本周办结率": ("2025-06-30（仅 1 天数据（截至 6月30日））", "正常；未按「垃圾类型」筛选：数据中没有这一列"),
        "本周各区PM2.5浓度": ("2025-06-30 至 2025-07-06（仅 1 天数据（截至 6月30日））",
                         "正常；未按「垃圾类型」筛选：数据中没有这一列"),
    }
