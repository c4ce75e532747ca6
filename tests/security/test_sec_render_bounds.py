"""Render bombs: a query result whose shape would take a renderer minutes is refused, in Chinese.

The attack: a pivot over a 3M-row table with a high-cardinality series. DuckDB answered in
0.45 s (and the query layer capped the rows), then the pivot rendered for 97 s and 1.65 GB
— the 30 s time-out only covers DuckDB. Every row below is a result of at most 10,000 rows
(the runner's row cap) shaped to hurt one chart type. Each is rendered in a child process
(2 GB address space, killed after 20 s) so a render that still runs away fails the test
without taking the machine with it. The expected answer: a refusal saying what is too big
and suggesting a filter or 前N名, decided from the result's shape before anything is built.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
import pydeck as pdk
import pytest
from charts_fixture import GEOJSON

from citybi.boards import load_board, run_board
from citybi.catalog import Catalog, open_warehouse
from citybi.charts.cache import ResultCache
from citybi.charts.render import RenderContext, render
from citybi.charts.spec import ChartSpec, load_spec
from citybi.charts.store import ChartStore
from citybi.config import RenderLimits, load_settings
from citybi.errors import UserFacingError

N = 10_000  # citybi.charts.runner.CHART_MAX_ROWS: no chart ever gets more rows than this
CHILD_TIMEOUT_S = 20.0
MAX_SECONDS = 0.5
CJK = re.compile(r"[\u4e00-\u9fff]")


def _spec(kind: str, dims: list[str], measures: list[str], series: str | None = None) -> ChartSpec:
    d = ", ".join(f"{{column: {c}}}" for c in dims)
    m = ", ".join(f"{{column: {c}}}" for c in measures)
    s = f"series: {{column: {series}}}\n" if series else ""
    return load_spec(f"title: 压力测试\ndataset: 工单\ntype: {kind}\ndimensions: [{d}]\nmeasures: [{m}]\n{s}")


def build(case: str, n: int = N) -> tuple[ChartSpec, pl.DataFrame]:
    """The spec and result frame of one case; `n` rows (the hostile table uses the full cap)."""
    ids = list(range(n))
    if case == "bar-many-series":  # 10 districts × n/10 work orders as colours → n/10 traces
        return _spec("bar", ["区"], ["件数"], "工单"), pl.DataFrame(
            {"区": [f"区{i % 10}" for i in ids], "工单": [f"单{i // 10}" for i in ids], "件数": ids})
    if case == "bar-many-categories":
        return _spec("bar", ["街道"], ["件数"]), pl.DataFrame({"街道": [f"街{i}" for i in ids], "件数": ids})
    if case in ("line-many-series", "area-many-series"):
        return _spec(case.split("-")[0], ["日"], ["件数"], "工单"), pl.DataFrame(
            {"日": [f"日{i % 10}" for i in ids], "工单": [f"单{i // 10}" for i in ids], "件数": ids})
    if case == "pie-many-slices":
        return _spec("pie", ["街道"], ["件数"]), pl.DataFrame({"街道": [f"街{i}" for i in ids], "件数": ids})
    if case == "scatter-many-series":
        return _spec("scatter", ["点"], ["x", "y"], "工单"), pl.DataFrame(
            {"点": [f"p{i}" for i in ids], "工单": [f"单{i // 2}" for i in ids], "x": ids, "y": ids})
    if case in ("heatmap-sparse-square", "pivot-sparse-square"):  # n distinct × n distinct, one value each
        return _spec(case.split("-")[0], ["街道"], ["件数"], "工单"), pl.DataFrame(
            {"街道": [f"街{i}" for i in ids], "工单": [f"单{i}" for i in ids], "件数": ids})
    if case == "pivot-wide-series":  # 10 rows across n/10 columns
        return _spec("pivot", ["区"], ["件数"], "工单"), pl.DataFrame(
            {"区": [f"区{i % 10}" for i in ids], "工单": [f"单{i // 10}" for i in ids], "件数": ids})
    if case == "table-many-cells":  # 6 dimensions + series + 20 measures = 27 columns
        dims, ms = [f"维{i}" for i in range(6)], [f"量{i}" for i in range(20)]
        values = {**{c: [f"v{i}" for i in ids] for c in dims}, "系列": ["s"] * n}
        return _spec("table", dims, ms, "系列"), pl.DataFrame({**values, **{m: [float(i) for i in ids] for m in ms}})
    if case == "map-many-regions":
        return _spec("map", ["街道"], ["件数"]), pl.DataFrame({"街道": [f"街{i}" for i in ids], "件数": ids})
    raise AssertionError(case)


HOSTILE = ["bar-many-series", "bar-many-categories", "line-many-series", "area-many-series", "pie-many-slices",
           "scatter-many-series", "heatmap-sparse-square", "pivot-sparse-square", "pivot-wide-series",
           "table-many-cells", "map-many-regions"]

CHILD = r"""
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
sys.path[:0] = [sys.argv[2], sys.argv[3]]
import test_sec_render_bounds as t
from charts_fixture import GEOJSON
from citybi.charts.render import RenderContext, render
from citybi.errors import UserFacingError
spec, frame = t.build(sys.argv[1])
render(*t.build("bar-many-series", 20))  # warm the plotly import (not measured)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
try:
    out = render(spec, frame, RenderContext(geojson=GEOJSON))
    got = {"outcome": "rendered " + type(out).__name__}
except UserFacingError as err:
    got = {"outcome": "refused", "message": str(err)}
except BaseException as err:
    got = {"outcome": "crashed " + type(err).__name__, "message": str(err)[:300]}
got["seconds"] = time.perf_counter() - t0
got["grew_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps(got, ensure_ascii=False))
"""


def _child(case: str) -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, case, str(here), str(here.parent)], capture_output=True,
                              text=True, timeout=CHILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"outcome": f"still rendering after {CHILD_TIMEOUT_S:g} s (killed)"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"outcome": f"child died (exit {done.returncode}): {done.stderr[-500:]}"}
    return json.loads(lines[-1])


@pytest.mark.parametrize("case", HOSTILE)
def test_a_result_past_the_caps_is_refused_before_rendering(case: str) -> None:
    got = _child(case)
    assert got["outcome"] == "refused", got
    message = got["message"]
    assert CJK.search(message) and "筛选" in message and "前N名" in message, message
    assert got["seconds"] < MAX_SECONDS, got


UNDER: list[tuple[str, int, type]] = [
    ("bar-many-series", 500, go.Figure),  # 50 series: exactly the default cap
    ("bar-many-categories", 2_000, go.Figure),
    ("line-many-series", 200, go.Figure),
    ("area-many-series", 200, go.Figure),
    ("pie-many-slices", 300, go.Figure),
    ("scatter-many-series", 100, go.Figure),
    ("heatmap-sparse-square", 300, go.Figure),
    ("pivot-sparse-square", 150, go.Figure),
    ("pivot-wide-series", 1_000, go.Figure),
    ("table-many-cells", 2_000, go.Figure),
    ("map-many-regions", 500, pdk.Deck),
]


@pytest.mark.parametrize(("case", "rows", "kind"), UNDER, ids=[f"{c}-{n}" for c, n, _k in UNDER])
def test_a_result_within_the_caps_is_rendered(case: str, rows: int, kind: type) -> None:
    spec, frame = build(case, rows)
    assert isinstance(render(spec, frame, RenderContext(geojson=GEOJSON)), kind)


@pytest.mark.parametrize(("limits", "case", "rows", "phrase"), [
    (RenderLimits(max_series=3), "bar-many-series", 40, "颜色/系列"),
    (RenderLimits(max_categories=10), "pie-many-slices", 11, "分类"),
    (RenderLimits(max_columns=5), "pivot-wide-series", 60, "列"),
    (RenderLimits(max_cells=100), "table-many-cells", 10, "单元格"),
    (RenderLimits(max_points=50), "line-many-series", 60, "个点"),
    (RenderLimits(budget_s=0.0), "bar-many-series", 40, "秒"),
], ids=["series", "categories", "columns", "cells", "points", "budget"])
def test_the_caps_come_from_the_limits_given(limits: RenderLimits, case: str, rows: int, phrase: str) -> None:
    spec, frame = build(case, rows)
    with pytest.raises(UserFacingError) as err:
        render(spec, frame, RenderContext(limits=limits))
    assert phrase in str(err.value) and "前N名" in str(err.value), str(err.value)


def test_limits_are_settings_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().render == RenderLimits()
    monkeypatch.setenv("CITYBI_RENDER_MAX_SERIES", "7")
    monkeypatch.setenv("CITYBI_RENDER_BUDGET_S", "2.5")
    got = load_settings().render
    assert (got.max_series, got.budget_s, got.max_cells) == (7, 2.5, RenderLimits().max_cells)


def test_a_board_tile_past_a_cap_shows_its_own_message_while_the_others_render(tmp_path: Path) -> None:
    wh = open_warehouse(path=tmp_path / "w.duckdb")
    try:
        Catalog(wh).write("工单", pl.DataFrame({
            "日期": [dt.date(2025, 6, 1)] * 3_000, "区": [f"区{i % 10}" for i in range(3_000)],
            "工单编号": [f"GD{i:05d}" for i in range(3_000)], "件数": [1] * 3_000}))
        board = load_board("""
title: 工单看板
filters: {date: null}
tiles:
  - spec: {title: 各区件数, dataset: 工单, type: bar, dimensions: [{column: 区}], measures: [{column: 件数}]}
  - spec: {title: 工单透视, dataset: 工单, type: pivot, dimensions: [{column: 区}],
           series: {column: 工单编号}, measures: [{column: 件数}]}
  - spec: {title: 各区占比, dataset: 工单, type: pie, dimensions: [{column: 区}], measures: [{column: 件数}]}
""")
        run = run_board(wh, board, charts=ChartStore(tmp_path / "charts"), cache=ResultCache(),
                        today=dt.date(2025, 6, 30), workers=1)
        bar, pivot, pie = run.tiles
        assert bar.ok and pie.ok and isinstance(bar.result.output, go.Figure)
        assert not pivot.ok and pivot.error is not None
        assert "工单编号" in pivot.error and "筛选" in pivot.error and "前N名" in pivot.error, pivot.error
    finally:
        wh.close()


def test_an_excel_export_of_an_unrendered_board_does_not_pivot_past_the_caps(tmp_path: Path) -> None:
    """run_board(render=False) (alerts, scripts) skips the renderer's caps; the export applies them itself."""
    from openpyxl import load_workbook

    from citybi.export import export_board

    wh = open_warehouse(path=tmp_path / "w.duckdb")
    try:
        Catalog(wh).write("工单", pl.DataFrame({
            "区": [f"区{i % 10}" for i in range(3_000)], "工单编号": [f"GD{i:05d}" for i in range(3_000)],
            "件数": [1] * 3_000}))
        board = load_board("""
title: 工单看板
filters: {date: null}
tiles:
  - spec: {title: 工单透视, dataset: 工单, type: pivot, dimensions: [{column: 区}],
           series: {column: 工单编号}, measures: [{column: 件数}]}
  - spec: {title: 各区件数, dataset: 工单, type: table, dimensions: [{column: 区}], measures: [{column: 件数}]}
""")
        run = run_board(wh, board, charts=ChartStore(tmp_path / "charts"), cache=ResultCache(),
                        today=dt.date(2025, 6, 30), workers=1, render=False)
        book = load_workbook(io.BytesIO(export_board(run)), read_only=True)
        pivot_sheet, table_sheet = book.worksheets[1], book.worksheets[2]
        first = next(pivot_sheet.iter_rows(values_only=True))
        assert "无法导出" in str(first[0]) and "工单编号" in str(first[0])
        assert sum(1 for _ in table_sheet.iter_rows()) == 11  # header + 10 districts: the other tile is there
    finally:
        wh.close()
