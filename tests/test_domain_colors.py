"""Air quality in the national colours (HJ 633-2012) wherever 空气质量等级 or AQI is drawn."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from citybi.catalog import open_warehouse
from citybi.charts.cache import ResultCache
from citybi.charts.domain_colors import AQI_LEVELS, aqi_band_shapes, category_colors, is_aqi, level_order
from citybi.charts.runner import run_chart
from citybi.charts.spec import Measure, load_spec
from citybi.charts.store import ChartStore
from citybi.config import QUERIES_DIR
from citybi.warehouse import Warehouse

TODAY = dt.date(2025, 6, 30)
GREEN, YELLOW, ORANGE, RED, PURPLE, MAROON = "#00E400", "#FFFF00", "#FF7E00", "#FF0000", "#99004C", "#7E0023"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["优", "良", "轻度污染", "中度污染", "重度污染", "严重污染"], [GREEN, YELLOW, ORANGE, RED, PURPLE, MAROON]),
        (["重度污染", "优"], [PURPLE, GREEN]),
        (["一级", "三级", "中度"], [GREEN, ORANGE, RED]),  # other spellings of the same levels
        (["优", "北港区"], None),  # not all levels: the normal palette
        (["临江区", "云湖区"], None),
        ([], None),
    ],
)
def test_category_colors(values: list[str], expected: list[str] | None) -> None:
    assert category_colors(values) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [(["良", "重度污染", "优", "轻度污染"], [2, 0, 3, 1]), (["良", "x"], None)],
)
def test_level_order(values: list[str], expected: list[int] | None) -> None:
    assert level_order(values) == expected


@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        ({"column": "AQI", "agg": "avg"}, True), ({"column": "AQI", "agg": "max"}, True),
        ({"column": "AQI", "agg": "count"}, False), ({"column": "PM2.5", "agg": "avg"}, False),
        ({"column": "*", "agg": "count"}, False),
    ],
)
def test_is_aqi(measure: dict[str, Any], expected: bool) -> None:
    assert is_aqi(Measure.model_validate(measure)) is expected


@pytest.mark.parametrize(
    ("top", "bands"),
    [(88.0, [(0, 50, GREEN), (50, 88.0, YELLOW)]),
     (220.0, [(0, 50, GREEN), (50, 100, YELLOW), (100, 150, ORANGE), (150, 200, RED), (200, 220.0, PURPLE)])],
)
def test_aqi_bands_stop_at_the_axis_top(top: float, bands: list[tuple[float, float, str]]) -> None:
    assert [(s["y0"], s["y1"], s["fillcolor"]) for s in aqi_band_shapes(top)] == bands


# ---------------------------------------------------------------------------- the sample air-quality charts
@pytest.fixture(scope="module")
def wh(sample_copy: Callable[[str], Path]) -> Iterator[Warehouse]:
    w = open_warehouse(path=sample_copy("aqi"))
    yield w
    w.close()


def _saved(name: str) -> Any:
    return ChartStore(Path("/nonexistent"), [QUERIES_DIR / "charts"]).load(name)


def test_level_pie_is_in_the_standard_order_and_colours(wh: Warehouse) -> None:
    fig = run_chart(wh, _saved("空气_质量等级分布"), today=TODAY, cache=ResultCache()).output
    pie = fig.data[0]
    order = list(AQI_LEVELS)
    assert list(pie.labels) == sorted(pie.labels, key=order.index)
    assert list(pie.marker.colors) == [AQI_LEVELS[v] for v in pie.labels]


def test_daily_aqi_line_has_level_bands(wh: Warehouse) -> None:
    fig = run_chart(wh, _saved("空气_每日AQI"), today=TODAY, cache=ResultCache()).output
    top = fig.layout.yaxis.range[1]
    assert top >= max(fig.data[0].y) and fig.layout.shapes[0].fillcolor == GREEN
    assert [s.fillcolor for s in fig.layout.shapes][:2] == [GREEN, YELLOW]


def test_bars_by_level_and_an_aqi_heatmap(wh: Warehouse) -> None:
    bars = load_spec("""
title: 各区等级
dataset: 空气质量
type: bar
dimensions: [{column: 区}]
series: {column: 空气质量等级}
measures: [{column: "*", agg: count}]
""")
    fig = run_chart(wh, bars, today=TODAY, cache=ResultCache()).output
    assert {t.name: t.marker.color for t in fig.data} == {t.name: AQI_LEVELS[t.name] for t in fig.data}
    heat = load_spec("""
title: 各区每周AQI
dataset: 空气质量
type: heatmap
dimensions: [{column: 日期, grain: 周}, {column: 区}]
measures: [{column: AQI, agg: avg}]
filters: [{op: relative, column: 日期, period: 最近28天}]
""")
    h = run_chart(wh, heat, today=TODAY, cache=ResultCache()).output.data[0]
    assert (h.zmin, h.zmax) == (0, 500) and h.colorscale[0][1] == GREEN and h.colorscale[-1][1] == MAROON
