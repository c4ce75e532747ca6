"""No English in charts: date axes tick and hover in Chinese (2024年1月, 6月8日), not "Jan 2024"."""
from __future__ import annotations

import datetime as dt
from typing import Any

import plotly.graph_objects as go
import pytest

from citybi.charts.render import DATE_HOVER, DATE_TICKS, DATETIME_HOVER, date_axes, figure

D = dt.date


@pytest.mark.parametrize(
    ("trace", "expected"),
    [
        (go.Scatter(x=[D(2024, 1, 1), D(2024, 2, 1)], y=[1, 2]), {"xaxis": DATE_HOVER}),
        (go.Scatter(x=[None, dt.datetime(2024, 1, 1, 8)], y=[1, 2]), {"xaxis": DATETIME_HOVER}),
        (go.Bar(x=[3, 4], y=[D(2024, 1, 1), D(2024, 1, 2)], orientation="h"), {"yaxis": DATE_HOVER}),
        (go.Bar(x=["临江区", "云湖区"], y=[1, 2]), {}),
        (go.Pie(labels=["优"], values=[1]), {}),
        (go.Scatter(x=[], y=[]), {}),
    ],
)
def test_date_axes(trace: Any, expected: dict[str, str]) -> None:
    assert date_axes([trace]) == expected


def test_tick_formats_are_chinese_at_every_zoom() -> None:
    assert [t["value"] for t in DATE_TICKS][3:] == ["%-m月%-d日", "%Y年%-m月", "%Y年"]
    assert all("%b" not in t["value"] and "%a" not in t["value"] for t in DATE_TICKS)  # no month or day names


def test_figure_keeps_the_charts_own_axis_settings() -> None:
    fig = figure([go.Scatter(x=[D(2024, 1, 1)], y=[1])], {"xaxis": {"title": {"text": "日期"}}})
    assert fig.layout.xaxis.title.text == "日期" and fig.layout.xaxis.hoverformat == DATE_HOVER
    assert [s.value for s in fig.layout.xaxis.tickformatstops][-1] == "%Y年"


@pytest.mark.parametrize(
    ("chart_type", "extra"),
    [("pie", ""), ("bar", ""), ("heatmap", "series: {column: 类型}\n"), ("table", "")],
)
def test_a_missing_category_reads_as_a_dash_not_none(chart_type: str, extra: str) -> None:
    import polars as pl

    from citybi.charts.render import render
    from citybi.charts.spec import load_spec

    spec = load_spec(f"title: t\ndataset: d\ntype: {chart_type}\ndimensions: [{{column: 区}}]\n{extra}"
                     "measures: [{column: 量, agg: sum}]\n")
    frame = pl.DataFrame({"区": ["北港区", None], **({"类型": ["甲", None]} if extra else {}), "量": [1.0, 2.0]})
    fig = render(spec, frame)
    trace = fig.data[0]
    shown = {"pie": lambda: list(trace.labels), "bar": lambda: list(trace.x), "heatmap": lambda: list(trace.x),
             "table": lambda: list(trace.cells.values[0])}[chart_type]()
    assert sorted(shown) == sorted(["北港区", "—"])
    if chart_type == "heatmap":  # the other axis too (its empty cells stay empty: z is None there)
        assert sorted(trace.y) == sorted(["甲", "—"])
    else:
        assert "None" not in str(fig.to_plotly_json())
