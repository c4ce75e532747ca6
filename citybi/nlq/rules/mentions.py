"""Columns, values and table words named in the question → mentions and value filters.

Several values of one column become IN (南湖区和秀洲区 → 区 IN (…)). A value that is also
part of the table's own name (苏州市吴中区 in 苏州市吴中区土地成交信息表) is context,
not a filter.
"""
from __future__ import annotations

from ..context import ParseContext
from ..model import Filter
from ..text import norm
from ..vocab import PARTIAL
from . import register


@register
class MentionRule:
    name = "mentions"
    order = 40

    def apply(self, ctx: ParseContext) -> None:
        spec = ctx.spec
        assert spec is not None
        mentions = ctx.vocab.scan(ctx.q, ctx.taken)
        table_text = norm(ctx.dataset.name + ctx.dataset.display_name)
        by_col: dict[str, list] = {}
        kept = []
        for m in mentions:
            ctx.take(m.start, m.end)
            if m.kind == "table":
                ctx.coverage += 0.5 * len(m.text)
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
