"""Yes/no columns: 国有企业 → 是否国有 = '是', 非国有 / 不是国有 → '否'.

A column named 是否X (or of boolean type) is rarely named as such in a question; people
say the X itself. When such a column was mentioned by its X, turn the mention into a
filter on its "yes" value (or "no" after 非/不是/未).
"""
from __future__ import annotations

from ..context import ParseContext
from ..model import Filter
from . import register

YES = ("是", "Y", "YES", "TRUE", "1", "有")
NO = ("否", "N", "NO", "FALSE", "0", "无")


@register
class YesNoRule:
    name = "yesno"
    order = 45  # after mentions, before comparisons and grouping

    def apply(self, ctx: ParseContext) -> None:
        spec = ctx.spec
        assert spec is not None
        for m in list(ctx.mentions):
            if m.kind != "column" or m.column is None:
                continue
            info = ctx.dataset.column(m.column)
            if info is None or not (info.type == "boolean" or info.name.startswith("是否")):
                continue
            if ctx.q[max(0, m.start - 2):m.start].endswith(("各", "按", "是否", "否")):
                continue  # 按是否国有统计: a grouping, not a filter
            negative = ctx.q[max(0, m.start - 2):m.start].endswith(("非", "不是", "未", "没有", "不"))
            if info.type == "boolean":
                value: object = not negative
            else:
                vals = [str(v) for v in ctx.vocab.values.get(m.column, [])]
                pick = [v for v in vals if v.upper() in (NO if negative else YES)]
                if not pick:
                    continue
                value = pick[0]
            spec.filters.append(Filter(m.column, "=", [value], m.text))
            ctx.value_columns.add(m.column)
            ctx.mentions.remove(m)
