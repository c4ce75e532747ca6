"""Top-N and sort order: 前3, 排名前十, 最多的5个, 倒数3, 从高到低."""
from __future__ import annotations

from ..context import ParseContext
from ..text import to_int
from . import register

N = r"(\d+|[一二两三四五六七八九十]+)"


@register
class RankingRule:
    name = "ranking"
    order = 30

    def apply(self, ctx: ParseContext) -> None:
        spec = ctx.spec
        assert spec is not None
        for m in ctx.find(r"(?:排名|排行)?(?:前|TOP|top)" + N + r"(?:名|位|个|家|条)?"):
            ctx.take(m.start(), m.end())
            ctx.rank_n = to_int(m.group(1))
            ctx.cues.setdefault("top", m.start())
        for m in ctx.find(r"(?:排名)?(?:倒数|后)(?:第)?" + N + r"(?:名|位|个|家|条)?"):
            ctx.take(m.start(), m.end())
            ctx.rank_n = to_int(m.group(1))
            ctx.cues.setdefault("bottom", m.start())
        # 最多的5个 / 最高的三个区
        for m in ctx.find(r"(?<=[多高大长少低小短])的?" + N + r"(?:个|名|家|条|位)"):
            ctx.take(m.start(), m.end())
            ctx.rank_n = to_int(m.group(1))
        if ctx.cue("sort_desc", r"从高到低|由高到低|从大到小|由大到小|从多到少|由多到少|降序|倒序"):
            spec.order = "desc"
        if ctx.cue("sort_asc", r"从低到高|由低到高|从小到大|由小到大|从少到多|由少到多|升序"):
            spec.order = "asc"
        ctx.take_all(r"排序|排列|排名|排行|排一下")
