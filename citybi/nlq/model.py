"""The typed query spec (what we understood) and the Answer (what we show).

The spec sits between the words and the SQL: rules fill it, the planner turns it into a
sqlglot tree, the reading is written from it. It is plain data so it can be serialised,
stored with a saved chart and compared in tests.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

AGG_LABEL = {"sum": "求和", "avg": "平均", "max": "最大值", "min": "最小值", "count": "计数",
             "distinct": "不同值个数", "per_day": "日均（总量÷有数据的天数）", "none": "原值"}


@dataclass
class Filter:
    column: str
    op: str  # "=", "in", ">", ">=", "<", "<=", "between"
    values: list[Any]
    text: str = ""  # the words it came from


@dataclass
class Measure:
    column: str | None  # None = rows (COUNT(*))
    agg: str  # sum | avg | max | min | count | distinct | per_day | none


@dataclass
class QuerySpec:
    table: str
    kind: str = "aggregate"  # aggregate | lookup | list | ratio | diff | nested_top
    measures: list[Measure] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)
    time_grain: str | None = None  # day | week | month | quarter | year (group by time)
    time_column: str | None = None
    time_range: tuple[str, str] | None = None  # ISO dates, closed range
    time_text: str = ""
    filters: list[Filter] = field(default_factory=list)
    order: str | None = None  # "desc" | "asc" (by the first measure)
    order_by: str | None = None  # a raw column to order by (lookup / list)
    limit: int | None = None
    ratio_filter: Filter | None = None  # numerator condition of a ratio
    diff_values: list[Any] = field(default_factory=list)  # the two values whose measures differ
    diff_column: str | None = None
    inner_limit: int | None = None  # nested_top: top-N by inner measure first
    inner_measure: str | None = None
    select: list[str] = field(default_factory=list)  # lookup / list columns
    distinct: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def json_safe(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ") if v.time() != dt.time() else v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


@dataclass
class Answer:
    status: str  # "ok" | "unsupported" | "ambiguous"
    message: str = ""
    reading: str = ""
    table: str | None = None
    sql: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    chart: str = "table"  # bar | line | number | table
    alternatives: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    spec: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    truncated: bool = False  # rows were cut (row cap or list cap); a note says so

    def to_json(self, id: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = {} if id is None else {"id": id}
        out.update({
            "status": self.status, "sql": self.sql, "columns": list(self.columns),
            "rows": [json_safe(list(r)) for r in self.rows], "message": self.message,
            "reading": self.reading, "table": self.table, "chart": self.chart,
            "alternatives": list(self.alternatives), "suggestions": list(self.suggestions),
            "notes": list(self.notes), "spec": json_safe(self.spec) if self.spec else None,
            "truncated": self.truncated,
        })
        return out
