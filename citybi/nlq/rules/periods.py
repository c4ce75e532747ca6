"""Comparisons of periods: "6月比5月多多少", "上周和前一周相比变化了多少", "环比/同比增长率",
"各区本月和上月的工单数对比".

The answer shows both periods' values, the change (current − previous) and the rate
(current ÷ previous − 1). The calendar arithmetic of 环比 and 同比 is the charts' and KPI
cards' own (citybi.charts.periods: previous_range / year_ago_range), so a KPI card and a
question compare the same days. A period that is still running (本月 on the 15th) is
compared to date: 1–15 June with 1–15 May, and the reading says so.

Runs before the time rule and takes the words it reads, so the time rule does not see
two periods (or "前一周" as "the last 7 days") and the aggregation rule does not read
"多多少" as a difference between two named things.
"""
from __future__ import annotations

import datetime as dt
import itertools
import re

from citybi.charts.periods import period_containing, previous_range, year_ago_range

from ..context import ParseContext
from ..timeparse import TimeHit, parse_time
from . import register

YOY = r"同比"
MOM = r"环比"
RATE = r"增长率|增速|增幅|变化率|变动率|涨幅|降幅|下降率|减少率|增长百分比|增长了?百分之多少|增长了?几成"
# the previous period named relative to the one asked about
RELATIVE = (r"(?:和|与|跟|同|比|较)?(?:前一|上一)(?P<unit>个?星期|周|个?月|年|天|日|个?季度|期)"
            r"|(?:和|与|跟|同|比|较)?(?P<yago>去年同期|上年同期|同期)")
CHANGE = (r"(?:相比|比较|对比)?(?:(?:增加|减少|增长|下降|上升|变化|变动|相差|多|少|高|低)了?多少|变化了?多少|"
          r"有何变化|有什么变化|变化情况|变化|增减|增加|减少|增长|下降|对比|比较|相比)")
VS = r"(?:相比|比较|对比)?(?:和|与|跟|同|比|较|对比|相比|、|VS)"
GRAIN_OF_UNIT = {"星期": "周", "个星期": "周", "周": "周", "月": "月", "个月": "月", "年": "年", "天": "日", "日": "日",
                 "季度": "季", "个季度": "季", "期": None}


def grain_of(lo: dt.date, hi: dt.date) -> str | None:
    """日/周/月/季/年 when [lo, hi] is exactly one such calendar period, else None."""
    for g in ("日", "周", "月", "季", "年"):
        if period_containing(lo, g) == (lo, hi):
            return g
    return None


def to_date(lo: dt.date, hi: dt.date, today: dt.date) -> tuple[dt.date, dt.date, bool]:
    """A period still running is compared up to today."""
    return (lo, today, True) if lo <= today < hi else (lo, hi, False)


Current = tuple[dt.date, dt.date, str, tuple[int, int] | None]  # the period asked about, its words' span


@register
class PeriodCompareRule:
    name = "periods"
    order = 15  # before the time rule reads the periods

    def apply(self, ctx: ParseContext) -> None:
        q = ctx.q
        yoy, mom = bool(re.search(YOY, q)), bool(re.search(MOM, q))
        rel = next(iter(ctx.find(RELATIVE)), None)
        hits = [h for h in parse_time(q, ctx.today) if ctx.free(h.start_pos, h.end_pos)]
        if rel is not None:
            hits = [h for h in hits if h.end_pos <= rel.start() or h.start_pos >= rel.end()]
        change = ctx.find(CHANGE)
        two = len(hits) >= 2 and (change or re.search(r"比|对比|比较|相比", q)) and \
            any(re.search(VS + "$", q[a.end_pos:b.start_pos]) for a, b in itertools.pairwise(hits))
        if not (yoy or mom or rel is not None or two):
            return
        notes: list[str] = []
        if two:
            a, b = hits[0], hits[1]
            periods = [(a.start, a.end, a.text), (b.start, b.end, b.text)]
            lesser = re.search(r"少了?多少|低了?多少|减少了?多少|下降了?多少", q) is not None
            between = q[a.end_pos:b.start_pos]
            if between.endswith(("比", "较")):
                if lesser:  # A比B少多少: the answer is B − A, positive
                    periods.reverse()
            elif periods[0][0] < periods[1][0]:
                periods.reverse()  # A和B对比 / 相比: change = the later − the earlier
            taken = [(a.start_pos, a.end_pos), (b.start_pos, b.end_pos)]
            mode = "two"
        else:
            cur = self._current(ctx, hits, notes)
            if cur is None:
                return
            lo, hi, text, span = cur
            lo, hi, running = to_date(lo, hi, ctx.today)
            grain = grain_of(cur[0], cur[1])
            if running:
                notes.append(f"「{text}」还没有结束，按到今天（{hi.isoformat()}）为止的同一段时间比较。")
            if yoy or (rel is not None and rel.group("yago")):
                p_lo, p_hi = year_ago_range((lo, hi), grain)
                mode, prev_text = "yoy", "去年同期"
            else:
                unit = rel.group("unit") if rel is not None and rel.group("unit") else None
                g = GRAIN_OF_UNIT.get(unit or "", None) or grain
                p_lo, p_hi = previous_range((lo, hi), grain or g)
                mode, prev_text = "mom", "上一期"
            periods = [(lo, hi, text), (p_lo, p_hi, prev_text)]
            taken = [span] if span else []
        for start, end in taken:
            ctx.take(start, end)
        for pattern in (YOY, MOM, RATE, RELATIVE, CHANGE):
            ctx.take_all(pattern)
        for a, b in itertools.pairwise(hits):
            vs = re.search(VS + "$", q[a.end_pos:b.start_pos])
            if vs:
                ctx.take(a.end_pos + vs.start(), b.start_pos)
        spec = ctx.spec
        assert spec is not None
        spec.compare = {"mode": mode, "main": "rate" if re.search(RATE, q) else "change",
                        "periods": [[lo.isoformat(), hi.isoformat(), text] for lo, hi, text in periods]}
        first = periods[0]
        spec.time_range = (min(p[0] for p in periods).isoformat(), max(p[1] for p in periods).isoformat())
        spec.time_text = first[2]
        ctx.cues.setdefault("compare", 0)
        ctx.notes.extend(notes)

    @staticmethod
    def _current(ctx: ParseContext, hits: list[TimeHit], notes: list[str]) -> Current | None:
        """The period asked about: the one named, the previous turn's, or this year so far."""
        if hits:
            h = hits[0]
            return h.start, h.end, h.text, (h.start_pos, h.end_pos)
        prior = ctx.prior
        if prior is not None and prior.time_range:
            lo, hi = (dt.date.fromisoformat(x) for x in prior.time_range)
            return lo, hi, prior.time_text or "上一问的时期", None
        if re.search(MOM, ctx.q):  # 环比 with no period: this month so far
            start, text = ctx.today.replace(day=1), "本月以来"
        else:
            start, text = dt.date(ctx.today.year, 1, 1), "今年以来"
        notes.append(f"问题没有说时期，按{text}（{start.isoformat()} 至 {ctx.today.isoformat()}）比较。")
        return start, ctx.today, text, None
