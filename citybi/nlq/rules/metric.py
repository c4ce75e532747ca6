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

from citybi.metrics import Metric, Per, closure, find_words, formula_text, is_cross, unit_text

from ..context import ParseContext
from ..model import Measure
from . import register


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
        hits = find_words(ctx.leftover(), metrics)
        if not hits:
            return
        spec = ctx.spec
        assert spec is not None
        start, end, m = hits[0]
        ctx.take(start, end)
        ctx.cues.setdefault("metric", start)
        ctx.coverage += end - start
        known = {x.name: x for x in metrics}
        spec.metric = {"name": m.name, "formula": formula_text(m), "unit": unit_text(m), "format": m.format,
                       "decimals": m.decimals,
                       "defs": {n: d.model_dump(mode="json") for n, d in closure(m, known).items()}}
        spec.measures = [Measure(m.name, "metric")]
        for _s, _e, other in hits[1:]:
            if other.name != m.name:
                ctx.notes.append(f"问题里提到了多个指标，这里只计算第一个「{m.name}」（「{other.name}」请另外提问）。")
                break


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
