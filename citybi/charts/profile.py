"""Small facts about a dataset's columns that pages and boards keep asking for.

The date span of a date column, "today" for a dataset (the real date, or the data's last
day when the data is old — the bundled samples end in June 2025), and a column's most
frequent values for pick lists. One place, through the result cache, so the chart
builder, the map, the boards and 问数 agree and each costs one tiny cached aggregate.
"""
from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlglot import exp

from citybi.charts.cache import ResultCache, default_cache
from citybi.charts.compile import col, table_ref
from citybi.schema import DatasetInfo
from citybi.warehouse import Warehouse

# data whose last day is within this many days of the real date counts as current
FRESH_DAYS = 7


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None


@functools.lru_cache(maxsize=1024)
def _span_query(dataset: str, column: str) -> tuple[exp.Select, str]:
    """The MIN/MAX tree and its SQL text, built once per column: printing it cost ~1 ms per
    call, and a warm board asks for every tile's span (callers must not modify the tree)."""
    day = exp.cast(col(column), "DATE")
    tree = exp.select(exp.Min(this=day).as_("first", quoted=True),
                      exp.Max(this=day.copy()).as_("last", quoted=True)).from_(table_ref(dataset))
    return tree, tree.sql(dialect="duckdb")


def date_span(wh: Warehouse, dataset: str, column: str, cache: ResultCache | None = None
              ) -> tuple[dt.date, dt.date] | None:
    """First and last day in a date/timestamp column (None when it is empty)."""
    tree, sql = _span_query(dataset, column)
    result, _hit = (cache or default_cache()).run(wh, tree, sql=sql)
    first, last = (_as_date(v) for v in result.frame.row(0)) if result.frame.height else (None, None)
    return (first, last) if first is not None and last is not None else None


def effective_today(last_day: dt.date | None, real_today: dt.date | None = None) -> dt.date:
    """The real date, unless the data ends more than FRESH_DAYS before it (then its last day)."""
    real = real_today or dt.date.today()
    if last_day is None or last_day >= real - dt.timedelta(days=FRESH_DAYS):
        return real
    return last_day


def dataset_today(wh: Warehouse, info: DatasetInfo, cache: ResultCache | None = None,
                  real_today: dt.date | None = None) -> dt.date:
    """"Today" for relative periods (本周, 上个月, 最近7天) on this dataset's first date column."""
    dates = [c.name for c in info.columns if c.is_temporal]
    span = date_span(wh, info.name, dates[0], cache) if dates else None
    return effective_today(span[1] if span else None, real_today)


def top_values(wh: Warehouse, dataset: str, column: str, limit: int, cache: ResultCache | None = None) -> list[Any]:
    """A column's non-null values, most frequent first (for pick lists)."""
    tree = (exp.select(col(column)).from_(table_ref(dataset))
            .where(exp.Not(this=exp.Is(this=col(column), expression=exp.Null())))
            .group_by(exp.Literal.number(1))
            .order_by(exp.Ordered(this=exp.Count(this=exp.Star()), desc=True), exp.Literal.number(1))
            .limit(limit))
    result, _hit = (cache or default_cache()).run(wh, tree)
    return result.frame.to_series(0).to_list()
