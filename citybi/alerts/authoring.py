"""Making a rule in two clicks: what can be watched, and a sensible first rule for it.

Why defaults and not an empty form: a district clerk picks "12345热线 · 近7天工单数" and should get
a rule that already means something — "tell me when a day is unusual" (median ± 3·MAD over 14
periods) for a KPI card or a chart over time, "tell me when any 区 is above today's highest
value" for a chart by district — and then adjust it. The rule is saved as YAML like any other,
so what the page made is what git shows.
"""
from __future__ import annotations

from dataclasses import dataclass

from citybi.alerts.rules import AlertRule, rule_from_dict
from citybi.boards import BoardStore, tile_spec
from citybi.charts.spec import ChartSpec
from citybi.charts.store import ChartStore
from citybi.errors import UserFacingError


@dataclass(frozen=True)
class Watchable:
    """A board tile or a saved chart a rule can watch."""

    board: str | None
    tile: str  # the tile's chart name (or its title for an inline chart); the chart's name for a chart
    title: str
    kind: str  # chart type: kpi, line, bar…

    @property
    def label(self) -> str:
        what = "指标卡" if self.kind == "kpi" else "图表"
        return f"{self.title}（{what}）"


def watchables(boards: BoardStore, charts: ChartStore, board: str | None) -> list[Watchable]:
    """The tiles of a board (KPI cards first), or every saved chart when `board` is None."""
    out: list[Watchable] = []
    if board is None:
        for name in charts.names():
            try:
                spec = charts.load(name)
            except UserFacingError:
                continue
            out.append(Watchable(None, name, spec.title, spec.type))
    else:
        for t in boards.load(board).tiles:
            try:
                spec = tile_spec(t, charts)
            except UserFacingError:
                continue
            out.append(Watchable(board, t.chart or spec.title, spec.title, spec.type))
    if any(w.kind == "map" for w in out):
        out = [w for w in out if w.kind != "map"]  # a map has no single value to watch
    return sorted(out, key=lambda w: w.kind != "kpi")


def first_rule(w: Watchable, spec: ChartSpec, taken: set[str], top: float | None = None) -> AlertRule:
    """A first rule for `w`: unusual for cards and time series; for categories, above 1.2 × the current
    top value (`top`, when the caller has read the chart)."""
    watch: dict[str, object] = {"board": w.board, "tile": w.tile} if w.board else {"chart": w.tile}
    has_time = spec.type == "kpi" or any(d.grain is not None for d in spec.group_dimensions)
    data: dict[str, object] = {"watch": watch, "every": 3600, "repeat_every": 86400}
    if has_time:
        data["condition"] = {"kind": "unusual", "k": 3, "periods": 14}
        suffix = "异常波动"
    else:
        dims = [d for d in spec.group_dimensions]
        if dims:
            data["group_by"] = dims[0].column
        data["condition"] = {"kind": "above", "value": _round_up(1.2 * top) if top else 0}
        suffix = "超过阈值"
    base = f"{w.title}{suffix}"[:60]
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    return rule_from_dict({"name": name, **data})


def _round_up(v: float) -> float:
    """A threshold a person would write: two significant digits, rounded up (1,234 → 1,300)."""
    import math

    if v <= 0:
        return 0.0
    step = 10 ** max(0, math.floor(math.log10(v)) - 1)
    return float(math.ceil(v / step) * step)
