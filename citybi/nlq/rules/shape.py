"""Puts the cues together into one query shape, and refuses what it cannot honestly shape.

Runs last. It decides between a lookup (the value of a column for named rows), a list,
an aggregate (with grouping, ranking, time series), a ratio, a difference and a nested
top-N, picks each measure's aggregation, and checks the leftovers: a metric-like word
that matched no column (降雨量) means the table cannot answer, so we refuse.
"""
from __future__ import annotations

import re

from citybi.schema import ColumnInfo

from ..context import ParseContext
from ..lexicon import FUNCTION_WORDS, METRIC_SUFFIXES, NOT_METRIC
from ..model import Filter, Measure
from ..text import core_name, norm
from ..vocab import PARTIAL
from . import register
from .aggwords import CLASSIFIERS
from .followup import inherit_shape

SPLIT = re.compile(r"[的是在和与了有为及或并且中里内各每按从到将被把对让给向跟同比较相请问吗呢吧呀啊"
                   r"？?，,。、：:；;！!\s]+")


LEVEL = re.compile(r"(率|比例|占比|比重|指数|密度|均价|单价|均值|平均\w*|温度|湿度|浓度|得分|评分|满意度"
                   r"|AQI|PM2\.5|PM10)$")


def _is_level(col: ColumnInfo) -> bool:
    """A column whose values are levels or rates, not amounts: averaged, never summed."""
    return (col.unit or "").strip() in ("%", "％", "‰") or bool(LEVEL.search(core_name(col.name)))


def _nearest_columns(ctx: ParseContext, word: str) -> str:
    """The real columns closest to a word the table does not have (shared characters), or all of them."""
    scored = sorted(((len(set(word) & set(core_name(c.name))), i, c.name) for i, c in enumerate(ctx.dataset.columns)),
                    key=lambda t: (-t[0], t[1]))
    near = [name for score, _i, name in scored if score > 0][:5]
    if near:
        return f"相近的列有：{'、'.join(near)}。"
    return f"这张表的列有：{'、'.join(c.name for c in ctx.dataset.columns[:12])}。"


def _dedupe(xs: list[str]) -> list[str]:
    out: list[str] = []
    for x in xs:
        if x not in out:
            out.append(x)
    return out


@register
class ShapeRule:
    name = "shape"
    order = 90

    def apply(self, ctx: ParseContext) -> None:
        spec = ctx.spec
        assert spec is not None
        cols = {c.name: c for c in ctx.dataset.columns}
        cues = ctx.cues
        self._unknown_metric(ctx)
        unused = self._unused_runs(ctx)
        spec.unused = [w for _p, w in unused]

        numeric_mentions = [m for m in ctx.mentions if m.kind == "column" and cols[m.column].is_numeric
                            and m.column not in ctx.filter_columns and m.column not in ctx.group_positions]
        strong = [m for m in numeric_mentions if m.strength > PARTIAL]
        measure_mentions = strong or numeric_mentions
        measures = _dedupe([m.column for m in measure_mentions] + ctx.extra_measures)
        self._unsupported_words(ctx, unused, bool(measures) or "days" in cues or bool(spec.metric))
        attr_mentions = [m for m in ctx.mentions if m.kind == "column" and not cols[m.column].is_numeric
                         and m.column not in ctx.group_positions and m.column not in ctx.value_columns
                         and m.strength > PARTIAL]
        # a piece of a name column (学校 ≈ 学校名称) names the things a row is about
        ent = ctx.vocab.entity_column()
        name_like = [m for m in ctx.mentions if m.kind == "column" and m.strength == PARTIAL
                     and m.column not in ctx.group_positions and m.column not in ctx.value_columns
                     and (m.column == ent or "名称" in m.column)]
        if not attr_mentions:
            attr_mentions = name_like
        attrs = _dedupe([m.column for m in attr_mentions])
        groups = sorted(ctx.group_positions, key=lambda c: ctx.group_positions[c])
        superlative = any(k in cues for k in ("max", "min", "more", "less", "top", "bottom"))
        agg_cue = any(k in cues for k in ("sum", "avg", "count", "per_day", "distinct", "ratio", "diff", "per",
                                          "compare", "days")) or superlative

        # ---- a follow-up turn that names no measure keeps the previous turn's measure and form
        if ctx.inherit_measure and inherit_shape(ctx):
            spec.group_by = [g for g in groups if not (spec.ratio_filter and g == spec.ratio_filter.column)]
            self._rank(ctx, spec.group_by)
            return

        # ---- difference between two named rows
        if "diff" in cues and not spec.metric:
            pair = [f for f in spec.filters if f.op == "in" and len(f.values) == 2]
            if not measures or not pair:
                ctx.refuse("要算差距，需要问题里同时有两个对象（例如两家企业）和一个数值列。")
            spec.kind = "diff"
            spec.diff_column = pair[0].column
            spec.diff_values = list(pair[0].values)
            spec.filters.remove(pair[0])
            spec.measures = [Measure(measures[0], "avg" if "avg" in cues else "sum")]
            return

        # ---- share: each group's measure ÷ the total over the same filters (各区清运量占全市的比例)
        share = "ratio" in cues and bool(groups) and "rate" not in cues and not any(
            f.column in ctx.value_columns and f.op == "=" and f.column not in groups for f in spec.filters)
        # ---- ratio: a filtered count (or measure) over all rows
        if "ratio" in cues and not share and not spec.metric:
            num = self._ratio_numerator(ctx)
            if num is None:
                ctx.refuse("没看出占比/比率的条件。请说明要算哪一类占全部的比例，例如「来源渠道为APP的工单占比」。")
            spec.kind = "ratio"
            spec.ratio_filter = num
            spec.group_by = [g for g in groups if g != num.column]
            # 厨余垃圾清运量的占比 divides tonnage, not rows
            spec.measures = [Measure(measures[0], "sum")] if measures else [Measure(None, "count")]
            if spec.group_by and superlative:
                spec.order = "desc" if any(k in cues for k in ("max", "more", "top")) else "asc"
                spec.limit = ctx.rank_n or 1
            return

        # ---- which of the named things (A和B哪个更高): compare the named values themselves
        named = [f for f in spec.filters if f.op == "in" and cols[f.column].type == "text"]
        if (superlative or "which" in cues) and named and not groups and not ctx.rank_n:
            groups = [named[0].column]
        # ---- which entity: 哪个/哪家 without a column after it → the table's name column
        if ("which" in cues or "list" in cues) and not groups:
            text_attrs = [a for a in attrs if cols[a].type == "text"]
            if text_attrs and (superlative or "which" in cues):
                groups = [text_attrs[0]]
                attrs.remove(text_attrs[0])
            elif "which" in cues or superlative:
                ent = ctx.vocab.entity_column()
                if ent:
                    groups = [ent]
        # superlative over an unnamed group: 面积最小的区, 清运量排名前3的街道
        if superlative and not groups:
            text_attrs = [a for a in attrs if cols[a].type == "text"]
            if text_attrs and (measures or spec.metric or "max" in cues or "min" in cues):
                groups = [text_attrs[0]]
                attrs.remove(text_attrs[0])

        # ---- a named metric (rules/metric.py): its own formula is the measure, whatever else was said
        if spec.metric:
            spec.kind = "aggregate"
            spec.group_by = groups
            spec.share = share and spec.metric.get("format") != "percent"  # a share of a rate means nothing
            names = list(spec.metric.get("names") or [spec.metric["name"]])
            if spec.compare and len(names) > 1:  # two periods side by side: one measure at a time
                ctx.notes.append(f"时期对比一次只算一个指标，这里只计算「{names[0]}」。")
                names = names[:1]
            spec.measures = [Measure(n, "metric") for n in names]
            self._rank(ctx, groups)
            return

        # ---- nested: 销量排名前十的小区里，哪个小区的平均售价最高
        if ctx.rank_n and "top" in cues and any(k in cues for k in ("max", "min", "more", "less")) \
                and len(measures) >= 2:
            inner = [m for m in measure_mentions if m.start < cues["top"]]
            outer = [m for m in measure_mentions if m.start > cues["top"]]
            if inner and outer:
                spec.kind = "nested_top"
                spec.group_by = groups or [g for g in [ctx.vocab.entity_column()] if g]
                spec.inner_measure = inner[0].column
                spec.inner_limit = ctx.rank_n
                spec.measures = [Measure(outer[0].column, "sum")]
                spec.order = "desc" if ("max" in cues or "more" in cues) else "asc"
                spec.limit = 1
                return

        key_filters = [f for f in spec.filters if f.column in ctx.value_columns and ctx.vocab.is_key(f.column)]

        # ---- lookup: the value of a column for named rows (企业A的营业利润是多少)
        counting = "howmuch" in cues and not measures and re.search(r"(多少|几)个?$", ctx.q[:cues["howmuch"] + 3]) \
            and any(0 <= m.start - cues["howmuch"] <= 3 for m in attr_mentions)
        key_cols = {f.column for f in key_filters}
        if key_filters and not agg_cue and not counting and not spec.time_grain and not (set(groups) - key_cols):
            spec.kind = "lookup"
            spec.select = _dedupe([f.column for f in key_filters] + measures + attrs)
            if len(spec.select) == len(key_filters):
                spec.select = [c.name for c in ctx.dataset.columns]
            return

        # ---- list: 有哪些 / 列出 with no measure to aggregate
        if ("list" in cues and not measures and not any(k in cues for k in ("count", "sum", "avg", "max", "min"))
                and (groups or attrs)):
            spec.kind = "list"
            spec.select = _dedupe(groups + attrs)
            spec.distinct = not any(ctx.vocab.is_key(c) for c in spec.select)
            return

        # ---- aggregate
        spec.kind = "aggregate"
        spec.group_by = groups
        spec.share = share
        if not measures:
            count_pos = cues.get("count", cues.get("howmuch", -1))
            after_count = [a for a in attrs if cols[a].type == "text"
                           and any(m.column == a and 0 <= m.start - count_pos <= 5 for m in attr_mentions)]
            day_col = spec.time_column or next(iter(ctx.columns_of("date", "timestamp")), None)
            if "days" in cues and day_col:
                spec.measures = [Measure(day_col, "days")]
                ctx.notes.append(f"天数按「{day_col}」去重计数：同一天有多条记录（例如多个站点）时，"
                                 "只要其中一条符合条件，这一天就算一天。")
            elif "distinct" in cues or (("count" in cues or counting) and after_count):
                target = (after_count or [a for a in attrs if cols[a].type == "text"] or [None])[0]
                if target is None:
                    ctx.refuse("没看出要数哪一列的不同值。请说出列名，例如「有多少个不同的区」。")
                spec.measures = [Measure(target, "distinct")]
            elif (any(k in cues for k in ("count", "howmuch", "per_day", "top", "bottom", "compare", "per")) or groups
                  or spec.time_grain or re.search(r"最多|最少|更多|更少|较多|较少", ctx.q)):
                if any(k in cues for k in ("max", "min", "more", "less")) and \
                        not re.search(r"最多|最少|更多|更少|较多|较少", ctx.q) and "count" not in cues:
                    ctx.refuse(self._no_measure_message(ctx))
                spec.measures = [Measure(None, "per_day" if "per_day" in cues else "count")]
            else:
                ctx.refuse(self._no_measure_message(ctx))
        else:
            if "per_day" in cues:
                agg = "per_day"
            elif "avg" in cues:
                agg = "avg"
            elif not groups and not spec.time_grain and ("max" in cues or "more" in cues) and "sum" not in cues:
                agg = "max"
            elif not groups and not spec.time_grain and ("min" in cues or "less" in cues) and "sum" not in cues:
                agg = "min"
            else:
                agg = ctx.prior_agg if ctx.prior_agg in ("sum", "avg", "max", "min") else "sum"
            # a rate or a level (完好率（%）, AQI, 均价) is never added up: its total means nothing
            if spec.per:  # a total divided by people or area: the total of the measure
                agg = "sum"
            spec.measures = [Measure(c, "avg" if agg == "sum" and _is_level(cols[c]) and not spec.per else agg)
                             for c in measures]
        self._rank(ctx, groups)
        if not (spec.measures or spec.group_by):
            ctx.refuse(self._no_measure_message(ctx))

    @staticmethod
    def _rank(ctx: ParseContext, groups: list[str]) -> None:
        spec, cues = ctx.spec, ctx.cues
        assert spec is not None
        if groups or spec.time_grain:
            if any(k in cues for k in ("max", "more", "top")):
                spec.order = spec.order or "desc"
            elif any(k in cues for k in ("min", "less", "bottom")):
                spec.order = spec.order or "asc"
            if ctx.rank_n and any(k in cues for k in ("top", "bottom", "max", "min", "more", "less")):
                spec.limit = ctx.rank_n
            elif any(k in cues for k in ("max", "min", "more", "less")) and groups:
                spec.limit = 1

    @staticmethod
    def _no_measure_message(ctx: ParseContext) -> str:
        nums = [c.name for c in ctx.dataset.columns if c.is_numeric]
        return (f"没看出要统计表「{ctx.dataset.name}」的哪一列。"
                + (f"可以统计的数值列有：{'、'.join(nums[:8])}。" if nums
                   else "这张表没有数值列，可以问数量（多少条）。"))

    @staticmethod
    def _unused_runs(ctx: ParseContext) -> list[tuple[int, str]]:
        """Words of the question no rule used (position, text), function words left out."""
        out = []
        masked = ctx.leftover()
        pos = 0
        for piece in re.split(f"({SPLIT.pattern}| +)", masked):
            if piece and not SPLIT.fullmatch(piece) and not piece.isspace():
                run = re.sub(r"[^\u4e00-\u9fffA-Z0-9.]", "", piece)
                if run and run not in FUNCTION_WORDS:
                    out.append((pos, run))
            pos += len(piece or "")
        return out

    @staticmethod
    def _unsupported_words(ctx: ParseContext, unused: list[tuple[int, str]], measured: bool) -> None:
        """Refuse when an unused word is what the question asks about (never rows for a missing measure):
        the thing counted (多少个公园), the thing averaged or ranked (平均工资, GDP最高), or — with no
        measure found at all — the thing asked for (GDP是多少)."""
        q = ctx.q
        for pos, word in unused:
            if len(word) < 2 and not word.isascii():
                continue
            end = pos + len(word)
            if end < len(q) and not ctx.free(end, end + 1):
                continue  # a modifier of a word we did use (总营业成本), not the head
            counted = re.search(r"(多少|几)[" + CLASSIFIERS + r"]?$", q[:pos]) is not None
            aggregated = q[max(0, pos - 2):pos] in ("平均", "人均", "累计", "合计") or q[pos - 1:pos] == "总" \
                or re.match(r"的?(最高|最低|最大|最小|最多|最少|排名|平均|总和|合计)", q[end:]) is not None
            asked = re.match(r"(是|为|有)?(多少|几|如何|怎样|怎么样)", q[end:]) is not None \
                and (pos == 0 or q[pos - 1] in "的在是" or not ctx.free(pos - 1, pos))
            if aggregated or (not measured and (counted or asked)):
                ctx.refuse(f"表「{ctx.dataset.name}」里没有「{word}」相关的列或取值，无法回答。"
                           + _nearest_columns(ctx, word))

    @staticmethod
    def _unknown_metric(ctx: ParseContext) -> None:
        for run in SPLIT.split(ctx.leftover()):
            run = re.sub(r"[^\u4e00-\u9fffA-Z0-9.]", "", run)
            if len(run) < 2 or run in NOT_METRIC:
                continue
            if any(run.endswith(s) for s in METRIC_SUFFIXES):
                word = run[-4:] if len(run) > 4 else run
                cols = "、".join(c.name for c in ctx.dataset.columns)
                ctx.refuse(f"表「{ctx.dataset.name}」里没有「{word}」这样的列，无法回答。这张表的列有：{cols}。")

    @staticmethod
    def _ratio_numerator(ctx: ParseContext) -> Filter | None:
        spec = ctx.spec
        assert spec is not None
        pos = ctx.cues["ratio"]
        values = [f for f in spec.filters if f.column in ctx.value_columns and f.op == "="]
        if values and "rate" not in ctx.cues:
            f = values[-1]
            spec.filters.remove(f)
            return f
        # 办结率: the words before 率 are part of one value (已办结) of one column
        for k in (4, 3, 2):
            piece = ctx.q[max(0, pos - k):pos]
            if len(piece) < k:
                continue
            hits = [(col, v) for col, vals in ctx.vocab.values.items() for v in vals if piece in norm(str(v))]
            if len(hits) == 1:
                return Filter(hits[0][0], "=", [hits[0][1]], piece + "率")
        if "rate" in ctx.cues:
            word = re.split(r"[的是和与，,]", ctx.q[max(0, pos - 6):pos])[-1] + "率"
            ctx.refuse(f"表「{ctx.dataset.name}」里没有「{word}」这样的列，也看不出它是哪一类记录占全部的比例。"
                       f"这张表的列有：{'、'.join(c.name for c in ctx.dataset.columns)}。")
        return None
