"""Keep a 问数 answer as a chart: QuerySpec (as a dict) → ChartSpec, or an honest "cannot".

Why a separate mapping instead of saving the answer's SQL: a saved chart must be a spec a
clerk can open and edit in the 图表 page and that boards can filter, so the question's
reading (groups, time grain, measures, filters, order, limit) is translated field by
field. Only readings whose meaning the chart spec can express exactly are converted; the
rest (日均, differences, nested top-N, raw lookups) return None with a Chinese reason, so
a saved chart never shows a different number from the answer it came from.

Output names are kept: the chart labels its columns the way the answer did ("月份",
"清运量（吨）求和"), so the saved chart reads like the answer.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

from citybi.charts.spec import (
    ChartSpec,
    ChartSpecError,
    DateRangeFilter,
    Dimension,
    Measure,
    RangeFilter,
    Sort,
    ValueFilter,
)
from citybi.schema import DatasetInfo
from citybi.vocabulary import GRAIN_BY_CODE

from .model import AGG_LABEL

_AGG = {"sum": "sum", "avg": "avg", "max": "max", "min": "min", "count": "count", "distinct": "count_distinct"}
_KIND_REASON = {
    "lookup": "这个回答是逐条查看的明细，不是汇总结果，不能保存为图表；可以到「图表」页用明细表搭建",
    "diff": "这个回答是两个取值之间的差额，图表暂不支持这种计算；可以把两个取值分别作为维度做柱状图比较",
    "nested_top": "这个回答先取前几名再比较另一个指标（两步计算），图表暂不支持；可以分别做两个图表",
}

Result = tuple[ChartSpec | None, str]


def answer_to_chart(answer: Any, *, title: str | None = None, description: str = "",
                    info: DatasetInfo | None = None) -> Result:
    """Convenience for the 问数 page: the Answer's spec and chart kind, titled by the question."""
    if getattr(answer, "status", "") != "ok" or not getattr(answer, "spec", None):
        return None, "只有成功回答的问题才能保存为图表"
    return to_chart(answer.spec, chart=answer.chart, title=title or answer.table or "问数图表",
                    description=description, info=info)


def to_chart(spec: dict[str, Any], *, chart: str = "table", title: str, description: str = "",
             info: DatasetInfo | None = None) -> Result:
    """(ChartSpec, "") or (None, Chinese reason). `info` lets year/number columns map exactly."""
    try:
        return _convert(spec, chart, title, description, info)
    except ChartSpecError as err:
        return None, "无法保存为图表：" + "；".join(err.problems)
    except (KeyError, TypeError, ValueError, IndexError):
        return None, "这个回答的内容不完整，无法保存为图表；请重新提问后再试"


def _convert(spec: dict[str, Any], chart: str, title: str, description: str, info: DatasetInfo | None) -> Result:
    kind = spec.get("kind", "aggregate")
    if kind in _KIND_REASON:
        return None, _KIND_REASON[kind]
    if spec.get("compare"):
        return None, ("这个回答把两个时期并排比较（含变化和增长率），图表暂不支持；可以在「图表」页用指标卡片的"
                      "同比/环比，或按月做柱状图")
    if spec.get("per"):
        return None, "这个回答是一个总量除以人口或面积（人均、每万人、密度），图表暂不支持这种计算"
    if spec.get("share"):
        return None, "这个回答是各组占总数的比例（占比），图表暂不支持这种计算；可以做饼图或柱状图查看各组的数值"
    table = spec["table"]
    filters: list[Any] = []
    for f in spec.get("filters") or []:
        converted = _filter(f, info)
        if isinstance(converted, str):
            return None, converted
        filters.append(converted)

    time_col = spec.get("time_column")
    time_range = spec.get("time_range")
    date_range: tuple[dt.date, dt.date] | None = None
    if time_range and time_col:
        lo, hi = (_as_date(v) for v in time_range)
        c = info.column(time_col) if info is not None else None
        if c is not None and c.type in ("year", "integer"):
            filters.append(RangeFilter(op="between", column=time_col, min=lo.year, max=hi.year))
        else:
            date_range = (lo, hi)

    if kind == "list":
        if not spec.get("distinct"):
            return None, "这个回答是明细列表（逐行列出），不是汇总结果，不能保存为图表"
        dims = [Dimension(column=c) for c in spec.get("select") or []]
        if date_range:
            filters.append(DateRangeFilter(op="date_range", column=time_col, start=date_range[0], end=date_range[1]))
        return ChartSpec(title=title, description=description, dataset=table, type="table",
                         dimensions=dims, filters=filters, top_n=spec.get("limit")), ""

    measures: list[Measure] = []
    if kind == "ratio":
        rf = spec.get("ratio_filter")
        if not rf:
            return None, "占比的条件缺失，无法保存为图表"
        cond = _filter(rf, info)
        if isinstance(cond, str):
            return None, cond
        label = f"{rf.get('text') or '条件'}占比"
        measures.append(Measure(column="*", agg="ratio", where=[cond], label=label, format=".1%"))
    else:
        for m in spec.get("measures") or []:
            agg = m.get("agg")
            if agg == "metric" and spec.get("metric"):  # a named metric: the chart computes it the same way
                sm = (spec["metric"].get("info") or {}).get(m["column"]) or spec["metric"]
                fmt = f".{sm.get('decimals', 2)}%" if sm.get("format") == "percent" else f",.{sm.get('decimals', 2)}f"
                measures.append(Measure(agg="metric", metric=m["column"], unit=sm.get("unit") or None, format=fmt))
                continue
            if agg == "per_day":
                return None, "「日均」是总量除以有数据的天数，图表暂不支持这种计算；可以改问总量或平均值后保存"
            if agg not in _AGG:
                return None, "这个回答直接列出原始数值，没有汇总，不能保存为图表"
            column = "*" if agg == "count" or m.get("column") is None else m["column"]
            measures.append(Measure(column=column, agg=_AGG[agg], label=_measure_label(m)))
    if not measures:
        return None, "这个回答没有可以画图的指标"

    dims: list[Dimension] = []
    grain = spec.get("time_grain")
    if grain:
        if grain not in GRAIN_BY_CODE or not time_col:
            return None, f"时间粒度「{grain}」无法保存为图表"
        dims.append(Dimension(column=time_col, grain=GRAIN_BY_CODE[grain].zh, label=GRAIN_BY_CODE[grain].column_label))
    dims += [Dimension(column=g) for g in spec.get("group_by") or []]

    order = spec.get("order")
    limit = spec.get("limit")
    sort = Sort(by=measures[0].name, order=order) if order in ("asc", "desc") else None
    ctype, series = _chart_type(chart, dims, measures, limit, date_range)
    main_dims = dims if series is None else [d for d in dims if d is not series]
    options: dict[str, Any] = {}
    if ctype == "kpi":
        assert date_range is not None and time_col
        options = {"date_column": time_col, "range": {"start": date_range[0], "end": date_range[1]},
                   "compare": ["同比", "环比"], "sparkline": 0}
    elif date_range:
        filters.append(DateRangeFilter(op="date_range", column=time_col, start=date_range[0], end=date_range[1]))
    if ctype == "table" and sort is None and limit:
        sort = Sort(by=measures[0].name, order="desc")
    out = ChartSpec(title=title, description=description, dataset=table, type=ctype, dimensions=main_dims,
                    series=series, measures=measures, filters=filters, sort=sort, top_n=limit, options=options)
    return out, ""


def _chart_type(chart: str, dims: list[Dimension], measures: list[Measure], limit: int | None,
                date_range: tuple[dt.date, dt.date] | None) -> tuple[str, Dimension | None]:
    """The chart type that shows the same rows: the answer's kind when the spec allows it.

    Two grouping keys become a series (colour) — but top-N over a series means "top N
    categories" in a chart and "top N rows" in the answer, so that case stays a table.
    """
    if not dims:
        if chart == "number" and len(measures) == 1 and date_range is not None and measures[0].agg != "ratio":
            return "kpi", None
        return "table", None
    if chart in ("bar", "line") and len(dims) <= 2 and not (len(dims) == 2 and limit):
        if chart == "line" and dims[0].grain is None:
            return "bar", (dims[1] if len(dims) == 2 else None)
        return chart, (dims[1] if len(dims) == 2 else None)
    return "table", None


def _measure_label(m: dict[str, Any]) -> str:
    # the same words plan.measure_label writes as the answer's column name
    if m.get("column") is None:
        return "日均数量" if m.get("agg") == "per_day" else "数量"
    return f"{m['column']}{AGG_LABEL[m['agg']]}"


def _as_date(v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v)[:10])


def _is_date(v: Any) -> bool:
    if isinstance(v, dt.date):
        return True
    if isinstance(v, str) and len(v) >= 10:
        try:
            dt.date.fromisoformat(v[:10])
        except ValueError:
            return False
        return True
    return False


def _filter(f: dict[str, Any], info: DatasetInfo | None) -> Any:
    """One answer filter as a chart filter, or a Chinese reason string when it has no exact match."""
    column, op, values = f["column"], f["op"], list(f.get("values") or [])
    c = info.column(column) if info is not None else None
    if op in ("=", "in"):
        return ValueFilter(op="in", column=column, values=values)
    if (c is not None and c.is_temporal) or (c is None and values and all(_is_date(v) for v in values)):
        days = [_as_date(v) for v in values]
        if op == "between":
            return DateRangeFilter(op="date_range", column=column, start=days[0], end=days[1])
        one = dt.timedelta(days=1)
        if c is not None and c.type == "timestamp" and op in (">", "<="):
            return f"「{column}」按时刻比较的条件无法精确保存为图表"
        bounds = {">=": (days[0], None), ">": (days[0] + one, None), "<=": (None, days[0]), "<": (None, days[0] - one)}
        start, end = bounds[op]
        return DateRangeFilter(op="date_range", column=column, start=start, end=end)
    nums = [float(v) for v in values]
    if op == "between":
        return RangeFilter(op="between", column=column, min=nums[0], max=nums[1])
    integer = c is not None and c.type == "integer" and all(n.is_integer() for n in nums)
    # the chart's range is inclusive: a strict bound moves to the next representable value
    if op == ">":
        low = nums[0] + 1 if integer else math.nextafter(nums[0], math.inf)
        return RangeFilter(op="between", column=column, min=low)
    if op == "<":
        high = nums[0] - 1 if integer else math.nextafter(nums[0], -math.inf)
        return RangeFilter(op="between", column=column, max=high)
    if op == ">=":
        return RangeFilter(op="between", column=column, min=nums[0])
    if op == "<=":
        return RangeFilter(op="between", column=column, max=nums[0])
    return f"筛选条件「{column} {op}」无法保存为图表"
