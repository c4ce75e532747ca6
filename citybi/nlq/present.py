"""Turns an Answer into a chart that fits it: bar for groups, line for a series, a number for a scalar.

Kept in the core (plotly only, no streamlit) so the page, exports and tests draw the same figure.
"""
from __future__ import annotations

import datetime as dt
from numbers import Number

import plotly.graph_objects as go

from citybi.charts.types._base import plain_text
from citybi.nlq.model import Answer


def _is_number(v: object) -> bool:
    return isinstance(v, Number) and not isinstance(v, bool)


def scalar(answer: Answer) -> object | None:
    """The single value of a one-cell answer, else None."""
    if answer.status == "ok" and len(answer.rows) == 1 and len(answer.columns) == 1:
        return answer.rows[0][0]
    return None


def figure(answer: Answer) -> go.Figure | None:
    """A plotly figure for bar/line answers (first column = categories or time, last numeric = value)."""
    if answer.status != "ok" or answer.chart not in ("bar", "line") or len(answer.rows) < 2:
        return None
    cols = answer.columns
    value_idx = next((i for i in range(len(cols) - 1, 0, -1) if all(
        r[i] is None or _is_number(r[i]) for r in answer.rows)), None)
    if value_idx is None:
        return None
    # data values and column names are user text: plotly would draw `<a href>` in them as a link
    xs = [r[0] if isinstance(r[0], (dt.date, Number)) else plain_text(r[0]) for r in answer.rows]
    ys = [r[value_idx] for r in answer.rows]
    name = plain_text(cols[value_idx])
    if answer.chart == "line":
        trace: go.BaseTraceType = go.Scatter(x=xs, y=ys, mode="lines+markers", name=name)
    else:
        trace = go.Bar(x=xs, y=ys, name=name)
    fig = go.Figure(trace)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=360,
                      xaxis_title=plain_text(cols[0]), yaxis_title=name)
    return fig
