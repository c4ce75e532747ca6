"""Every chart type from a saved YAML spec: compiled SQL → Warehouse.run → rows → rendered output.

Expected rows are worked out by hand from tests/charts_fixture.py. Strings sort by code
point in DuckDB (东 < 朝 < 西, 勾 < 压), which is also how the expectations are ordered.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from charts_fixture import DATASET, GEOJSON, TODAY, frame, make_warehouse

from citybi.catalog import Catalog, open_warehouse
from citybi.charts import types as chart_types
from citybi.charts.cache import ResultCache
from citybi.charts.compile import compile_spec
from citybi.charts.kpi import KpiValue
from citybi.charts.render import RenderContext, render, units_for
from citybi.charts.runner import run_chart
from citybi.charts.spec import load_spec
from citybi.charts.types.pivot import pivot_frame
from citybi.warehouse import Warehouse

D = dt.date


@pytest.fixture()
def wh(tmp_path: Path) -> Warehouse:
    w = make_warehouse(tmp_path)
    yield w
    w.close()


def _bar(fig: Any) -> None:
    assert [t.type for t in fig.data] == ["bar"]
    assert list(fig.data[0].x) == ["朝阳", "东城", "西城"]
    assert list(fig.data[0].y) == [29.0, 27.0, 14.0]
    assert fig.data[0].name == "清运量（吨）"


def _bar_stacked(fig: Any) -> None:
    assert fig.layout.barmode == "stack"
    assert [(t.type, t.orientation, t.name) for t in fig.data] == [("bar", "h", "勾臂车"), ("bar", "h", "压缩车")]
    assert list(fig.data[0].y) == ["东城", "朝阳", "西城"] and list(fig.data[0].x) == [5.0, 20.0, 8.0]
    assert list(fig.data[1].x) == [22.0, 9.0, 6.0]


def _line(fig: Any) -> None:
    # the week of 13 May holds 5 days of data on Friday the 17th: drawn dotted, not as a drop
    assert [t.type for t in fig.data] == ["scatter", "scatter"]
    assert list(fig.data[0].x) == [D(2024, 5, 6)] and list(fig.data[0].y) == [30.0]
    assert list(fig.data[1].x) == [D(2024, 5, 6), D(2024, 5, 13)] and list(fig.data[1].y) == [30.0, 15.0]
    assert fig.data[1].line.dash == "dot" and "仅 5 天数据" in fig.data[1].hovertemplate
    assert fig.data[0].fill is None


def _area(fig: Any) -> None:
    assert [t.name for t in fig.data] == ["东城", "朝阳", "西城"]
    assert all(t.stackgroup == "one" for t in fig.data)
    assert list(fig.data[0].y) == [1, 2] and list(fig.data[2].x) == [D(2024, 5, 1)]


def _pie(fig: Any) -> None:
    assert fig.data[0].type == "pie" and fig.data[0].hole == 0.5
    assert list(fig.data[0].labels) == ["压缩车", "勾臂车"] and list(fig.data[0].values) == [12, 6]


def _scatter(fig: Any) -> None:
    assert fig.data[0].mode == "markers"
    assert list(fig.data[0].text) == ["东城", "朝阳", "西城"]
    assert list(fig.data[0].x) == [27.0, 29.0, 21.0] and list(fig.data[0].y) == [6, 7, 5]


def _table(fig: Any) -> None:
    t = fig.data[0]
    assert t.type == "table"
    assert list(t.header.values) == ["区", "街道", "天数", "清运量（最大）（吨）", "超时率"]
    assert [list(c) for c in t.cells.values] == [
        ["东城", "东城", "西城", "西城"], ["东华门", "景山", "新街口", "西长安街"], ["2", "1", "2", "1"],
        ["10", "12", "7", "8"], ["0.0%", "100.0%", "50.0%", "0.0%"]]


def _pivot(fig: Any) -> None:
    t = fig.data[0]
    assert list(t.header.values) == ["区", "勾臂车", "压缩车", "合计"]
    assert [list(c) for c in t.cells.values] == [
        ["东城", "朝阳", "西城", "合计"], ["5", "20", "8", "33"], ["22", "9", "13", "44"], ["27", "29", "21", "77"]]


def _kpi(k: Any) -> None:
    assert isinstance(k, KpiValue)
    assert (k.value, k.unit, k.value_text, k.pct_of_target, k.target_met) == (45.0, "吨", "45.0", 0.45, False)
    mom, yoy = k.comparison("环比"), k.comparison("同比")
    assert (mom.base, mom.delta, mom.arrow, mom.good) == (25.0, 20.0, "↑", True)
    assert yoy.base == 7.0 and yoy.pct == pytest.approx(38 / 7)
    assert k.sparkline == ((D(2024, 3, 1), 0), (D(2024, 4, 1), 25.0), (D(2024, 5, 1), 45.0))


def _heatmap(fig: Any) -> None:
    h = fig.data[0]
    assert h.type == "heatmap"
    assert list(h.x) == ["东城", "朝阳", "西城"] and list(h.y) == ["勾臂车", "压缩车"]
    assert [list(r) for r in h.z] == [[None, None, 1], [5, 3, 4]]


def _map(deck: Any) -> None:
    import pydeck as pdk

    assert isinstance(deck, pdk.Deck)
    doc = json.loads(deck.to_json())
    assert doc.get("mapStyle") in (None, "__MAP_STYLE__") and doc["layers"][0]["@@type"] == "GeoJsonLayer"
    # offline: nothing in the deck points at a tile or style server
    assert "http" not in deck.to_json() and doc.get("mapProvider") in (None, "")
    props = {f["properties"]["region"]: f["properties"] for f in doc["layers"][0]["data"]["features"]}
    assert {k: v["value"] for k, v in props.items()} == {"东城": 27.0, "西城": 21.0, "朝阳": 29.0, "海淀": None}
    assert props["朝阳"]["fill"] == [189, 0, 38, 200]  # the highest value takes the top colour stop
    assert props["西城"]["fill"] == [255, 255, 178, 200]  # the lowest the bottom one
    assert props["海淀"]["fill"] == [210, 210, 210, 160]  # no data: grey


CASES: list[tuple[str, str, list[tuple], Callable[[Any], None]]] = [
    ("bar", """
title: 各区清运量
dataset: 环卫清运
type: bar
dimensions: [{column: 区}]
measures: [{column: 清运量, agg: sum}]
filters: [{op: date_range, column: 日期, start: 2024-04-01, end: 2024-05-31}]
sort: {by: 清运量, order: desc}
""", [("朝阳", 29.0), ("东城", 27.0), ("西城", 14.0)], _bar),
    ("bar", """
title: 各区分车型清运量（横向堆叠）
dataset: 环卫清运
type: bar
dimensions: [{column: 区}]
series: {column: 车型}
measures: [{column: 清运量}]
filters: [{op: relative, column: 日期, period: 今年}]
options: {horizontal: true, mode: stack}
""", [("东城", "勾臂车", 5.0), ("东城", "压缩车", 22.0), ("朝阳", "勾臂车", 20.0), ("朝阳", "压缩车", 9.0),
      ("西城", "勾臂车", 8.0), ("西城", "压缩车", 6.0)], _bar_stacked),
    ("line", """
title: 5月每周清运量
dataset: 环卫清运
type: line
dimensions: [{column: 日期, grain: 周, label: 周}]
measures: [{column: 清运量}]
filters: [{op: relative, column: 日期, period: 本月}]
""", [(D(2024, 5, 6), 30.0), (D(2024, 5, 13), 15.0)], _line),
    ("area", """
title: 各区每月作业记录数
dataset: 环卫清运
type: area
dimensions: [{column: 日期, grain: 月}]
series: {column: 区}
measures: [{column: "*", agg: count}]
filters: [{op: relative, column: 日期, period: 今年}]
""", [(D(2024, 4, 1), "东城", 1), (D(2024, 4, 1), "朝阳", 1), (D(2024, 5, 1), "东城", 2), (D(2024, 5, 1), "朝阳", 1),
      (D(2024, 5, 1), "西城", 2)], _area),
    ("pie", """
title: 车型车次占比
dataset: 环卫清运
type: pie
dimensions: [{column: 车型}]
measures: [{column: 车次}]
sort: {by: 车次}
options: {donut: true}
""", [("压缩车", 12), ("勾臂车", 6)], _pie),
    ("scatter", """
title: 清运量与车次
dataset: 环卫清运
type: scatter
dimensions: [{column: 区}]
measures: [{column: 清运量}, {column: 车次}]
""", [("东城", 27.0, 6), ("朝阳", 29.0, 7), ("西城", 21.0, 5)], _scatter),
    ("table", """
title: 街道明细
dataset: 环卫清运
type: table
dimensions: [{column: 区}, {column: 街道}]
measures:
  - {column: 日期, agg: count_distinct, label: 天数}
  - {column: 清运量, agg: max, format: ",.0f"}
  - {column: "*", agg: ratio, label: 超时率, where: [{op: in, column: 超时, values: [true]}]}
filters: [{op: not_in, column: 区, values: [朝阳]}]
""", [("东城", "东华门", 2, 10.0, 0.0), ("东城", "景山", 1, 12.0, 1.0), ("西城", "新街口", 2, 7.0, 0.5),
      ("西城", "西长安街", 1, 8.0, 0.0)], _table),
    ("pivot", """
title: 区×车型清运量
dataset: 环卫清运
type: pivot
dimensions: [{column: 区}]
series: {column: 车型}
measures: [{column: 清运量, format: ",.0f"}]
""", [("东城", "勾臂车", 5.0), ("东城", "压缩车", 22.0), ("朝阳", "勾臂车", 20.0), ("朝阳", "压缩车", 9.0),
      ("西城", "勾臂车", 8.0), ("西城", "压缩车", 13.0)], _pivot),
    ("kpi", """
title: 本月清运量
dataset: 环卫清运
type: kpi
measures: [{column: 清运量, format: ",.1f"}]
options: {date_column: 日期, grain: 月, target: 100, sparkline: 3}
""", [(45.0, 25.0, 7.0)], _kpi),
    ("heatmap", """
title: 区×车型车次（单次 6–12 吨）
dataset: 环卫清运
type: heatmap
dimensions: [{column: 区}, {column: 车型}]
measures: [{column: 车次}]
filters: [{op: between, column: 清运量, min: 6, max: 12}]
""", [("东城", "压缩车", 5), ("朝阳", "压缩车", 3), ("西城", "勾臂车", 1), ("西城", "压缩车", 4)], _heatmap),
    ("map", """
title: 各区清运量地图
dataset: 环卫清运
type: map
dimensions: [{column: 区}]
measures: [{column: 清运量}]
""", [("东城", 27.0), ("朝阳", 29.0), ("西城", 21.0)], _map),
]


@pytest.mark.parametrize(("kind", "yaml_text", "rows", "check"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_chart_type_from_saved_spec(wh: Warehouse, kind: str, yaml_text: str, rows: list[tuple],
                                    check: Callable[[Any], None]) -> None:
    spec = load_spec(yaml_text)
    assert spec.type == kind
    info = Catalog(wh).get(DATASET)
    trees = chart_types.get_type(kind).queries(spec, info, TODAY)
    frames = {name: wh.run(tree).frame for name, tree in trees.items()}
    assert frames["main"].rows() == rows
    out = render(spec, frames, RenderContext(units=units_for(spec, info), today=TODAY, geojson=GEOJSON))
    check(out)
    # the same through the runner (cache + render in one call) gives the same rows
    res = run_chart(wh, spec, today=TODAY, cache=ResultCache(), geojson=GEOJSON)
    assert res.frame.rows() == rows and "SELECT" in res.sql["main"]


def test_every_builtin_type_has_a_case() -> None:
    assert set(chart_types.names()) == {c[0] for c in CASES}


def test_compiled_sql_quotes_hostile_names(tmp_path: Path) -> None:
    """Names and values are identifiers and literals, never SQL: an injected quote stays data."""
    w = open_warehouse(path=tmp_path / "h.duckdb")
    evil = 'x"); DROP TABLE t; --'
    Catalog(w).write("怪名", pl.DataFrame({evil: ["a'b", "c"], "n": [1, 2]}))
    spec = load_spec(f"""
title: t
dataset: 怪名
type: bar
dimensions: [{{column: '{evil}'}}]
measures: [{{column: n}}]
filters: [{{op: in, column: '{evil}', values: ["a'b"]}}]
""")
    assert run_chart(w, spec, cache=ResultCache(), render=False).frame.rows() == [("a'b", 1)]
    w.close()


def test_top_n_with_series_keeps_whole_categories(wh: Warehouse) -> None:
    spec = load_spec("""
title: 前两名区
dataset: 环卫清运
type: bar
dimensions: [{column: 区}]
series: {column: 车型}
measures: [{column: 清运量}]
top_n: 2
""")
    rows = wh.run(compile_spec(spec, Catalog(wh).get(DATASET), today=TODAY)).rows
    # totals: 朝阳 29, 东城 27, 西城 21 → the two largest districts with all their vehicle types
    assert rows == [("东城", "勾臂车", 5.0), ("东城", "压缩车", 22.0),
                    ("朝阳", "勾臂车", 20.0), ("朝阳", "压缩车", 9.0)]


def test_top_n_without_sort_is_largest_first(wh: Warehouse) -> None:
    spec = load_spec("""
title: 前两名
dataset: 环卫清运
type: bar
dimensions: [{column: 街道}]
measures: [{column: 清运量}]
top_n: 2
""")
    assert wh.run(compile_spec(spec, Catalog(wh).get(DATASET), today=TODAY)).rows == [("建外", 29.0), ("东华门", 15.0)]


def test_pivot_frame_without_totals_for_averages(wh: Warehouse) -> None:
    spec = load_spec("""
title: 平均
dataset: 环卫清运
type: pivot
dimensions: [{column: 区}]
series: {column: 车型}
measures: [{column: 清运量, agg: avg}]
""")
    res = run_chart(wh, spec, cache=ResultCache(), render=False)
    wide = pivot_frame(res.frame, spec)
    assert wide.columns == ["区", "勾臂车", "压缩车"]  # no 合计: a sum of averages is meaningless
    assert wide.row(2) == ("西城", 8.0, 6.5)


# ---------------------------------------------------------------------------- cache
BAR = """
title: 各区清运量
dataset: 环卫清运
type: bar
dimensions: [{column: 区}]
measures: [{column: 清运量}]
"""


def test_cache_hits_then_invalidates_on_dataset_change(wh: Warehouse) -> None:
    cache = ResultCache()
    spec = load_spec(BAR)
    first = run_chart(wh, spec, cache=cache, today=TODAY)
    second = run_chart(wh, spec, cache=cache, today=TODAY)
    assert (first.cached, second.cached) == (False, True)
    assert second.frame is first.frame  # the same immutable frame, no copy, no unpickling
    # another dataset changing does not throw this entry away
    Catalog(wh).write("其他", pl.DataFrame({"a": [1]}))
    assert run_chart(wh, spec, cache=cache, today=TODAY).cached is True
    # this dataset changing does
    Catalog(wh).write(DATASET, frame()[:2], mode="replace")
    third = run_chart(wh, spec, cache=cache, today=TODAY)
    assert third.cached is False and third.frame.rows() == [("东城", 22.0)]
    # restoring version 1 makes the old numbers come back (and not the cached version-2 ones)
    Catalog(wh).restore(DATASET, 1)
    assert run_chart(wh, spec, cache=cache, today=TODAY).frame.rows() == [("东城", 27.0), ("朝阳", 29.0),
                                                                          ("西城", 21.0)]
    assert cache.stats().hits == 2


def test_cache_key_includes_today_for_relative_filters(wh: Warehouse) -> None:
    cache = ResultCache()
    spec = load_spec(BAR + "filters: [{op: relative, column: 日期, period: 本月}]\n")
    may = run_chart(wh, spec, cache=cache, today=TODAY)
    april = run_chart(wh, spec, cache=cache, today=D(2024, 4, 20))
    assert april.cached is False
    assert may.frame.rows() != april.frame.rows() and april.frame.rows() == [("东城", 5.0), ("朝阳", 20.0)]


@pytest.mark.parametrize(("max_entries", "max_entry_rows", "expected_entries"), [(2, 100, 2), (10, 2, 1)])
def test_cache_is_bounded(wh: Warehouse, max_entries: int, max_entry_rows: int, expected_entries: int) -> None:
    cache = ResultCache(max_entries=max_entries, max_entry_rows=max_entry_rows)
    for column in ("区", "车型", "街道"):  # 3, 2 and 5 rows
        run_chart(wh, load_spec(BAR.replace("column: 区", f"column: {column}")), cache=cache, render=False)
    assert cache.stats().entries == expected_entries


def test_chart_core_does_not_import_streamlit() -> None:
    import subprocess
    import sys

    code = ("import sys, citybi.charts.runner, citybi.charts.kpi, citybi.charts.types as t; t.names(); "
            "print('streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_warm_run_reuses_output_until_data_changes(wh: Warehouse) -> None:
    cache = ResultCache()
    spec = load_spec(BAR)
    a = run_chart(wh, spec, cache=cache, today=TODAY)
    b = run_chart(wh, spec, cache=cache, today=TODAY)
    assert b.output is a.output  # same cached frames → the same figure, no re-render
    Catalog(wh).write(DATASET, frame()[:1], mode="replace")
    c = run_chart(wh, spec, cache=cache, today=TODAY)
    assert c.output is not a.output and list(c.output.data[0].y) == [10.0]
