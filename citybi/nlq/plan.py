"""QuerySpec → one sqlglot SELECT over one catalog table (DuckDB dialect).

Only identifiers from the catalog and literals from the parsed question go into the tree,
always as sqlglot nodes (exp.column, exp.Literal) — never user text as SQL.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlglot import exp

from citybi import metrics as metric_layer
from citybi.schema import DatasetInfo
from citybi.vocabulary import GRAIN_BY_CODE

from .model import AGG_LABEL, Filter, Measure, QuerySpec
from .text import core_name

# result columns holding a 0..1 ratio end with one of these words (the page shows them as %)
RATIO_LABELS = ("占比", "增长率")

# rows a lookup/list answer shows at most when the question names no N (the answer says so)
LIST_CAP = 10_000


def col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def lit(v: Any) -> exp.Expression:
    if isinstance(v, bool):
        return exp.Boolean(this=v)
    if isinstance(v, (int, float)):
        return exp.Literal.number(v)
    if isinstance(v, dt.datetime):
        return exp.cast(exp.Literal.string(v.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(v, dt.date):
        return exp.cast(exp.Literal.string(v.isoformat()), "DATE")
    return exp.Literal.string(str(v))


def table_node(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True))


def filter_expr(f: Filter) -> exp.Expression:
    c = col(f.column)
    if f.op == "in":
        return c.isin(*[lit(v) for v in f.values])
    if f.op == "between":
        return exp.Between(this=c, low=lit(f.values[0]), high=lit(f.values[1]))
    ops = {"=": exp.EQ, ">": exp.GT, ">=": exp.GTE, "<": exp.LT, "<=": exp.LTE}
    return ops[f.op](this=c, expression=lit(f.values[0]))


def _day(name: str) -> exp.Expression:
    return exp.Cast(this=col(name), to=exp.DataType.build("DATE"))


def time_filter(spec: QuerySpec, ds: DatasetInfo) -> exp.Expression | None:
    if not spec.time_range or not spec.time_column:
        return None
    info = ds.column(spec.time_column)
    lo, hi = spec.time_range
    if info is not None and info.type in ("year", "integer"):
        return exp.Between(this=col(spec.time_column), low=exp.Literal.number(int(lo[:4])),
                           high=exp.Literal.number(int(hi[:4])))
    return exp.Between(this=_day(spec.time_column), low=lit(dt.date.fromisoformat(lo)),
                       high=lit(dt.date.fromisoformat(hi)))


def bucket(spec: QuerySpec) -> exp.Expression:
    assert spec.time_column and spec.time_grain
    if spec.time_grain == "day":
        return _day(spec.time_column)
    trunc = exp.DateTrunc(unit=exp.Literal.string(spec.time_grain.upper()), this=col(spec.time_column))
    return exp.Cast(this=trunc, to=exp.DataType.build("DATE"))


def metric_expr(spec: QuerySpec, within: exp.Expression | None = None, name: str | None = None) -> exp.Expression:
    """A named metric of the spec (the first by default) by its own formula (citybi.metrics), optionally
    only over rows matching `within`; a metric whose divisor lives in another table gives its numerator
    here (_per joins)."""
    assert spec.metric
    defs = {n: metric_layer.Metric.model_validate(d) for n, d in spec.metric["defs"].items()}
    m = defs[name or spec.metric["name"]]
    if metric_layer.is_cross(m):
        m = defs[m.formula.numerator]  # type: ignore[union-attr]
    return metric_layer.aggregate_expr(m, defs, within)


def _within(m: Measure, spec: QuerySpec, cond: exp.Expression) -> exp.Expression:
    """A measure over only the rows matching cond (one period of a comparison)."""
    if m.agg == "metric":
        return metric_expr(spec, cond, m.column)
    return exp.Filter(this=measure_expr(m, spec), expression=exp.Where(this=cond))


def percent_metric(spec: QuerySpec, name: str | None = None) -> bool:
    """The spec's (first, or the named) metric is a rate shown as a percentage."""
    if not spec.metric:
        return False
    info = (spec.metric.get("info") or {}).get(name or spec.metric["name"]) or spec.metric
    return info.get("format") == "percent"


def measure_expr(m: Measure, spec: QuerySpec) -> exp.Expression:
    if m.agg == "metric":
        return metric_expr(spec, name=m.column)
    c = col(m.column) if m.column else None
    if m.agg == "count":
        return exp.Count(this=exp.Star())
    if m.agg == "distinct":
        return exp.Count(this=exp.Distinct(expressions=[c]))
    if m.agg == "per_day":
        assert spec.time_column
        total = exp.Sum(this=c) if c is not None else exp.Count(this=exp.Star())
        return exp.Div(this=total, expression=exp.Count(this=exp.Distinct(expressions=[_day(spec.time_column)])))
    if m.agg == "none":
        assert c is not None
        return c
    if m.agg == "days":
        assert m.column
        return exp.Count(this=exp.Distinct(expressions=[_day(m.column)]))
    fn = {"sum": exp.Sum, "avg": exp.Avg, "max": exp.Max, "min": exp.Min}[m.agg]
    return fn(this=c)


def measure_label(m: Measure) -> str:
    if m.column is None:
        return "日均数量" if m.agg == "per_day" else "数量"
    if m.agg == "days":
        return "天数"
    if m.agg == "metric":
        return m.column
    return f"{m.column}{AGG_LABEL[m.agg]}" if m.agg != "none" else m.column


def via_expr(via: dict[str, Any]) -> exp.Expression:
    """A condition on another table as a semi-join: this key IN (that key WHERE condition)."""
    mine, theirs = via["key"]
    cond = Filter(via["column"], via["op"], list(via["values"]), via.get("text", ""))
    inner = exp.select(col(theirs)).from_(table_node(via["table"])).where(filter_expr(cond))
    return col(mine).isin(query=inner)


def _where(q: exp.Select, spec: QuerySpec, ds: DatasetInfo) -> exp.Select:
    for f in spec.filters:
        q = q.where(filter_expr(f))
    for v in spec.via:
        q = q.where(via_expr(v))
    t = time_filter(spec, ds)
    return q.where(t) if t is not None else q


def _between(spec: QuerySpec, ds: DatasetInfo, lo: str, hi: str) -> exp.Expression:
    t = time_filter(QuerySpec(table=spec.table, time_column=spec.time_column, time_range=(lo, hi)), ds)
    assert t is not None
    return t


def _compare(spec: QuerySpec, ds: DatasetInfo) -> exp.Select:
    """Two periods side by side: each period's measure, the change (current − previous) and the
    rate (current ÷ previous − 1), one row per group; rows outside both periods are not read."""
    assert spec.compare and spec.time_column
    m = spec.measures[0]
    (lo1, hi1, t1), (lo2, hi2, t2) = spec.compare["periods"][:2]
    if t1 == t2:
        t1, t2 = f"{t1}（{lo1}起）", f"{t2}（{lo2}起）"
    label = measure_label(m)
    cur = _within(m, spec, _between(spec, ds, lo1, hi1))
    prev = _within(m, spec, _between(spec, ds, lo2, hi2))
    change: exp.Expression = exp.Sub(this=cur.copy(), expression=prev.copy())
    change_label = f"变化（{t1}−{t2}）"
    if percent_metric(spec):  # two rates differ by percentage points, not by a rate
        change = exp.Mul(this=exp.Paren(this=change), expression=exp.Literal.number(100))
        change_label = f"变化（{t1}−{t2}，百分点）"
    rate = exp.Sub(this=exp.Div(this=exp.Cast(this=cur.copy(), to=exp.DataType.build("DOUBLE")),
                                expression=exp.Nullif(this=prev.copy(), expression=exp.Literal.number(0))),
                   expression=exp.Literal.number(1))
    keys = [col(g) for g in spec.group_by]
    q = exp.select(*keys, exp.alias_(cur, f"{t1}{label}", quoted=True), exp.alias_(prev, f"{t2}{label}", quoted=True),
                   exp.alias_(change, change_label, quoted=True),
                   exp.alias_(rate, "增长率", quoted=True)).from_(table_node(spec.table))
    for f in spec.filters:
        q = q.where(filter_expr(f))
    for v in spec.via:
        q = q.where(via_expr(v))
    q = q.where(exp.or_(_between(spec, ds, lo1, hi1), _between(spec, ds, lo2, hi2)))
    if keys:
        q = q.group_by(*keys)
        if spec.order:
            q = q.order_by(exp.Ordered(this=(rate if spec.compare.get("main") == "rate" else change).copy(),
                                       desc=spec.order == "desc"))
        if spec.limit:
            q = q.limit(spec.limit)
    return q


def per_label(spec: QuerySpec) -> str:
    assert spec.per
    if spec.per.get("label"):  # a named metric says its own name
        return str(spec.per["label"])
    m = spec.measures[0]
    what = "数量" if m.column is None else core_name(m.column)
    word = spec.per["word"]
    return f"{what}{word}" if word == "密度" else f"{word}{what}"


def _per(spec: QuerySpec, ds: DatasetInfo) -> exp.Select:
    """A total ÷ (the divisor's total × scale): one table, or two tables each totalled per key first
    and joined on it (no row of either side counted twice)."""
    assert spec.per
    per = spec.per
    m = spec.measures[0]
    num = measure_expr(m, spec)
    label = per_label(spec)
    num_label, den_label = per.get("num_label") or measure_label(m), f"{per['column']}{AGG_LABEL['sum']}"

    def ratio(n: exp.Expression, d: exp.Expression) -> exp.Expression:
        scaled = exp.Mul(this=d, expression=exp.Literal.number(per["scale"])) if per["scale"] != 1 else d
        return exp.Div(this=exp.Cast(this=n, to=exp.DataType.build("DOUBLE")),
                       expression=exp.Nullif(this=scaled, expression=exp.Literal.number(0)))

    if not per.get("table"):
        den = exp.Sum(this=col(per["column"]))
        value = ratio(num.copy(), den.copy())
        keys = [col(g) for g in spec.group_by]
        q = exp.select(*keys, exp.alias_(num, num_label, quoted=True), exp.alias_(den, den_label, quoted=True),
                       exp.alias_(value, label, quoted=True)).from_(table_node(spec.table))
        q = _where(q, spec, ds)
        if keys:
            q = q.group_by(*keys)
    else:
        key = per.get("key") or []
        a_keys = [exp.alias_(col(key[0]), "k", quoted=True)] if key else []
        side_a = _where(exp.select(*a_keys, exp.alias_(num, "num", quoted=True)).from_(table_node(spec.table)),
                        spec, ds)
        b_keys = [exp.alias_(col(key[1]), "k", quoted=True)] if key else []
        side_b = exp.select(*b_keys, exp.alias_(exp.Sum(this=col(per["column"])), "den", quoted=True)) \
            .from_(table_node(per["table"]))
        for column, values in per.get("filters") or []:
            side_b = side_b.where(col(column).isin(*[lit(v) for v in values]))
        if key:
            side_a, side_b = side_a.group_by(col(key[0])), side_b.group_by(col(key[1]))
        a_num, b_den = exp.column("num", table="a", quoted=True), exp.column("den", table="b", quoted=True)
        outs: list[exp.Expression] = [exp.alias_(exp.column("k", table="a", quoted=True), key[0], quoted=True)] \
            if key else []
        outs += [exp.alias_(a_num, num_label, quoted=True), exp.alias_(b_den.copy(), den_label, quoted=True),
                 exp.alias_(ratio(a_num.copy(), b_den.copy()), label, quoted=True)]
        a_sub = exp.Subquery(this=side_a, alias=exp.TableAlias(this=exp.to_identifier("a")))
        b_sub = exp.Subquery(this=side_b, alias=exp.TableAlias(this=exp.to_identifier("b")))
        q = exp.select(*outs).from_(a_sub)
        if key:
            q = q.join(b_sub, on=exp.column("k", table="a", quoted=True).eq(exp.column("k", table="b", quoted=True)))
        else:
            q = q.join(b_sub, join_type="cross")
        value = ratio(a_num.copy(), b_den.copy())
    if spec.order:
        q = q.order_by(exp.Ordered(this=value.copy(), desc=spec.order == "desc"))
    if spec.limit:
        q = q.limit(spec.limit)
    return q


def days_with_data(spec: QuerySpec, ds: DatasetInfo) -> exp.Select:
    """How many days of the question's period (under its filters) have rows: count, first, last."""
    assert spec.time_column
    day = _day(spec.time_column)
    q = exp.select(exp.Count(this=exp.Distinct(expressions=[day])), exp.Min(this=day.copy()),
                   exp.Max(this=day.copy())).from_(table_node(spec.table))
    return _where(q, spec, ds)


def build(spec: QuerySpec, ds: DatasetInfo) -> exp.Select:
    src = table_node(spec.table)
    if spec.kind in ("lookup", "list"):
        q = exp.select(*[col(c) for c in spec.select]).from_(src)
        if spec.distinct:
            q = q.distinct()
        q = _where(q, spec, ds)
        if spec.order_by:
            q = q.order_by(exp.Ordered(this=col(spec.order_by), desc=spec.order == "desc"))
        return q.limit(spec.limit or LIST_CAP)
    if spec.kind == "diff":
        m = spec.measures[0]
        assert spec.diff_column and m.column
        parts = []
        for v in spec.diff_values:
            cond = exp.Where(this=col(spec.diff_column).eq(lit(v)))
            agg = exp.Avg(this=col(m.column)) if m.agg == "avg" else exp.Sum(this=col(m.column))
            parts.append(exp.Filter(this=agg, expression=cond))
        diff = exp.Abs(this=exp.Sub(this=parts[0], expression=parts[1]))
        q = exp.select(exp.alias_(diff, f"{m.column}差额", quoted=True)).from_(src)
        q = _where(q, spec, ds)
        return q.where(col(spec.diff_column).isin(*[lit(v) for v in spec.diff_values]))
    if spec.kind == "ratio":
        assert spec.ratio_filter
        m = spec.measures[0] if spec.measures else Measure(None, "count")
        num = exp.Filter(this=measure_expr(m, spec), expression=exp.Where(this=filter_expr(spec.ratio_filter)))
        ratio = exp.Div(this=exp.Cast(this=num, to=exp.DataType.build("DOUBLE")),
                        expression=exp.Nullif(this=measure_expr(m, spec), expression=exp.Literal.number(0)))
        q = exp.select(*[col(g) for g in spec.group_by],
                       exp.alias_(ratio, f"{spec.ratio_filter.text or '条件'}占比", quoted=True)).from_(src)
        q = _where(q, spec, ds)
        if not spec.group_by:
            return q
        q = q.group_by(*[col(g) for g in spec.group_by])
        if spec.order:
            q = q.order_by(exp.Ordered(this=ratio.copy(), desc=spec.order == "desc"))
        return q.limit(spec.limit) if spec.limit else q
    if spec.kind == "nested_top":
        assert spec.inner_measure and spec.inner_limit
        keys = [col(g) for g in spec.group_by]
        m = spec.measures[0]
        inner = exp.select(*keys, exp.alias_(exp.Sum(this=col(spec.inner_measure)), "_inner", quoted=True),
                           exp.alias_(exp.Sum(this=col(m.column)), "_outer", quoted=True)).from_(src)
        inner = _where(inner, spec, ds).group_by(*keys)
        inner = inner.order_by(exp.Ordered(this=exp.column("_inner", quoted=True), desc=True)).limit(spec.inner_limit)
        outer = exp.select(*[col(g) for g in spec.group_by],
                           exp.alias_(exp.column("_outer", quoted=True), measure_label(m), quoted=True))
        outer = outer.from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("top_n"))))
        return outer.order_by(exp.Ordered(this=exp.column("_outer", quoted=True),
                                          desc=spec.order == "desc")).limit(1)
    if spec.compare:
        return _compare(spec, ds)
    if spec.per and spec.measures:
        return _per(spec, ds)
    # aggregate
    keys: list[exp.Expression] = [col(g) for g in spec.group_by]
    selects: list[exp.Expression] = list(keys)
    if spec.time_grain:
        b = bucket(spec)
        keys.insert(0, b)
        selects.insert(0, exp.alias_(b, GRAIN_BY_CODE[spec.time_grain].column_label, quoted=True))
    mexprs = [measure_expr(m, spec) for m in spec.measures]
    selects += [exp.alias_(e, measure_label(m), quoted=True) for e, m in zip(mexprs, spec.measures, strict=True)]
    if spec.share and mexprs:
        # a window over the grouped result: each group's measure ÷ the total of all groups (same filters)
        total = exp.Window(this=exp.Sum(this=mexprs[0].copy()))
        share = exp.Div(this=exp.Cast(this=mexprs[0].copy(), to=exp.DataType.build("DOUBLE")),
                        expression=exp.Nullif(this=total, expression=exp.Literal.number(0)))
        selects.append(exp.alias_(share, f"{measure_label(spec.measures[0])}占比", quoted=True))
    q = _where(exp.select(*selects).from_(src), spec, ds)
    if keys:
        q = q.group_by(*keys)
    if spec.order and mexprs:
        q = q.order_by(exp.Ordered(this=mexprs[0], desc=spec.order == "desc"))
        if spec.time_grain:
            q = q.order_by(keys[0], append=True)
    elif spec.time_grain:
        q = q.order_by(keys[0])
    if spec.limit:
        q = q.limit(spec.limit)
    return q
