"""Time words → a date filter on the table's date column, and 每天/每月 → a time series."""
from __future__ import annotations

import re

from ..context import ParseContext
from ..text import OutOfRange, norm
from ..timeparse import GRAINS, parse_time
from . import register

PER_DAY = r"平均每一?天|每天平均|日均|平均每日|每日平均|平均一天"


@register
class TimeRule:
    name = "time"
    order = 20

    def apply(self, ctx: ParseContext) -> None:
        spec = ctx.spec
        assert spec is not None
        # 日均 inside a column's own name (日均服务人次) is that column, not a per-day average
        names = [m for m in ctx.vocab.scan(ctx.q, ctx.taken) if m.kind == "column"]
        for m in ctx.find(PER_DAY):
            if not any(n.start <= m.start() and m.end() <= n.end and n.end - n.start > m.end() - m.start()
                       for n in names):
                ctx.take(m.start(), m.end())
                ctx.cues.setdefault("per_day", m.start())
        hits = [h for h in parse_time(ctx.q, ctx.today) if ctx.free(h.start_pos, h.end_pos)]
        for g_pattern, grain in GRAINS:
            if ctx.take_all(g_pattern):
                spec.time_grain = spec.time_grain or grain
        if hits:
            if any(h.start > ctx.today for h in hits):
                ctx.refuse("问数只回答已有数据里的事实，不做预测：问题问的是今天以后的时间。"
                           "可以改问过去的情况，例如最近7天或上个月。")
            for h in hits:
                ctx.take(h.start_pos, h.end_pos)
            h = hits[0]
            if len(hits) > 1:
                ctx.notes.append(f"问题里有多个时间（{'、'.join(x.text for x in hits)}），只用了第一个「{h.text}」。")
            # the table itself is about this period (…2019年06月成交表): context, not a filter
            try:
                own = parse_time(norm(ctx.dataset.name + ctx.dataset.display_name), ctx.today)
            except OutOfRange:  # a table called "10000年…" is only a name
                own = []
            if any(o.start <= h.start and h.end <= o.end for o in own):
                ctx.notes.append(f"「{h.text}」与表名所指的时期一致，没有另加时间筛选。")
            else:
                spec.time_range = (h.start.isoformat(), h.end.isoformat())
                spec.time_text = h.text
        if spec.time_range or spec.time_grain or "per_day" in ctx.cues:
            self._pick_column(ctx)

    @staticmethod
    def _pick_column(ctx: ParseContext) -> None:
        spec = ctx.spec
        assert spec is not None
        temporal = ctx.columns_of("date", "timestamp") + ctx.columns_of("month")
        years = [c.name for c in ctx.dataset.columns
                 if c.type == "year" or (c.type == "integer" and re.search(r"年份|年度|^年$", c.name))]
        # a date column the question names wins (成交日期 vs 时间(月份))
        named = [m.column for m in ctx.vocab.scan(ctx.q, [False] * len(ctx.q))
                 if m.kind == "column" and m.column in temporal]
        if named:
            spec.time_column = named[0]
        elif temporal:
            spec.time_column = temporal[0]
        if spec.time_column:
            others = [c for c in temporal if c != spec.time_column]
            if others:
                ctx.alternatives.extend(others)
                ctx.notes.append(f"表里有多个日期列，按「{spec.time_column}」筛选；"
                                 f"也可以指定「{'」「'.join(others)}」。")
            return
        if years and spec.time_range and spec.time_range[0][5:] == "01-01" and spec.time_range[1][5:] == "12-31" \
                and not spec.time_grain and "per_day" not in ctx.cues:
            spec.time_column = years[0]
            return
        if spec.time_range or spec.time_grain or "per_day" in ctx.cues:
            ctx.refuse(f"表「{ctx.dataset.name}」没有日期列，无法按时间筛选或按天/月统计。"
                       "请去掉问题里的时间，或换一张带日期的表。")
