"""The analyst's SQL box: DuckDB SQL typed by a person, run through the same door as everything else.

Why it adds so little of its own: the door (Warehouse.run → citybi.querydoor) already refuses
anything but a read-only SELECT over catalog datasets, judged on the parsed tree, and the row
rule (citybi.rowrules) narrows every dataset reference to the caller's scope. A second
checker here would only be a second place to get wrong (Superset's RLS bypass through SQL,
CVE-2025-48912, was a SQL path that did not go through its row filter). What this module adds:
who may use it (access "sql.run": 分析员, 管理员), a parse error that says where in Chinese,
exactly one statement, and the row cap and time limit from settings.

"The result can become a saved chart": a ChartSpec never holds SQL (charts/spec.py), so a query
is saved as a chart only when it says exactly what a spec can say — one dataset, plain columns
and SUM/AVG/COUNT/COUNT(DISTINCT)/MIN/MAX, `col IN (…)`/`col = …` conditions, GROUP BY the
plain columns, ORDER BY one output and LIMIT. The spec is then run and its rows compared with
the query's rows; anything else is refused with the reason, never saved as something else.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from citybi import access, audit
from citybi.charts.runner import run_chart
from citybi.charts.spec import ChartSpec, Dimension, Measure, Sort, ValueFilter
from citybi.errors import QueryRejected, UserFacingError
from citybi.warehouse import QueryResult, Warehouse

MAX_SQL_CHARS = 20_000


def parse_sql(text: str) -> exp.Query:
    """One SELECT statement from `text`, or a QueryRejected saying what is wrong (and where)."""
    text = (text or "").strip()
    if not text:
        raise QueryRejected("请输入一条 SELECT 查询。")
    if len(text) > MAX_SQL_CHARS:
        raise QueryRejected(f"查询太长（{len(text):,} 个字符），最多 {MAX_SQL_CHARS:,} 个字符。")
    try:
        statements = [s for s in sqlglot.parse(text, dialect="duckdb") if s is not None]
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        line, col = first.get("line"), first.get("col")
        where = f"第 {line} 行第 {col} 列附近" if line and col else ""
        near = (first.get("highlight") or "").strip()[:40]
        what = f"「{near}」处无法解析" if near else "无法解析"
        raise QueryRejected(f"SQL 有语法错误：{where}{what}。",
                            hint="请检查括号、引号和逗号；中文列名请用双引号括起来，例如 \"清运量（吨）\"",
                            detail=str(err)[:500]) from err
    except TokenError as err:
        raise QueryRejected("SQL 有语法错误：有没有闭合的引号或无法识别的符号。",
                            hint="请检查引号是否成对", detail=str(err)[:500]) from err
    if len(statements) != 1:
        raise QueryRejected(f"一次只能执行一条查询（这里有 {len(statements)} 条）。", hint="请删掉多余的语句和分号")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise QueryRejected("只能执行 SELECT 查询，不能修改数据或系统设置。", detail=type(tree).__name__)
    return tree


def run_sql(wh: Warehouse, text: str, *, max_rows: int | None = None) -> QueryResult:
    """Run an analyst's query as the current caller (access "sql.run"), through the door."""
    access.require("sql.run")
    tree = parse_sql(text)
    limits = wh.settings.query
    result = wh.run(tree, max_rows=min(max_rows or limits.max_rows, limits.max_rows), timeout_s=limits.timeout_s)
    audit.record_done(wh, "sql.run", text[:1000], {"rows": result.frame.height, "truncated": result.truncated})
    return result


# ------------------------------------------------------------------ SQL → chart spec
_AGGS: dict[type[exp.Expression], str] = {exp.Sum: "sum", exp.Avg: "avg", exp.Max: "max", exp.Min: "min"}


class NotAChart(UserFacingError):
    """A query a chart spec cannot say exactly."""


def _no(reason: str) -> NotAChart:
    return NotAChart(f"这条查询不能保存为图表：{reason}。",
                     hint="图表只能表达：一个数据集、分组列、求和/平均/计数/去重计数/最大/最小、"
                          "「列 IN (…)」或「列 = 值」条件、按一个结果列排序和 LIMIT；其余请在「图表」页制作")


def _column(node: exp.Expression) -> str:
    if isinstance(node, exp.Column) and not node.table and isinstance(node.this, exp.Identifier):
        return node.name
    raise _no(f"「{node.sql('duckdb')[:60]}」不是一个简单的列")


def _literal(node: exp.Expression) -> str | int | float | bool:
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        number = float(node.this)
        return int(number) if node.is_int else number
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    raise _no(f"条件里的「{node.sql('duckdb')[:60]}」不是一个常量")


def _measure(node: exp.Expression, label: str | None) -> Measure:
    if isinstance(node, exp.Count):
        inner = node.this
        if isinstance(inner, exp.Star):
            return Measure(column="*", agg="count", label=label)
        if isinstance(inner, exp.Distinct) and len(inner.expressions) == 1:
            return Measure(column=_column(inner.expressions[0]), agg="count_distinct", label=label)
        return Measure(column=_column(inner), agg="count", label=label)
    agg = _AGGS.get(type(node))
    if agg is None:
        raise _no(f"「{node.sql('duckdb')[:60]}」不是求和、平均、计数、最大或最小")
    return Measure(column=_column(node.this), agg=agg, label=label)  # type: ignore[arg-type]


def _filters(where: exp.Expression | None) -> list[ValueFilter]:
    if where is None:
        return []
    conds: list[exp.Expression] = []
    stack = [where.this]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.And):
            stack += [node.this, node.expression]
        elif isinstance(node, exp.Paren):
            stack.append(node.this)
        else:
            conds.append(node)
    out: list[ValueFilter] = []
    for c in reversed(conds):
        if isinstance(c, exp.EQ):
            out.append(ValueFilter(op="in", column=_column(c.this), values=[_literal(c.expression)]))
        elif isinstance(c, exp.In) and c.expressions and not c.args.get("query"):
            out.append(ValueFilter(op="in", column=_column(c.this), values=[_literal(v) for v in c.expressions]))
        elif isinstance(c, exp.Not) and isinstance(c.this, exp.In) and c.this.expressions:
            inner = c.this
            out.append(ValueFilter(op="not_in", column=_column(inner.this),
                                   values=[_literal(v) for v in inner.expressions]))
        else:
            raise _no(f"条件「{c.sql('duckdb')[:60]}」不是「列 IN (…)」或「列 = 值」")
    return out


def to_chart_spec(text: str, title: str, datasets: set[str]) -> ChartSpec:
    """The table chart that says exactly what `text` says (raises NotAChart with the reason)."""
    tree = parse_sql(text)
    if not isinstance(tree, exp.Select):
        raise _no("含有 UNION 等集合运算")
    allowed = {"expressions", "from_", "where", "group", "order", "limit"}
    extra = [k for k, v in tree.args.items() if v and k not in allowed]
    if extra:
        raise _no(f"含有图表无法表达的部分（{extra[0]}）")
    if any(True for _ in tree.find_all(exp.Subquery)) or tree.args.get("joins"):
        raise _no("含有子查询或连接")
    source = tree.args["from_"].this if tree.args.get("from_") else None
    if not isinstance(source, exp.Table) or source.args.get("db") or source.name not in datasets:
        raise _no("FROM 后面必须是一个数据集")
    dims: list[Dimension] = []
    measures: list[Measure] = []
    outputs: dict[str, str] = {}  # output name → dimension column or measure label
    for item in tree.expressions:
        label = item.alias if isinstance(item, exp.Alias) else None
        node = item.this if isinstance(item, exp.Alias) else item
        if isinstance(node, exp.Column):
            dims.append(Dimension(column=_column(node), label=label))
            outputs[label or node.name] = node.name
        else:
            m = _measure(node, label)
            measures.append(m)
            outputs[label or item.alias_or_name] = label or m.column
    group = tree.args.get("group")
    grouped = sorted(_column(g) for g in group.expressions) if group else []
    if measures and grouped != sorted(d.column for d in dims):
        raise _no("GROUP BY 必须正好是查询里的分组列")
    if not measures and grouped:
        raise _no("没有汇总指标却有 GROUP BY")
    sort = None
    order = tree.args.get("order")
    if order is not None:
        if len(order.expressions) != 1:
            raise _no("只能按一个结果列排序")
        key = order.expressions[0]
        by = key.this.name if isinstance(key.this, exp.Column) else ""
        if by not in outputs:
            raise _no("排序必须按查询结果里的一列")
        sort = Sort(by=by, order="desc" if key.args.get("desc") else "asc")
    top_n = None
    limit = tree.args.get("limit")
    if limit is not None:
        value = limit.expression
        if not (isinstance(value, exp.Literal) and value.is_int):
            raise _no("LIMIT 必须是一个整数")
        top_n = int(value.this)
    return ChartSpec(title=title, dataset=source.name, type="table", dimensions=dims, measures=measures,
                     filters=_filters(tree.args.get("where")), sort=sort, top_n=top_n,
                     description="由 SQL 查询保存")


def _same_rows(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    def rows(f: pl.DataFrame) -> list[tuple[Any, ...]]:
        out = []
        for r in f.rows():
            out.append(tuple(round(v, 6) if isinstance(v, float) else
                             (v.isoformat() if isinstance(v, dt.date) else v) for v in r))
        return sorted(out, key=repr)

    return a.shape == b.shape and rows(a) == rows(b)


def query_as_chart(wh: Warehouse, text: str, title: str) -> ChartSpec:
    """A chart spec for `text`, checked by running both: the spec is returned only when its rows
    are the query's rows (raises NotAChart otherwise). Saving it is the caller's (chart_store)."""
    access.require("charts.edit")
    from citybi.catalog import Catalog

    spec = to_chart_spec(text, title, set(Catalog(wh).names()))
    expected = run_sql(wh, text).frame
    got = run_chart(wh, spec, render=False).frames
    frame = next(iter(got.values())) if len(got) == 1 else None
    if frame is None or not _same_rows(frame, expected):
        raise _no("按图表重新计算的结果与查询结果不一致")
    return spec


def save_query_as_chart(wh: Warehouse, text: str, title: str, *, overwrite: bool = False) -> str:
    """Save `text` as a table chart (query_as_chart's check first); returns the saved chart's name."""
    from citybi.charts.store import chart_store
    from citybi.usertext import file_stem

    title = (title or "").strip() or "SQL 查询"
    spec = query_as_chart(wh, text, title)
    name = file_stem(title, "SQL图表")
    chart_store(wh.settings).save(name, spec, overwrite=overwrite)
    return name
