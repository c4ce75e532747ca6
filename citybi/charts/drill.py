"""Drill-down and linked charts: what a click on a bar, a slice, a district or a row means.

Why a module of its own: FineBI's 联动/钻取 and Metabase's click-through are one idea here —
a click adds a *drill step* ("区 = 北港区", "日期 in 2025年6月") to the board's filter model
(citybi.boards.FilterValues.drill), and every tile of the board takes it like any other filter.
A chart that declares a drill path (ChartSpec.drill: 区 → 街道, 日期@年 → @月 → @日) goes one
level down when the level above it is fixed by a step, and back up when that step is removed;
the level is derived from the steps, so there is no second piece of state to get out of step.

The page only passes on what the browser reported (plotly points, a pydeck object, a table
row); turning it into a typed value happens here, against the tile's own result frame — a
street name with "&" or a week start date comes back exactly as the data holds it, never as
the escaped or re-formatted text plotly drew.

"查看明细" (the rows behind a number) is here too: the tile's filters over the raw table,
bounded, through the result cache and the query door like every other read.
"""
from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from citybi.charts.compile import col, table_ref, where_condition
from citybi.charts.periods import next_period_start, period_start
from citybi.charts.spec import DRILL_TYPES, ChartSpec, DateRangeFilter, Dimension, RelativeDateFilter, Sort, ValueFilter
from citybi.charts.types._base import MISSING

if TYPE_CHECKING:
    import polars as pl

    from citybi.charts.cache import ResultCache
    from citybi.schema import DatasetInfo
    from citybi.warehouse import Warehouse

MAX_STEPS = 10  # a breadcrumb longer than this is not a path a reader follows
DETAIL_ROWS = 1_000  # rows shown (and exported) behind one number; more needs a filter
_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


@dataclass(frozen=True)
class DrillStep:
    """One click: `column` equals `value` — or, with a grain, the date lies in that period."""

    column: str
    value: str | int | float | bool | dt.date
    grain: str | None = None  # 日/周/月/季/年 for a date dimension; value is then the period's first day
    label: str = ""  # the dimension's display name on the clicked chart (区, 日期)

    @property
    def level(self) -> tuple[str, str | None]:
        return self.column, self.grain

    @property
    def period(self) -> tuple[dt.date, dt.date] | None:
        if self.grain is None or not isinstance(self.value, dt.date):
            return None
        start = period_start(_day(self.value), self.grain)
        return start, next_period_start(start, self.grain) - dt.timedelta(days=1)

    @property
    def value_text(self) -> str:
        period = self.period
        if period is None:
            if isinstance(self.value, bool):
                return "是" if self.value else "否"
            return str(self.value)
        start, _end = period
        return {
            "年": f"{start.year}年",
            "季": f"{start.year}年第{(start.month - 1) // 3 + 1}季度",
            "月": f"{start.year}年{start.month}月",
            "周": f"{start.year}年{start.month}月{start.day}日当周",
        }.get(str(self.grain), f"{start.year}年{start.month}月{start.day}日")

    @property
    def text(self) -> str:
        """The breadcrumb's words: 区：北港区, 日期：2025年6月."""
        return f"{self.label or self.column}：{self.value_text}"

    def to_filter(self, info: DatasetInfo) -> ValueFilter | DateRangeFilter:
        """The step as a chart filter on `info` (a period on a date column, else one value)."""
        column = info.column(self.column)
        period = self.period
        if period is not None and column is not None and column.is_temporal:
            return DateRangeFilter(op="date_range", column=self.column, start=period[0], end=period[1])
        value = self.value.year if period is not None and isinstance(self.value, dt.date) else self.value
        return ValueFilter(op="in", column=self.column, values=[value])


def _day(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def with_step(steps: Sequence[DrillStep], step: DrillStep) -> tuple[DrillStep, ...]:
    """The steps after one more click: a click on the same level replaces that level's value
    (and drops the finer levels of the same column below it: 2024年 → 2025年 forgets 2024年3月)."""
    kept: list[DrillStep] = []
    for s in steps:
        if s.level == step.level:
            continue
        if s.column == step.column and s.grain is not None and step.grain is not None and \
                _finer(s.grain, step.grain):
            continue
        kept.append(s)
    return (*kept, step)[-MAX_STEPS:]


_GRAIN_ORDER = {"年": 0, "季": 1, "月": 2, "周": 3, "日": 4}


def _finer(a: str, b: str) -> bool:
    return _GRAIN_ORDER.get(a, 9) > _GRAIN_ORDER.get(b, 9)


def without_step(steps: Sequence[DrillStep], index: int) -> tuple[DrillStep, ...]:
    return tuple(s for i, s in enumerate(steps) if i != index)


# ---------------------------------------------------------------------------- drill paths
def drill_level(spec: ChartSpec, steps: Iterable[DrillStep]) -> int:
    """How far down its drill path the chart is: the leading levels fixed by a step
    (the deepest level stays the last one, filtered to the one value)."""
    if not spec.drill:
        return 0
    fixed = {s.level for s in steps}
    level = 0
    while level < len(spec.drill) - 1 and (spec.drill[level].column, spec.drill[level].grain) in fixed:
        level += 1
    return level


def up_step(spec: ChartSpec, steps: Sequence[DrillStep]) -> int | None:
    """The index of the step that took the chart down its last level (removing it goes up)."""
    level = drill_level(spec, steps)
    if level == 0:
        return None
    above = spec.drill[level - 1]
    for i in range(len(steps) - 1, -1, -1):
        if steps[i].level == (above.column, above.grain):
            return i
    return None


def drilled_spec(spec: ChartSpec, steps: Sequence[DrillStep]) -> ChartSpec:
    """The chart at its current drill level: the first dimension replaced by that level's,
    the title naming the path (各区清运量 · 北港区)."""
    level = drill_level(spec, steps)
    if level == 0:
        return spec
    dim = spec.drill[level]
    old = spec.dimensions[0]
    # the copy carries no path: it is what runs, and its first dimension is no longer the path's first
    update: dict[str, Any] = {"dimensions": [dim, *spec.dimensions[1:]], "drill": []}
    if spec.sort is not None and spec.sort.by in (old.name, old.column):
        update["sort"] = Sort(by=dim.name, order=spec.sort.order)
    last = {s.level: s for s in steps}  # steps built by with_step hold one per level; else the latest wins
    path = [last[(d.column, d.grain)].value_text for d in spec.drill[:level]]
    update["title"] = f"{spec.title} · {' › '.join(path)}"[:200]
    return spec.model_copy(update=update)


# ---------------------------------------------------------------------------- a click → a step
def click_dimension(spec: ChartSpec) -> Dimension | None:
    """The dimension a click on this chart picks a value of (None: a click means nothing here)."""
    if spec.type not in DRILL_TYPES or not spec.dimensions:
        return None
    return spec.dimensions[0]


def _key(value: Any) -> str:
    """A value as plotly or pydeck hands it back, for matching against the frame's values."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = html.unescape(str(value))
    day = _ISO_DAY.match(text)
    if day and (len(text) == 10 or text[10:].strip(" T:0.Z") == ""):
        return day.group(0)
    return text


def _step(dim: Dimension, value: Any) -> DrillStep | None:
    if value is None:  # the "—" category: no filter can say "is missing" as a value list
        return None
    if dim.grain is not None and isinstance(value, dt.date):
        return DrillStep(dim.column, _day(value), dim.grain, dim.name)
    if not isinstance(value, (str, int, float, bool, dt.date)):
        value = str(value)
    return DrillStep(dim.column, value, None, dim.name)


def step_for_value(spec: ChartSpec, frame: pl.DataFrame, shown: Any) -> DrillStep | None:
    """The step for a value as the browser reported it (a bar's x, a slice's label, a region)."""
    dim = click_dimension(spec)
    if dim is None or dim.name not in frame.columns:
        return None
    wanted = _key(shown)
    for value in frame.get_column(dim.name).unique(maintain_order=True).to_list():
        if _key(value) == wanted:
            return _step(dim, value)
    return None


def step_for_points(spec: ChartSpec, frame: pl.DataFrame, points: Sequence[Mapping[str, Any]]) -> DrillStep | None:
    """The step for a plotly selection: the first point whose label, x or y is a category."""
    for point in points:
        for field_name in ("label", "x", "y"):
            if field_name in point and point[field_name] is not None:
                step = step_for_value(spec, frame, point[field_name])
                if step is not None:
                    return step
    return None


def step_for_row(spec: ChartSpec, frame: pl.DataFrame, row: int) -> DrillStep | None:
    """The step for a clicked table row (its first dimension's value)."""
    dim = click_dimension(spec)
    if dim is None or dim.name not in frame.columns or not 0 <= row < frame.height:
        return None
    return _step(dim, frame.get_column(dim.name)[row])


def step_for_region(spec: ChartSpec, frame: pl.DataFrame, objects: Mapping[str, Sequence[Any]]) -> DrillStep | None:
    """The step for a pydeck selection on the district map (each feature names its `region`)."""
    for picked in objects.values():
        for obj in picked:
            props = obj.get("properties", obj) if isinstance(obj, Mapping) else {}
            region = props.get("region") if isinstance(props, Mapping) else None
            if region is not None:
                return step_for_value(spec, frame, region)
    return None


# ---------------------------------------------------------------------------- 查看明细
@dataclass
class DetailRows:
    """The raw rows behind a tile's number (at most `limit`), and how many there are in all."""

    frame: pl.DataFrame
    total: int
    limit: int

    @property
    def truncated(self) -> bool:
        return self.total > self.frame.height

    @property
    def caption(self) -> str:
        if self.truncated:
            return f"共 {self.total:,} 行，显示并导出前 {self.frame.height:,} 行；请增加筛选条件缩小范围"
        return f"共 {self.total:,} 行"


def detail_filters(spec: ChartSpec, date_column: str | None, period: tuple[dt.date, dt.date] | None) -> list[Any]:
    """The filters that decide which rows are behind the tile's number.

    A KPI card's period lives in its options, not its filters: it comes in as `period` and
    replaces any date filter on the card's date column.
    """
    filters = list(spec.filters)
    if spec.type == "kpi" and period is not None and date_column is not None:
        filters = [f for f in filters
                   if not (isinstance(f, (DateRangeFilter, RelativeDateFilter)) and f.column == date_column)]
        filters.append(DateRangeFilter(op="date_range", column=date_column, start=period[0], end=period[1]))
    return filters


def detail_rows(wh: Warehouse, info: DatasetInfo, filters: list[Any], today: dt.date, *,
                cache: ResultCache | None = None, limit: int = DETAIL_ROWS,
                order_by: str | None = None) -> DetailRows:
    """Up to `limit` rows of the dataset under `filters` (newest first when `order_by` is a date)."""
    from citybi.charts.cache import default_cache

    cache = cache or default_cache()
    where = where_condition(filters, info, today)
    columns = [col(c.name) for c in info.columns]
    rows = exp.select(*columns).from_(table_ref(info.name))
    count = exp.select(exp.Count(this=exp.Star()).as_("n", quoted=True)).from_(table_ref(info.name))
    if where is not None:
        rows = rows.where(where)
        count = count.where(where.copy())
    if order_by is not None and info.column(order_by) is not None:
        rows = rows.order_by(exp.Ordered(this=col(order_by), desc=True, nulls_first=False))
    rows = rows.limit(limit)
    result, _hit = cache.run(wh, rows, max_rows=limit)
    counted, _hit = cache.run(wh, count)
    total = int(counted.frame.item(0, 0) or 0)
    return DetailRows(result.frame, total, limit)
