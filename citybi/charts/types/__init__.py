"""The chart-type registry: a new chart type is one new file that calls `register`.

Why a registry and not an if/elif in the renderer: the issue asks that adding a chart type
touch one file. Built-in types live in this package and register themselves exactly the
way a plug-in would (import the module, call `register`); third-party packages can also
advertise a module under the entry-point group "citybi.chart_types". Built-ins are loaded
lazily on first lookup so that importing the spec module stays cheap.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import threading
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from citybi.charts.spec import ChartSpecError, use_chart_types

if TYPE_CHECKING:
    import polars as pl
    from sqlglot import exp

    from citybi.charts.render import RenderContext
    from citybi.charts.spec import ChartSpec
    from citybi.charts.types._base import Shape
    from citybi.schema import DatasetInfo

Output = Literal["plotly", "pydeck", "kpi"]
BUILTINS: tuple[str, ...] = ("bar", "line", "area", "pie", "scatter", "table", "pivot", "kpi", "heatmap", "map")
ENTRY_POINT_GROUP = "citybi.chart_types"


class UnknownChartType(ChartSpecError, ValueError):
    """Raised for a type name nobody registered (a ValueError too, so pydantic reports it)."""


@runtime_checkable
class ChartType(Protocol):
    """What a chart type provides. See types/bar.py for a complete example."""

    name: str  # the key stored in YAML (`type: bar`)
    label: str  # Chinese name shown in the UI
    output: Output  # what render() returns: plotly Figure, pydeck Deck or a KpiValue
    options_model: type[BaseModel]  # strict (extra="forbid") model of `options:`

    def check(self, spec: ChartSpec) -> list[str]:
        """Dataset-independent shape problems (e.g. a pie needs one dimension), in Chinese."""
        ...

    def queries(self, spec: ChartSpec, info: DatasetInfo, today: dt.date) -> dict[str, exp.Select]:
        """The SELECT trees this chart needs, by name (most types: {"main": ...})."""
        ...

    def shape(self, frames: dict[str, pl.DataFrame], spec: ChartSpec) -> Shape:
        """How much render() would draw from these results (categories, series, points, cells,
        columns), counted from the frames without building anything. Checked against the
        configured RenderLimits before render() is called; keep it cheap (a few n_unique)."""
        ...

    def render(self, frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext) -> Any:
        """Turn the query results into the output object. Must not import streamlit.
        Long loops should call ctx.check_time() between steps (the render's time budget)."""
        ...


_REGISTRY: dict[str, ChartType] = {}
_LOCK = threading.RLock()
_loaded = False  # every built-in and plug-in is registered
_loading = False  # the loading thread is importing them (their imports call back in)


def register(chart_type: ChartType, *, replace: bool = False) -> ChartType:
    """Add a chart type. A second type with the same name is refused unless replace=True."""
    if not isinstance(chart_type, ChartType):
        raise TypeError(f"{chart_type!r} does not implement the ChartType protocol")
    with _LOCK:
        if chart_type.name in _REGISTRY and not replace and _REGISTRY[chart_type.name] is not chart_type:
            raise ValueError(f"chart type {chart_type.name!r} is already registered")
        _REGISTRY[chart_type.name] = chart_type
    return chart_type


def unregister(name: str) -> ChartType | None:
    """Remove a chart type (a plug-in being unloaded, a test cleaning up); the removed one or None.

    Saved charts of that type then fail to load with the usual Chinese "图表类型不存在" message.
    """
    with _LOCK:
        return _REGISTRY.pop(name, None)


def _load() -> None:
    global _loaded, _loading
    if _loaded:
        return
    # other threads wait on the lock until every type is in: the first board of a fresh server
    # is opened by many sessions at once, and a half-filled registry said 「kpi」 did not exist
    with _LOCK:
        if _loaded or _loading:  # _loading: this thread again, from a built-in module's import
            return
        _loading = True
        try:
            for name in BUILTINS:
                importlib.import_module(f"{__name__}.{name}")
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                ep.load()
            # plotly imports pandas lazily at its first figure; threads drawing a fresh process's
            # first board together got a half-imported pandas ("no attribute 'Series'")
            with contextlib.suppress(ImportError):
                importlib.import_module("pandas")
        finally:
            _loaded, _loading = True, False


def get_type(name: str) -> ChartType:
    _load()
    found = _REGISTRY.get(name)
    if found is None:
        raise UnknownChartType(
            [f"图表类型「{name}」不存在，可选：" + "、".join(f"{t.name}（{t.label}）" for t in all_types())])
    return found


def all_types() -> list[ChartType]:
    """Built-ins in their fixed menu order, then plug-ins by name (import order must not matter)."""
    _load()
    rank = {n: i for i, n in enumerate(BUILTINS)}
    return sorted(_REGISTRY.values(), key=lambda t: (rank.get(t.name, len(rank)), t.name))


def names() -> list[str]:
    return [t.name for t in all_types()]


# every ChartSpec validates its type and options through this registry (see spec.use_chart_types)
use_chart_types(get_type)
