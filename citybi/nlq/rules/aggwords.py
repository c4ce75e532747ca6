"""Aggregation and question-form cue words: 总/平均/最高/多少件/占比/差距/列出…

Only marks cues (and takes their characters); the shape rule decides what they mean
together. A classifier that names a column's unit (多少吨 → 清运量（吨）, 多少套 → 成交套数)
is read as that measure.
"""
from __future__ import annotations

from ..context import ParseContext
from ..text import core_name
from . import register

CLASSIFIERS = "件条个起宗次块家项笔单名位户所座辆天回套吨人元"

CUES: tuple[tuple[str, str], ...] = (
    # 优良天数 / 超标多少天: days, counted once per date however many rows a day has
    ("days", r"天数|多少天|几天"),
    ("diff", r"差额|差距|差异|差值|之差|相差多少|相差|差多少|高出多少|多出多少|少多少|多多少"),
    ("ratio", r"占(?:全市|全区|全县|全省|全部|所有|总数|总量|总体|整体|总和|合计|总)的?(?:比例|比重|百分比|份额|多少)?|"
              r"占比|比例|比重|百分比|占多少|所占|份额"),
    ("distinct", r"(?:多少|几)个?不同的?|不重复的?|去重"),
    ("count", r"(?:多少|几)(?:件|条|起|宗|次|块|家|项|笔|单|名|位|户|所|座|辆|天|回|个)|数量|件数|条数|记录数|"
              r"个数|次数|天数|数目|笔数|单数|频次|总数"),
    ("sum", r"总和|总计|合计|一共|总共|共计|累计|加起来|总量|总额|总|共"),
    ("avg", r"平均值|平均|均值"),
    ("max", r"最高|最大|最多|最长|最重|最贵|最好|最快|最严重|最差"),
    ("min", r"最低|最小|最少|最短|最轻|最便宜|最慢"),
    ("more", r"更高|较高|更大|较大|更多|较多|更长|较长|更贵|偏高|高一些|多一些|更好"),
    ("less", r"更低|较低|更小|较小|更少|较少|更短|较短|更便宜|偏低|低一些|少一些"),
    ("list", r"列出|列举|罗列|明细|清单|都有哪些|有哪些|是哪些|哪些|有谁|都有谁|是谁"),
    ("which", r"哪一个|哪一块|哪一家|哪一种|哪一类|哪一位|哪一天|哪个|哪家|哪种|哪类|哪位|哪天|哪儿|哪里|哪一|谁"),
    ("each", r"各个|各自|分别|每个|每一个|各|每|按照|按|分"),
    ("howmuch", r"多少|几|如何|怎样|怎么样|什么|何时|啥"),
)


@register
class AggWordsRule:
    name = "aggwords"
    order = 60

    def apply(self, ctx: ParseContext) -> None:
        self._classifier_measures(ctx)
        for name, pattern in CUES:
            if name == "each":
                continue  # grouping words are read by the grouping rule, next to their column
            ctx.cue(name, pattern)
        # a bare trailing 数 after a thing: 工单数, 记录数 → a count
        if ctx.cue("count", r"(?<=[\u4e00-\u9fff\x00])数(?=$|[?？,，。的])"):
            pass
        # 是A的X低，还是B的X低: a choice between named things, compared by a bare 高/低
        if "还是" in ctx.q:
            ctx.cues.setdefault("which", ctx.q.index("还是"))
            ctx.cue("more", r"高|多|大|长|贵")
            ctx.cue("less", r"低|少|小|短|便宜")
        # 率 left over after columns are matched: 办结率 → a ratio of one value's rows
        if "ratio" not in ctx.cues and ctx.cue("ratio", r"率"):
            ctx.cues["rate"] = ctx.cues["ratio"]

    @staticmethod
    def _classifier_measures(ctx: ParseContext) -> None:
        numeric = [c for c in ctx.dataset.columns if c.is_numeric]
        for m in ctx.find(r"多少([" + CLASSIFIERS + r"])"):
            cls = m.group(1)
            hits = [c.name for c in numeric
                    if (c.unit and cls in c.unit) or core_name(c.name).endswith((cls + "数", cls + "次"))
                    or f"（{cls}）" in c.name or f"({cls})" in c.name]
            if len(hits) == 1:
                ctx.take(m.start(), m.end())
                ctx.cues.setdefault("howmuch", m.start())
                if not any(x.column == hits[0] for x in ctx.mentions):
                    ctx.extra_measures.append(hits[0])
