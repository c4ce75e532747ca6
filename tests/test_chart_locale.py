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
