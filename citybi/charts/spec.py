"""The chart spec: what a clerk builds without SQL, stored as reviewable YAML.

Why a typed, strict spec: saved charts and boards outlive the screens that made them and
are edited by hand in YAML. pydantic with extra="forbid" turns a typo ("measurs") into a
clear refusal instead of a silently empty chart, and every refusal is translated into
Simplified Chinese saying which setting is wrong and how to fix it. The spec never holds
SQL: compile.py turns it into a sqlglot tree, so user text can only ever become a quoted
identifier or a literal.

Creating a ChartSpec from code (e.g. the question layer keeping an answer as a chart) —
the minimal fields are:

    ChartSpec(
        title="各区清运量",                  # Chinese title shown on the tile
        dataset="环卫清运",                   # catalog dataset name (DatasetInfo.name)
        type="bar",                           # a registered chart type (types.names())
        dimensions=[Dimension(column="区")],  # may be empty for a single total / KPI
        measures=[Measure(column="清运量", agg="sum")],  # column "*" with agg "count" counts rows
    )

Everything else (filters, series, sort, top_n, options, description) is optional. Call
`check_against(spec, info)` before saving to get the dataset-level problems in Chinese.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer, model_validator

from citybi.errors import UserFacingError
from citybi.safe_yaml import YamlRejected, load_user_yaml
from citybi.vocabulary import (
    AGG_LABELS,
    TIME_GRAINS,
    explain,
    is_relative_period,
    relative_periods_text,
    short_value,
)

if TYPE_CHECKING:
    from citybi.schema import DatasetInfo

SPEC_VERSION = 1
# list and text caps: a spec is something a person reads; past these it is a mistake or an attack
MAX_FILTERS = 50
MAX_WHERE = 10
MAX_VALUES = 10_000
MAX_NAME = 300  # column and dataset names (multi-level Excel headers get long)
MAX_LABEL = 100
MAX_DESCRIPTION = 2_000

TimeGrain = Literal["日", "周", "月", "季", "年"]
# metric: the measure is a named metric of the dataset (citybi.metrics), computed by its own formula
Aggregation = Literal["sum", "avg", "count", "count_distinct", "max", "min", "ratio", "metric"]
# a d3-format subset that Python's format() reads the same way (plotly and KPI cards agree)
_FORMAT = re.compile(r"^,?(\.\d{1,2})?[fde%]?$")


# The chart-type registry (citybi.charts.types) sits above this module: chart types import the
# spec, so the spec must not import them. The registry hands its lookup in when it loads
# (citybi/charts/__init__.py imports it first), and the spec asks through this hook.
_type_lookup: Callable[[str], Any] | None = None


def use_chart_types(lookup: Callable[[str], Any]) -> None:
    """Called by the chart-type registry: how a spec finds its type (options model, checks)."""
    global _type_lookup
    _type_lookup = lookup


def chart_type_of(name: str) -> Any:
    """The registered chart type called `name` (ChartSpecError in Chinese when unknown)."""
    if _type_lookup is None:  # only possible if citybi.charts' package init was bypassed
        raise RuntimeError("chart types are not loaded (import citybi.charts.types)")
    return _type_lookup(name)


class ChartSpecError(UserFacingError):
    """A chart spec that cannot be used; `problems` lists each thing to fix, in Chinese."""

    def __init__(self, problems: list[str], *, hint: str = "") -> None:
        self.problems = problems
        super().__init__("图表设置有误：" + "；".join(problems), hint=hint)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------- filters
class ValueFilter(_Model):
    """Keep (in) or drop (not_in) rows whose column equals one of the values."""

    op: Literal["in", "not_in"]
    column: str = Field(min_length=1, max_length=MAX_NAME)
    values: list[str | int | float | bool | dt.date] = Field(min_length=1, max_length=MAX_VALUES)


class RangeFilter(_Model):
    """A numeric range, both ends inclusive; either end may be left open."""

    op: Literal["between"]
    column: str = Field(min_length=1, max_length=MAX_NAME)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_end(self) -> RangeFilter:
        if self.min is None and self.max is None:
            raise ValueError(f"数值范围筛选「{self.column}」需要填写 min 或 max 至少一项")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"数值范围筛选「{self.column}」的 min（{self.min:g}）大于 max（{self.max:g}），请对调")
        return self


class DateRangeFilter(_Model):
    """An absolute date range, both days inclusive; either end may be left open."""

    op: Literal["date_range"]
    column: str = Field(min_length=1, max_length=MAX_NAME)
    start: dt.date | None = None
    end: dt.date | None = None

    @model_validator(mode="after")
    def _one_end(self) -> DateRangeFilter:
        if self.start is None and self.end is None:
            raise ValueError(f"日期范围筛选「{self.column}」需要填写 start 或 end 至少一项")
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"日期范围筛选「{self.column}」的开始日期晚于结束日期，请对调")
        return self


class RelativeDateFilter(_Model):
    """A period relative to `today` (resolved when the chart runs): 最近7天, 本月, 去年…"""

    op: Literal["relative"]
    column: str = Field(min_length=1, max_length=MAX_NAME)
    period: str

    @field_validator("period")
    @classmethod
    def _known(cls, v: str) -> str:
        v = v.strip()
        if is_relative_period(v):
            return v
        raise ValueError(f"相对时间「{short_value(v)}」无法识别，可选：{relative_periods_text()}")


Filter = Annotated[ValueFilter | RangeFilter | DateRangeFilter | RelativeDateFilter, Field(discriminator="op")]


# ---------------------------------------------------------------------------- fields
class Dimension(_Model):
    """A column to group by; temporal columns may be truncated to a grain (日/周/月/季/年)."""

    column: str = Field(min_length=1, max_length=MAX_NAME)
    grain: TimeGrain | None = None
    label: str | None = Field(default=None, max_length=MAX_LABEL)

    @property
    def name(self) -> str:
        """The output column name (what charts, tables and sort refer to)."""
        return self.label or self.column


class Measure(_Model):
    """An aggregated value. ratio = the aggregate under `where` ÷ the same without it."""

    column: str = Field(default="*", min_length=1, max_length=MAX_NAME)
    agg: Aggregation = "sum"
    label: str | None = Field(default=None, max_length=MAX_LABEL)
    unit: str | None = Field(default=None, max_length=MAX_LABEL)
    format: str | None = None
    where: list[Filter] = Field(default_factory=list, max_length=MAX_WHERE)  # ratio numerator condition
    metric: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)  # agg "metric": its name

    @field_validator("format")
    @classmethod
    def _format(cls, v: str | None) -> str | None:
        if v is not None and not _FORMAT.match(v):
            raise ValueError(f"数字格式「{v}」无效，请使用如 ,.0f（千分位整数）、.1f（一位小数）、.1%（百分比）")
        return v

    @model_validator(mode="after")
    def _shape(self) -> Measure:
        if (self.agg == "metric") != (self.metric is not None):
            raise ValueError("指标度量要同时写 agg: metric 和 metric: 指标名称（例如 办结率）")
        if self.agg == "metric":
            if self.where or self.column != "*":
                raise ValueError(f"指标「{self.metric}」自带公式，不能再设置列或 where 条件")
            return self
        if self.column == "*" and self.agg not in ("count", "ratio"):
            raise ValueError(f"「*」（全部记录）只能计数或求占比，不能做「{AGG_LABELS[self.agg]}」，请选择一个数值列")
        if self.agg == "ratio" and not self.where:
            raise ValueError("占比（ratio）指标需要在 where 中写出分子的条件，例如 是否超时 in [true]")
        if self.agg != "ratio" and self.where:
            raise ValueError("只有占比（ratio）指标可以设置 where 条件，请删除 where 或把聚合改为 ratio")
        return self

    @model_serializer(mode="wrap")
    def _without_unused_metric(self, handler: Any) -> Any:
        # charts saved before metrics existed keep exactly their YAML: no `metric: null` on every measure
        data = handler(self)
        if isinstance(data, dict) and data.get("metric") is None:
            data.pop("metric", None)
        return data

    @property
    def is_ratio(self) -> bool:
        """A share or rate (0..1): shown as a percentage, changed by 百分点 (占比, or a percent metric)."""
        return self.agg == "ratio" or (self.agg == "metric" and (self.format or "").endswith("%"))

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        if self.metric:
            return self.metric
        if self.column == "*":
            return "记录数" if self.agg == "count" else "占比"
        if self.agg == "sum":
            return self.column
        return f"{self.column}（{AGG_LABELS[self.agg]}）"


class Sort(_Model):
    by: str = Field(min_length=1, max_length=MAX_NAME)  # a dimension or measure: its output name or its column
    order: Literal["asc", "desc"] = "desc"


class ChartSpec(_Model):
    """One saved chart. `options` are checked by the chart type's own options model."""

    version: Literal[1] = SPEC_VERSION
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    dataset: str = Field(min_length=1, max_length=MAX_NAME)
    type: str = Field(min_length=1, max_length=MAX_LABEL)
    dimensions: list[Dimension] = Field(default_factory=list, max_length=6)
    series: Dimension | None = None
    measures: list[Measure] = Field(default_factory=list, max_length=20)
    filters: list[Filter] = Field(default_factory=list, max_length=MAX_FILTERS)
    sort: Sort | None = None
    top_n: int | None = Field(default=None, ge=1, le=10_000)
    options: dict[str, Any] = Field(default_factory=dict)
    # a drill path (区 → 街道 → 社区, 日期@年 → @月 → @日): a click on a board goes one level down
    drill: list[Dimension] = Field(default_factory=list, max_length=6)

    @model_validator(mode="after")
    def _type_and_shape(self) -> ChartSpec:
        chart_type = chart_type_of(self.type)  # raises ValueError (Chinese) for an unknown type
        problems: list[str] = []
        try:
            chart_type.options_model.model_validate(self.options)
        except ValidationError as err:
            problems += _translate(err, prefix=("options",))
        problems += _output_name_clashes(self) + list(chart_type.check(self)) + _drill_problems(self)
        if self.sort and self.sort.by not in _sortable(self):
            problems.append(f"排序字段「{self.sort.by}」不是图表中的维度或指标，可选：" + "、".join(_sortable(self)))
        if problems:
            raise ValueError("；".join(problems))
        return self

    def typed_options(self) -> BaseModel:
        """The options as the chart type's pydantic model (defaults filled in)."""
        return chart_type_of(self.type).options_model.model_validate(self.options)

    @property
    def group_dimensions(self) -> list[Dimension]:
        """Dimensions then the series dimension: every GROUP BY key, in output order."""
        return [*self.dimensions, *([self.series] if self.series else [])]

    def output_names(self) -> list[str]:
        return [d.name for d in self.group_dimensions] + [m.name for m in self.measures]


DRILL_TYPES = frozenset({"bar", "line", "area", "pie", "map", "table"})  # a click names one category


def _drill_problems(spec: ChartSpec) -> list[str]:
    """A drill path starts at the chart's first dimension and never repeats a level."""
    if not spec.drill:
        return []
    if spec.type not in DRILL_TYPES:
        return [f"「{spec.type}」类型的图表不能设置钻取路径（drill），只有柱状图、折线图、面积图、饼图、地图和表格可以"]
    if len(spec.drill) < 2:
        return ["钻取路径（drill）至少需要两级，例如 区 → 街道"]
    levels = [(d.column, d.grain) for d in spec.drill]
    if len(set(levels)) != len(levels):
        return ["钻取路径（drill）中有重复的层级，请每一级只写一次"]
    if not spec.dimensions or (spec.dimensions[0].column, spec.dimensions[0].grain) != levels[0]:
        return ["钻取路径（drill）的第一级应与图表的第一个维度相同（同一列、同一时间粒度）"]
    return []


def _sortable(spec: ChartSpec) -> list[str]:
    names = spec.output_names()
    cols = [d.column for d in spec.group_dimensions] + [m.column for m in spec.measures if m.column != "*"]
    return list(dict.fromkeys(names + cols))


def _output_name_clashes(spec: ChartSpec) -> list[str]:
    names = spec.output_names()
    dup = sorted({n for n in names if names.count(n) > 1})
    return [f"有多个字段的显示名称都是「{n}」，请给其中一个设置不同的 label" for n in dup]


# ---------------------------------------------------------------------------- board filters
def with_filters(spec: ChartSpec, filters: list[Any], info: DatasetInfo) -> ChartSpec:
    """Apply board-level filters to a spec, skipping those on columns its dataset lacks.

    Board filters AND with the chart's own filters. For a KPI card, a date filter on the
    card's date column sets the card's period instead (filtering it would also remove the
    previous period and last year that 环比/同比 compare against).
    """
    names = {c.name for c in info.columns}
    parsed = [_FILTER_ADAPTER.validate_python(f) if isinstance(f, dict) else f for f in filters]
    extra: list[Any] = []
    options = dict(spec.options)
    for f in parsed:
        if f.column not in names:
            continue
        if (spec.type == "kpi" and options.get("date_column") == f.column
                and isinstance(f, (DateRangeFilter, RelativeDateFilter))):
            options["range"] = ({"relative": f.period} if isinstance(f, RelativeDateFilter)
                                else {"start": f.start, "end": f.end})
            continue
        extra.append(f)
    if not extra and options == spec.options:
        return spec
    return spec.model_copy(update={"filters": [*spec.filters, *extra], "options": options})


def _adapter() -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(Filter)


_FILTER_ADAPTER = _adapter()


def parse_filter(data: dict[str, Any]) -> ValueFilter | RangeFilter | DateRangeFilter | RelativeDateFilter:
    """One filter from a dict (board YAML, UI state); Chinese ChartSpecError when invalid."""
    try:
        return _FILTER_ADAPTER.validate_python(data)
    except ValidationError as err:
        raise ChartSpecError(_translate(err, prefix=("filters",))) from None


# ---------------------------------------------------------------------------- dataset checks
def check_against(spec: ChartSpec, info: DatasetInfo) -> None:
    """Raise ChartSpecError listing every way the spec does not fit the dataset."""
    problems: list[str] = []
    if spec.dataset != info.name and spec.dataset.lower() != info.name.lower():
        problems.append(f"图表使用的数据集是「{spec.dataset}」，但传入的是「{info.name}」")
    known = "、".join(c.name for c in info.columns)

    def col(name: str, where: str) -> Any:
        c = info.column(name)
        if c is None:
            problems.append(f"{where}中的列「{name}」在数据集「{info.name}」中不存在，请从已有列中选择：{known}")
        return c

    for i, d in enumerate(spec.group_dimensions):
        where = "颜色/系列" if spec.series is not None and i == len(spec.dimensions) else f"第{i + 1}个维度"
        c = col(d.column, where)
        if c is not None and d.grain is not None:
            if c.type == "year" and d.grain != "年":
                problems.append(f"{where}「{d.column}」是年份列，只能按「年」汇总，请把时间粒度改为 年 或去掉")
            elif c.type != "year" and not c.is_temporal:
                problems.append(f"{where}「{d.column}」不是日期列，不能设置时间粒度「{d.grain}」，"
                                "请去掉 grain 或换一个日期列")
    for i, d in enumerate(spec.drill[1:], start=2):
        c = col(d.column, f"钻取路径第{i}级")
        if c is not None and d.grain is not None and not (c.is_temporal or c.type == "year"):
            problems.append(f"钻取路径第{i}级「{d.column}」不是日期列，不能设置时间粒度「{d.grain}」")
    metrics = {x.name: x for x in info.metrics}
    for i, m in enumerate(spec.measures):
        where = f"第{i + 1}个指标"
        if m.metric is not None:
            found = metrics.get(m.metric)
            if found is None:
                problems.append(f"{where}「{m.metric}」不是数据集「{info.name}」的指标"
                                + (f"，可用的指标：{'、'.join(metrics)}" if metrics else "（这个数据集还没有指标）"))
            elif getattr(found.formula, "dataset", None) not in (None, info.name):
                problems.append(f"{where}「{m.metric}」要和数据集「{found.formula.dataset}」关联计算，"
                                "图表里暂不能用；请在「问数」里按两表共有的列提问")
        if m.column != "*":
            c = col(m.column, where)
            if c is not None and m.agg in ("sum", "avg") and not c.is_numeric:
                problems.append(f"{where}「{m.column}」不是数值列，不能求{AGG_LABELS[m.agg]}，"
                                f"请改用 计数（count）或 去重计数（count_distinct），或选择数值列")
            if c is not None and m.agg in ("max", "min") and not (c.is_numeric or c.is_temporal or c.type == "year"):
                problems.append(f"{where}「{m.column}」是文字列，不能求{AGG_LABELS[m.agg]}，请选择数值或日期列")
        for f in m.where:
            _check_filter(f, info, f"{where}的占比条件", problems, col)
    for f in spec.filters:
        _check_filter(f, info, "筛选条件", problems, col)
    if problems:
        raise ChartSpecError(problems)


def _check_filter(f: Any, info: DatasetInfo, where: str, problems: list[str], col: Any) -> None:
    c = col(f.column, where)
    if c is None:
        return
    if isinstance(f, RangeFilter) and not c.is_numeric:
        problems.append(f"{where}「{f.column}」不是数值列，不能按数值范围筛选，请改用值列表（in）")
    if isinstance(f, (DateRangeFilter, RelativeDateFilter)) and not c.is_temporal:
        problems.append(f"{where}「{f.column}」不是日期列，不能按日期范围筛选，请选择日期列")
    if isinstance(f, ValueFilter):
        for v in f.values:
            if c.is_numeric and (isinstance(v, bool) or not isinstance(v, (int, float))):
                try:
                    float(str(v))
                except ValueError:
                    problems.append(f"{where}「{f.column}」是数值列，值「{v}」不是数字，请改正")
            if c.type == "boolean" and not isinstance(v, bool) and str(v) not in ("是", "否", "true", "false"):
                problems.append(f"{where}「{f.column}」是是/否列，值「{v}」应为 true/false 或 是/否")


# ---------------------------------------------------------------------------- YAML
def load_spec(text: str | bytes) -> ChartSpec:
    """A ChartSpec from YAML text; every problem comes back as one Chinese ChartSpecError."""
    data = _load_yaml(text, what="图表定义")
    return spec_from_dict(data)


def spec_from_dict(data: Any) -> ChartSpec:
    if not isinstance(data, dict):
        raise ChartSpecError(["图表定义应为「键: 值」形式的设置（YAML 映射），而不是列表或单个值"])
    try:
        return ChartSpec.model_validate(data)
    except ValidationError as err:
        raise ChartSpecError(_translate(err)) from None


def dump_spec(spec: ChartSpec) -> str:
    """YAML a person can review: Chinese kept as is, keys in model order, defaults omitted."""
    data = spec.model_dump(mode="json", exclude_defaults=True)
    data = {"version": SPEC_VERSION, **data}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False)


def load_yaml_text(text: str | bytes, *, what: str = "文件") -> Any:
    """Parse user YAML through the one safe loader (size, depth, alias and tag guards; dates as
    text); any refusal comes back as a Chinese ChartSpecError."""
    return _load_yaml(text, what=what)


def _load_yaml(text: str | bytes, *, what: str) -> Any:
    try:
        return load_user_yaml(text, what=what)
    except YamlRejected as err:
        raise ChartSpecError(err.problems, hint=err.hint) from None


# ---------------------------------------------------------------------------- Chinese errors
_FIELD_LABELS: dict[str, str] = {
    "title": "标题", "description": "说明", "dataset": "数据集", "type": "图表类型", "dimensions": "维度",
    "series": "颜色/系列", "measures": "指标", "filters": "筛选条件", "sort": "排序", "top_n": "前N名",
    "options": "图表选项", "column": "列", "grain": "时间粒度", "label": "显示名称", "agg": "聚合方式",
    "unit": "单位", "format": "数字格式", "where": "占比条件", "op": "筛选方式", "values": "值列表",
    "min": "最小值", "max": "最大值", "start": "开始日期", "end": "结束日期", "period": "相对时间",
    "by": "排序字段", "order": "排序方向", "version": "版本", "drill": "钻取路径",
}
_LIST_ITEMS = {"dimensions": "个维度", "measures": "个指标", "filters": "个筛选条件", "where": "个条件",
               "values": "个值", "drill": "级钻取路径"}
_LITERAL_CHOICES = {
    "agg": "、".join(f"{k}（{v}）" for k, v in AGG_LABELS.items()),
    "grain": "、".join(TIME_GRAINS),
}
_FILTER_OPS = frozenset({"in", "not_in", "between", "date_range", "relative"})


def _translate(err: ValidationError, prefix: tuple[Any, ...] = ()) -> list[str]:
    return explain(err, fields=_FIELD_LABELS, items=_LIST_ITEMS, root="图表定义", prefix=prefix, skip=_FILTER_OPS,
                   literal_choices=_LITERAL_CHOICES)
