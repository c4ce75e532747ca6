"""简报: a board sent on a schedule — its KPI cards' values with 同比/环比 arrows, and a PNG of it.

Why from the board run itself: a leader reads "本月清运量 2,873 吨 ↓0.3% 同比" on the phone at 8:00 and
must find the same figure on the board at 8:05. So the message is made from `boards.run_board` (the
board's filters and targets as the page applies them), never from queries of its own, and the PNG
shows those very KpiValues and figures.

The PNG is one plotly figure laid out like the board (KPI cards as number + delta indicators, charts
with their own traces), exported by plotly's static export (kaleido 1.x) driving the machine's
Chromium with no network: BROWSER_PATH points kaleido at /usr/bin/chromium (or CITYBI_CHROMIUM).
When no browser can be started the briefing still goes out, without the picture, and says so.

    name: 环卫晨报
    board: 环卫运行
    cron: "0 8 * * 1-5"          # 每个工作日 8:00
    channels: [领导邮箱, 值班群]
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from citybi.alerts.channels.base import Message
from citybi.alerts.rules import AlertRuleError, _Model, _translate, check_rule_name, checked_schedule
from citybi.boards import BoardRun, BoardStore, FilterValues, default_values, run_board
from citybi.charts.cache import ResultCache
from citybi.charts.kpi import KpiValue
from citybi.charts.store import ChartStore, YamlStore
from citybi.scheduler import Schedule
from citybi.vocabulary import is_relative_period, relative_periods_text, short_value

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
PNG_WIDTH = 1200
_DOMAIN_TRACES = {"pie", "table", "sunburst", "treemap", "funnelarea", "indicator"}  # no x/y axes
_RENDER_LOCK = threading.Lock()  # one Chromium at a time: two briefings due at 8:00 take turns


class Briefing(_Model):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=2000)
    board: str = Field(min_length=1, max_length=200)
    date: str | None = None  # the board's date filter (上周, 本月…); default: the board's own
    filters: dict[str, list[str | int | float | bool]] = Field(default_factory=dict, max_length=10)
    every: int | None = None
    cron: str | None = Field(default=None, max_length=100)
    channels: list[str] = Field(default_factory=list, max_length=10)
    png: bool = True
    paused: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_rule_name(v, "简报名称")

    @field_validator("date")
    @classmethod
    def _date(cls, v: str | None) -> str | None:
        if v is None or is_relative_period(v.strip()):
            return v.strip() if v else v
        raise ValueError(f"相对时间「{short_value(v)}」无法识别，可选：{relative_periods_text()}")

    @model_validator(mode="after")
    def _schedule(self) -> Briefing:
        checked_schedule(self.every, self.cron, "发送间隔")
        return self

    def schedule(self) -> Schedule | None:
        return checked_schedule(self.every, self.cron, "发送间隔")


def briefing_from_dict(data: Any) -> Briefing:
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise AlertRuleError(["简报应为「键: 值」形式的设置（YAML 映射）"], what="简报")
    try:
        return Briefing.model_validate(data)
    except ValidationError as err:
        raise AlertRuleError(_translate(err, "简报"), what="简报") from None


def load_briefing(text: str | bytes) -> Briefing:
    from citybi.alerts.rules import _load

    return briefing_from_dict(_load(text, "简报"))


def dump_briefing(b: Briefing) -> str:
    from citybi.alerts.rules import _dump

    return _dump(b)


class BriefingStore(YamlStore[Briefing]):
    what = "简报"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, (), parse=load_briefing, dump=dump_briefing)


# ---------------------------------------------------------------------------- the message
def kpi_line(title: str, kv: KpiValue) -> str:
    """本月清运量：2,873 吨（同比 ↓-0.3%，环比 ↑+4.1%，目标完成 95.8%）."""
    unit = f" {kv.unit}" if kv.unit and not kv.ratio and kv.value is not None else ""
    parts = [f"{c.name} {c.arrow}{kv.change_text(c)}" for c in kv.comparisons]
    if kv.pct_of_target is not None:
        parts.append(f"目标完成 {kv.pct_of_target:.1%}")
    return f"{title}：{kv.value_text}{unit}" + (f"（{'，'.join(parts)}）" if parts else "")


def run_for(wh: Any, b: Briefing, *, charts: ChartStore, boards: BoardStore, cache: ResultCache,
            today: Any = None) -> BoardRun:
    board = boards.load(b.board)
    base = default_values(board)
    values = FilterValues(date=b.date or base.date,
                          dimensions={**base.dimensions, **{k: tuple(v) for k, v in b.filters.items()}})
    from citybi import context

    with context.use(context.SYSTEM):
        return run_board(wh, board, charts=charts, values=values, cache=cache, render=True, today=today)


def compose(run: BoardRun, b: Briefing, *, link: str, png: bytes | None, png_note: str = "") -> Message:
    lines: list[str] = []
    for t in run.tiles:
        out = t.result.output if t.result is not None else None
        if isinstance(out, KpiValue):
            lines.append(kpi_line(t.title, out))
        elif t.error:
            lines.append(f"{t.title}：未能显示（{t.error}）")
    described = run.values.describe()
    lines.append(f"数据日期：{run.today.isoformat()}" + (f"；筛选：{'；'.join(described)}" if described else ""))
    if png_note:
        lines.append(png_note)
    return Message(title=f"【简报】{run.board.title}", lines=tuple(lines), link=link, level="briefing", png=png,
                   attachment_name=f"{run.board.title}-{run.today.isoformat()}",
                   extra={"briefing": b.name, "board": b.board, "today": run.today.isoformat()})


def kpi_rows(run: BoardRun) -> Any:
    """The cards' figures as rows (kept with the briefing in the history)."""
    import polars as pl

    cards = [(t.title, t.result.output) for t in run.tiles
             if t.result is not None and isinstance(t.result.output, KpiValue)]
    return pl.DataFrame({"指标": [c[0] for c in cards], "值": [c[1].value for c in cards],
                         "显示": [c[1].value_text for c in cards],
                         "同比": [(c[1].comparison("同比").pct if c[1].comparison("同比") else None) for c in cards],
                         "环比": [(c[1].comparison("环比").pct if c[1].comparison("环比") else None) for c in cards]},
                        schema={"指标": pl.String, "值": pl.Float64, "显示": pl.String, "同比": pl.Float64,
                                "环比": pl.Float64})


# ---------------------------------------------------------------------------- the picture
def board_figure(run: BoardRun) -> Any:
    """One plotly figure laid out like the board: KPI cards as indicators, charts with their traces."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cells: list[tuple[str, Any]] = []  # (title, KpiValue | Figure)
    for t in run.tiles:
        out = t.result.output if t.result is not None else None
        if isinstance(out, KpiValue) or isinstance(out, go.Figure):
            cells.append((t.title, out))
    kpis = [c for c in cells if isinstance(c[1], KpiValue)]
    charts = [c for c in cells if not isinstance(c[1], KpiValue)]
    grid = 6  # KPI cards three (or fewer) to a row, charts two to a row
    per_row = max(1, min(3, len(kpis)))
    kspan = grid // per_row
    specs: list[list[dict[str, Any] | None]] = []
    titles: list[str] = []
    places: list[tuple[int, int]] = []  # (row, col) of each cell, KPI cards first

    def add_row(items: list[tuple[str, Any]], span: int) -> None:
        row: list[dict[str, Any] | None] = [None] * grid
        for j, (title, out) in enumerate(items):
            domain = isinstance(out, KpiValue) or any(getattr(tr, "type", "") in _DOMAIN_TRACES for tr in out.data)
            row[j * span] = {"type": "domain" if domain else "xy", "colspan": span}
            titles.append(title)
            places.append((len(specs) + 1, j * span + 1))
        specs.append(row)

    for i in range(0, len(kpis), per_row):
        add_row(kpis[i:i + per_row], kspan)
    for i in range(0, len(charts), 2):
        add_row(charts[i:i + 2], grid // 2)
    if not specs:
        return None
    rows_k = -(-len(kpis) // per_row)
    rows_c = len(specs) - rows_k
    fig = make_subplots(rows=len(specs), cols=grid, specs=specs, subplot_titles=titles, vertical_spacing=0.08)
    for (_title, out), (r, c) in zip([*kpis, *charts], places, strict=True):
        if isinstance(out, KpiValue):
            fig.add_trace(_indicator(out), row=r, col=c)
            continue
        for trace in out.data:
            if hasattr(trace, "showscale"):
                trace = trace.update(showscale=False)  # one colour bar per heatmap would crowd the page
            fig.add_trace(trace, row=r, col=c)
    fig.update_layout(title={"text": f"{run.board.title} · {run.today.isoformat()}", "x": 0.02}, showlegend=False,
                      width=PNG_WIDTH, height=220 * rows_k + 360 * rows_c + 120, margin={"l": 40, "r": 40, "t": 90},
                      paper_bgcolor="white", font={"family": "Noto Sans CJK SC, sans-serif"})
    return fig


def _indicator(kv: KpiValue) -> Any:
    """A KPI card as a number with its 环比 (else 同比) delta, in the card's own format."""
    import plotly.graph_objects as go

    comp = kv.comparison("环比") or kv.comparison("同比")
    good, bad = "#2e7d32", "#c62828"
    up, down = (good, bad) if kv.higher_is_better else (bad, good)
    delta: dict[str, Any] | None = None
    if comp is not None and comp.base is not None:
        delta = {"reference": comp.base, "relative": not kv.ratio, "valueformat": ".1%" if not kv.ratio else ".3f",
                 "increasing": {"color": up}, "decreasing": {"color": down}}
    fmt = ".1%" if kv.ratio else (kv.fmt or ",.0f")
    suffix = f" {kv.unit}" if kv.unit and not kv.ratio else ""
    return go.Indicator(mode="number+delta" if delta else "number", value=kv.value,
                        number={"valueformat": fmt, "suffix": suffix}, delta=delta)


def board_png(run: BoardRun) -> tuple[bytes | None, str]:
    """(PNG bytes, "") or (None, the Chinese reason) — a briefing without a picture still goes out."""
    browser = os.environ.get("CITYBI_CHROMIUM") or os.environ.get("BROWSER_PATH") or CHROMIUM
    if not Path(browser).exists():
        return None, f"（未附看板图片：本机没有找到 Chromium 浏览器 {browser}）"
    os.environ.setdefault("BROWSER_PATH", browser)  # kaleido's choreographer reads it; never downloads one
    try:
        fig = board_figure(run)
        if fig is None:
            return None, ""
        with _RENDER_LOCK:
            return fig.to_image(format="png", width=fig.layout.width, height=fig.layout.height), ""
    except Exception as err:  # no picture is better than no briefing
        log.exception("board PNG not rendered")
        return None, f"（未附看板图片：渲染失败，{type(err).__name__}）"
