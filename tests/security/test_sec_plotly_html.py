"""Link and image injection through plotly: user text must reach a figure as text, not HTML.

plotly draws a subset of HTML in every text it shows (titles, axis titles and tick labels,
legends, hover labels, table cells): a street named `<a href="https://…">点此领取补贴</a>`
in an uploaded sheet became a live link in the chart, and a chart title with `<img …>`
an image tag. Every row renders one chart type with hostile text in every place a user
controls — the title, the dimension/series/measure labels, the unit, the category values
and the series values — and walks the figure's JSON: no string may hold an `<a` or `<img`
tag, and the text must still be there (escaped, so plotly shows it literally).
"""
from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

from citybi.charts.render import RenderContext, render, units_for
from citybi.charts.spec import ChartSpec, Dimension, Measure
from citybi.nlq.model import Answer
from citybi.nlq.present import figure as answer_figure

HOSTILE = [
    '<a href="https://evil.example/登录">点此领取补贴</a>',
    "<img src=x onerror=alert(1)>",
    "<A HREF='javascript:alert(1)'>区</A>",
    "东城<a\nhref=//evil.example>区</a>",
    "<sup><a href=x>1</a></sup>",
    "<IMG/src=x>",
]
LIVE_TAG = re.compile(r"<\s*/?\s*(a|img)(\s|/|>|$)", re.IGNORECASE)

# type, dimension labels, with a series, measure labels
SHAPES: dict[str, tuple[int, bool, int]] = {
    "bar": (1, True, 1), "line": (1, True, 1), "area": (1, True, 1), "pie": (1, False, 1),
    "scatter": (1, True, 2), "heatmap": (1, True, 1), "table": (2, True, 2), "pivot": (1, True, 1),
}


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def _hostile_chart(kind: str, h: str) -> tuple[ChartSpec, pl.DataFrame]:
    n_dims, with_series, n_measures = SHAPES[kind]
    dims = [Dimension(column=f"维{i}", label=f"{h}维{i}") for i in range(n_dims)]
    series = Dimension(column="系列", label=f"{h}系列") if with_series else None
    measures = [Measure(column=f"量{i}", label=f"{h}量{i}", unit=f"{h}吨") for i in range(n_measures)]
    spec = ChartSpec(title=f"{h}标题", dataset="工单", type=kind, dimensions=dims, series=series, measures=measures)
    data: dict[str, list[Any]] = {d.name: [f"{h}东城", "西城", f"{h}东城"] for d in dims}
    if series is not None:
        data[series.name] = [f"{h}甲", f"{h}甲", "乙"]
    for i, m in enumerate(measures):
        data[m.name] = [1.0 + i, 2.0, 3.0]
    return spec, pl.DataFrame(data)


CASES = [(kind, h) for kind in SHAPES for h in HOSTILE]


@pytest.mark.parametrize(("kind", "hostile"), CASES, ids=[f"{k}-{i}" for k in SHAPES for i in range(len(HOSTILE))])
def test_user_text_reaches_the_figure_as_text(kind: str, hostile: str) -> None:
    spec, frame = _hostile_chart(kind, hostile)
    fig = render(spec, frame, RenderContext(units=units_for(spec, None)))
    strings = list(_strings(json.loads(fig.to_json())))
    live = sorted({s for s in strings if LIVE_TAG.search(s)})
    assert live == [], live
    assert fig.layout.title.text == html.escape(f"{hostile}标题", quote=False)  # kept, shown literally
    assert any(html.escape(f"{hostile}东城", quote=False) in s for s in strings)  # a category value, escaped


@pytest.mark.parametrize("hostile", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_question_answer_figure_escapes_columns_and_values(hostile: str) -> None:
    answer = Answer(status="ok", chart="bar", columns=[f"{hostile}区", f"{hostile}件数"],
                    rows=[(f"{hostile}东城", 3), ("西城", 5)])
    fig = answer_figure(answer)
    assert fig is not None
    strings = list(_strings(json.loads(fig.to_json())))
    assert sorted({s for s in strings if LIVE_TAG.search(s)}) == []
    assert html.escape(f"{hostile}东城", quote=False) in strings
