"""The chart builder's form, as data: what the 图表 page edits, and how it maps to a ChartSpec.

Why it exists: the page used to hold the spec ⇄ widget mapping itself (which aggregations a
column may take, which time grains, how a filter row becomes a filter, which labels and
units of a loaded chart survive editing). That is product logic, so it lives here, without
Streamlit, where the CLI and tests can use it: `ChartForm.from_spec(spec, info)` opens a
saved chart, `form.to_spec(info)` builds the spec the page previews and saves, and the two
round-trip (tests/test_chart_form.py). The page only turns form fields into widgets and back
(citybi/ui/chart_form.py).

Fields are named the way the page shows them: the wells 维度 / 指标 / 颜色/系列 hold field
names, where the pseudo-field 记录数 means "count the rows" (COUNT(*)).
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from citybi.charts.spec import (
    DRILL_TYPES,
    ChartSpec,
    DateRangeFilter,
    RangeFilter,
    RelativeDateFilter,
    ValueFilter,
    check_against,
    spec_from_dict,
)
from citybi.errors import UserFacingError
from citybi.metrics import is_cross
from citybi.metrics import unit_text as metric_unit
from citybi.schema import ColumnInfo, DatasetInfo
from citybi.vocabulary import TIME_GRAINS

COUNT = "记录数"  # the pseudo-field "count the rows"
UNTITLED = "未命名图表"
FieldKind = Literal["count", "数值", "日期", "文字"]


def count_field(info: DatasetInfo) -> str:
    """The pseudo-field's name in this dataset (renamed when a real column is called 记录数)."""
    return COUNT if info.column(COUNT) is None else f"{COUNT}（全部行）"


# a named metric of the dataset (citybi.metrics) offered as a measure field: 指标·办结率
METRIC_PREFIX = "指标·"


def metric_field(name: str) -> str:
    return f"{METRIC_PREFIX}{name}"


def metric_of_field(name: str) -> str | None:
    """The metric's name when the field is a metric, else None."""
    return name[len(METRIC_PREFIX):] if name.startswith(METRIC_PREFIX) else None


def metric_fields(info: DatasetInfo) -> list[str]:
    """The dataset's metrics a chart can compute (not the ones needing a second dataset)."""
    return [metric_field(m.name) for m in info.metrics if not is_cross(m)]


def field_kind(column: ColumnInfo | None) -> FieldKind:
    """How the builder treats a field: the row count, a number, a date, or text."""
    if column is None:
        return "count"
    if column.is_numeric:
        return "数值"
    if column.is_temporal or column.type == "year":
        return "日期"
    return "文字"


def grain_choices(column: ColumnInfo | None) -> list[str]:
    """Time grains a dimension on this column may use ([] = not a date; month columns start at 月)."""
    if column is None or not column.is_temporal:
        return []
    return ["月", "季", "年"] if column.type == "month" else list(TIME_GRAINS)


def agg_choices(column: ColumnInfo | None) -> list[str]:
    """Aggregations a measure on this field may use, the default first."""
    if column is None:
        return ["count", "ratio"]
    if column.is_numeric:
        return ["sum", "avg", "max", "min", "count", "count_distinct"]
    if column.is_temporal or column.type == "year":
        return ["count", "count_distinct", "max", "min"]
    return ["count", "count_distinct"]


def ratio_columns(info: DatasetInfo) -> list[str]:
    """Columns a 占比 condition may test: text-like ones (not numbers, not dates)."""
    return [c.name for c in info.columns if not c.is_numeric and not c.is_temporal]


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FilterRow(_Form):
    """One filter as the builder edits it: a column and the settings of its kind."""

    column: str
    mode: Literal["values", "range", "relative", "date_range"]
    values: list[Any] = Field(default_factory=list)
    exclude: bool = False
    min: float | None = None
    max: float | None = None
    period: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    @classmethod
    def from_filter(cls, f: Any) -> FilterRow:
        if isinstance(f, ValueFilter):
            return cls(column=f.column, mode="values", values=list(f.values), exclude=f.op == "not_in")
        if isinstance(f, RangeFilter):
            return cls(column=f.column, mode="range", min=f.min, max=f.max)
        if isinstance(f, RelativeDateFilter):
            return cls(column=f.column, mode="relative", period=f.period)
        if isinstance(f, DateRangeFilter):
            return cls(column=f.column, mode="date_range", start=f.start, end=f.end)
        raise TypeError(f"unknown filter {type(f).__name__}")

    def to_filter(self) -> dict[str, Any] | None:
        """The filter's spec dict, or None while the row is still empty (nothing chosen yet)."""
        if self.mode == "values":
            if not self.values:
                return None
            return {"op": "not_in" if self.exclude else "in", "column": self.column, "values": list(self.values)}
        if self.mode == "range":
            if self.min is None and self.max is None:
                return None
            return {"op": "between", "column": self.column, "min": self.min, "max": self.max}
        if self.mode == "relative":
            return {"op": "relative", "column": self.column, "period": self.period} if self.period else None
        if self.start is None or self.end is None:
            return None
        return {"op": "date_range", "column": self.column, "start": self.start, "end": self.end}


class RatioCondition(_Form):
    """The numerator condition of a 占比 measure: rows whose column is one of the values."""

    column: str
    values: list[Any] = Field(default_factory=list)


class ChartForm(_Form):
    """Everything the 图表 page edits. `base` is the loaded chart, whose labels, units and
    number formats the page cannot edit and therefore keeps."""

    dataset: str
    dims: list[str] = Field(default_factory=list)
    measures: list[str] = Field(default_factory=list)
    series: str | None = None
    grains: dict[str, str | None] = Field(default_factory=dict)
    aggs: dict[str, str] = Field(default_factory=dict)
    ratios: dict[str, RatioCondition] = Field(default_factory=dict)
    filters: list[FilterRow] = Field(default_factory=list)
    type: str = "bar"
    options: dict[str, Any] = Field(default_factory=dict)
    sort_by: str | None = None
    order: Literal["asc", "desc"] = "desc"
    top_n: int = 0
    title: str = ""
    description: str = ""
    base: dict[str, Any] | None = None

    # ------------------------------------------------------------------ from a saved chart
    @classmethod
    def from_spec(cls, spec: ChartSpec, info: DatasetInfo | None = None) -> ChartForm:
        """Open a saved chart in the builder."""
        count = count_field(info) if info is not None else COUNT
        measures = [metric_field(m.metric) if m.metric else count if m.column == "*" else m.column
                    for m in spec.measures]
        ratios: dict[str, RatioCondition] = {}
        for name, m in zip(measures, spec.measures, strict=True):
            if m.agg == "ratio" and m.where and isinstance(m.where[0], ValueFilter):
                ratios[name] = RatioCondition(column=m.where[0].column, values=list(m.where[0].values))
        return cls(
            dataset=spec.dataset,
            dims=[d.column for d in spec.dimensions],
            measures=measures,
            series=spec.series.column if spec.series else None,
            grains={d.column: d.grain for d in spec.group_dimensions},
            aggs={name: m.agg for name, m in zip(measures, spec.measures, strict=True)},
            ratios=ratios,
            filters=[FilterRow.from_filter(f) for f in spec.filters],
            type=spec.type,
            options=dict(spec.options),
            sort_by=spec.sort.by if spec.sort else None,
            order=spec.sort.order if spec.sort else "desc",
            top_n=spec.top_n or 0,
            title=spec.title,
            description=spec.description,
            base=spec.model_dump(mode="json"),
        )

    # ------------------------------------------------------------------ choices the page offers
    def fields(self, info: DatasetInfo) -> list[str]:
        return [count_field(info), *(c.name for c in info.columns), *metric_fields(info)]

    def agg_of(self, info: DatasetInfo, name: str) -> str:
        """The measure's aggregation: the one chosen if allowed for this field, else the default."""
        if metric_of_field(name):
            return "metric"
        choices = agg_choices(info.column(name))
        chosen = self.aggs.get(name)
        return chosen if chosen in choices else choices[0]

    def grain_of(self, info: DatasetInfo, name: str) -> str | None:
        """The dimension's time grain (None = raw values); a date dimension defaults to 月."""
        choices = grain_choices(info.column(name))
        if not choices:
            return None
        if name in self.grains and (self.grains[name] is None or self.grains[name] in choices):
            return self.grains[name]
        return "月"

    def auto_title(self, info: DatasetInfo) -> str:
        """The title a chart gets when the clerk leaves it empty: 各区清运量."""
        if not self.measures:
            return ""
        name = re.sub(r"（[^）]*）$", "", metric_of_field(self.measures[0]) or self.measures[0])
        return (f"各{self.dims[0]}" if self.dims else "") + name

    def is_empty(self) -> bool:
        return not self.dims and not self.measures

    # ------------------------------------------------------------------ to a spec
    def spec_dict(self, info: DatasetInfo) -> dict[str, Any]:
        """The spec as a dict (not yet validated): what the preview and the YAML show."""
        base = self.base or {}
        count = count_field(info)
        kept_measures = {(m.get("column"), m.get("agg")): m for m in base.get("measures") or []}
        kept_dims = {d.get("column"): d for d in [*(base.get("dimensions") or []), base.get("series") or {}] if d}

        def dim(name: str) -> dict[str, Any]:
            grain = self.grain_of(info, name)
            d: dict[str, Any] = {"column": name, "grain": grain}
            kept = kept_dims.get(name)
            if kept and kept.get("label") and kept.get("grain") == grain:
                d["label"] = kept["label"]
            return d

        measures: list[dict[str, Any]] = []
        metrics = {x.name: x for x in info.metrics}
        for name in self.measures:
            mname = metric_of_field(name)
            column = "*" if name == count or mname else name
            agg = self.agg_of(info, name)
            m: dict[str, Any] = {"column": column, "agg": agg}
            if mname:  # the metric's unit and format travel with it (办结率 → .1%)
                m["metric"] = mname
                if mname in metrics:
                    m.update(unit=metric_unit(metrics[mname]) or None, format=metrics[mname].d3_format)
            kept = kept_measures.get((column, agg)) if not mname else None
            if kept:  # label, unit, format and ratio condition survive editing
                m.update({k: v for k, v in kept.items() if k in ("label", "unit", "format", "where") and v})
            ratio = self.ratios.get(name)
            if agg == "ratio" and ratio is not None and ratio.column and ratio.values:
                m["where"] = [{"op": "in", "column": ratio.column, "values": list(ratio.values)}]
            measures.append(m)
        options = dict(self.options)
        if self.type == "kpi" and options.get("target") is None:
            options.pop("target", None)
        if self.type == "map":
            options.setdefault("region_property", "name")
        filters = [f for f in (row.to_filter() for row in self.filters) if f is not None]
        dims = [dim(n) for n in self.dims]
        # the loaded chart's drill path (YAML only) survives editing while it still starts at the first dimension
        drill = base.get("drill") or []
        keep_drill = bool(drill and dims) and self.type in DRILL_TYPES and \
            (drill[0].get("column"), drill[0].get("grain")) == (dims[0]["column"], dims[0]["grain"])
        return {
            **({"drill": drill} if keep_drill else {}),
            "title": self.title.strip() or self.auto_title(info) or UNTITLED,
            "description": self.description,
            "dataset": info.name,
            "type": self.type,
            "dimensions": dims,
            "series": dim(self.series) if self.series else None,
            "measures": measures,
            "filters": filters,
            "sort": {"by": self.sort_by, "order": self.order} if self.sort_by else None,
            "top_n": int(self.top_n) or None,
            "options": options,
        }

    def to_spec(self, info: DatasetInfo) -> ChartSpec:
        """The chart spec, checked against the dataset (ChartSpecError in Chinese otherwise)."""
        spec = spec_from_dict(self.spec_dict(info))
        check_against(spec, info)
        return spec

    def output_names(self, info: DatasetInfo) -> list[str]:
        """Names the result columns will have (what 排序字段 offers), even while the form is incomplete."""
        data = self.spec_dict(info)
        probe = {"title": "预览", "dataset": info.name, "type": "table",
                 "dimensions": [*data["dimensions"], *([data["series"]] if data["series"] else [])],
                 "measures": data["measures"]}
        try:
            return spec_from_dict(probe).output_names()
        except UserFacingError:
            return [*self.dims, *([self.series] if self.series else []), *self.measures]


# ---------------------------------------------------------------------------- chart-type options
def option(default: Any, title: str, *, labels: dict[Any, str] | None = None, choices: str | None = None,
           empty: str | None = None, help: str | None = None, **constraints: Any) -> Any:
    """A chart-type option the builder shows as a widget (use in a type's options model).

    title: the widget's Chinese label; labels: Chinese words for the allowed values (a Literal's
    values, or True/False for a yes/no shown as two choices); choices: where the values come
    from when they depend on the dataset ("date_columns"); empty: what to say when that list is
    empty. Fields declared without option() are kept from a saved chart but not shown.
    """
    extra: dict[str, Any] = {"builder": True}
    if labels is not None:
        extra["labels"] = {json_key(k): v for k, v in labels.items()}
    if choices is not None:
        extra["choices"] = choices
    if empty is not None:
        extra["empty"] = empty
    return Field(default, title=title, description=help, json_schema_extra=extra, **constraints)


def json_key(value: Any) -> str:
    """A value as a dict key in JSON schema extras (True → "true"), so labels survive the schema."""
    return "true" if value is True else "false" if value is False else str(value)


OptionKind = Literal["bool", "choice", "number"]


class OptionField(_Form):
    """One option widget: what the page draws for a titled field of a chart type's options model."""

    key: str
    title: str
    kind: OptionKind
    default: Any = None
    choices: list[Any] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    optional: bool = False  # None is allowed (e.g. no target)
    integer: bool = False
    minimum: float | None = None
    maximum: float | None = None
    help: str | None = None
    empty: str | None = None  # set when the dataset offers nothing to choose: say this instead

    def label_of(self, value: Any) -> str:
        return self.labels.get(json_key(value), str(value))


def _dynamic_choices(source: str, info: DatasetInfo) -> list[Any]:
    if source == "date_columns":
        return [c.name for c in info.columns if c.is_temporal]
    raise ValueError(f"unknown option choice source {source!r}")


def option_fields(model: type[BaseModel], info: DatasetInfo) -> list[OptionField]:
    """The builder widgets of a chart type's options, in declaration order."""
    import types as pytypes
    import typing

    out: list[OptionField] = []
    for key, f in model.model_fields.items():
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        if not extra.get("builder"):
            continue
        annotation = f.annotation
        args = typing.get_args(annotation)
        optional = type(None) in args
        if optional and (typing.get_origin(annotation) in (typing.Union, pytypes.UnionType)):
            annotation = next(a for a in args if a is not type(None))
        labels = dict(extra.get("labels") or {})
        field = {"key": key, "title": f.title or key, "default": None if f.is_required() else f.default,
                 "optional": optional,
                 "labels": labels, "help": f.description}
        if extra.get("choices"):
            choices = _dynamic_choices(str(extra["choices"]), info)
            out.append(OptionField(kind="choice", choices=choices, empty=None if choices else extra.get("empty"),
                                   **field))
        elif typing.get_origin(annotation) is Literal:
            out.append(OptionField(kind="choice", choices=list(typing.get_args(annotation)), **field))
        elif annotation is bool:
            kind: OptionKind = "choice" if labels else "bool"
            out.append(OptionField(kind=kind, choices=[True, False] if labels else [], **field))
        elif annotation in (int, float):
            lo = next((getattr(m, "ge", None) for m in f.metadata if getattr(m, "ge", None) is not None), None)
            hi = next((getattr(m, "le", None) for m in f.metadata if getattr(m, "le", None) is not None), None)
            out.append(OptionField(kind="number", integer=annotation is int, minimum=lo, maximum=hi, **field))
        else:
            raise TypeError(f"option {model.__name__}.{key}: no widget for {annotation!r}")
    return out
