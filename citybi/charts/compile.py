"""Chart spec + dataset → a sqlglot SELECT tree (never SQL text built from user input).

Why trees: every name a clerk picks becomes a quoted identifier (exp.column(..., quoted=True))
and every value a typed literal, so a column called `x"; DROP TABLE` is just an odd column
name. The tree goes to `Warehouse.run`, which checks it again. GROUP BY and ORDER BY use
select-list ordinals: a truncated date aliased with its own column name would otherwise be
grouped by the raw column (DuckDB resolves GROUP BY names to input columns first).

The same builders serve KPI cards (kpi.py): `measure_expr(..., within=cond)` wraps an
aggregate in FILTER (WHERE cond) so one scan yields this period, the previous one and last
year's.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlglot import exp

from citybi import metrics as metric_layer
from citybi.charts.periods import relative_range
from citybi.charts.spec import (
    ChartSpec,
    ChartSpecError,
    DateRangeFilter,
    Dimension,
    Measure,
    RangeFilter,
    RelativeDateFilter,
    ValueFilter,
    check_against,
)
from citybi.schema import ColumnInfo, DatasetInfo
from citybi.vocabulary import GRAIN_BY_ZH


def table_ref(name: str) -> exp.Table:
    # built from an identifier, not exp.to_table(name): a dataset name may contain dots
    return exp.Table(this=exp.to_identifier(name, quoted=True))


def col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def date_lit(d: dt.date) -> exp.Expression:
    return exp.cast(exp.Literal.string(d.isoformat()), "DATE")


def _column(info: DatasetInfo, name: str) -> ColumnInfo:
    c = info.column(name)
    if c is None:  # check_against reports this in Chinese first; this is a guard for direct callers
        raise ChartSpecError([f"列「{name}」在数据集「{info.name}」中不存在"])
    return c


def dimension_expr(dim: Dimension, info: DatasetInfo) -> exp.Expression:
    """The grouping expression: the column, or its date truncated to the grain (as DATE)."""
    c = _column(info, dim.column)
    ref = col(dim.column)
    if dim.grain is None or c.type == "year":
        return ref
    if dim.grain == "日":
        return ref if c.type == "date" else exp.cast(ref, "DATE")
    if dim.grain == "月" and c.type == "month":
        return ref  # month columns already hold the first day of the month
    trunc = exp.Anonymous(this="date_trunc", expressions=[exp.Literal.string(GRAIN_BY_ZH[dim.grain].code), ref])
    return exp.cast(trunc, "DATE")  # DuckDB returns TIMESTAMP even for a DATE input


def value_literal(value: Any, column: ColumnInfo) -> exp.Expression:
    """A literal typed like the column, so `IN` compares numbers with numbers."""
    if column.type == "boolean":
        truth = value if isinstance(value, bool) else str(value).strip().lower() in ("true", "是", "1", "yes")
        return exp.Boolean(this=truth)
    if column.is_numeric or column.type == "year":
        if isinstance(value, bool):
            return exp.Literal.number(int(value))
        return exp.Literal.number(value if isinstance(value, (int, float)) else float(str(value)))
    if column.is_temporal and isinstance(value, dt.date):
        return date_lit(value if not isinstance(value, dt.datetime) else value.date())
    if column.is_temporal:
        return exp.cast(exp.Literal.string(str(value)), "DATE")
    return exp.Literal.string(str(value))


def date_between(ref: exp.Expression, start: dt.date | None, end: dt.date | None) -> exp.Expression:
    """start ≤ day ≤ end for DATE and TIMESTAMP columns alike (end is exclusive next midnight)."""
    parts: list[exp.Expression] = []
    if start is not None:
        parts.append(exp.GTE(this=ref.copy(), expression=date_lit(start)))
    if end is not None:
        parts.append(exp.LT(this=ref.copy(), expression=date_lit(end + dt.timedelta(days=1))))
    return exp.and_(*parts) if len(parts) > 1 else parts[0]


def filter_condition(f: Any, info: DatasetInfo, today: dt.date) -> exp.Expression:
    c = _column(info, f.column)
    ref = col(f.column)
    if isinstance(f, ValueFilter):
        cond: exp.Expression = exp.In(this=ref, expressions=[value_literal(v, c) for v in f.values])
        return exp.Not(this=exp.paren(cond)) if f.op == "not_in" else cond
    if isinstance(f, RangeFilter):
        parts: list[exp.Expression] = []
        if f.min is not None:
            parts.append(exp.GTE(this=ref.copy(), expression=exp.Literal.number(f.min)))
        if f.max is not None:
            parts.append(exp.LTE(this=ref.copy(), expression=exp.Literal.number(f.max)))
        return exp.and_(*parts) if len(parts) > 1 else parts[0]
    if isinstance(f, DateRangeFilter):
        return date_between(ref, f.start, f.end)
    if isinstance(f, RelativeDateFilter):
        return date_between(ref, *relative_range(f.period, today))
    raise TypeError(f"unknown filter {f!r}")


def where_condition(filters: list[Any], info: DatasetInfo, today: dt.date) -> exp.Expression | None:
    conds = [filter_condition(f, info, today) for f in filters]
    return exp.and_(*conds) if conds else None


def _base_aggregate(m: Measure, info: DatasetInfo) -> exp.Expression:
    if m.column == "*":
        return exp.Count(this=exp.Star())
    c = _column(info, m.column)
    ref = col(m.column)
    if m.agg == "count":
        return exp.Count(this=ref)
    if m.agg == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=[ref]))
    if m.agg == "sum" or (m.agg == "ratio" and c.is_numeric):
        # SUM over integers is HUGEINT in DuckDB, which arrives as Decimal(38,0) in polars
        return exp.cast(exp.Sum(this=ref), "BIGINT") if c.type == "integer" else exp.Sum(this=ref)
    if m.agg == "ratio":
        return exp.Count(this=ref)  # ratio over a text column: share of non-empty values
    if m.agg == "avg":
        return exp.Avg(this=ref)
    if m.agg == "max":
        return exp.Max(this=ref)
    if m.agg == "min":
        return exp.Min(this=ref)
    raise TypeError(f"unknown aggregation {m.agg!r}")


def _filtered(agg: exp.Expression, cond: exp.Expression | None) -> exp.Expression:
    if cond is None:
        return agg
    inner = agg.this if isinstance(agg, exp.Cast) else agg
    wrapped = exp.Filter(this=inner.copy(), expression=exp.Where(this=cond.copy()))
    return exp.cast(wrapped, "BIGINT") if isinstance(agg, exp.Cast) else wrapped


def measure_expr(m: Measure, info: DatasetInfo, today: dt.date, within: exp.Expression | None = None) -> exp.Expression:
    """The aggregate for a measure, optionally restricted to rows matching `within`."""
    if m.agg == "metric":  # a named metric: its own formula, the same SQL 问数 and KPI cards use
        defs = {x.name: x for x in info.metrics}
        if m.metric not in defs:
            raise ChartSpecError([f"指标「{m.metric}」不是数据集「{info.name}」的指标"])
        return metric_layer.aggregate_expr(defs[m.metric], defs, within)
    base = _base_aggregate(m, info)
    if m.agg != "ratio":
        return _filtered(base, within)
    num_cond = where_condition(m.where, info, today)
    if within is not None:
        num_cond = exp.and_(within.copy(), num_cond)
    numerator = exp.cast(_filtered(base, num_cond), "DOUBLE")
    denominator = exp.Nullif(this=_filtered(base, within), expression=exp.Literal.number(0))
    return exp.Div(this=numerator, expression=denominator)


def _ordinal(i: int) -> exp.Literal:
    return exp.Literal.number(i + 1)


def compile_spec(spec: ChartSpec, info: DatasetInfo, *, today: dt.date | None = None,
                 check: bool = True) -> exp.Select:
    """The aggregated SELECT for a chart: dimensions (+ series), measures, filters, sort, top-N."""
    if check:
        check_against(spec, info)
    today = today or dt.date.today()
    dims = spec.group_dimensions
    select: list[exp.Expression] = [dimension_expr(d, info).as_(d.name, quoted=True) for d in dims]
    select += [measure_expr(m, info, today).as_(m.name, quoted=True) for m in spec.measures]
    tree = exp.select(*select).from_(table_ref(info.name))
    where = where_condition(spec.filters, info, today)
    if where is not None:
        tree = tree.where(where)
    if dims and spec.measures:
        tree = tree.group_by(*[_ordinal(i) for i in range(len(dims))])
    elif dims:
        tree = tree.distinct()

    order: list[exp.Expression] = []
    first: int | None = None
    if spec.sort is not None:
        first = _sort_index(spec, spec.sort.by)
        order.append(exp.Ordered(this=_ordinal(first), desc=spec.sort.order == "desc", nulls_first=False))
    elif spec.top_n and spec.measures and not spec.series:
        first = len(dims)  # top N without an explicit sort means the largest first
        order.append(exp.Ordered(this=_ordinal(first), desc=True, nulls_first=False))
    # then every dimension ascending: stable output for tests, caches and charts
    order += [exp.Ordered(this=_ordinal(i), nulls_first=False) for i in range(len(dims)) if i != first]
    if order:
        tree = tree.order_by(*order)

    if spec.top_n:
        if spec.series is not None and spec.dimensions and spec.measures:
            # top N categories of the first dimension (over all series), not top N rows
            first = spec.dimensions[0]
            m0 = spec.measures[0]
            top = (exp.select(dimension_expr(first, info)).from_(table_ref(info.name))
                   .group_by(_ordinal(0))
                   .order_by(exp.Ordered(this=measure_expr(m0, info, today), desc=True, nulls_first=False))
                   .limit(spec.top_n))
            if where is not None:
                top = top.where(where.copy())
            tree = tree.where(exp.In(this=dimension_expr(first, info), query=exp.Subquery(this=top)))
        else:
            tree = tree.limit(spec.top_n)
    return tree


def _sort_index(spec: ChartSpec, by: str) -> int:
    names = spec.output_names()
    if by in names:
        return names.index(by)
    for i, d in enumerate(spec.group_dimensions):
        if d.column == by:
            return i
    for j, m in enumerate(spec.measures):
        if m.column == by:
            return len(spec.group_dimensions) + j
    raise ChartSpecError([f"排序字段「{by}」不是图表中的维度或指标"])
