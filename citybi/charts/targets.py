"""KPI targets that follow the filters: per value of a dimension (per 区) and per period length.

Why a module: a whole-city target shown against one district ("目标 3,300 吨 · 完成 25.1%"
for 北港区 alone) or a week's target against a month ("完成 399.2%") misleads a leader more
than no target at all. So a target is a small table — (value, period length) → target —
and the card's target is computed from what the filters select:

- the rows of the selected values are combined by the card's rule: `sum` (tonnes, counts:
  two districts' targets add up), `average` (rates and levels: 办结率, AQI) or `none`
  (only one value at a time);
- a row is for one period length (日/周/月/季/年, or any length when left out). A week is
  also any run of 7 days (最近7天), a day any single day; with `sum`, a daily target scales
  to any length (日目标 × 天数);
- a filter on another column (街道 under a per-区 table, 垃圾类型) or a value without a
  row leaves the card with NO target and a Chinese sentence saying why — never the
  whole-city figure.

Pure functions over the parsed table: the board (boards.py) resolves the target before it
runs a card, so the card's own caching and rendering stay as they are.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from citybi.charts.periods import Range, next_period_start, period_start
from citybi.errors import UserFacingError
from citybi.vocabulary import TIME_GRAINS

TargetRule = Literal["sum", "average", "none"]
RULE_LABELS: dict[str, str] = {"sum": "合计", "average": "平均", "none": "不合并"}
MAX_TARGET_ROWS = 5_000
ADDITIVE_AGGS = ("sum", "count")  # measures whose targets add up across values and days


class TargetRow(BaseModel):
    """One line of the target table: 北港区 · 周 · 620."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    value: str | int | float | bool
    period: Literal["日", "周", "月", "季", "年"] | None = None  # None: any period length
    target: float


class KpiTargets(BaseModel):
    """A target table for one KPI card, keyed by the values of `column`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str = Field(min_length=1, max_length=200)
    rule: TargetRule | None = None  # None: sum for sums and counts, average otherwise
    rows: list[TargetRow] = Field(default_factory=list, max_length=MAX_TARGET_ROWS)

    @model_validator(mode="after")
    def _unique(self) -> KpiTargets:
        keys = [(str(r.value), r.period) for r in self.rows]
        dup = sorted({f"{v}（{p or '任意时长'}）" for v, p in keys if keys.count((v, p)) > 1})
        if dup:
            raise ValueError("目标表中「" + "、".join(dup) + "」出现了多次，请每个值每种时长只写一行")
        return self


@dataclass(frozen=True)
class TargetChoice:
    """The card's target under the current filters, or None with the reason (Chinese)."""

    value: float | None
    note: str  # where the figure comes from ("北港区周目标"), or why there is none
    applies: bool  # False: a target exists for the card but not for this selection


def period_length(rng: Range, grain: str | None) -> str:
    """What length a period is, in target-table words: 日/周/月/季/年, else "N天"."""
    start, end = rng
    days = (end - start).days + 1
    for g in ([grain] if grain else []) + list(TIME_GRAINS):
        if period_start(start, g) == start and next_period_start(start, g) - dt.timedelta(days=1) == end:
            return g
    if days == 7:
        return "周"
    return f"{days}天"


def default_rule(agg: str) -> TargetRule:
    return "sum" if agg in ADDITIVE_AGGS else "average"


def _days(rng: Range) -> int:
    return (rng[1] - rng[0]).days + 1


def _row_for(rows: Sequence[TargetRow], length: str, days: int, rule: str) -> tuple[float, str] | None:
    """The target of one value's rows for a period of `length`: exact, any-length, or scaled daily."""
    by_period = {r.period: r.target for r in rows}
    if length in by_period:
        return by_period[length], f"{length}目标"
    if None in by_period:
        return by_period[None], "目标"
    if rule == "sum" and "日" in by_period:
        return by_period["日"] * days, f"日目标 × {days} 天"
    return None


def resolve_target(
    *,
    own_target: float | None,
    own_period: Range,
    own_grain: str | None,
    period: Range,
    grain: str | None,
    agg: str,
    targets: KpiTargets | None = None,
    selection: Mapping[str, Sequence[Any]] | None = None,
) -> TargetChoice:
    """The target for a card showing `period` with the board's dimension `selection` applied.

    own_target/own_period: the card's saved whole-scope target and the period it was set for.
    selection: column → chosen values, only the filters this card actually took.
    """
    selection = {k: list(v) for k, v in (selection or {}).items() if v}
    rule = (targets.rule if targets is not None else None) or default_rule(agg)
    length, days = period_length(period, grain), _days(period)
    if targets is None:
        if own_target is None:
            return TargetChoice(None, "", applies=True)
        if selection:
            cols = "、".join(selection)
            return TargetChoice(None, f"无适用目标：只设了全市目标，没有按「{cols}」分别设定的目标", applies=False)
        own_length = period_length(own_period, own_grain)
        if rule != "average" and own_length != length:
            return TargetChoice(None, f"无适用目标：目标按「{own_length}」设定，不适用于{_span(period)}", applies=False)
        return TargetChoice(own_target, "目标", applies=True)

    others = [c for c in selection if c != targets.column]
    if others:
        cols = "、".join(others)
        why = f"无适用目标：目标按「{targets.column}」设定，没有按「{cols}」细分的目标"
        return TargetChoice(None, why, applies=False)
    chosen = selection.get(targets.column)
    if chosen is None:
        if own_target is not None and period_length(own_period, own_grain) == length:
            return TargetChoice(own_target, "目标", applies=True)
        # no value chosen: the whole scope is every value in the table
        chosen = list(dict.fromkeys(r.value for r in targets.rows))
        scope = f"各{targets.column}"
    else:
        scope = "、".join(str(v) for v in chosen)
    if not chosen:
        return TargetChoice(None, "无适用目标：目标表是空的", applies=False)
    if rule == "none" and len(chosen) > 1:
        return TargetChoice(None, f"无适用目标：选了多个{targets.column}，这张卡片的目标不能合并", applies=False)
    found: list[float] = []
    how: set[str] = set()
    missing: list[str] = []
    for v in chosen:
        rows = [r for r in targets.rows if str(r.value) == str(v)]
        got = _row_for(rows, length, days, rule) if rows else None
        if got is None:
            missing.append(str(v))
        else:
            found.append(got[0])
            how.add(got[1])
    if missing:
        what = "、".join(missing[:5]) + ("等" if len(missing) > 5 else "")
        return TargetChoice(None, f"无适用目标：{what}没有适用于{_span(period)}的目标", applies=False)
    value = sum(found) if rule == "sum" else sum(found) / len(found)
    kind = "、".join(sorted(how))
    combined = "" if len(found) == 1 else RULE_LABELS[rule] if rule != "none" else ""
    return TargetChoice(value, f"{scope}{kind}{combined}", applies=True)


def _span(rng: Range) -> str:
    a, b = rng
    days = _days(rng)
    text = a.isoformat() if a == b else f"{a.isoformat()} 至 {b.isoformat()}"
    return f"{text}（{days} 天）"


__all__ = ["KpiTargets", "TargetChoice", "TargetRow", "TargetSheetError", "default_rule", "period_length",
           "resolve_target", "rows_from_sheet", "rows_from_table", "target_table"]


# ---------------------------------------------------------------------------- the table as people edit it
PERIOD_WORDS = ("日", "周", "月", "季", "年")
ANY_PERIOD = "任意"
TABLE_COLUMNS = ("值", "时长", "目标")


class TargetSheetError(UserFacingError):
    """Pasted target rows that cannot be read; `problems` says which line and why, in Chinese."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("目标表有误：" + "；".join(problems), hint="改好这些行后再保存")
        self.problems = problems


def target_table(targets: KpiTargets | None) -> list[dict[str, Any]]:
    """The rows as the board editor shows them: 值 / 时长 (日…年 or 任意) / 目标."""
    if targets is None:
        return []
    return [{"值": str(r.value), "时长": r.period or ANY_PERIOD, "目标": r.target} for r in targets.rows]


def _number(text: str) -> float:
    t = text.strip().replace(",", "").replace("，", "")
    if t.endswith("%"):
        return float(t[:-1]) / 100
    return float(t)


def _period(text: str) -> str | None:
    t = text.strip()
    if t in ("", ANY_PERIOD, "不限"):
        return None
    if t in PERIOD_WORDS:
        return t
    if len(t) == 2 and t[0] in "每本" and t[1] in PERIOD_WORDS:  # 每周 / 本月
        return t[1]
    raise ValueError(t)


def rows_from_table(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows for KpiTargets from edited or pasted records (值, 时长, 目标); blank lines skipped.

    Raises TargetSheetError naming each bad line (第N行) so the clerk can fix the sheet.
    """
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for n, rec in enumerate(records, start=1):
        value = str(rec.get("值") if rec.get("值") is not None else "").strip()
        target = rec.get("目标")
        period = rec.get("时长")
        if not value and (target is None or str(target).strip() == ""):
            continue
        if not value:
            problems.append(f"第{n}行：缺少「值」（如 北港区）")
            continue
        try:
            number = float(target) if isinstance(target, (int, float)) else _number(str(target or ""))
        except ValueError:
            problems.append(f"第{n}行：目标「{str(target)[:20]}」不是数字（可写 3640、3,640 或 95%）")
            continue
        try:
            p = _period(str(period or ""))
        except ValueError:
            problems.append(f"第{n}行：时长「{str(period)[:20]}」无法识别，可写 日、周、月、季、年，或留空表示任意时长")
            continue
        rows.append({"value": value, "period": p, "target": number} if p else {"value": value, "target": number})
    if problems:
        raise TargetSheetError(problems)
    return rows


def rows_from_sheet(text: str) -> list[dict[str, Any]]:
    """Rows pasted from a spreadsheet (tab-separated, as Excel and WPS copy them).

    Two columns are 值 and 目标; three are 值, 时长 and 目标. A first line naming the columns
    (含「目标」) is a header and skipped.
    """
    lines = [ln for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]
    if lines and "目标" in lines[0]:
        lines = lines[1:]
    records: list[dict[str, Any]] = []
    for n, line in enumerate(lines, start=1):
        # Excel and WPS copy cells tab-separated; typed lines use spaces (3,640 keeps its comma)
        cells = [c.strip() for c in (line.split("\t") if "\t" in line else re.split(r"\s+", line.strip()))]
        if len(cells) == 2:
            records.append({"值": cells[0], "时长": "", "目标": cells[1]})
        elif len(cells) == 3:
            records.append({"值": cells[0], "时长": cells[1], "目标": cells[2]})
        else:
            raise TargetSheetError([f"第{n}行有 {len(cells)} 列：请粘贴两列（值、目标）或三列（值、时长、目标）"])
    return rows_from_table(records)


_PERIOD_HEADERS = ("时长", "周期", "期间", "时段", "period")


def rows_from_columns(header: Sequence[str], records: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows from a sheet's columns (an uploaded Excel/CSV): 区 (or any value column), 时长, 目标.

    Columns are found by their header — the one naming 目标 is the target, one naming 时长/周期
    the period, the first other one the value (区, 街道…). A sheet whose header names no 目标 is
    read by position like a paste: two columns (值、目标) or three (值、时长、目标).
    """
    names = [str(h or "").strip() for h in header]
    target = next((i for i, h in enumerate(names) if "目标" in h), None)
    if target is None:
        if len(names) not in (2, 3):
            raise TargetSheetError([f"表格有 {len(names)} 列：请用两列（值、目标）或三列（值、时长、目标），"
                                    "或在表头写明哪一列是「目标」"])
        value, period, target = 0, (1 if len(names) == 3 else None), len(names) - 1
    else:
        period = next((i for i, h in enumerate(names) if i != target and any(p in h for p in _PERIOD_HEADERS)), None)
        others = [i for i in range(len(names)) if i not in (target, period)]
        if not others:
            raise TargetSheetError(["表格缺少「值」这一列（如 区：北港区），请在目标列前加上它"])
        value = others[0]

    def cell(row: Sequence[Any], i: int | None) -> Any:
        return row[i] if i is not None and i < len(row) else None

    return rows_from_table([{"值": cell(r, value), "时长": cell(r, period) or "", "目标": cell(r, target)}
                            for r in records])
