"""Grouping: 各区 / 每个街道 / 按来源渠道 / 哪个监测站 / 南湖区和秀洲区…分别 → GROUP BY.

The grouping words are one general lexicon, not tuned to any sentence: a column after
各 / 各个 / 每个 / 不同 / 按 / 按照 / 分 / 哪个…, before 分别 / 来统计 / 分组 / 分布…, or
framed by 以…为单位 / 以…为维度 / 以…划分 is grouped by. 逐月 / 每月 are time grains (timewords).
"""
from __future__ import annotations

import re

from ..context import ParseContext
from ..vocab import PARTIAL
from . import register

BEFORE = re.compile(r"(?:(?:各个|各|每个|每一个|每一|每|按照|按|依|哪个|哪些|哪一个|哪一|哪种|哪类|哪家|哪位|哪|"
                    r"不同的?|区分|分不同|逐个|逐一)的?"
                    r"|(?<![\d一二三四五六七八九十])分)$")
AFTER = re.compile(r"^(分别|各自|来统计|统计|来分|分组|排名|排序|汇总|分布)")
# 以街道为单位 / 以区为维度 / 以设施类型划分
FRAME_BEFORE = re.compile(r"以$")
FRAME_AFTER = re.compile(r"^(为单位|为维度|为口径|为单元|划分|来划分|来分)")


@register
class GroupingRule:
    name = "grouping"
    order = 70

    def apply(self, ctx: ParseContext) -> None:
        cols = {c.name: c for c in ctx.dataset.columns}
        for m in ctx.mentions:
            if m.kind != "column" or m.column in ctx.filter_columns:
                continue
            info = cols[m.column]
            if info.is_numeric and info.type != "year":
                continue
            before = ctx.q[max(0, m.start - 4):m.start]
            after = ctx.q[m.end:m.end + 4]
            if re.search(r"(多少|几)个?不同的?$", ctx.q[max(0, m.start - 7):m.start]):
                continue  # 有多少个不同的片区: a distinct count, not a grouping
            framed = bool(FRAME_BEFORE.search(before) and FRAME_AFTER.match(after))
            if BEFORE.search(before) or framed or (AFTER.match(after) and m.strength > PARTIAL):
                if m.column not in ctx.group_positions:
                    ctx.group_positions[m.column] = m.start
                if framed:
                    ctx.take(m.end, m.end + FRAME_AFTER.match(after).end())  # type: ignore[union-attr]
                elif re.match(r"分(?![别布组])", after) and re.search(r"按照?的?$", before):
                    ctx.take(m.end, m.end + 1)  # 按街道分
        # 南湖区和秀洲区…分别 / 各自 → one row per named value
        if re.search(r"分别|各自|各是|各为|各有", ctx.q):
            spec = ctx.spec
            assert spec is not None
            for f in spec.filters:
                if f.op == "in" and f.column not in ctx.group_positions:
                    ctx.group_positions[f.column] = 10_000
