"""Defaults shared by the built-in chart types (a plug-in may use them or not).

Why a base class next to a Protocol: the Protocol is the contract; this class saves every
ordinary aggregated chart from repeating "one query, compiled from the spec".

Also here, because every type needs them the same way:

- `Shape` and `check_shape`: how much a result would draw (categories, series, points,
  cells, columns), measured from the frames before any figure is built, and the Chinese
  refusal when that is past the configured `RenderLimits`. The query layer caps rows, not
  shape: 10,000 rows pivoted on a high-cardinality series became 97 s and 1.65 GB.
- `plain_text` / `plain_values`: user text made inert before it reaches plotly. plotly
  draws a subset of HTML in every text it shows (titles, axis titles and ticks, legends,
  hover labels, table cells), so `<a href>` in a street name or a chart title became a
  live link. Every built-in type passes each user-controlled string through these.
"""
from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from citybi.charts.compile import compile_spec
from citybi.errors import UserFacingError

if TYPE_CHECKING:
    import polars as pl
    from sqlglot import exp

    from citybi.charts.spec import ChartSpec
    from citybi.config import RenderLimits
    from citybi.schema import DatasetInfo

MISSING = "—"  # a missing value (NULL) as the reader sees it, never "None"


def plain_text(value: Any) -> str:
    """User text as plotly text: & < > escaped, so plotly shows `<a href=…>` literally (it
    decodes &lt; &gt; &amp; back for display) instead of drawing a link or an image.
    A missing value reads "—" (a pie slice or heatmap row of NULLs is not called "None")."""
    if value is None:
        return MISSING
    return html.escape(str(value), quote=False)


def category_values(values: Iterable[Any]) -> list[Any]:
    """Values for a category axis: like plain_values, with a missing category shown as "—"."""
    return [MISSING if v is None else v for v in plain_values(values)]


def plain_values(values: Iterable[Any]) -> list[Any]:
    """Data values for axes, labels and hover: text escaped, numbers and dates kept as they are
    (a date axis must stay a date axis)."""
    return [plain_text(v) if isinstance(v, str) else v for v in values]


TOO_MUCH_HINT = "请增加筛选条件，或设置前N名（top_n）只保留最大的几项"


class RenderRefused(UserFacingError):
    """A result too big to draw (or a render past its time budget); the message says which part."""


@dataclass(frozen=True)
class Shape:
    """How much a result would draw; 0 means the type does not draw that kind of thing."""

    categories: int = 0  # distinct values along one axis: bars, slices, labels, regions
    series: int = 0  # traces / legend entries (series values × measures)
    points: int = 0  # marks drawn in total
    cells: int = 0  # table, pivot and heatmap cells
    columns: int = 0  # table / pivot columns
    category_of: str = ""  # the output column the categories come from (for the message)
    series_of: str = ""  # the series column


def distinct(frame: pl.DataFrame, *columns: str) -> int:
    """Distinct values (or value combinations) of output columns; 0 when a column is absent."""
    cols = [c for c in columns if c in frame.columns]
    if not cols or frame.height == 0:
        return 0
    return frame.get_column(cols[0]).n_unique() if len(cols) == 1 else frame.select(cols).n_unique()


def check_shape(shape: Shape, limits: RenderLimits, label: str) -> None:
    """Refuse (Chinese, with a filter / 前N名 hint) a shape past any of the limits."""
    problems: list[str] = []
    if shape.categories > limits.max_categories:
        of = f"「{shape.category_of}」" if shape.category_of else ""
        problems.append(f"{of}有 {shape.categories:,} 个不同的值，{label}最多画 {limits.max_categories:,} 个分类")
    if shape.series > limits.max_series:
        of = f"颜色/系列「{shape.series_of}」" if shape.series_of else "颜色/系列"
        problems.append(f"{of}会分成 {shape.series:,} 组，{label}最多 {limits.max_series:,} 组")
    if shape.columns > limits.max_columns:
        of = f"（颜色/系列「{shape.series_of}」的每个值一列）" if shape.series_of else ""
        problems.append(f"{label}会有 {shape.columns:,} 列{of}，最多 {limits.max_columns:,} 列")
    if shape.cells > limits.max_cells:
        problems.append(f"{label}会有 {shape.cells:,} 个单元格，最多 {limits.max_cells:,} 个单元格")
    if shape.points > limits.max_points:
        problems.append(f"{label}要画 {shape.points:,} 个点，最多 {limits.max_points:,} 个点")
    if problems:
        hint = TOO_MUCH_HINT + ("，或换一个取值较少的列做颜色/系列" if shape.series_of and (
            shape.series > limits.max_series or shape.columns > limits.max_columns) else "")
        raise RenderRefused("图表要画的内容太多：" + "；".join(problems), hint=hint)


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
            out.append(f"{self.label}需要 {want} 个指标（现在有 {n} 个），请调整指标")
        if self.series == "none" and spec.series is not None:
            out.append(f"{self.label}不支持颜色/系列分组，请去掉 series")
        if self.series == "required" and spec.series is None:
            out.append(f"{self.label}需要设置颜色/系列（series）维度")
        return out

    def queries(self, spec: ChartSpec, info: DatasetInfo, today: dt.date) -> dict[str, exp.Select]:
        return {"main": compile_spec(spec, info, today=today)}

    def shape(self, frames: dict[str, pl.DataFrame], spec: ChartSpec) -> Shape:
        """Category axis = the first dimension, one trace per (series value, measure)."""
        frame = frames["main"]
        x = spec.dimensions[0].name if spec.dimensions else ""
        series = spec.series.name if spec.series else ""
        groups = distinct(frame, series) if series else 1
        return Shape(categories=distinct(frame, x) if x else 0, series=groups * len(spec.measures),
                     points=frame.height * len(spec.measures), category_of=x, series_of=series)
