"""Conditions that live in another table: 常住人口超过50万的区的清运量, 面积不足100平方公里的区
有多少工单, 设施类型是公厕的街道的事件数.

The measure is in this table; the condition is on a column of another table that shares a key
with this one (区 here, 区 / 区县名称 there — matched by their values, as per-unit divisors
are). The condition becomes a semi-join, `区 IN (SELECT 区 FROM 区县概况 WHERE 常住人口 > 50)`,
so no row of this table is counted twice and nothing of the other table is summed. The reading
names the other table and the condition. A condition whose table shares no key is left for the
honesty check to refuse, never dropped.
"""
from __future__ import annotations

import re

from citybi.schema import DatasetInfo

from ..context import ParseContext
from ..model import Filter
from ..text import MAX_NUMBER, MULTIPLIER, OutOfRange, to_number
from ..vocab import EXACT, PARTIAL, Mention, Vocabulary
from . import register
from .compare import NUMBER, OPS, POST, UNIT, col_multiplier
from .per import matching_column

_TAIL = r"(以上|及以上|之上|以下|及以下|以内)?"
# the comparison right after the other table's column: 常住人口超过50万 / 面积在100平方公里以上 / 人口50万以下
_AFTER = [(op, re.compile(r"(?:的)?(?:" + pat + r")" + NUMBER + UNIT + _TAIL)) for op, pat in OPS.items() if op != "="]
_BARE = re.compile(r"(?:的)?" + NUMBER + UNIT + r"(以上|及以上|之上|以下|及以下)")


@register
class AcrossRule:
    name = "across"
    order = 55  # after this table's own mentions (40) and comparisons (50): what they took is theirs

    def apply(self, ctx: ParseContext) -> None:
        spec = ctx.spec
        assert spec is not None
        for other, vocab in ctx.other_tables():
            for m in vocab.scan(ctx.q, ctx.taken):
                if not ctx.free(m.start, m.end):
                    continue  # an earlier condition of this loop took it
                found = self._condition(ctx, other, m)
                if found is None:
                    continue
                cond, end = found
                key = self._key(ctx, vocab, cond.column)
                if key is None:
                    continue  # no shared key: the words stay free and the honesty check speaks
                end = self._named_key(ctx, key[0], end)
                ctx.take(m.start, end)
                # half weight: a table that owns the condition's column must still win the routing
                ctx.coverage += 0.5 * (end - m.start)
                spec.via.append({"table": other.name, "key": key, "column": cond.column, "op": cond.op,
                                 "values": list(cond.values), "text": cond.text})
                pair = f"「{key[0]}」" if key[0] == key[1] else f"「{key[0]}」↔「{key[1]}」"
                ctx.notes.append(f"「{cond.text}」是表「{other.name}」的条件：只统计在该表中满足它的"
                                 f"「{key[0]}」（两表按{pair}对应）。")

    @staticmethod
    def _condition(ctx: ParseContext, other: DatasetInfo, m: Mention) -> tuple[Filter, int] | None:
        info = other.column(m.column or "")
        if info is None:
            return None
        if m.kind == "value" and m.strength >= EXACT and len(m.text) >= 2 and info.type == "text":
            return Filter(info.name, "=", [m.entries[0].value], m.text), m.end
        if m.kind != "column" or not info.is_numeric or m.strength <= PARTIAL:
            return None
        for op, pattern in [*_AFTER, (None, _BARE)]:
            hit = pattern.match(ctx.q, m.end)
            if hit is None or not ctx.free(m.end, hit.end()):
                continue
            num, mult, tail = hit.group(1), hit.group(2), hit.group(3)
            v = to_number(num)
            if v is None:
                continue
            if mult:
                per_unit = col_multiplier(other, info.name)
                if per_unit is None:
                    ctx.refuse(f"表「{other.name}」的「{info.name}」没有标明单位，无法把「{num}{mult}」换算成表里的"
                               "数值。请直接用表里的数值提问，或在数据页为该列填写单位。")
                v = v * MULTIPLIER[mult] / per_unit
                if abs(v) > MAX_NUMBER:
                    raise OutOfRange(f"数字「{num}{mult}」太大，超出了能比较的范围。请检查数字后再问。")
            the_op = POST[tail] if tail else op
            if the_op is None:
                continue
            text = m.text + ctx.q[m.end:hit.end()]
            return Filter(info.name, the_op, [int(v) if v == int(v) else v], text), hit.end()
        return None

    @staticmethod
    def _named_key(ctx: ParseContext, column: str, end: int) -> int:
        """…超过50万的区: the word right after the condition names what it selects (the key), not a group."""
        gap = 1 if ctx.q[end:end + 1] == "的" else 0
        for n in range(4, 0, -1):
            word = ctx.q[end + gap:end + gap + n]
            if len(word) == n and ctx.free(end, end + gap + n) and any(
                    e.kind == "column" and e.column == column for e in ctx.vocab.words.get(word, [])):
                return end + gap + n
        return end

    @staticmethod
    def _key(ctx: ParseContext, theirs: Vocabulary, condition_column: str) -> list[str] | None:
        """The column pair the two tables share (区 ↔ 区县名称): one the question names, else the first."""
        pairs = []
        for mine in ctx.vocab.values:
            other = matching_column(ctx.vocab, mine, theirs)
            if other is not None and other != condition_column:
                pairs.append([mine, other])
        if not pairs:
            return None
        named = {x.column for x in ctx.mentions if x.kind == "column"} | {f.column for f in ctx.spec.filters} \
            if ctx.spec else set()
        return next((p for p in pairs if p[0] in named), pairs[0])
