"""KPI cards: this period's value against target, 同比 and 环比, with a sparkline.

Why one query with FILTER clauses: the card needs the same aggregate over three date
ranges (this period, the previous same-length period, the same period last year); one
scan with `agg FILTER (WHERE date in range)` costs about what one total costs, where
three queries would scan three times. The sparkline is a second, small GROUP BY.

Period rules (see periods.py): a grain (日/周/月/季/年) means the period containing
`today` — the whole period, or period-to-date with `to_date`; an explicit or relative
range (a board's date filter lands here) compares with the range of the same length just
before it. Whether up is good is the user's rule (`higher_is_better`), which sets the
colour; the arrow always shows the direction of change.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlglot import exp

from citybi.charts.compile import (
    col,
    date_between,
    dimension_expr,
    measure_expr,
    table_ref,
    where_condition,
)
from citybi.charts.form import option
from citybi.charts.periods import (
    Range,
    next_period_start,
    period_containing,
    period_start,
    previous_range,
    relative_range,
    shift_periods,
    year_ago_range,
)
from citybi.charts.spec import ChartSpecError, Dimension, TimeGrain, check_against
from citybi.vocabulary import (
    TIME_GRAINS,
    is_relative_period,
    relative_period_grain,
    relative_periods_text,
    short_value,
)

if TYPE_CHECKING:
    from citybi.charts.spec import ChartSpec
    from citybi.schema import DatasetInfo

CURRENT, PREVIOUS, YEAR_AGO = "本期", "上期", "去年同期"
SPARK_PERIOD = "期间"
GOOD, BAD, NEUTRAL = "#2e7d32", "#c62828", "#757575"


class KpiRange(BaseModel):
    """An explicit period instead of the grain: a relative one (本月, 最近30天) or start/end."""

    model_config = ConfigDict(extra="forbid")
    relative: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    @field_validator("relative")
    @classmethod
    def _rel(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if is_relative_period(v):
            return v
        raise ValueError(f"相对时间「{short_value(v)}」无法识别，可选：{relative_periods_text()}")

    @model_validator(mode="after")
    def _one(self) -> KpiRange:
        if self.relative is None and (self.start is None or self.end is None):
            raise ValueError("KPI 的时间范围需要写 relative（如 本月），或同时写 start 和 end")
        if self.relative is not None and (self.start or self.end):
            raise ValueError("KPI 的时间范围只能二选一：relative，或 start 和 end")
        if self.start and self.end and self.start > self.end:
            raise ValueError("KPI 时间范围的开始日期晚于结束日期，请对调")
        return self


class KpiOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date_column: str = option(..., "按哪个日期列计算", choices="date_columns", min_length=1,
                              empty="指标卡需要一个日期列来计算本期、环比和同比；这个数据集没有日期列。")
    grain: TimeGrain = option("月", "本期是", labels={g: f"本{g}" for g in TIME_GRAINS})
    to_date: bool = False  # period-to-date (本月至今) instead of the whole period
    range: KpiRange | None = None
    target: float | None = option(None, "目标值（可不填）")
    higher_is_better: bool = option(True, "数值变大是", labels={True: "好事（如清运量）", False: "坏事（如投诉量）"})
    compare: list[Literal["同比", "环比"]] = Field(default_factory=lambda: ["同比", "环比"])
    sparkline: int = Field(default=12, ge=0, le=400)  # periods shown; 0 = none
    good_color: str = GOOD
    bad_color: str = BAD


@dataclass(frozen=True)
class Comparison:
    name: str  # 同比 / 环比
    period: Range
    base: float | None
    delta: float | None
    pct: float | None  # change relative to |base|; None when base is 0 or missing
    arrow: str  # ↑ ↓ →
    good: bool | None  # None: no change or nothing to compare with
    color: str


@dataclass(frozen=True)
class KpiValue:
    """Everything a KPI card shows; pages only lay it out."""

    label: str
    unit: str | None
    value: float | None
    value_text: str
    period: Range
    grain: str | None
    target: float | None
    pct_of_target: float | None
    target_met: bool | None
    higher_is_better: bool
    comparisons: tuple[Comparison, ...]
    sparkline: tuple[tuple[dt.date, float | None], ...] = field(default_factory=tuple)
    fmt: str | None = None  # the measure's number format
    ratio: bool = False  # a share (办结率): shown as a percentage, changed by 百分点

    def comparison(self, name: str) -> Comparison | None:
        return next((c for c in self.comparisons if c.name == name), None)

    @property
    def partial(self) -> bool:
        """The card shows a period so far (本周 on a Monday): shorter than its calendar grain."""
        return self.grain is not None and self.period[1] < period_containing(self.period[0], self.grain)[1]

    def spark_values(self) -> list[float]:
        """The sparkline's values; a partial current period is left off (one day is not a drop)."""
        points = self.sparkline[:-1] if self.partial and self.sparkline else self.sparkline
        return [v for _p, v in points if v is not None]

    def text(self, v: float | None) -> str:
        """A value of this card (its target, a base period) formatted like the card's value."""
        from citybi.charts.render import format_value

        return format_value(v, self.fmt, ratio=self.ratio)

    def change_text(self, c: Comparison) -> str:
        """同比/环比 as the reader expects it: +5.0% for amounts, +1.2 个百分点 for shares."""
        if self.ratio:
            return "—" if c.delta is None else f"{c.delta * 100:+.1f} 个百分点"
        return "—" if c.pct is None else f"{c.pct:+.1%}"

    def sparkline_figure(self, height: int = 60) -> Any:
        """A bare plotly line for the card (no axes, no legend)."""
        import plotly.graph_objects as go

        xs = [p[0] for p in self.sparkline]
        ys = [p[1] for p in self.sparkline]
        fig = go.Figure(
            data=[go.Scatter(x=xs, y=ys, mode="lines", line={"width": 2, "color": "#1f77b4"},
                             fill="tozeroy", fillcolor="rgba(31,119,180,0.12)", hoverinfo="x+y")],
            layout={"height": height, "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "showlegend": False,
                    "xaxis": {"visible": False, "hoverformat": "%Y年%-m月%-d日"}, "yaxis": {"visible": False}},
        )
        return fig


# ---------------------------------------------------------------------------- periods
def current_period(opts: KpiOptions, today: dt.date) -> tuple[Range, str | None]:
    """(the card's period, the calendar grain to compare by — None for an arbitrary range)."""
    if opts.range is not None:
        if opts.range.relative is not None:
            return relative_range(opts.range.relative, today), relative_period_grain(opts.range.relative)
        assert opts.range.start is not None and opts.range.end is not None
        return (opts.range.start, opts.range.end), None
    start, end = period_containing(today, opts.grain)
    if opts.to_date:
        end = min(end, today)
    return (start, end), opts.grain


def comparison_periods(opts: KpiOptions, today: dt.date) -> dict[str, Range]:
    cur, grain = current_period(opts, today)
    out = {CURRENT: cur}
    if "环比" in opts.compare:
        out[PREVIOUS] = previous_range(cur, grain)
    if "同比" in opts.compare:
        out[YEAR_AGO] = year_ago_range(cur, grain)
    return out


def sparkline_grain(opts: KpiOptions, today: dt.date) -> str:
    cur, grain = current_period(opts, today)
    if grain is not None:
        return grain
    days = (cur[1] - cur[0]).days + 1
    return "日" if days <= 92 else ("周" if days <= 370 else "月")


def sparkline_periods(opts: KpiOptions, today: dt.date) -> list[dt.date]:
    """Start days of the sparkline's periods, oldest first, ending with the current one."""
    if not opts.sparkline:
        return []
    grain = sparkline_grain(opts, today)
    cur, _grain = current_period(opts, today)
    last = period_start(cur[1], grain)
    return [shift_periods(last, grain, -i) for i in range(opts.sparkline - 1, -1, -1)]


# ---------------------------------------------------------------------------- queries
def _options(spec: ChartSpec) -> KpiOptions:
    return spec.typed_options()  # type: ignore[return-value]


def check_kpi(spec: ChartSpec, info: DatasetInfo) -> KpiOptions:
    check_against(spec, info)
    opts = _options(spec)
    c = info.column(opts.date_column)
    if c is None:
        raise ChartSpecError([f"KPI 的日期列「{opts.date_column}」在数据集「{info.name}」中不存在，"
                              "请从已有列中选择：" + "、".join(x.name for x in info.columns)])
    if not c.is_temporal:
        raise ChartSpecError([f"KPI 的日期列「{opts.date_column}」不是日期列，请选择一个日期列"])
    return opts


def kpi_queries(spec: ChartSpec, info: DatasetInfo, today: dt.date) -> dict[str, exp.Select]:
    opts = check_kpi(spec, info)
    m = spec.measures[0]
    periods = comparison_periods(opts, today)
    ref = col(opts.date_column)
    select = [measure_expr(m, info, today, within=date_between(ref, *rng)).as_(name, quoted=True)
              for name, rng in periods.items()]
    main = exp.select(*select).from_(table_ref(info.name))
    base = where_condition(spec.filters, info, today)
    scope = exp.or_(*[exp.paren(date_between(ref, *rng)) for rng in periods.values()])
    main = main.where(exp.and_(base, exp.paren(scope)) if base is not None else scope)
    out = {"main": main}
    if opts.sparkline:
        grain = sparkline_grain(opts, today)
        cur = periods[CURRENT]
        first = sparkline_periods(opts, today)[0]
        period_col = dimension_expr(Dimension(column=opts.date_column, grain=grain), info)
        spark = (exp.select(period_col.as_(SPARK_PERIOD, quoted=True), measure_expr(m, info, today).as_(
            m.name, quoted=True)).from_(table_ref(info.name))
            .where(date_between(ref, first, cur[1]))
            .group_by(exp.Literal.number(1)).order_by(exp.Literal.number(1)))
        if base is not None:
            spark = spark.where(base.copy())
        out["spark"] = spark
    return out


# ---------------------------------------------------------------------------- values
def compare(name: str, period: Range, value: float | None, base: float | None, opts: KpiOptions) -> Comparison:
    if value is None or base is None:
        return Comparison(name, period, base, None, None, "→", None, NEUTRAL)
    delta = float(value) - float(base)
    pct = delta / abs(float(base)) if base else None
    if delta == 0:
        return Comparison(name, period, base, 0.0, pct, "→", None, NEUTRAL)
    good = (delta > 0) == opts.higher_is_better
    return Comparison(name, period, base, delta, pct, "↑" if delta > 0 else "↓", good,
                      opts.good_color if good else opts.bad_color)


def kpi_value(frames: dict[str, pl.DataFrame], spec: ChartSpec, *, today: dt.date,
              unit: str | None = None) -> KpiValue:
    from citybi.charts.render import format_value

    opts = _options(spec)
    m = spec.measures[0]
    periods = comparison_periods(opts, today)
    row = frames["main"].row(0, named=True) if frames["main"].height else {}
    value = row.get(CURRENT)
    if value is None and m.agg in ("count", "count_distinct"):
        value = 0
    comps = []
    for label, key in (("同比", YEAR_AGO), ("环比", PREVIOUS)):
        if key in periods:
            comps.append(compare(label, periods[key], value, row.get(key), opts))
    target = opts.target
    pct_target = float(value) / target if value is not None and target else None
    met = None
    if value is not None and target is not None:
        met = value >= target if opts.higher_is_better else value <= target
    spark: tuple[tuple[dt.date, float | None], ...] = ()
    if "spark" in frames:
        # every period gets a point: a period without rows is 0 for sums and counts, a gap otherwise
        got = {r[0]: r[1] for r in frames["spark"].select(SPARK_PERIOD, m.name).iter_rows()}
        empty = 0 if m.agg in ("sum", "count", "count_distinct") else None
        spark = tuple((p, got.get(p, empty)) for p in sparkline_periods(opts, today))
    _cur, grain = current_period(opts, today)
    return KpiValue(
        label=m.name, unit=unit or m.unit, value=value,
        value_text=format_value(value, m.format, ratio=m.is_ratio), period=periods[CURRENT], grain=grain,
        target=target, pct_of_target=pct_target, target_met=met, higher_is_better=opts.higher_is_better,
        comparisons=tuple(comps), sparkline=spark, fmt=m.format, ratio=m.is_ratio,
    )


def period_text(rng: Range) -> str:
    a, b = rng
    return a.isoformat() if a == b else f"{a.isoformat()} 至 {b.isoformat()}"


__all__ = [
    "Comparison", "KpiOptions", "KpiRange", "KpiValue", "comparison_periods", "current_period", "kpi_queries",
    "kpi_value", "next_period_start", "period_text",
]
