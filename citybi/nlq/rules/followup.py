"""Follow-up turns: "那这个月呢", "秀洲区呢", "只看厨余垃圾", "换成车次", "按街道分", "去掉厨余垃圾".

Analysts ask in turns. A follow-up inherits the previous turn's table, measure, groups,
filters and period, and changes only what it says: a new period replaces the period, a
value of a column replaces the filter on that column, 只看 adds a filter, 换成 swaps a
measure or a value, 按…分 replaces the grouping, 去掉 drops a filter or a grouping.

A turn is a follow-up when there is a previous turn and it either carries a follow-up word
(那 / 呢 / 只看 / 换成 / 去掉 …) or names no measure of its own. A complete question of its
own ("今年南湖区的工单数") starts afresh, so an old filter never leaks into a new question.
Two rules: the markers are taken first (so 改成 is not read as a request to change data),
the merge runs after grouping and before the shape rule decides the measure.
"""
from __future__ import annotations

import re

from ..context import ParseContext
from ..model import AGG_LABEL, Filter, QuerySpec
from ..reading import filter_text
from . import register

LEAD = r"^(?:那么|那|还有|然后|另外|再看看|再看|再|换个)"
TAIL = r"(?:的呢|呢|怎么样|如何|又如何|又是多少|又怎样)[?？。]*$"
ONLY = r"只看|只要|仅看|只统计|只算|只查|只需要|仅统计|仅限|只"
SWITCH = r"换成|改成|换为|改为|改看|换看|变成"
DROP = r"去掉|去除|不看|不要|排除|除去|取消|不分|不限"
# cues that name a measure of the turn's own (a bare 多少 does not: 秀洲区有多少 keeps the measure)
MEASURE_CUES = ("count", "days", "distinct", "ratio", "per_day", "per", "share", "compare", "metric")


@register
class FollowupMarkers:
    name = "followup_markers"
    order = 5

    def apply(self, ctx: ParseContext) -> None:
        if ctx.prior is None:
            return
        # 把南湖区的清运量改成0 is a request to change data, not "switch to…": the intent rule refuses it
        editing = re.search(r"^(?:请|帮我|麻烦)?(?:把|将)", ctx.q) or \
            re.search(f"(?:{SWITCH})[-+]?(?:\\d|[零一二两三四五六七八九十百千万])", ctx.q)
        for name, pattern in (("lead", LEAD), ("tail", TAIL), ("only", ONLY), ("switch", SWITCH)):
            if name == "switch" and editing:
                continue
            if ctx.cue("fu_" + name, pattern):
                ctx.followup_words.append(name)
        for m in ctx.find(DROP):
            ctx.take(m.start(), m.end())
            ctx.followup_words.append("drop")
            # what is dropped runs to the next separator: 去掉厨余垃圾和可回收物
            rest = re.match(r"[^，,。；;]*", ctx.q[m.end():])
            ctx.drop_spans.append((m.end(), m.end() + (rest.end() if rest else 0)))


@register
class FollowupMerge:
    name = "followup_merge"
    order = 85  # after mentions, time, grouping; before the shape rule picks the measure

    def apply(self, ctx: ParseContext) -> None:
        prior = ctx.prior
        spec = ctx.spec
        if prior is None or spec is None or prior.table != spec.table:
            return
        cols = {c.name: c for c in ctx.dataset.columns}
        own_measure = any(m.kind == "column" and m.column in cols and cols[m.column].is_numeric
                          and m.column not in ctx.filter_columns and m.column not in ctx.group_positions
                          and not self._dropped(ctx, m.start) for m in ctx.mentions) \
            or bool(ctx.extra_measures) or any(k in ctx.cues for k in MEASURE_CUES)
        if not ctx.followup_words and own_measure:
            return  # a complete question of its own
        ctx.followup = True
        inherited: list[str] = []

        # --- dropped things: filters on a named value or column, groupings on a named column
        dropped_cols: set[str] = set()
        dropped_vals: list[tuple[str, object]] = []
        for m in list(ctx.mentions):
            if not self._dropped(ctx, m.start):
                continue
            ctx.mentions.remove(m)
            if m.kind == "value":
                dropped_vals += [(e.column or "", e.value) for e in m.entries]
            elif m.column:
                dropped_cols.add(m.column)
                ctx.group_positions.pop(m.column, None)
        for col, val in dropped_vals:
            for f in list(spec.filters):
                if f.column == col and val in f.values:
                    spec.filters.remove(f)
        drop_time = any(re.search(r"时间|日期|期间|时段", ctx.q[a:b]) for a, b in ctx.drop_spans)

        # --- period: a new one replaces the old
        if not spec.time_range and prior.time_range and not drop_time:
            spec.time_range, spec.time_column, spec.time_text = prior.time_range, prior.time_column, prior.time_text
            inherited.append(f"时间 {prior.time_text or ''}（{prior.time_range[0]} 至 {prior.time_range[1]}）")
        if not spec.time_grain and prior.time_grain and not ctx.group_positions:
            spec.time_grain, spec.time_column = prior.time_grain, spec.time_column or prior.time_column

        # --- filters: a new value of a column replaces the filter on that column
        new_cols = {f.column for f in spec.filters}
        kept: list[Filter] = []
        for f in prior.filters:
            if f.column in new_cols or f.column in dropped_cols:
                continue
            vals = [v for v in f.values if (f.column, v) not in dropped_vals]
            if not vals:
                continue
            g = Filter(f.column, f.op if len(vals) == len(f.values) else ("=" if len(vals) == 1 else "in"), vals,
                       f.text)
            kept.append(g)
        if kept:
            inherited.append("筛选 " + "，".join(filter_text(f) for f in kept))
        spec.filters = kept + spec.filters
        ctx.value_columns |= {f.column for f in kept}

        # --- groups: 按…分 replaces them; otherwise the previous groups stay (minus dropped ones)
        if not ctx.group_positions and not (spec.time_grain and not prior.time_grain):
            groups = [g for g in prior.group_by if g not in dropped_cols and g in cols]
            for i, g in enumerate(groups):
                ctx.group_positions[g] = -100 + i
            if groups:
                inherited.append("分组 " + "、".join(groups))
            if prior.order and not spec.order:
                spec.order = prior.order
            if prior.limit and ctx.rank_n is None:
                ctx.rank_n = prior.limit
                if prior.order == "desc":
                    ctx.cues.setdefault("max", -1)
                elif prior.order == "asc":
                    ctx.cues.setdefault("min", -1)

        # --- measure: kept unless the turn names its own (换成车次)
        if not own_measure:
            ctx.inherit_measure = True
            if prior.measures:
                inherited.append("指标 " + "、".join(_measure_text(m.column, m.agg) for m in prior.measures))
        elif prior.measures and not any(k in ctx.cues for k in ("sum", "avg", "max", "min")):
            ctx.prior_agg = prior.measures[0].agg
        ctx.inherited = [f"表 {prior.table}", *inherited]

    @staticmethod
    def _dropped(ctx: ParseContext, pos: int) -> bool:
        return any(a <= pos < b for a, b in ctx.drop_spans)


def _measure_text(column: str | None, agg: str) -> str:
    if column is None:
        return "记录数"
    return f"{column}{AGG_LABEL.get(agg, '')}"


def inherit_shape(ctx: ParseContext) -> bool:
    """Called by the shape rule when a follow-up names no measure: copy the previous turn's
    measure and question form (ratio, share, period comparison, lookup) into this spec."""
    prior: QuerySpec | None = ctx.prior
    spec = ctx.spec
    if prior is None or spec is None or not ctx.inherit_measure:
        return False
    spec.kind = prior.kind if prior.kind in ("aggregate", "ratio") else "aggregate"
    spec.measures = [type(m)(m.column, m.agg) for m in prior.measures] or spec.measures
    spec.ratio_filter = prior.ratio_filter
    spec.share = prior.share
    spec.compare = dict(prior.compare) if prior.compare else None
    spec.per = dict(prior.per) if prior.per else None
    spec.metric = dict(prior.metric) if prior.metric else None
    return bool(spec.measures)

