"""KPI boards: a titled grid of saved charts and KPI cards with board-wide filters.

Why a module of its own: the 看板 page, the Excel export, the benchmark and the tests all
run "a whole board under these filters" and must agree on what that means:

- A board is YAML (strict pydantic, extra="forbid", errors in Chinese), stored like charts
  in a user folder layered over the shipped defaults in queries/boards.
- A tile refers to a saved chart by name or carries an inline ChartSpec; `width` is its
  share of a 12-column row, and tiles flow into rows the way a leader reads: left to right.
- Board filters are chosen on the page, not stored per tile. The date range lands on each
  tile's own date column (a KPI card's `date_column`, else the chart's date dimension,
  else the dataset's first date column) and REPLACES the tile's own date filter there —
  a board set to 2025-01 must not be intersected with a tile's "最近30天" into nothing.
  Dimension value lists (区, 街道, anything) go through `with_filters`, which skips tiles
  whose dataset lacks the column; those tiles say so instead of silently ignoring it.
- A whole run returns per-tile results and timings; one broken tile shows its own Chinese
  error and never blanks the board.

No streamlit here (the core package must not import it).
"""
from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlglot import exp

from citybi import context
from citybi.charts.cache import ResultCache, default_cache
from citybi.charts.compile import col, filter_condition, table_ref
from citybi.charts.drill import (
    DETAIL_ROWS,
    DetailRows,
    DrillStep,
    detail_filters,
    detail_rows,
    drilled_spec,
    up_step,
    with_step,
    without_step,
)
from citybi.charts.kpi import KpiOptions, current_period
from citybi.charts.periods import Range, coverage_note, period_title, relative_range
from citybi.charts.profile import date_span, effective_today
from citybi.charts.render import units_for
from citybi.charts.runner import ChartResult, run_chart
from citybi.charts.spec import (
    MAX_DESCRIPTION,
    MAX_LABEL,
    MAX_NAME,
    ChartSpec,
    ChartSpecError,
    DateRangeFilter,
    RelativeDateFilter,
    ValueFilter,
    load_yaml_text,
    spec_from_dict,
    with_filters,
)
from citybi.charts.store import ChartStore, YamlStore, chart_store, user_dir
from citybi.charts.targets import KpiTargets, resolve_target
from citybi.config import QUERIES_DIR, Settings
from citybi.errors import UserFacingError
from citybi.vocabulary import (
    RELATIVE_PERIOD_GRAINS,
    explain,
    is_relative_period,
    relative_periods_text,
    short_value,
)

if TYPE_CHECKING:
    from citybi.schema import DatasetInfo
    from citybi.warehouse import Warehouse

BOARD_VERSION = 1
GRID = 12
MIN_REFRESH_S = 10  # a board refreshing every second would keep one CPU busy per open browser
MAX_OPTIONS = 500  # values offered in a dimension filter; more means the column is not a dimension
MAX_TILES = 48


class BoardSpecError(ChartSpecError):
    """A board definition that cannot be used; `problems` lists each thing to fix, in Chinese."""

    def __init__(self, problems: list[str], *, hint: str = "") -> None:
        self.problems = problems
        UserFacingError.__init__(self, "看板设置有误：" + "；".join(problems), hint=hint)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _period_ok(v: str | None) -> str | None:
    if v is None:
        return v
    v = v.strip()
    if is_relative_period(v):
        return v
    raise ValueError(f"相对时间「{short_value(v)}」无法识别，可选：{relative_periods_text()}")


class BoardDate(_Model):
    """The board's date control; `default` is a relative period preselected on open."""

    label: str = Field(default="日期", max_length=MAX_LABEL)
    default: str | None = None  # None: every tile keeps its own period until the user picks one

    @field_validator("default")
    @classmethod
    def _period(cls, v: str | None) -> str | None:
        return _period_ok(v)


class BoardDimension(_Model):
    """A value-list filter on any column (区, 街道, 垃圾类型…) applied to every tile having it."""

    column: str = Field(min_length=1, max_length=MAX_NAME)
    label: str | None = Field(default=None, max_length=MAX_LABEL)
    default: list[str | int | float | bool] = Field(default_factory=list, max_length=MAX_OPTIONS)

    @property
    def name(self) -> str:
        return self.label or self.column


class BoardFilters(_Model):
    date: BoardDate | None = Field(default_factory=BoardDate)
    dimensions: list[BoardDimension] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _unique(self) -> BoardFilters:
        cols = [d.column for d in self.dimensions]
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if dup:
            raise ValueError("看板筛选中「" + "、".join(dup) + "」重复出现，请只保留一个")
        return self


class Tile(_Model):
    """One cell of the grid: a saved chart (`chart: 名称`) or an inline `spec`."""

    chart: str | None = Field(default=None, max_length=MAX_NAME)
    spec: ChartSpec | None = None
    title: str | None = Field(default=None, max_length=200)  # overrides the chart's own title
    width: int = Field(default=6, ge=1, le=GRID)
    height: int | None = Field(default=None, ge=120, le=1200)
    # where the board's date range lands (default: guessed)
    date_column: str | None = Field(default=None, max_length=MAX_NAME)
    new_row: bool = False  # start a new row even if this tile would fit
    # False: the tile keeps its own period whatever the board's date filter says
    follows_date: bool = True
    # a KPI card's targets per value of a dimension and per period length (see charts/targets.py)
    targets: KpiTargets | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Tile:
        if (self.chart is None) == (self.spec is None):
            raise ValueError("每个图块需要且只能写一项：chart（已保存图表的名称）或 spec（图表定义）")
        if self.chart is not None and not self.chart.strip():
            raise ValueError("图块的 chart 名称不能为空")
        return self


class Board(_Model):
    version: Literal[1] = BOARD_VERSION
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    tiles: list[Tile] = Field(default_factory=list, max_length=MAX_TILES)
    filters: BoardFilters = Field(default_factory=BoardFilters)
    refresh_seconds: int = Field(default=0, ge=0, le=86_400)

    @field_validator("refresh_seconds")
    @classmethod
    def _refresh(cls, v: int) -> int:
        if 0 < v < MIN_REFRESH_S:
            raise ValueError(f"自动刷新间隔至少 {MIN_REFRESH_S} 秒（0 表示不自动刷新），现在是 {v} 秒")
        return v

    # ------------------------------------------------------------------ edits (the board editor's buttons)
    def with_tile(self, chart: str, width: int = 6) -> Board:
        """A saved chart added as the last tile."""
        return self.edited(tiles=[*self.tiles, Tile(chart=chart, width=width)])

    def with_tile_moved(self, i: int, by: int) -> Board:
        """Tile i moved `by` places (−1 = up/left); past either end it stays where it is."""
        j = i + by
        if not (0 <= i < len(self.tiles) and 0 <= j < len(self.tiles)):
            return self
        tiles = list(self.tiles)
        tiles[i], tiles[j] = tiles[j], tiles[i]
        return self.edited(tiles=tiles)

    def with_tile_widened(self, i: int) -> Board:
        """Two grid units wider; a full-width tile goes back to half width."""
        t = self.tiles[i]
        tiles = list(self.tiles)
        tiles[i] = t.model_copy(update={"width": min(GRID, t.width + 2) if t.width < GRID else GRID // 2})
        return self.edited(tiles=tiles)

    def with_targets(self, i: int, column: str | None, rule: str | None, rows: list[dict[str, Any]]) -> Board:
        """Tile i with this target table (no rows or no column: the tile's table removed)."""
        tiles = [t.model_dump(mode="json", exclude_defaults=True) for t in self.tiles]
        if column and rows:
            tiles[i]["targets"] = {"column": column, **({"rule": rule} if rule else {}), "rows": rows}
        else:
            tiles[i].pop("targets", None)
        return board_from_dict({**self.model_dump(mode="json", exclude_defaults=True), "tiles": tiles})

    def without_tile(self, i: int) -> Board:
        return self.edited(tiles=[t for j, t in enumerate(self.tiles) if j != i])

    def edited(self, **changes: Any) -> Board:
        """A copy with changes, validated like a saved file (model_copy alone skips the checks)."""
        return board_from_dict(self.model_copy(update=changes).model_dump(mode="json", exclude_defaults=True))

    def rows(self) -> list[list[tuple[int, Tile]]]:
        """Tiles packed into rows of at most GRID width units, as (index, tile)."""
        rows: list[list[tuple[int, Tile]]] = []
        used = GRID
        for i, t in enumerate(self.tiles):
            if t.new_row or used + t.width > GRID or not rows:
                rows.append([])
                used = 0
            rows[-1].append((i, t))
            used += t.width
        return rows


# ---------------------------------------------------------------------------- YAML
_FIELDS = {
    "title": "标题", "description": "说明", "tiles": "图块", "filters": "看板筛选",
    "refresh_seconds": "自动刷新间隔（秒）",
    "chart": "图表名称", "spec": "图表定义", "width": "宽度（1–12）", "height": "高度（像素）",
    "date_column": "日期列", "new_row": "换行", "date": "日期筛选", "dimensions": "维度筛选", "column": "列",
    "label": "显示名称", "default": "默认值", "version": "版本",
    "follows_date": "跟随日期筛选", "targets": "目标表", "rule": "合并规则", "rows": "目标行",
    "value": "值", "period": "时长", "target": "目标值",
}


_ITEMS = {"tiles": "个图块", "dimensions": "个维度筛选", "rows": "行目标"}


def _translate(err: ValidationError) -> list[str]:
    return explain(err, fields=_FIELDS, items=_ITEMS, root="看板定义")


def board_from_dict(data: Any) -> Board:
    """A Board from parsed YAML; every problem (inline chart specs included) in Chinese."""
    if not isinstance(data, dict):
        raise BoardSpecError(["看板定义应为「键: 值」形式的设置（YAML 映射），而不是列表或单个值"])
    problems: list[str] = []
    tiles = data.get("tiles")
    if isinstance(tiles, list) and len(tiles) > MAX_TILES:
        # refuse before validating each inline spec: a pasted file may hold thousands
        raise BoardSpecError([f"图块最多 {MAX_TILES} 个（现在有 {len(tiles):,} 个），请减少或拆成多个看板"])
    if isinstance(tiles, list):
        fixed: list[Any] = []
        for i, t in enumerate(tiles):
            if isinstance(t, dict) and "spec" in t and "chart" in t:
                problems.append(f"第{i + 1}个图块同时写了 chart 和 spec：每个图块需要且只能写一项")
                t = {k: v for k, v in t.items() if k != "spec"}
            elif isinstance(t, dict) and isinstance(t.get("spec"), dict):
                try:
                    t = {**t, "spec": spec_from_dict(t["spec"])}
                except ChartSpecError as err:
                    problems += [f"第{i + 1}个图块的图表定义：{p}" for p in err.problems]
                    t = {k: v for k, v in t.items() if k != "spec"} | {"chart": "?"}
            fixed.append(t)
        data = {**data, "tiles": fixed}
    try:
        board = Board.model_validate(data)
    except ValidationError as err:
        problems += _translate(err)
        board = None
    if problems:
        raise BoardSpecError(list(dict.fromkeys(problems)))
    assert board is not None
    return board


def load_board(text: str | bytes) -> Board:
    try:
        data = load_yaml_text(text, what="看板定义")
    except ChartSpecError as err:
        raise BoardSpecError(err.problems) from None
    return board_from_dict(data)


def dump_board(board: Board) -> str:
    """Reviewable YAML: Chinese kept, keys in model order, defaults omitted."""
    data = board.model_dump(mode="json", exclude_defaults=True)
    data = {"version": BOARD_VERSION, **data}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False)


class BoardStore(YamlStore[Board]):
    """Saved boards: `queries/boards` ships defaults; the user folder holds edited ones."""

    what = "看板"
    action = "boards.edit"

    def __init__(self, folder: Path, defaults: Sequence[Path] = ()) -> None:
        super().__init__(folder, defaults, parse=load_board, dump=dump_board)


def board_store(settings: Settings | None = None) -> BoardStore:
    """The app's board store: <warehouse folder>/boards, then queries/boards."""
    return BoardStore(user_dir(settings) / "boards", [QUERIES_DIR / "boards"])


def default_chart_store(settings: Settings | None = None) -> ChartStore:
    return chart_store(settings)


# ---------------------------------------------------------------------------- filter values
@dataclass(frozen=True)
class FilterValues:
    """What the user picked in the filter row. `date`: a relative period or (start, end)."""

    date: str | tuple[dt.date, dt.date] | None = None
    dimensions: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    # clicks on the board's charts (区 = 北港区, 日期 in 2025年6月), in the order they were made:
    # every tile takes them like a filter, and a tile's drill path level follows from them
    drill: tuple[DrillStep, ...] = ()

    def with_drill(self, step: DrillStep) -> FilterValues:
        """These values after one more click (a click on the same level replaces that level)."""
        return FilterValues(self.date, dict(self.dimensions), with_step(self.drill, step))

    def without_drill(self, index: int) -> FilterValues:
        """These values with one breadcrumb entry removed (a drilled chart goes back up)."""
        return FilterValues(self.date, dict(self.dimensions), without_step(self.drill, index))

    def active_dimensions(self) -> dict[str, tuple[Any, ...]]:
        return {k: tuple(v) for k, v in self.dimensions.items() if v}

    def describe(self) -> list[str]:
        """Chinese lines for captions and the export's cover sheet."""
        out: list[str] = []
        if isinstance(self.date, str):
            out.append(f"日期：{self.date}")
        elif self.date is not None:
            out.append(f"日期：{self.date[0].isoformat()} 至 {self.date[1].isoformat()}")
        out += [f"{k}：" + "、".join(str(v) for v in vals) for k, vals in self.active_dimensions().items()]
        out += [f"钻取 {s.text}" for s in self.drill]
        return out


def default_values(board: Board) -> FilterValues:
    f = board.filters
    return FilterValues(
        date=f.date.default if f.date is not None else None,
        dimensions={d.column: tuple(d.default) for d in f.dimensions if d.default},
    )


# ---------------------------------------------------------------------------- tiles
def tile_spec(tile: Tile, charts: ChartStore) -> ChartSpec:
    """The tile's chart (loaded or inline) with the tile's title applied."""
    spec = tile.spec if tile.spec is not None else charts.load(str(tile.chart))
    if tile.title and tile.title != spec.title:
        spec = spec.model_copy(update={"title": tile.title})
    return spec


def find_tile(board: Board, name: str, charts: ChartStore) -> Tile | None:
    """The tile an alert rule (or anything else) names: by its chart name or its title, else by the
    title of the chart it shows; a broken tile is not the one asked for."""
    for t in board.tiles:
        if t.chart == name or t.title == name:
            return t
    for t in board.tiles:
        try:
            if tile_spec(t, charts).title == name:
                return t
        except UserFacingError:
            continue
    return None


def tile_date_column(tile: Tile, spec: ChartSpec, info: DatasetInfo) -> str | None:
    """Where the board's date range lands for this tile (None: the dataset has no date)."""
    candidates: list[str | None] = [tile.date_column]
    if spec.type == "kpi":
        candidates.append(spec.options.get("date_column"))
    candidates += [d.column for d in spec.group_dimensions if d.grain is not None]
    for name in candidates:
        c = info.column(name) if name else None
        if c is not None and c.is_temporal:
            return c.name
    temporal = [d for d in spec.group_dimensions if (c := info.column(d.column)) is not None and c.is_temporal]
    if temporal:
        return temporal[0].column
    first = next((c for c in info.columns if c.is_temporal), None)
    return first.name if first is not None else None


@dataclass(frozen=True)
class AppliedFilters:
    """A tile's spec as this board run shows it, and what the board's filters did to it."""

    spec: ChartSpec
    skipped: list[str]  # filter names this tile did not take (no such column, or keeps its own period)
    keeps_period: bool = False  # the board picked a date but this tile keeps its own period
    target_note: str = ""  # a KPI card's target: where it comes from, or why there is none
    drill_up: int | None = None  # index in FilterValues.drill whose removal takes this chart up a level
    target_scoped: bool = False  # the card's target was narrowed to the caller's districts/streets


def apply_board_filters(tile: Tile, spec: ChartSpec, info: DatasetInfo, values: FilterValues,
                        today: dt.date | None = None) -> AppliedFilters:
    """The spec under the board's filters; a KPI card's target is resolved for the selection."""
    today = today or dt.date.today()
    filters: list[Any] = []
    skipped: list[str] = []
    keeps_period = False
    date_col = tile_date_column(tile, spec, info)
    original = spec
    drill_up = up_step(spec, values.drill)
    spec = drilled_spec(spec, values.drill)
    if values.date is not None:
        if date_col is None:
            skipped.append("日期")
        elif not tile.follows_date:
            skipped.append("日期")
            keeps_period = True
        else:
            # the board's range replaces the tile's own range on that column (never intersects it)
            own = [f for f in spec.filters
                   if not (isinstance(f, (DateRangeFilter, RelativeDateFilter)) and f.column == date_col)]
            if len(own) != len(spec.filters):
                spec = spec.model_copy(update={"filters": own})
            if isinstance(values.date, str):
                filters.append(RelativeDateFilter(op="relative", column=date_col, period=values.date))
            else:
                start, end = values.date
                filters.append(DateRangeFilter(op="date_range", column=date_col, start=start, end=end))
            # the title names the board's period: 近7天清运量 under 上月 must read 上月清运量
            spec = spec.model_copy(update={"title": period_title(spec.title, values.date)})
    taken: dict[str, tuple[Any, ...]] = {}
    for column, vals in values.active_dimensions().items():
        if info.column(column) is None:
            skipped.append(column)
            continue
        taken[column] = vals
        filters.append(ValueFilter(op="in", column=column, values=list(vals)))
    for step in values.drill:
        if info.column(step.column) is None:
            skipped.append(step.label or step.column)
            continue
        drilled = step.to_filter(info)
        filters.append(drilled)
        if isinstance(drilled, ValueFilter):  # a clicked district's target is that district's own
            picked = tuple(drilled.values)
            taken[step.column] = tuple(v for v in taken[step.column] if v in picked) \
                if step.column in taken else picked
    if filters:
        spec = with_filters(spec, filters, info)
    note = ""
    if spec.type == "kpi":
        if isinstance(values.date, str) and date_col is not None and tile.follows_date:
            spec = _to_date(spec, values.date)
        taken, target_scoped = _within_scope(taken, tile.targets)
        spec, note = _kpi_target(tile, original, spec, info, taken, today)
        if tile.targets is not None and taken.get(tile.targets.column) == (_OUT_OF_SCOPE,):
            note = f"无适用目标：所选的{tile.targets.column}不在您的数据权限内"
    elif tile.targets is not None:
        raise ChartSpecError(["只有指标卡可以设置目标表（targets），请删除这个图块的 targets"])
    else:
        target_scoped = False
    return AppliedFilters(spec, list(dict.fromkeys(skipped)), keeps_period, note, drill_up, target_scoped)


def _within_scope(taken: dict[str, tuple[Any, ...]], targets: KpiTargets | None
                  ) -> tuple[dict[str, tuple[Any, ...]], bool]:
    """The selection a KPI card's target is resolved for, as the caller sees the rows.

    A caller limited to some districts (or streets) reads only those rows — the door narrows every
    query — so the card's target must be the sum of *their* targets, never the city's: the target
    table's values are narrowed to the caller's scope when they are values of that level (a table
    by 区 for a district-limited caller). Returns the selection and whether it was narrowed."""
    scope = context.effective().scope
    if targets is None or scope.unrestricted:
        return taken, False
    values = list(dict.fromkeys(str(r.value) for r in targets.rows))
    for allowed in (scope.districts, scope.streets):
        if allowed is None or not set(values) & allowed:
            continue
        chosen = taken.get(targets.column)
        base = [str(v) for v in chosen] if chosen else values
        # a filter on values outside the scope: no rows are visible, so no target applies; an
        # unknown value keeps the resolver's own "no target for X" message
        picked = tuple(v for v in base if v in allowed) or (_OUT_OF_SCOPE,)
        return {**taken, targets.column: picked}, True
    return taken, False


# a selection no target row can match: resolve_target then says there is no applicable target
_OUT_OF_SCOPE = "（不在您的数据权限内）"


def _to_date(spec: ChartSpec, period: str) -> ChartSpec:
    """本周/本月/本季/今年 on a card means "so far": the card compares like with like.

    The current week on a Monday holds one day; against last week's seven it would read
    −86 % and 13 % of a week's target. As period-to-date (the card's own `to_date` rule) it
    compares Monday with last Monday and is measured against one day's target.
    """
    grain, offset = RELATIVE_PERIOD_GRAINS.get(period, (None, -1))
    if offset != 0 or grain in (None, "日"):
        return spec
    options = {k: v for k, v in spec.options.items() if k != "range"} | {"grain": grain, "to_date": True}
    return spec.model_copy(update={"options": options})


def _kpi_target(tile: Tile, original: ChartSpec, applied: ChartSpec, info: DatasetInfo,
                taken: dict[str, tuple[Any, ...]], today: dt.date) -> tuple[ChartSpec, str]:
    """The card with the target that fits its selection and period (None when none fits)."""
    own: KpiOptions = original.typed_options()  # type: ignore[assignment]
    new: KpiOptions = applied.typed_options()  # type: ignore[assignment]
    if tile.targets is not None and info.column(tile.targets.column) is None:
        raise ChartSpecError([f"目标表按「{tile.targets.column}」设定，但数据集「{info.name}」没有这一列；"
                              "请改成已有的列：" + "、".join(c.name for c in info.columns)])
    own_period, own_grain = current_period(own, today)
    period, grain = current_period(new, today)
    choice = resolve_target(own_target=own.target, own_period=own_period, own_grain=own_grain, period=period,
                            grain=grain, agg=applied.measures[0].agg, targets=tile.targets, selection=taken)
    if choice.value != new.target:
        applied = applied.model_copy(update={"options": {**applied.options, "target": choice.value}})
    return applied, choice.note


@dataclass
class TileRun:
    """One tile of a board run: the result, or the Chinese reason it has none."""

    index: int
    tile: Tile
    title: str
    spec: ChartSpec | None
    result: ChartResult | None
    error: str | None
    seconds: float
    skipped_filters: list[str] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)  # output column → unit (吨, 件…)
    period: Range | None = None  # the dates this tile covers, when it has a date range
    keeps_period: bool = False  # the board picked a date; this tile kept its own period
    target_note: str = ""  # a KPI card's target source, or why it has none
    period_note: str = ""  # the period has fewer days of data than it spans (仅 1 天数据)
    drill_up: int | None = None  # index in the run's FilterValues.drill that "上一级" removes
    date_column: str | None = None  # where the board's date lands for this tile (查看明细 uses it)

    @property
    def period_text(self) -> str:
        if self.period is None:
            return ""
        start, end = self.period
        return start.isoformat() if start == end else f"{start.isoformat()} 至 {end.isoformat()}"

    @property
    def not_taken_text(self) -> str:
        """Which board filters this tile did not take, and why ("" when it took them all)."""
        parts: list[str] = []
        if self.keeps_period:
            parts.append("不受日期筛选影响（保持自己的时间范围）")
        missing = [f for f in self.skipped_filters if not (f == "日期" and self.keeps_period)]
        if missing:
            parts.append("未按「" + "、".join(missing) + "」筛选：数据中没有这一列")
        return "；".join(parts)

    @property
    def ok(self) -> bool:
        return self.result is not None

    @property
    def cached(self) -> bool:
        return self.result is not None and self.result.cached


@dataclass
class BoardRun:
    board: Board
    tiles: list[TileRun]
    today: dt.date
    values: FilterValues
    total_s: float

    @property
    def query_s(self) -> float:
        return sum(t.result.query_s for t in self.tiles if t.result is not None)

    @property
    def cached(self) -> bool:
        return all(t.cached for t in self.tiles if t.ok)

    @property
    def errors(self) -> list[TileRun]:
        return [t for t in self.tiles if t.error is not None]

    def not_taken(self) -> list[str]:
        """One Chinese line per tile that did not take every chosen filter, saying which and why."""
        return [f"「{t.title}」{t.not_taken_text}" for t in self.tiles if t.not_taken_text]


@dataclass
class _Prepared:
    """A tile ready to run (or its error), built serially before the parallel queries."""

    index: int
    tile: Tile
    title: str
    info: DatasetInfo | None = None
    applied: AppliedFilters | None = None
    error: str | None = None


def _error_text(err: Exception) -> str:
    if isinstance(err, ChartSpecError):
        return "；".join(err.problems)
    if isinstance(err, UserFacingError):
        return err.message + (f"（建议：{err.hint}）" if err.hint else "")
    # an unexpected failure: logged with the cause and an id the message names, so the
    # administrator can find it (系统状态 lists recent errors) — the user never sees a traceback
    error_id = uuid.uuid4().hex[:8]
    logging.getLogger("citybi.boards").error("图块错误 %s：%s", error_id, type(err).__name__, exc_info=err)
    return (f"这个图块没有显示出来：程序遇到了意外的问题（错误编号 {error_id}）。"
            "请刷新重试；如果反复出现，请联系管理员。")


def run_board(
    wh: Warehouse,
    board: Board,
    *,
    charts: ChartStore | None = None,
    values: FilterValues | None = None,
    today: dt.date | None = None,
    cache: ResultCache | None = None,
    workers: int = 4,
    render: bool = True,
    progress: Callable[[int, int, TileRun], None] | None = None,
) -> BoardRun:
    """Run every tile under the board filters; tiles run on `workers` threads (cursors).

    `progress(done, total, tile)` is called as tiles finish, always in the calling thread.
    """
    t0 = time.perf_counter()
    cache = cache or default_cache()
    charts = charts or default_chart_store(wh.settings)
    values = values if values is not None else default_values(board)
    today = today or board_today(wh, board, charts=charts, cache=cache)
    prepared: list[_Prepared] = []
    # catalog lookups and spec loading are serial (cheap, cached); only queries run in parallel
    for i, tile in enumerate(board.tiles):
        title = tile.title or (tile.spec.title if tile.spec else str(tile.chart))
        try:
            spec = tile_spec(tile, charts)
            title = spec.title
            info = cache.dataset_info(wh, spec.dataset)
            applied = apply_board_filters(tile, spec, info, values, today)
            prepared.append(_Prepared(i, tile, applied.spec.title, info, applied))
        except Exception as err:  # a broken tile must not blank the board
            prepared.append(_Prepared(i, tile, title, error=_error_text(err)))

    def one(item: _Prepared) -> TileRun:
        i, tile, title, applied = item.index, item.tile, item.title, item.applied
        t = time.perf_counter()
        if item.error is not None or applied is None:
            return TileRun(i, tile, title, None, None, item.error, 0.0)
        extra = {"keeps_period": applied.keeps_period, "target_note": applied.target_note,
                 "drill_up": applied.drill_up}
        try:
            res = run_chart(wh, applied.spec, info=item.info, today=today, cache=cache, render=render,
                            target_for_scope=applied.target_scoped)
        except Exception as err:
            return TileRun(i, tile, title, applied.spec, None, _error_text(err), time.perf_counter() - t,
                           applied.skipped, **extra)
        return TileRun(i, tile, title, applied.spec, res, None, time.perf_counter() - t, applied.skipped, **extra)

    tiles: list[TileRun] = []
    if workers > 1 and len(prepared) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(prepared))) as pool:
            # pool threads start with no context: each tile runs as the caller (scope, row rules)
            as_caller = context.in_pool(one)
            futures = [pool.submit(as_caller, p) for p in prepared]
            # progress is reported from the calling thread (a page may only draw from its own)
            for done, fut in enumerate(as_completed(futures), start=1):
                if progress is not None:
                    progress(done, len(futures), fut.result())
            tiles = [f.result() for f in futures]
    else:
        for done, p in enumerate(prepared, start=1):
            tiles.append(one(p))
            if progress is not None:
                progress(done, len(prepared), tiles[-1])
    spans: dict[tuple[str, str], Range | None] = {}  # one MIN/MAX per dataset column, not per tile
    board_period = relative_range(values.date, today) if isinstance(values.date, str) else values.date
    for run, p in zip(tiles, prepared, strict=True):
        if p.applied is not None and p.info is not None:
            run.units = units_for(p.applied.spec, p.info)
            date_col = tile_date_column(p.tile, p.applied.spec, p.info)
            run.date_column = date_col
            run.period = tile_period(run, date_col, today)
            if run.period is not None and date_col is not None and run.ok:
                if (p.info.name, date_col) not in spans:
                    spans[(p.info.name, date_col)] = _span(wh, p.info.name, date_col, cache)
                # a card showing 本周 so far still says how much of the week the data holds
                took_board_date = board_period is not None and "日期" not in run.skipped_filters
                shown = board_period if took_board_date and board_period is not None else run.period
                run.period_note = coverage_note(shown, spans[(p.info.name, date_col)])
    return BoardRun(board, tiles, today, values, time.perf_counter() - t0)


def tile_detail(wh: Warehouse, tile: TileRun, today: dt.date, *, cache: ResultCache | None = None,
                limit: int = DETAIL_ROWS) -> DetailRows:
    """查看明细: the raw rows behind the tile's number under this run's filters and drill steps
    (a KPI card's rows are those of its period), newest first, at most `limit`."""
    if tile.spec is None:
        raise UserFacingError("这个图块没有结果，无法查看明细", hint="请先处理图块上的错误提示")
    cache = cache or default_cache()
    info = cache.dataset_info(wh, tile.spec.dataset)
    filters = detail_filters(tile.spec, tile.date_column, tile.period)
    return detail_rows(wh, info, filters, today, cache=cache, limit=limit, order_by=tile.date_column)


def _span(wh: Warehouse, dataset: str, column: str, cache: ResultCache) -> Range | None:
    """The first and last day of the data, for 仅 N 天数据 (None when it cannot be read)."""
    try:
        return date_span(wh, dataset, column, cache)
    except UserFacingError:
        return None


def tile_period(run: TileRun, date_column: str | None, today: dt.date) -> Range | None:
    """The dates a tile covers: a KPI card's period, else its date filter on its date column."""
    output = run.result.output if run.result is not None else None
    period = getattr(output, "period", None)
    if period is not None:
        return period
    if run.spec is None or date_column is None:
        return None
    for f in run.spec.filters:
        if getattr(f, "column", None) != date_column:
            continue
        if isinstance(f, RelativeDateFilter):
            return relative_range(f.period, today)
        if isinstance(f, DateRangeFilter) and f.start is not None and f.end is not None:
            return f.start, f.end
    return None


# ---------------------------------------------------------------------------- helpers for the page
def board_datasets(board: Board, charts: ChartStore) -> list[str]:
    """The datasets the board's tiles read, in tile order (broken tiles are skipped)."""
    out: dict[str, None] = {}
    for t in board.tiles:
        try:
            out.setdefault(tile_spec(t, charts).dataset, None)
        except (UserFacingError, ChartSpecError):
            continue
    return list(out)


def visible_boards(wh: Warehouse, boards: BoardStore, charts: ChartStore) -> tuple[list[str], int]:
    """The boards the caller can read something on, and how many others were left out.

    A board whose every dataset the caller may not read (another department's data, or the
    数据质量 system dataset for a district-limited user) would show nothing but refusals, so it is
    not offered; the page says how many were left out. A board that does not load, or reads a
    dataset that does not exist, stays listed: its error is for the page to show.
    """
    from citybi.catalog import Catalog
    from citybi.rowrules import readable

    ctx = context.current()
    cat = Catalog(wh)

    def can_read(name: str) -> bool:
        try:
            return ctx is None or readable(ctx, name, cat.governance(name)) is None
        except UserFacingError:
            return True

    names = boards.names()
    shown: list[str] = []
    for name in names:
        try:
            datasets = board_datasets(boards.load(name), charts)
        except UserFacingError:
            datasets = []
        if not datasets or any(can_read(d) for d in datasets):
            shown.append(name)
    return shown, len(names) - len(shown)


def board_today(wh: Warehouse, board: Board, *, charts: ChartStore | None = None,
                cache: ResultCache | None = None, real_today: dt.date | None = None) -> dt.date:
    """The board's "today": the real date, unless all its data ends more than a week ago.

    The bundled samples end in June 2025; a board that said "本周" in 2026 would be empty.
    Old data means the board shows the data's last week, and the page says so.
    """
    cache = cache or default_cache()
    charts = charts or default_chart_store(wh.settings)
    real_today = real_today or dt.date.today()
    last: dt.date | None = None
    for t in board.tiles:
        try:
            spec = tile_spec(t, charts)
            info = cache.dataset_info(wh, spec.dataset)
            column = tile_date_column(t, spec, info)
            span = date_span(wh, info.name, column, cache) if column else None
            day = span[1] if span else None
        except (UserFacingError, ChartSpecError):
            continue
        if day is not None and (last is None or day > last):
            last = day
    return effective_today(last, real_today)


def filter_columns(board: Board, charts: ChartStore, wh: Warehouse,
                   cache: ResultCache | None = None) -> list[str]:
    """Text/boolean columns of the tiles' datasets with few enough values to pick from.

    Free text (诉求内容) and IDs (工单编号) are left out: a list of 15,000 values is not a
    filter. One approximate distinct count per dataset, through the result cache.
    """
    cache = cache or default_cache()
    out: dict[str, None] = {}
    for name in board_datasets(board, charts):
        try:
            info = cache.dataset_info(wh, name)
        except UserFacingError:
            continue
        cols = [c.name for c in info.columns if not c.is_numeric and not c.is_temporal and c.type != "year"]
        if not cols:
            continue
        tree = exp.select(*[exp.Anonymous(this="approx_count_distinct", expressions=[col(c)]).as_(c, quoted=True)
                            for c in cols]).from_(table_ref(info.name))
        try:
            counts = cache.run(wh, tree)[0].frame.row(0, named=True)
        except UserFacingError:
            continue
        for c in cols:
            if (counts.get(c) or 0) <= MAX_OPTIONS:
                out.setdefault(c, None)
    return list(out)


def dimension_options(wh: Warehouse, board: Board, column: str, *, charts: ChartStore | None = None,
                      within: dict[str, Sequence[Any]] | None = None,
                      cache: ResultCache | None = None) -> list[Any]:
    """Distinct values of `column` over the board's datasets, narrowed by other selections.

    `within` makes cascading filters: with 区 = 临江区 chosen, 街道 offers only 临江区's streets.
    """
    cache = cache or default_cache()
    charts = charts or default_chart_store(wh.settings)
    values: set[Any] = set()
    for name in board_datasets(board, charts):
        try:
            info = cache.dataset_info(wh, name)
        except UserFacingError:
            continue
        if info.column(column) is None:
            continue
        tree = exp.select(col(column)).distinct().from_(table_ref(info.name)).where(
            exp.Not(this=exp.Is(this=col(column), expression=exp.Null())))
        for other, vals in (within or {}).items():
            if other != column and vals and info.column(other) is not None:
                cond = filter_condition(ValueFilter(op="in", column=other, values=list(vals)), info, dt.date.today())
                tree = tree.where(cond)
        tree = tree.order_by(exp.Literal.number(1)).limit(MAX_OPTIONS)
        result, _hit = cache.run(wh, tree)
        values.update(result.frame.to_series(0).to_list())
    return sorted(values, key=lambda v: (str(type(v)), v))[:MAX_OPTIONS]
