"""KPI card type: the registry entry; the period arithmetic and values live in charts/kpi.py."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl

from citybi.charts.kpi import KpiOptions, kpi_queries, kpi_value
from citybi.charts.render import RenderContext
from citybi.charts.types import register
from citybi.charts.types._base import AggregatedChart, Shape

if TYPE_CHECKING:
    from sqlglot import exp

    from citybi.charts.spec import ChartSpec
    from citybi.schema import DatasetInfo


class KpiCard(AggregatedChart):
    name = "kpi"
    label = "指标卡"
    output = "kpi"
    options_model = KpiOptions
    dims: ClassVar[tuple[int, int]] = (0, 0)
    measures: ClassVar[tuple[int, int]] = (1, 1)
    series = "none"

    def queries(self, spec: ChartSpec, info: DatasetInfo, today: dt.date) -> dict[str, exp.Select]:
        return kpi_queries(spec, info, today)

    def shape(self, frames: dict[str, pl.DataFrame], spec: ChartSpec) -> Shape:
        """One value (and the sparkline's points, bounded by its options)."""
        return Shape(points=frames["spark"].height if "spark" in frames else 0)

    def render(self, frames: dict[str, pl.DataFrame], spec: ChartSpec, ctx: RenderContext) -> Any:
        m = spec.measures[0]
        return kpi_value(frames, spec, today=ctx.today or dt.date.today(), unit=ctx.units.get(m.name))


register(KpiCard())
