"""Defaults shared by the built-in chart types (a plug-in may use them or not).

Why a base class next to a Protocol: the Protocol is the contract; this class saves every
ordinary aggregated chart from repeating "one query, compiled from the spec".
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from citybi.charts.compile import compile_spec

if TYPE_CHECKING:
    from sqlglot import exp

    from citybi.charts.spec import ChartSpec
    from citybi.schema import DatasetInfo


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AggregatedChart:
    """One aggregated SELECT named "main"; subclasses set name/label/options and render()."""

    name: ClassVar[str]
    label: ClassVar[str]
    output: ClassVar[str] = "plotly"
    options_model: ClassVar[type[BaseModel]] = NoOptions
    # shape rules: (min, max) dimensions and measures; whether a series (colour) is allowed/required
    dims: ClassVar[tuple[int, int]] = (1, 1)
    measures: ClassVar[tuple[int, int]] = (1, 20)
    series: ClassVar[str] = "optional"  # "optional" | "required" | "none"

    def check(self, spec: ChartSpec) -> list[str]:
        out: list[str] = []
        lo, hi = self.dims
        n = len(spec.dimensions)
        if not lo <= n <= hi:
            want = f"{lo}" if lo == hi else f"{lo}～{hi}"
            out.append(f"{self.label}需要 {want} 个维度（现在有 {n} 个），请调整维度")
        lo, hi = self.measures
        n = len(spec.measures)
        if not lo <= n <= hi:
            want = f"{lo}" if lo == hi else f"{lo}～{hi}"
            out.append(f"{self.label}需要 {want} 个度量（现在有 {n} 个），请调整度量")
        if self.series == "none" and spec.series is not None:
            out.append(f"{self.label}不支持颜色/系列分组，请去掉 series")
        if self.series == "required" and spec.series is None:
            out.append(f"{self.label}需要设置颜色/系列（series）维度")
        return out

    def queries(self, spec: ChartSpec, info: DatasetInfo, today: dt.date) -> dict[str, exp.Select]:
        return {"main": compile_spec(spec, info, today=today)}
