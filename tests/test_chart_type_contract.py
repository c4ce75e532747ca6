"""A chart type from outside the project plugs in through the public registry alone.

The issue promises that a new chart type is one file calling `citybi.charts.types.register`.
This test is that file: a funnel chart (漏斗图) defined here, never mentioned in citybi, is
registered like a plug-in and then taken through every path a built-in takes — saved-chart
YAML → spec validation (its own options model and shape rules) → `run_chart` → a plotly
figure with the warehouse's numbers, and the 图表 page offers it and previews it. It is
unregistered afterwards, so the built-in lists other tests pin stay as they are.
"""
from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pydantic import BaseModel, ConfigDict
from sqlglot import exp
from streamlit.testing.v1 import AppTest

from citybi.catalog import Catalog, open_warehouse
from citybi.charts import types as chart_types
from citybi.charts.cache import ResultCache
from citybi.charts.compile import compile_spec
from citybi.charts.form import option, option_fields
from citybi.charts.render import RenderContext, figure, measure_label
from citybi.charts.runner import run_chart
from citybi.charts.spec import ChartSpec, ChartSpecError, load_spec
from citybi.charts.types import ChartType, UnknownChartType
from citybi.charts.types._base import Shape  # the Protocol's shape() return type lives here
from citybi.schema import DatasetInfo
from citybi.warehouse import Warehouse

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2025, 6, 30)  # the sample city's last day


class FunnelOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    descending: bool = option(True, "从大到小排列")


class FunnelChart:
    """One dimension, one measure: a stage per dimension value, widest first."""

    name = "test-funnel"
    label = "漏斗图"
    output = "plotly"
    options_model = FunnelOptions

    def check(self, spec: ChartSpec) -> list[str]:
        problems = []
        if len(spec.dimensions) != 1 or len(spec.measures) != 1:
            problems.append(f"漏斗图需要 1 个维度和 1 个度量（现在 {len(spec.dimensions)} 个维度、"
                            f"{len(spec.measures)} 个度量）")
        if spec.series is not None:
            problems.append("漏斗图不支持颜色/系列分组，请去掉 series")
        return problems

    def queries(self, spec: ChartSpec, info: DatasetInfo, today: dt.date) -> dict[str, exp.Select]:
        return {"main": compile_spec(spec, info, today=today)}

    def shape(self, frames: dict[str, pl.DataFrame], spec: ChartSpec) -> Shape:
        height = frames["main"].height
        return Shape(categories=height, points=height, category_of=spec.dimensions[0].name)

    def render(self, frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext) -> Any:
        import plotly.graph_objects as go

        opts = FunnelOptions.model_validate(spec.options)
        dim, m = spec.dimensions[0].name, spec.measures[0]
        frame = frames["main"].sort(m.name, descending=opts.descending, nulls_last=True)
        return figure([go.Funnel(y=[html.escape(str(v), quote=False) for v in frame[dim]],
                                 x=frame[m.name].to_list(),
                                 name=html.escape(measure_label(m, ctx), quote=False))], {"title": spec.title})


@pytest.fixture
def funnel() -> Iterator[FunnelChart]:
    chart = FunnelChart()
    chart_types.register(chart)
    try:
        yield chart
    finally:
        chart_types.unregister(chart.name)


@pytest.fixture(scope="module")
def sample_path(sample_copy: Callable[[str], Path]) -> Path:
    return sample_copy("chart_type_contract")


@pytest.fixture(scope="module")
def wh(sample_path: Path) -> Iterator[Warehouse]:
    w = open_warehouse(path=sample_path)
    yield w
    w.close()


@pytest.fixture(scope="module")
def totals(wh: Warehouse) -> dict[str, float]:
    """清运量 per district straight from DuckDB: what the funnel must show."""
    cur = wh.cursor()
    rows = cur.execute('SELECT "区", SUM("清运量（吨）") FROM "环卫清运" GROUP BY 1').fetchall()
    cur.close()
    return {r[0]: r[1] for r in rows}


SPEC = """\
title: 各区清运量漏斗
dataset: 环卫清运
type: test-funnel
dimensions:
  - column: 区
measures:
  - column: 清运量（吨）
    agg: sum
"""


def test_outside_type_is_listed_after_the_builtins(funnel: FunnelChart, wh: Warehouse) -> None:
    assert isinstance(funnel, ChartType)
    assert chart_types.get_type("test-funnel") is funnel
    assert chart_types.names() == [*chart_types.BUILTINS, "test-funnel"]
    # its option is a builder widget like a built-in's
    [field] = option_fields(FunnelOptions, Catalog(wh).get("环卫清运"))
    assert (field.key, field.title, field.kind, field.default) == ("descending", "从大到小排列", "bool", True)


@pytest.mark.parametrize(
    ("options", "descending"),
    [("", True), ("options: {descending: false}\n", False)],
    ids=["default-widest-first", "narrowest-first"],
)
def test_outside_type_runs_from_yaml(funnel: FunnelChart, wh: Warehouse, totals: dict[str, float], options: str,
                                     descending: bool) -> None:
    spec = load_spec(SPEC + options)
    result = run_chart(wh, spec, today=TODAY, cache=ResultCache())
    trace = result.output.to_plotly_json()["data"][0]
    assert trace["type"] == "funnel"
    assert dict(zip(trace["y"], trace["x"], strict=True)) == pytest.approx(totals)
    assert list(trace["x"]) == sorted(totals.values(), reverse=descending)
    assert 'SUM("清运量（吨）")' in result.sql["main"]


# (id, SPEC with something added, words of the Chinese refusal)
REFUSED = [
    ("two-measures", SPEC + "  - column: 车次\n    agg: sum\n",
     "漏斗图需要 1 个维度和 1 个度量（现在 1 个维度、2 个度量）"),
    ("series", SPEC + "series: {column: 垃圾类型}\n", "漏斗图不支持颜色/系列分组"),
    ("unknown-option", SPEC + "options: {width: 3}\n", "width"),
    ("bad-option-type", SPEC + "options: {descending: 很多}\n", "descending"),
]


@pytest.mark.parametrize(("text", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_outside_type_rules_apply_to_saved_specs(funnel: FunnelChart, text: str, words: str) -> None:
    with pytest.raises(ChartSpecError) as ei:
        load_spec(text)
    assert words in ei.value.message


def test_unregistered_type_is_gone(funnel: FunnelChart) -> None:
    assert load_spec(SPEC).type == "test-funnel"
    assert chart_types.unregister("test-funnel") is funnel
    assert chart_types.unregister("test-funnel") is None
    assert chart_types.names() == list(chart_types.BUILTINS)
    with pytest.raises(UnknownChartType):
        chart_types.get_type("test-funnel")
    with pytest.raises(ChartSpecError) as ei:
        load_spec(SPEC)  # a saved chart of a type nobody provides any more: refused in Chinese
    assert "图表类型「test-funnel」不存在" in ei.value.message


def test_chart_page_offers_and_previews_the_outside_type(funnel: FunnelChart, sample_copy: Callable[[str], Path],
                                                         totals: dict[str, float],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYBI_DB", str(sample_copy("chart_type_page")))
    at = AppTest.from_file(str(ROOT / "pages" / "charts.py"), default_timeout=90).run()
    assert at.selectbox(key="cb_type").options[-1] == "漏斗图"  # its label, after the built-ins
    at.selectbox(key="cb_ds").select("环卫清运").run()
    at.multiselect(key="cb_ms_dims").set_value(["区"]).run()
    at.multiselect(key="cb_ms_measures").set_value(["清运量（吨）"]).run()
    at.selectbox(key="cb_type").select("test-funnel").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    import json

    [chart] = at.get("plotly_chart")
    trace = json.loads(chart.proto.spec)["data"][0]
    assert trace["type"] == "funnel"
    assert dict(zip(trace["y"], trace["x"], strict=True)) == pytest.approx(totals)
    assert list(trace["x"]) == sorted(totals.values(), reverse=True)
