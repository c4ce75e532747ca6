"""A rule's watched chart or KPI card → one reading per group → does the condition hold?

Why readings go through the charts' own code: a leader who gets "12345 工单环比上升 35%" will
open the board and must see the same 35 %. So a KPI card is compiled by the KPI type itself
(periods, 同比/环比 ranges, targets — charts/kpi.py, charts/periods.py, charts/targets.py), a board
tile gets the board's filters exactly as the 看板 page applies them (boards.apply_board_filters),
and every query goes through the shared result cache and the query door. Per group (any 区 or
街道 breaking the rule) the card's own query gains one GROUP BY column — one scan for all
districts, not one query per district — and each group's rows become a KpiValue through
kpi.kpi_value, the function the card itself uses.

"Unusual" is judged on the card's sparkline (or a chart's time series): the latest complete
period against the `periods` before it, outside median ± k × 1.4826 × MAD. Why the median and the
MAD, not the mean and the standard deviation: the very spikes we look for would inflate the
mean and the standard deviation of the history they sit in (one 5× day in 14 lifts the SD so
much that the next spike looks normal); the median and the MAD ignore up to half of the
history being odd. 1.4826 makes the MAD comparable to an SD for normal data, so k = 3 reads as
"three sigma". When more than half of the history is identical the MAD is 0; the band then uses
1.2533 × the mean absolute deviation from the median, and if that is 0 too, any change counts.

Evaluation runs with full data rights (context.SYSTEM): an alert is about the whole city's
data as the rule's author scoped it with filters, not about whoever happens to be logged in.
"""
from __future__ import annotations

import datetime as dt
import statistics
import threading
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlglot import exp

from citybi import context
from citybi.alerts.rules import AlertRule, AlertRuleError, Condition
from citybi.boards import (
    Board,
    BoardStore,
    FilterValues,
    Tile,
    apply_board_filters,
    board_store,
    board_today,
    default_chart_store,
    default_values,
    find_tile,
    tile_spec,
)
from citybi.charts.cache import ResultCache, default_cache
from citybi.charts.compile import col, date_between, filter_condition, table_ref, where_condition
from citybi.charts.kpi import KpiOptions, KpiValue, kpi_value, period_text, sparkline_grain
from citybi.charts.periods import next_period_start, range_label
from citybi.charts.render import format_value, units_for
from citybi.charts.runner import compile_queries, run_chart
from citybi.charts.spec import ChartSpec
from citybi.charts.store import ChartStore
from citybi.schema import DatasetInfo
from citybi.warehouse import Warehouse

GROUP = "__citybi_group"
MAD_SCALE = 1.4826  # MAD × this estimates the SD of normal data
MEAN_AD_SCALE = 1.2533  # mean absolute deviation × this, likewise (sqrt(pi/2))
MAX_ROWS_KEPT = 500


@dataclass(frozen=True)
class Watched:
    """What a rule watches, with the board's (or the rule's) filters applied."""

    title: str
    spec: ChartSpec
    info: DatasetInfo
    today: dt.date
    board: str | None
    tile: Tile
    values: FilterValues
    original: ChartSpec

    @property
    def is_kpi(self) -> bool:
        return self.spec.type == "kpi"


@dataclass(frozen=True)
class Reading:
    """One group's figures: the value and what it is compared with."""

    group: str | None
    value: float | None
    value_text: str
    period: str
    changes: dict[str, tuple[float | None, float | None, float | None]]  # 同比/环比 → (base, delta, pct)
    target: float | None
    higher_is_better: bool
    ratio: bool
    history: tuple[float, ...]  # earlier periods, oldest first (unusual)
    latest: float | None  # the latest complete period of the series (unusual judges this one)
    latest_label: str
    rows: pl.DataFrame
    fmt: str | None = None
    unit: str = ""
    span: tuple[dt.date, dt.date] | None = None  # the days behind the judged value (its records)

    def text(self, v: float | None) -> str:
        return format_value(v, self.fmt, ratio=self.ratio) + (self.unit if v is not None and self.unit else "")


@dataclass(frozen=True)
class Verdict:
    holds: bool
    reason: str  # Chinese: what was seen (also when it does not hold)
    value: float | None


@dataclass
class Evaluation:
    rule: AlertRule
    watched: Watched
    readings: list[Reading]
    verdicts: list[Verdict]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def pairs(self) -> list[tuple[Reading, Verdict]]:
        return list(zip(self.readings, self.verdicts, strict=True))


# ---------------------------------------------------------------------------- what is watched
def resolve(wh: Warehouse, rule: AlertRule, *, charts: ChartStore | None = None, boards: BoardStore | None = None,
            cache: ResultCache | None = None, today: dt.date | None = None) -> Watched:
    """The rule's chart or card under its filters, and the day "today" means for it."""
    cache = cache or default_cache()
    charts = charts or default_chart_store(wh.settings)
    w = rule.watch
    if w.board is not None:
        board = (boards or board_store(wh.settings)).load(w.board)
        tile = _find_tile(board, str(w.tile), charts)
        base = default_values(board)
        values = FilterValues(date=w.date or base.date,
                              dimensions={**base.dimensions, **{k: tuple(v) for k, v in w.filters.items()}})
    else:
        spec = charts.load(str(w.chart))
        tile = Tile(spec=spec, width=12)
        board = Board(title=spec.title, tiles=[tile])
        values = FilterValues(date=w.date, dimensions={k: tuple(v) for k, v in w.filters.items()})
    spec = tile_spec(tile, charts)
    info = cache.dataset_info(wh, spec.dataset)
    day = today or board_today(wh, board, charts=charts, cache=cache)
    applied = apply_board_filters(tile, spec, info, values, day)
    missing = [f for f in applied.skipped if f != "日期" and f in w.filters]
    if missing:
        raise AlertRuleError([f"数据集「{info.name}」没有列「{'、'.join(missing)}」，无法按它筛选；"
                              "请改用已有的列：" + "、".join(c.name for c in info.columns)])
    if rule.group_by is not None and info.column(rule.group_by) is None:
        raise AlertRuleError([f"按组检查的列「{rule.group_by}」在数据集「{info.name}」中不存在；可选："
                              + "、".join(c.name for c in info.columns if not c.is_numeric)])
    return Watched(title=applied.spec.title, spec=applied.spec, info=info, today=day, board=w.board, tile=tile,
                   values=values, original=spec)


def watch_today(wh: Warehouse, rule: AlertRule, *, charts: ChartStore | None = None,
                boards: BoardStore | None = None, cache: ResultCache | None = None) -> dt.date:
    """The day "today" means for the rule's board (or chart): computed once per board in a check run."""
    cache = cache or default_cache()
    charts = charts or default_chart_store(wh.settings)
    with context.use(context.SYSTEM):
        if rule.watch.board is not None:
            board = (boards or board_store(wh.settings)).load(rule.watch.board)
        else:
            spec = charts.load(str(rule.watch.chart))
            board = Board(title=spec.title, tiles=[Tile(spec=spec, width=12)])
        return board_today(wh, board, charts=charts, cache=cache)


_GROUPED: dict[tuple[str, str], tuple[exp.Select, str]] = {}
_GROUPED_LOCK = threading.Lock()


def _grouped_query(tree: exp.Select, sql: str, column: str) -> tuple[exp.Select, str]:
    """The card's query with one more GROUP BY column, remembered by its SQL (printing costs ~5 ms)."""
    key = (sql, column)
    with _GROUPED_LOCK:
        found = _GROUPED.get(key)
    if found is None:
        grouped = _grouped(tree, column)
        found = (grouped, grouped.sql(dialect="duckdb"))
        with _GROUPED_LOCK:
            if len(_GROUPED) > 2048:
                _GROUPED.clear()
            _GROUPED[key] = found
    return found


def _find_tile(board: Board, name: str, charts: ChartStore) -> Tile:
    tile = find_tile(board, name, charts)
    if tile is not None:
        return tile
    raise AlertRuleError([f"看板「{board.title}」中没有图块「{name}」"],
                         hint="tile 写图块引用的图表名称或图块标题")


# ---------------------------------------------------------------------------- evaluation
def evaluate(wh: Warehouse, rule: AlertRule, *, charts: ChartStore | None = None, boards: BoardStore | None = None,
             cache: ResultCache | None = None, today: dt.date | None = None) -> Evaluation:
    """Read the watched card or chart (per group) and judge each reading. Full data rights (SYSTEM)."""
    import time

    t0 = time.perf_counter()
    with context.use(context.SYSTEM):
        cache = cache or default_cache()
        watched = resolve(wh, rule, charts=charts, boards=boards, cache=cache, today=today)
        if watched.is_kpi:
            readings = kpi_readings(wh, rule, watched, cache, charts)
        else:
            readings = chart_readings(wh, rule, watched, cache)
    verdicts = [judge(rule.condition, r, watched.today) for r in readings]
    return Evaluation(rule=rule, watched=watched, readings=readings, verdicts=verdicts,
                      seconds=time.perf_counter() - t0)


def _grouped(tree: exp.Select, column: str) -> exp.Select:
    return tree.copy().select(col(column).as_(GROUP, quoted=True)).group_by(col(column))


def _split(frame: pl.DataFrame, group_by: str | None) -> dict[str | None, pl.DataFrame]:
    if group_by is None:
        return {None: frame}
    out: dict[str | None, pl.DataFrame] = {}
    for key, part in frame.partition_by(GROUP, as_dict=True, maintain_order=True).items():
        value = key[0]
        out[None if value is None else str(value)] = part.drop(GROUP)
    return out


def kpi_readings(wh: Warehouse, rule: AlertRule, watched: Watched, cache: ResultCache,
                 charts: ChartStore | None = None) -> list[Reading]:
    """The card's value per group, from its own queries with one more GROUP BY column."""
    cond = rule.condition
    spec = watched.spec
    options = dict(spec.options)
    # the band needs `periods` earlier points plus the latest (and one more if it is partial);
    # the other kinds need no sparkline at all: one scan instead of two
    options["sparkline"] = cond.periods + 2 if cond.kind == "unusual" else 0
    spec = spec.model_copy(update={"options": options})
    compiled = compile_queries(spec, watched.info, watched.today)
    frames: dict[str, dict[str | None, pl.DataFrame]] = {}
    for name, (tree, sql) in compiled.items():
        if name == "main" and cond.kind == "unusual":
            continue  # judged on the sparkline alone: one scan, not two (its value is the latest period)
        query, text = _grouped_query(tree, sql, rule.group_by) if rule.group_by else (tree, sql)
        result, _hit = cache.run(wh, query, sql=text)
        frames[name] = _split(result.frame, rule.group_by)
    units = units_for(spec, watched.info)
    m = spec.measures[0]
    unit = m.unit or units.get(m.name) or ""
    out: list[Reading] = []
    groups = frames["main" if "main" in frames else "spark"]
    for group in sorted(groups, key=lambda g: (g is None, str(g))):
        parts = {name: by_group.get(group, _empty_like(next(iter(by_group.values()), None)))
                 for name, by_group in frames.items()}
        parts.setdefault("main", pl.DataFrame())
        kv = kpi_value(parts, spec, today=watched.today, unit=unit or None)
        target = cond.target if cond.target is not None else _target(rule, watched, group, kv)
        out.append(_kpi_reading(group, kv, target, unit, only_spark="main" not in frames,
                                spark_grain=sparkline_grain(spec.typed_options(), watched.today)  # type: ignore[arg-type]
                                if "spark" in frames else None))
    return out


def _empty_like(frame: pl.DataFrame | None) -> pl.DataFrame:
    return pl.DataFrame() if frame is None else frame.clear()


def _target(rule: AlertRule, watched: Watched, group: str | None, kv: KpiValue) -> float | None:
    """The card's target for this group: a tile's target table resolved for the group's selection."""
    if rule.condition.kind != "target" or group is None or watched.tile.targets is None:
        return kv.target
    values = FilterValues(date=watched.values.date,
                          dimensions={**watched.values.dimensions, str(rule.group_by): (group,)})
    applied = apply_board_filters(watched.tile, watched.original, watched.info, values, watched.today)
    value = applied.spec.options.get("target")
    return None if value is None else float(value)


def _kpi_reading(group: str | None, kv: KpiValue, target: float | None, unit: str, *,
                 only_spark: bool = False, spark_grain: str | None = None) -> Reading:
    changes = {c.name: (c.base, c.delta, c.pct) for c in kv.comparisons}
    points = kv.sparkline[:-1] if kv.partial and kv.sparkline else kv.sparkline
    series = [(p, v) for p, v in points if v is not None]
    latest = series[-1][1] if series else None
    history = tuple(float(v) for _p, v in series[:-1])
    label = series[-1][0].isoformat() if series else ""
    span: tuple[dt.date, dt.date] | None = kv.period
    if only_spark and latest is not None:
        # an "unusual" check reads only the sparkline: the value it reports is the latest period's
        kv = _with_value(kv, latest)
        start = series[-1][0]
        span = (start, next_period_start(start, spark_grain or "日") - dt.timedelta(days=1))
    rows = [("本期", period_text(kv.period), _num(kv.value))]
    rows += [(f"{c.name}基期", period_text(c.period), _num(c.base)) for c in kv.comparisons]
    if target is not None:
        rows.append(("目标", "", float(target)))
    rows += [("走势", p.isoformat(), _num(v)) for p, v in kv.sparkline]
    frame = pl.DataFrame({"项目": [r[0] for r in rows], "期间": [r[1] for r in rows], "值": [r[2] for r in rows]},
                         schema={"项目": pl.String, "期间": pl.String, "值": pl.Float64})
    return Reading(group=group, value=_num(kv.value), value_text=kv.value_text + (unit if kv.value is not None else ""),
                   period=range_label(kv.period), changes=changes, target=target,
                   higher_is_better=kv.higher_is_better, ratio=kv.ratio, history=history,
                   latest=None if latest is None else float(latest), latest_label=label, rows=frame, fmt=kv.fmt,
                   unit=unit if not kv.ratio else "", span=span)


def _with_value(kv: KpiValue, value: float) -> KpiValue:
    from dataclasses import replace

    from citybi.charts.render import format_value as fmt

    return replace(kv, value=value, value_text=fmt(value, kv.fmt, ratio=kv.ratio))


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def chart_readings(wh: Warehouse, rule: AlertRule, watched: Watched, cache: ResultCache) -> list[Reading]:
    """A saved chart: the measure per group, along its time dimension when it has one."""
    spec, info = watched.spec, watched.info
    cond = rule.condition
    if cond.kind == "target":
        raise AlertRuleError(["「到期未达目标」只适用于指标卡（KPI），这个图表没有目标值"])
    if cond.kind == "change" and cond.compare == "同比":
        raise AlertRuleError(["同比只适用于指标卡（KPI）；图表可以用环比（与时间轴上的前一期比较）"])
    measures = {m.name: m for m in spec.measures} | {m.column: m for m in spec.measures}
    measure = measures.get(rule.watch.measure) if rule.watch.measure else (spec.measures[0] if spec.measures else None)
    if measure is None:
        raise AlertRuleError([f"图表「{spec.title}」没有度量「{rule.watch.measure}」；可选："
                              + "、".join(m.name for m in spec.measures)])
    time_dim = next((d for d in spec.group_dimensions
                     if d.grain is not None or ((c := info.column(d.column)) is not None and c.is_temporal)), None)
    group_dim = None
    if rule.group_by is not None:
        group_dim = next((d for d in spec.group_dimensions if rule.group_by in (d.column, d.name)), None)
        if group_dim is None:
            raise AlertRuleError([f"按组检查的列「{rule.group_by}」不是图表「{spec.title}」的维度；可选："
                                  + "、".join(d.name for d in spec.group_dimensions if d is not time_dim)])
    others = [d for d in spec.group_dimensions if d is not time_dim and d is not group_dim]
    if others:
        raise AlertRuleError([f"图表「{spec.title}」还按「{'、'.join(d.name for d in others)}」分组，无法确定取哪一行；"
                              "请把 group_by 设为它，或换一个图表"])
    if time_dim is None and cond.kind in ("change", "unusual"):
        raise AlertRuleError([f"图表「{spec.title}」没有时间维度，无法比较前后各期；请换成带日期的图表或指标卡"])
    result = run_chart(wh, spec, info=info, today=watched.today, cache=cache, render=False)
    frame = result.frame
    units = units_for(spec, info)
    unit = measure.unit or units.get(measure.name) or ""
    ratio = measure.agg == "ratio"
    groups = _split(frame.rename({group_dim.name: GROUP}), GROUP) if group_dim else {None: frame}
    out: list[Reading] = []
    for group, part in sorted(groups.items(), key=lambda kv: (kv[0] is None, str(kv[0]))):
        if time_dim is not None:
            part = part.sort(time_dim.name)
        values = [None if v is None else float(v) for v in part[measure.name].to_list()]
        labels = [str(v) for v in part[time_dim.name].to_list()] if time_dim is not None else [""] * len(values)
        series = [(lab, v) for lab, v in zip(labels, values, strict=True) if v is not None]
        latest = series[-1][1] if series else None
        changes: dict[str, tuple[float | None, float | None, float | None]] = {}
        if time_dim is not None and len(series) >= 2:
            base = series[-2][1]
            delta = None if latest is None else latest - base
            changes["环比"] = (base, delta, delta / abs(base) if base and delta is not None else None)
        out.append(Reading(
            group=group, value=latest, value_text=format_value(latest, measure.format, ratio=ratio)
            + (unit if latest is not None and not ratio else ""),
            period=series[-1][0] if series else "", changes=changes, target=None, higher_is_better=True,
            ratio=ratio, history=tuple(v for _lab, v in series[:-1]), latest=latest,
            latest_label=series[-1][0] if series else "", rows=part.head(MAX_ROWS_KEPT), fmt=measure.format,
            unit="" if ratio else unit))
    return out


# ---------------------------------------------------------------------------- the rows behind a value
MAX_RECORDS = 200


def records(wh: Warehouse, rule: AlertRule, watched: Watched, reading: Reading,
            limit: int = MAX_RECORDS) -> pl.DataFrame | None:
    """The dataset's records behind a KPI card's value: its filters, the judged days, the group.

    Asked only when a firing is written (not at every check): "which 工单 were the spike".
    None when the card has no day range to narrow by (a chart: its own rows are kept instead).
    """
    from citybi.charts.spec import ValueFilter

    if not watched.is_kpi or reading.span is None:
        return None
    info = watched.info
    date_column = str(watched.spec.options.get("date_column"))
    conds = [c for c in [where_condition(watched.spec.filters, info, watched.today),
                         date_between(col(date_column), *reading.span)] if c is not None]
    if rule.group_by is not None and reading.group is not None:
        conds.append(filter_condition(ValueFilter(op="in", column=rule.group_by, values=[reading.group]), info,
                                      watched.today))
    tree = (exp.select("*").from_(table_ref(info.name)).where(exp.and_(*conds))
            .order_by(exp.Ordered(this=col(date_column), desc=True)).limit(limit))
    with context.use(context.SYSTEM):
        return wh.run(tree, max_rows=limit).frame


# ---------------------------------------------------------------------------- judging
def band(history: tuple[float, ...] | list[float], k: float) -> tuple[float, float, float]:
    """(median, low, high): median ± k × the robust spread (see the module docstring)."""
    med = statistics.median(history)
    mad = statistics.median(abs(x - med) for x in history)
    spread = MAD_SCALE * mad
    if spread == 0:
        spread = MEAN_AD_SCALE * statistics.fmean(abs(x - med) for x in history)
    return med, med - k * spread, med + k * spread


def judge(cond: Condition, r: Reading, today: dt.date) -> Verdict:
    """Does the condition hold for this reading? The reason says what was seen, in Chinese."""
    label = f"「{r.group}」" if r.group is not None else ""
    v = r.value
    if cond.kind in ("above", "below"):
        assert cond.value is not None
        if v is None:
            return Verdict(False, f"{label}没有数据", None)
        holds = v > cond.value if cond.kind == "above" else v < cond.value
        word = "高于" if cond.kind == "above" else "低于"
        verb = word if holds else ("未" + word)
        when = f"{r.period} " if r.period else ""
        return Verdict(holds, f"{label}{when}为 {r.value_text}，{verb}阈值 {r.text(cond.value)}", v)
    if cond.kind == "change":
        assert cond.pct is not None
        base, delta, pct = r.changes.get(cond.compare, (None, None, None))
        if v is None or base is None or delta is None:
            return Verdict(False, f"{label}没有可比较的{cond.compare}数据", v)
        # a share (办结率) changes by 百分点: pct 0.05 means 5 个百分点 there
        size = delta if r.ratio else pct
        if size is None:
            return Verdict(False, f"{label}{cond.compare}基期为 0，无法计算变化幅度", v)
        way = cond.way
        holds = size >= cond.pct if way == "up" else (size <= -cond.pct if way == "down" else abs(size) >= cond.pct)
        change = f"{delta * 100:+.1f} 个百分点" if r.ratio else f"{pct:+.1%}"
        limit = f"{cond.pct * 100:g} 个百分点" if r.ratio else f"{cond.pct:.0%}"
        return Verdict(holds, f"{label}{r.period} 为 {r.value_text}，{cond.compare}{change}"
                              f"（基期 {r.text(base)}），{'超过' if holds else '未超过'} {limit}", v)
    if cond.kind == "target":
        assert cond.by is not None
        if r.target is None:
            return Verdict(False, f"{label}没有设定目标值", v)
        if v is None:
            return Verdict(today >= cond.by, f"{label}没有数据，目标 {r.text(r.target)}", None)
        met = v >= r.target if r.higher_is_better else v <= r.target
        if met:
            return Verdict(False, f"{label}{r.value_text}，已达到目标 {r.text(r.target)}", v)
        if today < cond.by:
            return Verdict(False, f"{label}{r.value_text}，尚未达到目标 {r.text(r.target)}（期限 {cond.by}）", v)
        share = f"，完成 {v / r.target:.1%}" if r.target else ""
        return Verdict(True, f"{label}到 {cond.by} 仍未达到目标：{r.value_text}，目标 {r.text(r.target)}{share}", v)
    # unusual
    history = r.history[-cond.periods:]
    if r.latest is None or len(history) < 4:
        return Verdict(False, f"{label}历史数据不足（至少需要 4 期，现有 {len(history)} 期）", r.latest)
    med, low, high = band(history, cond.k)
    if min(history) >= 0:
        low = max(low, 0.0)  # counts and tonnes are never negative: a band below 0 reads as "-0件"
    way = cond.way
    above, below = r.latest > high, r.latest < low
    holds = above if way == "up" else (below if way == "down" else above or below)
    where = "高于" if above else ("低于" if below else "在")
    text = (f"{label}{r.latest_label} 为 {r.text(r.latest)}，{where}近 {len(history)} 期正常范围"
            f"（{r.text(low)} ~ {r.text(high)}，中位数 {r.text(med)}）" + ("" if above or below else "之内"))
    return Verdict(holds, text, r.latest)


def kpi_options(spec: ChartSpec) -> KpiOptions:
    return spec.typed_options()  # type: ignore[return-value]
