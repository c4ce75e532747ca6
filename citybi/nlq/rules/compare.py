"""Numeric comparisons: 超过/大于/低于/不足/以上/以下/在…到…之间, with 万/亿 converted
to the column's unit. A multiplier we cannot reconcile with the column's unit is refused
rather than guessed (4亿元 against a column with no unit)."""
from __future__ import annotations

import re

from citybi.schema import DatasetInfo

from ..context import ParseContext
from ..model import Filter
from ..text import MAX_NUMBER, MULTIPLIER, OutOfRange, to_number
from . import register

# digits may carry an exponent (2E3; questions are upper-cased by norm) so 1e309 is not read as 1
NUMBER = r"(\d+(?:\.\d+)?(?:E[+-]?\d+)?|[零一二两三四五六七八九十百千]+)(十万|百万|千万|万|亿|千)?"
UNIT = r"(?:%|元|吨|人|个|次|分|件|条|天|小时|分钟|公里|米|平方米|平方公里|套|户|辆|块)*"
OPS = {
    ">": r"超过了?|超出了?|大于|高于|多于|大过|>|在(?=\d)",
    ">=": r"不低于|不少于|不小于|至少|>=|≥",
    "<": r"低于|小于|少于|不足|不到|<",
    "<=": r"不超过|不高于|不大于|至多|<=|≤",
    "=": r"等于|为|是|=",
}
POST = {"以上": ">=", "及以上": ">=", "之上": ">", "以下": "<=", "及以下": "<=", "以内": "<="}


def col_multiplier(ds: DatasetInfo, column: str) -> float | None:
    """How many ones a unit of the column holds (常住人口（万人） → 10,000); None when unknown."""
    info = ds.column(column)
    text = (info.unit or "") + (column if info else "")
    for word in ("亿", "千万", "百万", "十万", "万", "千"):
        if word in text:
            return MULTIPLIER[word]
    return 1.0 if info and info.unit else None


@register
class CompareRule:
    name = "compare"
    order = 50

    def apply(self, ctx: ParseContext) -> None:
        numeric = {c.name for c in ctx.dataset.columns if c.is_numeric}
        between = (r"(?:在|位于|处于|介于)?" + NUMBER + UNIT + r"(?:到|至|-|~|～|—)" + NUMBER + UNIT
                   + r"(?:之间|区间|范围内|范围|以内)?")
        for m in ctx.find(between):
            col = self._column(ctx, m, numeric)
            if col is None:
                continue
            lo = self._value(ctx, col, m.group(1), m.group(2) or m.group(4))
            hi = self._value(ctx, col, m.group(3), m.group(4) or m.group(2))
            if lo is None or hi is None:
                continue
            ctx.take(m.start(), m.end())
            ctx.spec.filters.append(Filter(col, "between", [min(lo, hi), max(lo, hi)], m.group(0)))
            ctx.filter_columns.add(col)
        for op, pattern in OPS.items():
            for m in ctx.find(r"(?:" + pattern + r")" + NUMBER + UNIT + r"(以上|及以上|之上|以下|及以下|以内)?"):
                if op == "=" and not re.match(r"\d", m.group(1)) and m.group(1) not in "一二三四五六七八九十":
                    continue
                col = self._column(ctx, m, numeric, near=(op == "="))
                if col is None:
                    continue
                v = self._value(ctx, col, m.group(1), m.group(2))
                if v is None:
                    continue
                ctx.take(m.start(), m.end())
                ctx.spec.filters.append(Filter(col, POST.get(m.group(3) or "", op), [v], m.group(0)))
                ctx.filter_columns.add(col)
        for m in ctx.find(NUMBER + UNIT + r"(以上|及以上|之上|以下|及以下)"):
            col = self._column(ctx, m, numeric)
            v = self._value(ctx, col, m.group(1), m.group(2)) if col else None
            if col is None or v is None:
                continue
            ctx.take(m.start(), m.end())
            ctx.spec.filters.append(Filter(col, POST[m.group(3)], [v], m.group(0)))
            ctx.filter_columns.add(col)

    @staticmethod
    def _column(ctx: ParseContext, m: re.Match[str], numeric: set[str], near: bool = False) -> str | None:
        before = [x for x in ctx.mentions if x.kind == "column" and x.column in numeric and x.end <= m.start()]
        if before:
            x = before[-1]
            gap = ctx.q[x.end:m.start()]
            if not near or len(gap) <= 1:
                if len(gap) <= 8:
                    return x.column
        after = [x for x in ctx.mentions if x.kind == "column" and x.column in numeric and x.start >= m.end()]
        if after and not near and after[0].start - m.end() <= 3:
            return after[0].column
        return None

    @staticmethod
    def _value(ctx: ParseContext, col: str | None, num: str, mult: str | None) -> float | None:
        if col is None:
            return None
        v = to_number(num)  # OutOfRange for 1e309: the question layer refuses it
        if v is None:
            return None
        if mult:
            cm = col_multiplier(ctx.dataset, col)
            if cm is None:
                ctx.refuse(f"「{col}」没有标明单位，无法把「{num}{mult}」换算成表里的数值。"
                           f"请直接用表里的数值提问，或在数据页为该列填写单位。")
            v = v * MULTIPLIER[mult] / cm
            if abs(v) > MAX_NUMBER:
                raise OutOfRange(f"数字「{num}{mult}」太大，超出了能比较的范围。请检查数字后再问。")
        return int(v) if v == int(v) else v
