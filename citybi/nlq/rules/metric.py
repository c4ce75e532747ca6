"""Named metrics (citybi.metrics) in a question: 办结率, 每万人工单数, 人口密度 — a measure computed
by the metric's own formula, so 问数 gives the same number as a chart or a KPI card.

Runs before the column mentions and takes the metric's words (its name or a synonym, the
longest first), so 办结率 is not read as a ratio of one value's rows and 清运量 not as the raw
column. The spec carries the metric's definition (with every metric it refers to): a saved
or inherited question plans again without the catalog. A per-X metric whose divisor lives in
another dataset becomes the two-table per-unit query of rules/per.py (each side totalled per
key first), set up after the shape rule has fixed the grouping.
"""
from __future__ import annotations

import re

from citybi.metrics import Metric, Per, closure, formula_text, is_cross, unit_text

from ..context import ParseContext
from ..model import Measure
from ..text import norm
from ..vocab import PARTIAL
from . import register
from .compare import NUMBER, OPS, UNIT

# a comparison right after the word (常住人口超过70万, 清运量在100吨以上): a condition on rows, read by the
# comparison rule on the column, not the measure asked for
CONDITION_AFTER = re.compile(r"^的?(?:(?:" + "|".join(v for k, v in OPS.items() if k != "=") + r")" + NUMBER
                             + r"|在?" + NUMBER + UNIT + r"(?:以上|及以上|之上|以下|及以下|以内))")

# the words before 人均/每万人 that may name another divisor (环卫工人人均清运量: per worker, not per resident)
NAMED_DIVISOR_SPAN = 8


def metric_of(spec_metric: dict) -> Metric:
    """The metric a spec names, rebuilt from the definitions it carries."""
    return Metric.model_validate(spec_metric["defs"][spec_metric["name"]])


def all_defs(spec_metric: dict) -> dict[str, Metric]:
    return {n: Metric.model_validate(d) for n, d in spec_metric["defs"].items()}


@register
class MetricRule:
    name = "metric"
    order = 35  # after the time words (上个月 is theirs), before column mentions (40)

    def apply(self, ctx: ParseContext) -> None:
        metrics: list[Metric] = [m for m in ctx.dataset.metrics if isinstance(m, Metric)]
        if not metrics:
            return
        hits = self._hits(ctx, metrics)
        if not hits:
            return
        spec = ctx.spec
        assert spec is not None
        start, end, m = hits[0]
        for s, e, _m in hits:  # the others are named in a note, not left over as unknown words
            ctx.take(s, e)
        ctx.cues.setdefault("metric", start)
        ctx.coverage += end - start
        known = {x.name: x for x in metrics}
        # several metrics side by side (各区办结率和平均办理时长) when each is one aggregate of this table;
        # a two-table metric is a join of its own and is asked alone
        named = list({x.name: x for _s, _e, x in hits}.values())
        together = named if not any(is_cross(x) for x in named) else [m]
        for other in named:
            if other not in together:
                ctx.notes.append(f"问题里提到了多个指标，这里只计算第一个「{m.name}」（「{other.name}」请另外提问）。")
        defs: dict[str, Metric] = {}
        for x in together:
            defs.update(closure(x, known))
        spec.metric = {"name": m.name, "formula": formula_text(m), "unit": unit_text(m), "format": m.format,
                       "decimals": m.decimals, "names": [x.name for x in together],
                       "info": {x.name: {"formula": formula_text(x), "unit": unit_text(x), "format": x.format,
                                         "decimals": x.decimals} for x in together},
                       "defs": {n: d.model_dump(mode="json") for n, d in defs.items()}}
        spec.measures = [Measure(x.name, "metric") for x in together]

    @staticmethod
    def _hits(ctx: ParseContext, metrics: list[Metric]) -> list[tuple[int, int, Metric]]:
        """Metric words in the question's free text, longest first, not overlapping, in question order.

        A word is not a metric where it would cut a value of the table in two (厨余|垃圾清运量: the
        value 厨余垃圾 is a filter, the metric is 清运量), nor a per-X metric whose divisor the words
        right before it name differently (环卫工人人均清运量 is per worker, left to rules/per.py)."""
        text = ctx.leftover()
        found = []
        for m in metrics:
            for w in m.words:
                for hit in re.finditer(re.escape(norm(w)), text):
                    s, e = hit.start(), hit.end()
                    if not _cuts_value(ctx, s, e) and not _other_divisor_before(ctx, s, m) \
                            and not CONDITION_AFTER.match(ctx.q[e:]):
                        found.append((s, e, m))
        found.sort(key=lambda t: (-(t[1] - t[0]), t[0]))
        used = [False] * len(text)
        out = []
        for s, e, m in found:
            if not any(used[s:e]):
                used[s:e] = [True] * (e - s)
                out.append((s, e, m))
        return sorted(out, key=lambda t: t[0])


def _cuts_value(ctx: ParseContext, s: int, e: int) -> bool:
    q, n = ctx.q, len(ctx.q)
    for edge in (s, e):
        for i in range(max(0, edge - 6), edge):
            for j in range(edge + 1, min(n, edge + 6) + 1):
                if i < s and j > e:
                    continue  # a value around the whole word is another matter (the longer word wins)
                entries = ctx.vocab.words.get(q[i:j], [])
                if any(x.kind == "value" and x.strength > PARTIAL for x in entries) and ctx.free(i, j):
                    return True
    return False


def _other_divisor_before(ctx: ParseContext, s: int, m: Metric) -> bool:
    f = m.formula
    if not isinstance(f, Per):
        return False
    before = ctx.q[max(0, s - NAMED_DIVISOR_SPAN):s]
    for i in range(len(before) - 1):
        piece = before[i:]
        if not ctx.free(s - len(piece), s):
            continue
        for ds, vocab in [(ctx.dataset, ctx.vocab), *ctx.other_tables()]:
            for x in vocab.words.get(piece, []):
                info = ds.column(x.column or "")
                if x.kind == "column" and info is not None and info.is_numeric and x.strength > PARTIAL \
                        and info.name != f.column:
                    return True
    return False


@register
class MetricJoin:
    """After the shape rule: a per-X metric over two datasets joins them on its key (rules/per.py's query)."""

    name = "metric_join"
    order = 96

    def apply(self, ctx: ParseContext) -> None:
        spec = ctx.spec
        if spec is None or not spec.metric or spec.kind != "aggregate":
            return
        m = metric_of(spec.metric)
        if spec.per and not spec.per.get("label") and spec.per.get("per_unit") and unit_text(m):
            spec.per["unit"] = f"{unit_text(m)}/{spec.per['per_unit']}"  # 环卫工人人均清运量: 吨/人
        if not is_cross(m):
            return
        f = m.formula
        assert isinstance(f, Per) and f.key and f.by_key and f.dataset
        if spec.compare:
            ctx.refuse(f"指标「{m.name}」要和表「{f.dataset}」关联计算，暂不支持对它做时期对比；"
                       f"可以分别问两个时期的「{m.name}」。")
        if spec.time_grain or len(spec.group_by) > 1 or (spec.group_by and spec.group_by[0] != f.key) or spec.share:
            ctx.refuse(f"指标「{m.name}」= {formula_text(m)}，两表按「{f.key}」对应，"
                       f"只能不分组或按「{f.key}」分组（例如「各{f.key}{m.name}」）。")
        carried = [[f.by_key, list(x.values)] for x in spec.filters if x.column == f.key and x.op in ("=", "in")]
        numerator = f.numerator
        spec.per = {"word": m.name, "label": m.name, "num_label": numerator, "column": f.column,
                    "scale": 1 / m.multiplier, "table": f.dataset, "key": [f.key, f.by_key] if spec.group_by else [],
                    "filters": carried, "unit": unit_text(m)}
        how = f"两张表各自先按「{f.key}」汇总，再按它对应相除。" if spec.group_by else "两张表各自先汇总，再相除。"
        ctx.notes.append(f"「{f.column}」来自表「{f.dataset}」：{how}")
