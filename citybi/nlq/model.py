"""The typed query spec (what we understood) and the Answer (what we show).

The spec sits between the words and the SQL: rules fill it, the planner turns it into a
sqlglot tree, the reading is written from it. It is plain data so it can be serialised,
stored with a saved chart and compared in tests.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from citybi.jsonable import json_safe
from citybi.vocabulary import NLQ_AGG_LABELS

# one word per aggregation, shared with charts (citybi.vocabulary); a named metric says its own name
AGG_LABEL = {**NLQ_AGG_LABELS, "metric": ""}


@dataclass
class Filter:
    column: str
    op: str  # "=", "in", ">", ">=", "<", "<=", "between"
    values: list[Any]
    text: str = ""  # the words it came from


@dataclass
class Measure:
    column: str | None  # None = rows (COUNT(*))
    agg: str  # sum | avg | max | min | count | distinct | per_day | none | metric (column = the metric's name)


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
    unused: list[str] = field(default_factory=list)  # words of the question no rule used (said in the reading)
    share: bool = False  # each group's measure ÷ the total over the same filters (a window)
    compare: dict[str, Any] | None = None  # period comparison: {"mode", "periods": [[lo, hi, label], …]}
    # per-unit measure (人均 / 每万人 / 每平方公里 / 密度): the measure ÷ (SUM(column) × scale), the
    # column in this table or in `table` joined on `key` [this column, that column]
    per: dict[str, Any] | None = None
    # conditions on another table sharing a key (rules/across.py): each {"table", "key": [this column,
    # that column], "column", "op", "values", "text"} keeps only the keys whose row there satisfies it
    via: list[dict[str, Any]] = field(default_factory=list)
    # a named metric (citybi.metrics; rules/metric.py): {"name", "formula", "unit", "format", "decimals",
    # "defs": {name: definition}} — the measure is Measure(name, "metric"), computed by the metric's formula
    metric: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuerySpec:
        """The inverse of to_dict (a stored answer's spec → a spec a follow-up turn can inherit)."""
        d = dict(data)
        d["measures"] = [Measure(**m) for m in d.get("measures") or []]
        d["filters"] = [Filter(**f) for f in d.get("filters") or []]
        if d.get("ratio_filter"):
            d["ratio_filter"] = Filter(**d["ratio_filter"])
        if d.get("time_range"):
            d["time_range"] = tuple(d["time_range"])
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    percent_columns: list[str] = field(default_factory=list)  # 0..1 ratios, shown as percentages
    inherited: list[str] = field(default_factory=list)  # what a follow-up turn kept from the turn before

    def to_json(self, id: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = {} if id is None else {"id": id}
        out.update({
            "status": self.status, "sql": self.sql, "columns": list(self.columns),
            "rows": [json_safe(list(r)) for r in self.rows], "message": self.message,
            "reading": self.reading, "table": self.table, "chart": self.chart,
            "alternatives": list(self.alternatives), "suggestions": list(self.suggestions),
            "notes": list(self.notes), "spec": json_safe(self.spec) if self.spec else None,
            "truncated": self.truncated, "percent_columns": list(self.percent_columns),
            "inherited": list(self.inherited),
        })
        return out
