"""How we say what we understood: the Chinese reading, the chart kind, example questions.

The reading is written from the spec, never from the question text, so what the user
sees is exactly what the SQL does. Suggestions are built from the table's own columns
and values so they are always answerable.
"""
from __future__ import annotations

from collections.abc import Sequence

from citybi.schema import DatasetInfo
from citybi.vocabulary import GRAIN_BY_CODE

from .model import AGG_LABEL, Filter, QuerySpec
from .plan import per_label
from .vocab import Vocabulary

OP_LABEL = {"=": "=", "in": "属于", ">": ">", ">=": "≥", "<": "<", "<=": "≤", "between": "介于"}


def filter_text(f: Filter) -> str:
    if f.op == "in":
        return f"{f.column} 属于 {'、'.join(map(str, f.values))}"
    if f.op == "between":
        return f"{f.column} 介于 {f.values[0]} 和 {f.values[1]}"
    return f"{f.column} {OP_LABEL[f.op]} {f.values[0]}"


def reading(spec: QuerySpec) -> str:
    parts = [f"表：{spec.table}"]
    if spec.compare:
        (lo1, hi1, t1), (lo2, hi2, t2) = spec.compare["periods"][:2]
        parts.append(f"对比：「{t1}」（{lo1} 至 {hi1}）与「{t2}」（{lo2} 至 {hi2}，按「{spec.time_column}」）")
    elif spec.time_range:
        lo, hi = spec.time_range
        parts.append(f"时间：{lo}" + (f" 至 {hi}" if hi != lo else "") + f"（按「{spec.time_column}」）")
    if spec.filters:
        parts.append("筛选：" + "，".join(filter_text(f) for f in spec.filters))
    for v in spec.via:
        cond = filter_text(Filter(v["column"], v["op"], list(v["values"])))
        parts.append(f"另一表的条件：只看表「{v['table']}」中 {cond} 的「{v['key'][0]}」")
    if spec.kind == "lookup":
        parts.append("查看：" + "、".join(spec.select))
        return _with_unused(parts, spec)
    if spec.kind == "list":
        parts.append("列出：" + "、".join(spec.select) + ("（去重）" if spec.distinct else ""))
        return _with_unused(parts, spec)
    groups = list(spec.group_by)
    if spec.time_grain:
        groups.insert(0, f"{spec.time_column}（按{GRAIN_BY_CODE[spec.time_grain].word}）")
    if groups:
        parts.append("分组：" + "、".join(groups))
    if spec.kind == "ratio" and spec.ratio_filter:
        m = spec.measures[0] if spec.measures else None
        what = f"{m.column}{AGG_LABEL[m.agg]}" if m is not None and m.column else "记录数"
        parts.append(f"指标：{filter_text(spec.ratio_filter)} 的{what} ÷ 全部{what}")
    elif spec.kind == "diff":
        m = spec.measures[0]
        parts.append(f"指标：{m.column}{AGG_LABEL[m.agg]}，{spec.diff_column} 为 {spec.diff_values[0]} 与 "
                     f"{spec.diff_values[1]} 之差的绝对值")
    elif spec.kind == "nested_top":
        m = spec.measures[0]
        parts.append(f"先取「{spec.inner_measure}」合计最大的 {spec.inner_limit} 个，再比较「{m.column}」")
    else:
        ms = []
        for m in spec.measures:
            if m.agg == "metric" and spec.metric:
                info = (spec.metric.get("info") or {}).get(m.column) or spec.metric
                unit = f"（单位：{info['unit']}）" if info.get("unit") else ""
                ms.append(f"{m.column} = {info['formula']}{unit}")
            elif m.column is None:
                ms.append("日均记录数" if m.agg == "per_day" else "记录数")
            else:
                ms.append(f"{m.column}{AGG_LABEL[m.agg]}")
        if spec.per and spec.measures and not spec.per.get("label"):  # a cross-table metric says its own formula
            per = spec.per
            if spec.measures[0].agg == "metric":  # 环卫工人人均 + the metric 清运量: the metric by name
                ms = [spec.measures[0].column or ""]
            scale = per["scale"]
            den = per["column"] + (f" × {scale:g}" if scale != 1 else "")
            src = f"（表「{per['table']}」）" if per.get("table") else ""
            unit = f"（单位：{per['unit']}）" if per.get("unit") else ""
            ms = [f"{per_label(spec)} = {ms[0]} ÷ ({den}){src}{unit}"]
        parts.append("指标：" + "、".join(ms))
        if spec.compare:
            parts.append("变化 = 前者 − 后者；增长率 = 前者 ÷ 后者 − 1")
        if spec.share:
            what = spec.metric["name"] if spec.metric else ms[0]
            parts.append(f"占比 = 每组的{what} ÷ 所有组合计（同样的筛选条件）")
    if spec.order:
        word = "最大" if spec.order == "desc" else "最小"
        parts.append(f"取{word}的 {spec.limit} 个" if spec.limit else
                     ("排序：从大到小" if spec.order == "desc" else "排序：从小到大"))
    return _with_unused(parts, spec)


def _with_unused(parts: list[str], spec: QuerySpec) -> str:
    if spec.unused:
        parts.append("未用到的词：" + "、".join(f"「{w}」" for w in spec.unused))
    return "；".join(parts)


def chart_kind(spec: QuerySpec, rows: Sequence[tuple], columns: Sequence[str]) -> str:
    if spec.kind in ("lookup", "list"):
        return "number" if len(rows) == 1 and len(columns) == 1 else "table"
    if spec.time_grain and not spec.group_by:
        return "line"
    if spec.group_by or spec.time_grain:
        return "bar" if len(rows) > 1 else "table"
    return "number" if len(rows) == 1 and len(columns) == 1 else "table"


def suggestions(ds: DatasetInfo, vocab: Vocabulary | None, n: int = 4) -> list[str]:
    """Example questions that this table can answer, from its own columns and values."""
    nums = [c.name for c in ds.columns if c.is_numeric and c.type != "year"]
    texts = [c.name for c in ds.columns
             if c.type == "text" and (vocab is None or 2 <= vocab.distinct.get(c.name, 0) <= 50)]
    dates = [c.name for c in ds.columns if c.type in ("date", "timestamp", "month")]
    out: list[str] = []
    if texts and nums:
        out.append(f"各{texts[0]}的{nums[0]}合计")
        out.append(f"哪个{texts[0]}的{nums[0]}最高")
    if dates and nums:
        out.append(f"最近30天每天的{nums[0]}")
    elif dates:
        out.append("上个月一共有多少条记录")
    if texts:
        out.append(f"各{texts[-1]}有多少条记录")
        if vocab is not None and vocab.values.get(texts[0]):
            v = vocab.values[texts[0]][0]
            out.append(f"{v}有多少条记录" if not nums else f"{v}的{nums[-1]}平均是多少")
    if not out:
        out.append("一共有多少条记录")
    return out[:n]
