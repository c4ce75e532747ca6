"""Columns, values and table words named in the question → mentions and value filters.

Several values of one column become IN (南湖区和秀洲区 → 区 IN (…), 优或良 / 优良 → IN). A value
that is also part of the table's own name (苏州市吴中区 in 苏州市吴中区土地成交信息表) is
context, not a filter. "X是/为/等于 V" where V is a value of column X is a filter on X even
when V is also the name of a column (首要污染物是PM2.5). A count noun of the table (工单,
投诉, 案件, 记录) followed by 数/量/数量 asks for the row count.
"""
from __future__ import annotations

import re

from ..context import ParseContext
from ..lexicon import COUNT_TAIL
from ..model import Filter
from ..text import norm
from ..vocab import PARTIAL, Mention
from . import register

IS_WORDS = ("是", "为", "等于", "=", "属于", "选")


@register
class MentionRule:
    name = "mentions"
    order = 40

    def apply(self, ctx: ParseContext) -> None:
        spec = ctx.spec
        assert spec is not None
        mentions = self._prefer_values(ctx, ctx.vocab.scan(ctx.q, ctx.taken))
        mentions = self._single_char_values(ctx, mentions)
        mentions.sort(key=lambda m: m.start)
        table_text = norm(ctx.dataset.name + ctx.dataset.display_name)
        by_col: dict[str, list] = {}
        kept = []
        for m in mentions:
            ctx.take(m.start, m.end)
            if m.kind == "table":
                ctx.coverage += 0.5 * len(m.text)
                if m.entries[0].value == "count":
                    tail = re.match(COUNT_TAIL, ctx.q[m.end:])
                    if tail and ctx.free(m.end, m.end + tail.end()):
                        ctx.take(m.end, m.end + tail.end())
                        ctx.cues.setdefault("count", m.start)
                continue
            if m.kind == "value":
                entries = list(m.entries)
                if len({e.column for e in entries}) > 1:
                    # same words in two columns: the coarser column (fewer values) is the usual meaning
                    entries.sort(key=lambda e: ctx.vocab.distinct.get(e.column or "", 0))
                    ctx.notes.append(f"「{m.text}」在多列中都出现，按「{entries[0].column}」理解。")
                e = entries[0]
                if (m.text in table_text and len(ctx.vocab.values.get(e.column or "", [])) <= 1) or \
                        (m.text in table_text and len(m.text) >= 4):
                    ctx.coverage += 0.5 * len(m.text)
                    continue
                ctx.coverage += len(m.text) * (1.0 if e.strength > PARTIAL else 0.5)
                vals = by_col.setdefault(e.column or "", [])
                if e.value not in vals:
                    vals.append(e.value)
                kept.append(m)
                continue
            # naming a measure is what a question is about: it counts more than naming a value
            info = ctx.dataset.column(m.column or "")
            weight = 1.5 if info is not None and info.is_numeric else 1.0
            ctx.coverage += len(m.text) * (weight if m.strength > PARTIAL else 0.4)
            kept.append(m)
        ctx.mentions = kept
        for col, vals in by_col.items():
            texts = "、".join(str(v) for v in vals)
            spec.filters.append(Filter(col, "=" if len(vals) == 1 else "in", vals, texts))
            ctx.value_columns.add(col)

    @staticmethod
    def _prefer_values(ctx: ParseContext, mentions: list[Mention]) -> list[Mention]:
        """首要污染物是PM2.5: after "X是", a span that is both a column and a value of X is the value."""
        out: list[Mention] = []
        for m in mentions:
            values = [e for e in m.entries if e.kind == "value"]
            prev = out[-1] if out else None
            if m.kind == "column" and values and prev is not None and prev.kind == "column":
                gap = ctx.q[prev.end:m.start]
                same = [e for e in values if e.column == prev.column]
                if same and gap in IS_WORDS:
                    m = Mention(m.start, m.end, m.text, tuple(same))
            out.append(m)
        return out

    @staticmethod
    def _single_char_values(ctx: ParseContext, mentions: list[Mention]) -> list[Mention]:
        """One-character values: 优或良 / 优和良 / 优良 → both values of one column (IN); 空气质量优
        (right after a word of its own column) → that value. Replaces single-character mentions."""
        singles = ctx.vocab.single_values
        if not singles:
            return mentions
        loose = {m.start for m in mentions if m.kind == "value" and len(m.text) == 1}
        used = [bool(t) and i not in loose for i, t in enumerate(ctx.taken)]
        for m in mentions:
            if m.start not in loose:
                for i in range(m.start, m.end):
                    used[i] = True
        found: dict[int, Mention] = {}
        chars = "".join(singles)
        for m in re.finditer(f"([{chars}])(?:或者|或|和|与|、|及)?([{chars}])", ctx.q):
            a, b = m.group(1), m.group(2)
            if a == b or any(used[m.start():m.end()]) or a + b == "是否":
                continue
            for ea in singles[a]:
                eb = next((e for e in singles[b] if e.column == ea.column), None)
                if eb is not None:
                    found[m.start(1)] = Mention(m.start(1), m.end(1), a, (ea,))
                    found[m.start(2)] = Mention(m.start(2), m.end(2), b, (eb,))
                    ctx.take(m.start(), m.end())
                    break
        for col in (m for m in mentions if m.kind == "column"):
            ch = ctx.q[col.end:col.end + 1]
            after = ctx.q[col.end + 1:col.end + 2]
            if ch in singles and not used[col.end] and col.end not in found \
                    and (not after or not ("\u4e00" <= after <= "\u9fff") or after in "的天级"):
                e = next((e for e in singles[ch] if e.column == col.column), None)
                if e is not None:
                    found[col.end] = Mention(col.end, col.end + 1, ch, (e,))
                    ctx.take(col.end, col.end + 1)
        if not found:
            return mentions
        return [m for m in mentions if m.start not in found] + list(found.values())
